"""`demo_think`: a vLLM reasoning parser for the demo model's thinking adapter.

The adapter (`tui/demo_model/adapters/think`) answers `<think>`, a reasoning, `</think>`, then
its answer. The demo tokenizer has no such tokens, and a LoRA adapter cannot add any: `<think>` is
four tokens of plain text, `</think>` five. Of vLLM's parsers for this layout, deepseek_r1 looks the
markers up as single tokens and olmo3 wants `</` and `think` in the vocabulary: both refuse this
tokenizer. qwen3 reads them as text, but an answer starts inside its reasoning (Qwen3's templates
open it), so the base model's answers, beside the adapter's on one engine, would all be reasoning.
This one reads the markers in the text and starts in the content.

One rule splits a whole answer and a stream alike:

    content [ <think> reasoning [ </think> content ] ]

Text before `<think>` is content; without `<think>` it is all content; a `<think>` never closed
makes the rest reasoning; after the first `</think>` all is content, markers included. The markers
themselves are in neither part, and nothing is trimmed: reasoning + content is the text without
its markers. In a stream, the text that could still become a marker (`</thi`) waits for the next
delta, so a marker cut across deltas is never half shown.

Importing this module registers the parser as `demo_think` with vLLM's ReasoningParserManager.
It imports nothing of this project, so that a server loads the file as it is:

    vllm serve MODEL --reasoning-parser-plugin .../tui/engine/demo_reasoning.py --reasoning-parser demo_think

In process, import it before the engine's config is made (VllmConfig asks the manager for the
parser while it is built) and pass `ENGINE_ARGS` to AsyncEngineArgs; AsyncLLM itself does not split
its outputs, so a consumer feeds its deltas to `extract_reasoning_streaming` and, at the end,
to `flush`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vllm.entrypoints.generate.base.protocol import DeltaMessage
from vllm.reasoning import ReasoningParser, ReasoningParserManager

if TYPE_CHECKING:
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest
    from vllm.entrypoints.openai.responses.protocol import ResponsesRequest
    from vllm.tokenizers import TokenizerLike

PARSER_NAME = "demo_think"
OPEN = "<think>"
CLOSE = "</think>"
# The demo's chat template opens every turn with it: the turn the model writes is after the last one.
TURN_START = "<|im_start|>"
# What AsyncEngineArgs needs: the name for the engine's config (thinking_token_budget's markers,
# structured outputs), the file for engine processes that did not inherit the registration.
ENGINE_ARGS = {"reasoning_parser": PARSER_NAME, "reasoning_parser_plugin": __file__}


class Phase(enum.Enum):
    BEFORE = "before"  # no <think> yet
    THINKING = "thinking"  # after <think>, no </think> yet
    AFTER = "after"  # after </think>


@dataclass(frozen=True)
class Split:
    reasoning: str
    content: str
    phase: Phase


def split_thinking(text: str) -> Split:
    """The whole of `text`, split by the rule above."""
    start = text.find(OPEN)
    if start < 0:
        return Split("", text, Phase.BEFORE)
    inside = text[start + len(OPEN):]
    end = inside.find(CLOSE)
    if end < 0:
        return Split(inside, text[:start], Phase.THINKING)
    return Split(inside[:end], text[:start] + inside[end + len(CLOSE):], Phase.AFTER)


def _pending_marker(text: str, marker: str, limit: int) -> int:
    """How many characters at the end of `text` (at most `limit`) could be the start of `marker`."""
    for size in range(min(len(marker) - 1, limit), 0, -1):
        if text.endswith(marker[:size]):
            return size
    return 0


def settled(text: str) -> Split:
    """The split of `text` less what could still become a marker: it only grows as text comes."""
    whole = split_thinking(text)
    if whole.phase is Phase.BEFORE:
        pending = _pending_marker(text, OPEN, len(text))
    elif whole.phase is Phase.THINKING:
        pending = _pending_marker(text, CLOSE, len(whole.reasoning))  # never back into <think>
    else:
        pending = 0
    return split_thinking(text[: len(text) - pending]) if pending else whole


def _delta(reasoning: str, content: str) -> DeltaMessage | None:
    if not reasoning and not content:
        return None
    return DeltaMessage(reasoning=reasoning or None, content=content or None)


class DemoThinkReasoningParser(ReasoningParser):
    """vLLM's ReasoningParser interface over `split_thinking`. Its one state: whether the prompt
    left the turn inside its thinking (a prompt that ends in `<think>` and part of a reasoning, as
    a fork inside the thinking sends it), set once from the prompt; then the text it reads goes on
    from that `<think>`."""

    def __init__(self, tokenizer: TokenizerLike, *args, **kwargs) -> None:
        super().__init__(tokenizer, *args, **kwargs)
        if not self.model_tokenizer:
            raise ValueError("the demo_think reasoning parser needs the model's tokenizer")
        self._opened = ""  # OPEN when the prompt left the turn thinking

    def adjust_initial_state_from_prompt(self, prompt_token_ids: Sequence[int]) -> None:
        turn = self._text(prompt_token_ids).rpartition(TURN_START)[2]
        self._opened = OPEN if split_thinking(turn).phase is Phase.THINKING else ""

    @property
    def reasoning_start_str(self) -> str:
        return OPEN

    @property
    def reasoning_end_str(self) -> str:
        return CLOSE

    # -- text ----------------------------------------------------------------------------------
    def extract_reasoning(
        self, model_output: str, request: ChatCompletionRequest | ResponsesRequest | None = None
    ) -> tuple[str | None, str | None]:
        split = split_thinking(self._opened + model_output)
        return split.reasoning or None, split.content or None

    def extract_reasoning_streaming(
        self,
        previous_text: str,
        current_text: str,
        delta_text: str,
        previous_token_ids: Sequence[int] = (),
        current_token_ids: Sequence[int] = (),
        delta_token_ids: Sequence[int] = (),
    ) -> DeltaMessage | None:
        """What `delta_text` adds to each part; None while it only adds a marker or part of one."""
        before, now = settled(self._opened + previous_text), settled(self._opened + current_text)
        return _delta(now.reasoning[len(before.reasoning):], now.content[len(before.content):])

    def flush(self, text: str) -> DeltaMessage | None:
        """At the end of a stream whose whole text is `text`: what streaming held back as a
        possible marker (an answer ending in `</thi` or `<`)."""
        whole, shown = split_thinking(self._opened + text), settled(self._opened + text)
        return _delta(whole.reasoning[len(shown.reasoning):], whole.content[len(shown.content):])

    def get_streaming_fallback_content(
        self, previous_text: str, request: ChatCompletionRequest | ResponsesRequest
    ) -> str | None:
        """vLLM's server asks this when a stream ends before reasoning ended: the held-back
        content. (A held-back piece of reasoning has no way out there, and is dropped.)"""
        rest = self.flush(previous_text)
        return rest.content if rest is not None else None

    # -- token ids (vLLM's server asks these to know when reasoning is over) --------------------
    def _text(self, token_ids: Sequence[int]) -> str:
        return self.model_tokenizer.decode(list(token_ids), skip_special_tokens=False)

    def is_reasoning_end(self, input_ids: Sequence[int]) -> bool:
        """Whether the turn being written has closed its thinking. Given a prompt, only its last
        turn counts: an earlier answer's `</think>` does not end this answer's thinking."""
        turn = self._text(input_ids).rpartition(TURN_START)[2]
        return split_thinking(turn).phase is Phase.AFTER

    def is_reasoning_end_streaming(self, input_ids: Sequence[int], delta_ids: Iterable[int]) -> bool:
        """Whether the last `delta_ids` of `input_ids` closed the thinking. Runs every decode step
        of a structured-output request: the full text is decoded only when the end of it shows `</`."""
        count = len(list(delta_ids))
        if count == 0:
            return False
        # Every token is at least one character: the marker's other characters are in the tokens before.
        tail = input_ids[max(0, len(input_ids) - count - (len(CLOSE) - 1)):]
        if CLOSE not in self._text(tail):
            return False
        return self.is_reasoning_end(input_ids) and not self.is_reasoning_end(input_ids[: len(input_ids) - count])

    def extract_content_ids(self, input_ids: list[int]) -> list[int]:
        """The ids after the token that completes the first `</think>`; [] when none does."""
        if CLOSE not in self._text(input_ids):
            return []
        low, high = 1, len(input_ids)  # the shortest prefix whose text holds `</think>`
        while low < high:
            middle = (low + high) // 2
            if CLOSE in self._text(input_ids[:middle]):
                high = middle
            else:
                low = middle + 1
        return list(input_ids[low:])


ReasoningParserManager.register_module(PARSER_NAME, module=DemoThinkReasoningParser)
