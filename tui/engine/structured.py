"""An output format (tui/core/output_format.py) as vLLM takes it: the fields of its
`StructuredOutputsParams`, in process or in a vLLM server's `structured_outputs` request field,
and OpenAI's `response_format` for servers that are not vLLM.

vLLM 0.32 reads `disable_any_whitespace` and `disable_additional_properties` from the engine's
own config (`--structured-outputs-config`), not from a request's params, which it takes and
ignores. So that a pane's choice holds anyway:
- no free whitespace: the schema goes as the grammar xgrammar makes of it without whitespace
  (xgrammar is the library vLLM's default backend runs, so the engine reads that grammar as it
  would the schema); where xgrammar is not installed the option goes as it is;
- no additional properties: the schema sent says `"additionalProperties": false` itself
  (`OutputFormat.sent_schema`).

With a reasoning model, vLLM constrains the answer after the thinking when the engine has a
reasoning parser (`--reasoning-parser NAME`, kept in `structured_outputs_config.reasoning_parser`);
`--structured-outputs-config '{"enable_in_reasoning": true}'` constrains the thinking too. Under a
parser that lets the model choose whether to think, the format holds from the first token
(vllm_backend, reasoning.thinking_is_the_models_choice).
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import sys
from typing import Any

from tui.core.output_format import CHOICE, GRAMMAR, JSON_OBJECT, JSON_SCHEMA, REGEX, OutputFormat
from tui.text import one_line

ANY_OBJECT = {"type": "object"}  # what vLLM compiles for json_object


class NotExpressible(ValueError):
    """A format a server that is not vLLM has no field for (only JSON can be asked for there)."""


def vllm_fields(fmt: OutputFormat) -> dict[str, Any]:
    """The keyword arguments of vLLM's StructuredOutputsParams (and of a vLLM server's
    `structured_outputs` field) for a format that is not free text."""
    if fmt.kind == CHOICE:
        return {"choice": list(fmt.choices)}
    if fmt.kind == REGEX:
        return {"regex": fmt.pattern}
    if fmt.kind == GRAMMAR:
        return {"grammar": fmt.grammar}
    schema = fmt.sent_schema() if fmt.kind == JSON_SCHEMA else ANY_OBJECT
    if fmt.disable_any_whitespace:
        compact = compact_grammar(_schema_json(fmt))
        if compact is not None:
            return {"grammar": compact}
    fields: dict[str, Any] = {"json": schema} if fmt.kind == JSON_SCHEMA else {"json_object": True}
    if fmt.disable_any_whitespace:
        fields["disable_any_whitespace"] = True
    if fmt.disable_additional_properties:
        fields["disable_additional_properties"] = True
    return fields


def needs_compact_grammar(fmt: OutputFormat) -> bool:
    return fmt.kind in (JSON_SCHEMA, JSON_OBJECT) and fmt.disable_any_whitespace


_COMPACT: dict[str, str | None] = {}  # compact grammars by schema (JSON text), made once each
_COMPACT_KEPT = 64


def compact_grammar(schema_json: str) -> str | None:
    """The EBNF grammar of JSON valid against the schema, without free whitespace (xgrammar's,
    as vLLM's xgrammar backend makes it with disable_any_whitespace); None without xgrammar.
    The first call imports xgrammar (and torch with it): `prepare` makes it in a thread."""
    if schema_json in _COMPACT:
        return _COMPACT[schema_json]
    if not has_xgrammar():
        return None
    import xgrammar

    try:
        grammar = xgrammar.Grammar.from_json_schema(schema_json, any_whitespace=False, separators=(",", ":"))
    except Exception as exc:  # noqa: BLE001 - a schema feature xgrammar lacks: the request fails with it
        raise ValueError(f"xgrammar cannot make the schema's compact grammar: {one_line(exc, 200)}") from exc
    if len(_COMPACT) >= _COMPACT_KEPT:
        _COMPACT.pop(next(iter(_COMPACT)))
    _COMPACT[schema_json] = str(grammar)
    return _COMPACT[schema_json]


@functools.cache
def has_xgrammar() -> bool:
    return importlib.util.find_spec("xgrammar") is not None


async def prepare(fmt: OutputFormat, *, load_xgrammar: bool) -> None:
    """What would stall the event loop at a format's first request, done in a thread: importing
    xgrammar (torch comes with it; vLLM's own check of a format imports it in this process) and
    making the compact grammar. Once done, nothing: a request does not wait for a thread."""
    if fmt.is_free or not has_xgrammar():
        return
    importing = load_xgrammar and "xgrammar" not in sys.modules
    making = needs_compact_grammar(fmt) and _schema_json(fmt) not in _COMPACT
    if importing or making:
        await asyncio.to_thread(_load, fmt)


def _load(fmt: OutputFormat) -> None:
    import xgrammar  # noqa: F401 - imported for the request that follows

    try:
        vllm_fields(fmt)  # the compact grammar is kept for the request that follows
    except ValueError:
        pass  # said by the request itself


def _schema_json(fmt: OutputFormat) -> str:
    schema = fmt.sent_schema() if fmt.kind == JSON_SCHEMA else ANY_OBJECT
    return json.dumps(schema, sort_keys=True)


def response_format(fmt: OutputFormat) -> dict[str, Any]:
    """OpenAI's `response_format` for a server that is not vLLM: a JSON schema or any JSON object;
    NotExpressible for the other kinds."""
    if fmt.kind == JSON_OBJECT:
        return {"type": "json_object"}
    if fmt.kind == JSON_SCHEMA:
        name = "answer"
        return {"type": "json_schema", "json_schema": {"name": name, "schema": fmt.sent_schema(), "strict": True}}
    raise NotExpressible(f"a server that is not vLLM takes no {fmt.kind} format (only a JSON schema or any "
                         "JSON object, as response_format)")
