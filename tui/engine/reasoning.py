"""An answer's thinking split from its text in process, as vLLM's server splits it.

AsyncLLM's outputs carry no reasoning field: `vllm serve --reasoning-parser NAME` splits each
delta with that parser before it streams `delta.reasoning` and `delta.content`. The in-process
backend takes the same engine flag and does the same, delta by delta, with the same parser
(vLLM's own, or one a `--reasoning-parser-plugin` registered). Without the flag nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def import_reasoning_plugin(engine_args: Any) -> None:
    """Register the parser a `--reasoning-parser-plugin FILE` holds, before the engine's config is
    made: the config asks vLLM's registry for the parser by name (`vllm serve` imports the file
    first too)."""
    path = getattr(engine_args, "reasoning_parser_plugin", None)
    if path:
        from vllm.reasoning import ReasoningParserManager

        ReasoningParserManager.import_reasoning_parser(str(path))


def reasoning_parser_named(engine: Any) -> tuple[str, type] | None:
    """The reasoning parser the engine's flags name (`--reasoning-parser`), as (name, class); None
    without one. vLLM keeps the name in the structured-outputs config (the grammar waits for the
    thinking's end)."""
    config = getattr(getattr(engine, "vllm_config", None), "structured_outputs_config", None)
    name = str(getattr(config, "reasoning_parser", "") or "")
    if not name:
        return None
    from vllm.reasoning import ReasoningParserManager

    return name, ReasoningParserManager.get_reasoning_parser(name)


def thinking_is_the_models_choice(parser_class: type, tokenizer: Any) -> bool:
    """Whether the parser reads an answer without its markers as all answer text, so that a model
    thinks only when it opens the thinking itself (the demo's `think` adapter beside the base model
    on one engine; Granite). Parsers that read it as all thinking (Qwen3, DeepSeek-R1) say False.

    It matters for output formats: vLLM's engine holds a request's format back until the parser
    says the thinking has ended (at its `</think>`), and it cannot un-sample a first token it let
    through. Under such a parser a model that never opens its thinking would never be held to its
    format, so the backend tells the engine the thinking has ended before it began, unless the
    pane switched the thinking on (`enable_thinking`): then the format holds after the thinking."""
    probe = "plain text"
    try:
        reasoning, content = parser_class(tokenizer).extract_reasoning(probe, None)
    except Exception:  # a parser that needs more (a request, its tokens): not known to start in the answer
        return False
    return not reasoning and content == probe


class ThinkingSplit:
    """One request's stream through a reasoning parser: each delta's text becomes its thinking and
    its answer text. Holds the text and token ids so far, as vLLM's server does for the parser."""

    __slots__ = ("_parser", "_text", "_ids", "_prompt_checked", "_answering", "_thought", "thought_tokens")

    def __init__(self, parser: Any) -> None:
        self._parser = parser
        self._text = ""
        self._ids: list[int] = []
        self._prompt_checked = False
        self._answering = False  # the prompt closed the thinking: all the rest is answer text
        self._thought = False  # thinking came, and no answer text after it yet
        # The tokens the thinking took, through its end marker, once the answer has begun (None:
        # not yet, no thinking, or the parser could not place its end in the ids).
        self.thought_tokens: int | None = None

    def after_prompt(self, prompt_ids: Sequence[int] | None) -> None:
        """Read the prompt once, before the first delta, as vLLM's server does: a prompt that has
        closed the thinking already (a template told `enable_thinking` off) makes the whole answer
        text; one that leaves it open lets the parser set its start."""
        if self._prompt_checked or prompt_ids is None:
            return
        self._prompt_checked = True
        if self._parser.is_reasoning_end(list(prompt_ids)):
            self._answering = True
        else:
            self._parser.adjust_initial_state_from_prompt(list(prompt_ids))

    def feed(self, text: str, ids: Sequence[int]) -> tuple[str, str]:
        """(thinking, answer text) that this delta adds; both empty while the parser holds a
        marker back."""
        if self._answering:
            return "", text
        previous_text, previous_ids = self._text, self._ids
        self._text = previous_text + text
        self._ids = previous_ids + list(ids)
        message = self._parser.extract_reasoning_streaming(
            previous_text, self._text, text, previous_ids, self._ids, list(ids))
        return self._counted(_parts(message))

    def end(self) -> tuple[str, str]:
        """What the parser held back when the stream ended (a parser that holds nothing back has no
        `flush`: nothing)."""
        flush = getattr(self._parser, "flush", None)
        if self._answering or flush is None:
            return "", ""
        return self._counted(_parts(flush(self._text)))

    def _counted(self, parts: tuple[str, str]) -> tuple[str, str]:
        """Count the thinking's tokens when the first answer text after it comes. The engine merges
        deltas when their reader is slow (a busy screen), so one delta can hold the thinking's last
        tokens and the answer's first: the parser finds the end in the ids (vLLM's
        `extract_content_ids`, as structured outputs use it), not the delta it came in."""
        reasoning, content = parts
        if reasoning:
            self._thought = True
        if content and self._thought:
            self._thought = False  # read once: the ids are decoded whole
            answer_ids = self._parser.extract_content_ids(list(self._ids))
            if answer_ids and len(answer_ids) < len(self._ids):
                self.thought_tokens = len(self._ids) - len(answer_ids)
        return parts


def _parts(message: Any) -> tuple[str, str]:
    if message is None:
        return "", ""
    return message.reasoning or "", message.content or ""
