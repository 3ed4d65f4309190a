"""What form an answer must take, and whether an answer took it: free text, one of a list of
choices, a full match of a regular expression, any JSON object, JSON valid against a JSON Schema,
or a grammar (EBNF or Lark) — vLLM's structured outputs.

A format is part of what a request is sent with (`Sampling.output_format`); the engine layer turns
it into what the engine or a server is sent (tui/engine/structured.py). Here it is made from what
a person types (the dialog, the command line, a batch file, a sweep), checked before anything is
sent (`problem`), kept in files (`record`), and an answer is judged against it (`verdict`).

Pure: no Textual, no vLLM. xgrammar (the grammar library vLLM uses) checks grammars and judges
regex and grammar answers in vLLM's own dialect when it is loaded already (the in-process engine
loads it); it is imported here only when asked to (`thorough`), since it brings torch with it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from tui import validate as V
from tui.text import one_line

FREE, CHOICE, REGEX, GRAMMAR = "free", "choice", "regex", "grammar"
JSON_SCHEMA, JSON_OBJECT = "json_schema", "json_object"
KINDS = (FREE, CHOICE, REGEX, JSON_SCHEMA, JSON_OBJECT, GRAMMAR)
KIND_NAMES = {FREE: "free text", CHOICE: "one of a list (choice)", REGEX: "a regular expression (regex)",
              JSON_SCHEMA: "JSON valid against a JSON Schema", JSON_OBJECT: "any JSON object",
              GRAMMAR: "a grammar (vLLM's EBNF or Lark)"}
JSON_KINDS = (JSON_SCHEMA, JSON_OBJECT)
WORDS_HELP = "free, json (any JSON object), choice:A|B|C, regex:PATTERN, schema:FILE_OR_JSON, grammar:FILE"
SWEEP_WORDS_HELP = WORDS_HELP.replace("(any JSON object), ", "(any JSON object), pane (the pane's own), ")

MAX_TEXT = 1_000_000  # characters of a schema or a grammar (files are read up to this)
MAX_CHOICES = 1000
MAX_NESTING = 64  # a schema nested deeper is refused (vLLM refuses deep nesting too)
CUT_OFF = "cut off at max_tokens"
_XGRAMMAR_NOISE = re.compile(r"^\[[\d:]+\] \S+?:\d+: ")  # "[18:50:58] /project/cpp/x.cc:820: "


class FormatError(ValueError):
    """A format that cannot be used: the message says where and why."""


@dataclass(frozen=True)
class Verdict:
    """Whether an answer took its format: `valid` (None when it could not be checked here), the
    words the status line shows, and the reason when it did not."""

    valid: bool | None
    shown: str
    reason: str | None = None

    def record(self) -> dict[str, Any]:
        return {"valid": self.valid, "shown": self.shown, "error": self.reason}

    @classmethod
    def from_record(cls, value: Any, where: str) -> Verdict:
        data = V.table(value, where)
        V.known_keys(data, where, {"valid", "shown", "error"})
        valid = data.get("valid")
        if valid is not None:
            valid = V.boolean(valid, f"{where}.valid")
        return cls(valid, V.string(data.get("shown", ""), f"{where}.shown", limit=1000),
                   V.optional_string(data.get("error"), f"{where}.error"))


def _passed(shown: str) -> Verdict:
    return Verdict(True, shown)


def _failed(reason: str, cut: bool) -> Verdict:
    reason = one_line(reason + (f" ({CUT_OFF})" if cut else ""), 300)
    return Verdict(False, f"✗ {reason}", reason)


@dataclass(frozen=True)
class OutputFormat:
    """One format. Only the fields of its kind mean anything; `source` names the file a schema
    or a grammar was read from (its content is kept here: a session does not depend on the file)."""

    kind: str = FREE
    choices: tuple[str, ...] = ()
    pattern: str = ""
    schema: Any = field(default=None, hash=False)  # a JSON Schema (a dict), read only
    grammar: str = ""
    disable_any_whitespace: bool = False  # JSON: no whitespace between tokens (compact)
    disable_additional_properties: bool = False  # JSON Schema: objects have only the properties named
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise FormatError(f"no format {self.kind!r} (one of {', '.join(KINDS)})")
        object.__setattr__(self, "choices", tuple(self.choices))

    @property
    def is_free(self) -> bool:
        return self.kind == FREE

    @property
    def label(self) -> str:
        """Short, for titles and summaries: '' (free), 'choice×3', 'regex', 'json-schema', 'json',
        'grammar'; '+compact' when whitespace is disabled."""
        base = {FREE: "", CHOICE: f"choice×{len(self.choices)}", REGEX: "regex", JSON_SCHEMA: "json-schema",
                JSON_OBJECT: "json", GRAMMAR: "grammar"}[self.kind]
        return base + ("+compact" if base and self.disable_any_whitespace else "")

    def describe(self) -> str:
        """A line for the settings bar and the dialog: 'JSON schema (schema.json), compact'."""
        if self.is_free:
            return "free"
        what = {CHOICE: f"choice of {len(self.choices)}", REGEX: f"regex {one_line(self.pattern, 40)}",
                JSON_SCHEMA: "JSON schema", JSON_OBJECT: "JSON object", GRAMMAR: "grammar"}[self.kind]
        if self.source:
            what += f" ({one_line(Path(self.source).name, 40)})"
        options = [name for name, on in (("compact", self.disable_any_whitespace),
                                          ("no extra properties", self.disable_additional_properties)) if on]
        return ", ".join([what, *options])

    # -- checking ---------------------------------------------------------------------------------
    @cached_property
    def _quick_problem(self) -> str | None:
        return self._problem(thorough=False)

    def problem(self, thorough: bool = False) -> str | None:
        """Why this format cannot be sent, or None. The schema must be a valid JSON Schema
        (jsonschema's check), the regex must compile, a grammar must not be empty; with xgrammar
        loaded (or `thorough`: loaded now, when installed) the regex and the grammar are checked
        as vLLM's xgrammar backend reads them."""
        return self._problem(thorough=True) if thorough else self._quick_problem

    def _problem(self, thorough: bool) -> str | None:
        if self.kind == CHOICE:
            if not self.choices:
                return "no choices: give at least one"
            if len(self.choices) > MAX_CHOICES:
                return f"more than {MAX_CHOICES} choices"
            if any(not c for c in self.choices):
                return "a choice is empty"
            return None
        if self.kind == REGEX:
            return regex_problem(self.pattern, thorough)
        if self.kind == JSON_SCHEMA:
            return schema_problem(self.schema)
        if self.kind == GRAMMAR:
            return grammar_problem(self.grammar, thorough)
        return None

    def sent_schema(self) -> dict[str, Any] | None:
        """The schema as the engine gets it: with `disable_additional_properties`, every object
        that does not say otherwise allows only the properties it names (as vLLM's guidance
        backend does with that option; xgrammar does it by default). None for other kinds."""
        if self.kind != JSON_SCHEMA:
            return None
        if not self.disable_additional_properties:
            return self.schema
        return _closed(copy.deepcopy(self.schema))

    # -- judging an answer ------------------------------------------------------------------------
    def verdict(self, text: str, finish_reason: str | None = None) -> Verdict | None:
        """Whether `text` (the answer, without any reasoning before it) took this format; None for
        free text. `finish_reason` 'length' is said in the reason: the answer was cut off."""
        cut = finish_reason == "length"
        if self.kind == FREE:
            return None
        if self.kind == CHOICE:
            if text in self.choices:
                return _passed("choice ✓")
            return _failed(f"{_quoted(text)} is not one of the {len(self.choices)} choices", cut)
        if self.kind == REGEX:
            return self._regex_verdict(text, cut)
        if self.kind == GRAMMAR:
            return self._grammar_verdict(text, cut)
        try:
            document = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            return _failed(f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", cut)
        except (ValueError, RecursionError) as exc:
            return _failed(f"not JSON: {exc}", cut)
        if self.kind == JSON_OBJECT:
            if not isinstance(document, dict):
                return _failed(f"JSON, but {_json_type(document)}, not an object", cut)
            return _passed("JSON ✓")
        return _schema_verdict(self.sent_schema(), document, cut)

    def _regex_verdict(self, text: str, cut: bool) -> Verdict:
        xgr = _xgrammar(load=False)
        if xgr is not None:  # vLLM's own dialect, in linear time
            try:
                matched = _accepts(xgr, xgr.Grammar.from_regex(self.pattern), text)
            except Exception:  # noqa: BLE001 - a pattern xgrammar cannot read: Python's reading follows
                matched = None
            if matched is not None:
                return _passed("regex ✓") if matched else _failed("does not match the pattern", cut)
        try:
            matched = re.fullmatch(self.pattern, text) is not None
        except re.error as exc:
            return Verdict(None, "regex not checked", f"the pattern does not compile here: {exc}")
        return _passed("regex ✓") if matched else _failed("does not match the pattern", cut)

    def _grammar_verdict(self, text: str, cut: bool) -> Verdict:
        xgr = _xgrammar(load=False)
        if xgr is None:
            return Verdict(None, "grammar not checked", "xgrammar is not loaded in this process")
        try:
            accepted = _accepts(xgr, _grammar_of(xgr, self.grammar), text)
        except Exception as exc:  # noqa: BLE001 - xgrammar's reason, for the person
            return Verdict(None, "grammar not checked", _xgrammar_message(exc))
        return _passed("grammar ✓") if accepted else _failed("the grammar does not accept it", cut)

    # -- records ---------------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        """As files keep it: the kind and what it needs (defaults left out)."""
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind == CHOICE:
            data["choices"] = list(self.choices)
        elif self.kind == REGEX:
            data["pattern"] = self.pattern
        elif self.kind == JSON_SCHEMA:
            data["schema"] = self.schema
        elif self.kind == GRAMMAR:
            data["grammar"] = self.grammar
        for name in ("disable_any_whitespace", "disable_additional_properties"):
            if getattr(self, name):
                data[name] = True
        if self.source:
            data["source"] = self.source
        return data

    @classmethod
    def from_record(cls, value: Any, where: str) -> OutputFormat:
        """The inverse of `record`, every field checked (a session may be hand-edited); whether the
        schema or the regex can be used is `problem`'s business, when the pane runs."""
        data = V.table(value, where)
        V.known_keys(data, where, {"kind", "choices", "pattern", "schema", "grammar", "disable_any_whitespace",
                                   "disable_additional_properties", "source"})
        kind = V.one_of(data.get("kind", FREE), f"{where}.kind", KINDS)
        choices = V.list_of(data.get("choices", []), f"{where}.choices",
                            lambda item, at: V.string(item, at, limit=10_000), limit=MAX_CHOICES)
        schema = data.get("schema")
        if schema is not None:
            schema = dict(V.table(schema, f"{where}.schema"))
        if kind == JSON_SCHEMA and schema is None:
            raise V.FieldError(f"{where}.schema", "a json_schema format needs its schema")
        return cls(kind, tuple(choices), V.string(data.get("pattern", ""), f"{where}.pattern", limit=MAX_TEXT),
                   schema, V.string(data.get("grammar", ""), f"{where}.grammar", limit=MAX_TEXT),
                   V.boolean(data.get("disable_any_whitespace", False), f"{where}.disable_any_whitespace"),
                   V.boolean(data.get("disable_additional_properties", False),
                             f"{where}.disable_additional_properties"),
                   V.string(data.get("source", ""), f"{where}.source", limit=4096))

    def editable_text(self) -> str:
        """What the dialog's text box holds for this format (choices one a line; the schema as
        indented JSON)."""
        if self.kind == CHOICE:
            return "\n".join(self.choices)
        if self.kind == REGEX:
            return self.pattern
        if self.kind == JSON_SCHEMA:
            return json.dumps(self.schema, indent=2, ensure_ascii=False)
        if self.kind == GRAMMAR:
            return self.grammar
        return ""


FREE_FORMAT = OutputFormat()


# -- making a format from what is typed -----------------------------------------------------------
def from_text(kind: str, text: str, *, disable_any_whitespace: bool = False,
              disable_additional_properties: bool = False, base: Path | None = None) -> OutputFormat:
    """A format from the dialog's fields: choices one a line; a pattern; a schema as JSON, or on
    one line the file that holds it; a grammar, or on one line its file (relative to `base`).
    FormatError when the text cannot be read; whether the format can be used is `problem`'s."""
    whitespace = disable_any_whitespace and kind in JSON_KINDS
    closed = disable_additional_properties and kind == JSON_SCHEMA
    if kind == FREE:
        return FREE_FORMAT
    if kind == CHOICE:
        choices = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
        return OutputFormat(CHOICE, tuple(choices))
    if kind == REGEX:
        return OutputFormat(REGEX, pattern=text.rstrip("\r\n"))
    if kind == JSON_OBJECT:
        return OutputFormat(JSON_OBJECT, disable_any_whitespace=whitespace)
    if kind == JSON_SCHEMA:
        schema, source = schema_from_text(text, base)
        return OutputFormat(JSON_SCHEMA, schema=schema, source=source, disable_any_whitespace=whitespace,
                            disable_additional_properties=closed)
    if kind == GRAMMAR:
        path = _one_line_path(text, base)
        if path is not None and path.is_file():
            return OutputFormat(GRAMMAR, grammar=read_text_file(path), source=str(path))
        return OutputFormat(GRAMMAR, grammar=text)
    raise FormatError(f"no format {kind!r} (one of {', '.join(KINDS)})")


def schema_from_text(text: str, base: Path | None = None) -> tuple[dict[str, Any], str]:
    """(schema, the file it came from or ""): JSON text, or the path of a JSON file."""
    stripped = text.strip()
    if not stripped:
        raise FormatError("no schema: give a JSON Schema, or the file that holds one")
    source = ""
    if not stripped.startswith(("{", "[", '"')) and "\n" not in stripped:
        path = _resolve(stripped, base)
        if not path.is_file():
            raise FormatError(f"{stripped}: no such file (a schema is JSON text, or the file that holds it)")
        source, text = str(path), read_text_file(path)
    try:
        schema = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        where = f"{source}:{exc.lineno}:{exc.colno}" if source else f"line {exc.lineno}, column {exc.colno}"
        raise FormatError(f"{where}: not JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise FormatError(f"{source or 'the schema'}: not JSON ({one_line(exc, 100)})") from None
    if not isinstance(schema, dict):
        raise FormatError(f"{source or 'the schema'}: a JSON Schema is an object ({{…}}), not {_json_type(schema)}")
    return schema, source


def grammar_from_file(path_text: str, base: Path | None = None) -> OutputFormat:
    path = _resolve(path_text, base)
    if not path.is_file():
        raise FormatError(f"{path_text}: no such file")
    return OutputFormat(GRAMMAR, grammar=read_text_file(path), source=str(path))


def read_text_file(path: Path) -> str:
    try:
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_TEXT + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise FormatError(f"{path}: cannot read it ({one_line(exc, 120)})") from None
    if len(text) > MAX_TEXT:
        raise FormatError(f"{path}: longer than {MAX_TEXT:,} characters")
    return text


def parse_word(word: str, *, pane: OutputFormat | None = None, base: Path | None = None) -> OutputFormat:
    """A format from one word of a sweep, a batch file's `format` or the command line: free, json
    (any JSON object), pane (the pane's own: `pane`; sweeps only), choice:A|B|C, regex:PATTERN,
    schema:FILE_OR_JSON, grammar:FILE. FormatError names what is wrong."""
    text = word.strip()
    name, sep, rest = text.partition(":")
    name = name.strip().lower()
    if not sep:
        if name == "free":
            return FREE_FORMAT
        if name == "json":
            return OutputFormat(JSON_OBJECT)
        if name == "pane" and pane is not None:
            return pane
    elif name == "choice":
        choices = tuple(c for c in rest.split("|") if c)
        return OutputFormat(CHOICE, choices)
    elif name == "regex":
        return OutputFormat(REGEX, pattern=rest)
    elif name == "schema":
        schema, source = schema_from_text(rest, base)
        return OutputFormat(JSON_SCHEMA, schema=schema, source=source)
    elif name == "grammar":
        return grammar_from_file(rest.strip(), base)
    words = SWEEP_WORDS_HELP if pane is not None else WORDS_HELP
    raise FormatError(f"{one_line(text, 60)!r} is not a format ({words})")


def split_words(text: str) -> list[str]:
    """Comma-separated words, where a comma inside brackets, braces, parentheses or quotes is part
    of its word (`regex:[0-9]{1,3}`, `schema:{"a": 1, "b": 2}`)."""
    words, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            if char == quote and text[index - 1] != "\\":
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            words.append(text[start:index].strip())
            start = index + 1
    words.append(text[start:].strip())
    return words


# -- the checks --------------------------------------------------------------------------------------
def regex_problem(pattern: str, thorough: bool = False) -> str | None:
    """Why vLLM could not constrain an answer to `pattern`: it must compile (Python's `re`; vLLM's
    xgrammar reads a subset close to JavaScript's: no lookarounds, no backreferences), with
    xgrammar's own reading when it is loaded."""
    if not pattern:
        return "no pattern"
    if "\x00" in pattern:
        return "the pattern has a NUL character (vLLM refuses it)"
    try:
        re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        return f"the pattern does not compile{where}: {exc.msg}"
    xgr = _xgrammar(load=thorough)
    if xgr is not None:
        try:
            xgr.Grammar.from_regex(pattern)
        except Exception as exc:  # noqa: BLE001 - xgrammar's reason
            return f"vLLM's regex reader (xgrammar) refuses it: {_xgrammar_message(exc)}"
    return None


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a usable JSON Schema (jsonschema's check against its meta-schema, with
    the place: '$.properties.score.type: …'), or None."""
    if not isinstance(schema, dict):
        return "a JSON Schema is an object ({…})"
    if _depth(schema) > MAX_NESTING:
        return f"the schema nests deeper than {MAX_NESTING} levels"
    try:
        text = json.dumps(schema, sort_keys=True)
    except (TypeError, ValueError) as exc:
        return f"not JSON: {one_line(exc, 100)}"
    return _checked_schema(text)


@functools.lru_cache(maxsize=128)
def _checked_schema(text: str) -> str | None:
    """The meta-schema check, once per schema (it takes milliseconds; many panes share a schema)."""
    from jsonschema import Draft202012Validator, SchemaError, validators

    schema = json.loads(text)
    try:
        validators.validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        return f"not a valid JSON Schema: {exc.json_path}: {one_line(exc.message, 160)}"
    except Exception as exc:  # noqa: BLE001 - an unknown $schema URI, a schema jsonschema cannot read
        return f"not a valid JSON Schema: {one_line(exc, 160)}"
    return None


def grammar_problem(grammar: str, thorough: bool = False) -> str | None:
    """Why `grammar` cannot be sent: an empty one; with xgrammar loaded (or `thorough`), what
    xgrammar finds, read as vLLM reads it (EBNF when a line has '::=', else Lark)."""
    if not grammar.strip():
        return "no grammar"
    xgr = _xgrammar(load=thorough)
    if xgr is None:
        return None
    try:
        _grammar_of(xgr, grammar)
    except Exception as exc:  # noqa: BLE001 - xgrammar's reason
        return f"the grammar does not compile: {_xgrammar_message(exc)}"
    return None


def is_lark(grammar: str) -> bool:
    """vLLM's own test (grammar_is_likely_lark): EBNF when a line (comments aside) has '::='."""
    for line in grammar.split("\n"):
        if "::=" in re.sub(r"(#|//).*$", "", line):
            return False
    return True


def _schema_verdict(schema: dict[str, Any], document: Any, cut: bool) -> Verdict:
    from jsonschema import Draft202012Validator, exceptions, validators

    try:
        cls = validators.validator_for(schema, default=Draft202012Validator)
        error = exceptions.best_match(cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(document))
    except Exception as exc:  # noqa: BLE001 - a $ref that cannot be resolved here (nothing is downloaded)
        return Verdict(None, "JSON ✓ schema not checked", f"the schema cannot be checked here: {one_line(exc, 160)}")
    if error is None:
        return _passed("JSON ✓ schema ✓")
    return _failed(f"{error.json_path}: {one_line(error.message, 160)}", cut)


def _closed(schema: Any) -> Any:
    """Every object schema in `schema` without `additionalProperties` gets `false` (in place)."""
    if isinstance(schema, list):
        for item in schema:
            _closed(item)
        return schema
    if not isinstance(schema, dict):
        return schema
    if (schema.get("type") == "object" or "properties" in schema) and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
            if isinstance(value, dict):
                for sub in value.values():
                    _closed(sub)
        elif key in ("items", "prefixItems", "anyOf", "oneOf", "allOf", "not", "if", "then", "else",
                     "additionalProperties", "contains", "additionalItems"):
            _closed(value)
    return schema


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_NESTING:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _xgrammar(load: bool) -> Any:
    """xgrammar when it is loaded (or, with `load`, when it can be); None otherwise."""
    module = sys.modules.get("xgrammar")
    if module is not None or not load:
        return module
    try:
        import xgrammar
    except Exception:  # noqa: BLE001 - not installed (a remote-only install), or broken
        return None
    return xgrammar


def _grammar_of(xgr: Any, grammar: str) -> Any:
    return xgr.Grammar.from_lark(grammar) if is_lark(grammar) else xgr.Grammar.from_ebnf(grammar)


def _accepts(xgr: Any, grammar: Any, text: str) -> bool:
    """Whether `grammar` accepts all of `text` and ends there (xgrammar's matcher, on characters:
    no tokenizer needed)."""
    compiler = xgr.GrammarCompiler(xgr.TokenizerInfo([]), cache_enabled=False)
    matcher = xgr.GrammarMatcher(compiler.compile_grammar(grammar), terminate_without_stop_token=True)
    return bool(matcher.accept_string(text)) and bool(matcher.is_terminated())


def _xgrammar_message(exc: BaseException) -> str:
    lines = [_XGRAMMAR_NOISE.sub("", line).strip() for line in str(exc).splitlines() if line.strip()]
    return one_line(" ".join(lines) or type(exc).__name__, 200)


def _one_line_path(text: str, base: Path | None) -> Path | None:
    stripped = text.strip()
    if not stripped or "\n" in stripped:
        return None
    return _resolve(stripped, base)


def _resolve(text: str, base: Path | None) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _quoted(text: str) -> str:
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "…"
