"""One request's life: a backend's deltas become an assistant message's text, tokens and figures.

The workbench's panes, `--headless` and `--batch` all run their requests through a `Run`, so an
answer is recorded the same way wherever it was asked for. `take` is on the path of every delta:
it only appends; the figures are brought up to date when someone reads them (a frame, the end).
"""

from __future__ import annotations

import time
from typing import Any

from tui.core.conversation import Message, Reply
from tui.core.tokens import shown_length
from tui.engine.logprobs import TokenLogprob
from tui.engine.params import Sampling
from tui.engine.protocol import BackendError, Delta, Request, Target
from tui.figures import DONE, ERROR, STREAMING, Figures
from tui.text import one_line


def settings_record(sampling: Sampling) -> dict[str, Any]:
    """What an answer was asked with, as files keep it: the knobs, the chat template, the system
    prompt, the alternatives recorded per token and the output format (None: free text)."""
    fmt = sampling.output_format
    return {**sampling.values, "chat_template": sampling.chat_template, "system_prompt": sampling.system_prompt,
            "logprobs": sampling.logprobs, "format": None if fmt.is_free else fmt.record()}


def new_reply(sampling: Sampling, target: Target | None, state: str) -> Reply:
    return Reply(figures=Figures(state), target=target, settings=settings_record(sampling), started_at=time.time())


def answer_tokens(delta: Delta) -> list[TokenLogprob] | None:
    """The recorded tokens of a delta's answer text, without its thinking's: the last tokens, whose
    pieces make up the text (None when they do not: the spans are the answer's alone)."""
    tokens, want = delta.logprobs, shown_length(delta.text)
    if not tokens or not want:
        return None
    total = 0
    for index in range(len(tokens) - 1, -1, -1):
        total += shown_length(tokens[index].text)
        if total == want:
            return tokens[index:]
        if total > want:
            return None
    return None


class Run:
    __slots__ = ("message", "reply", "request", "last", "_held")

    def __init__(self, message: Message, request: Request) -> None:
        if message.reply is None:
            raise ValueError("a run writes into an assistant message with a reply")
        self.message = message
        self.reply: Reply = message.reply
        self.request = request
        self.last: Delta | None = None  # the latest delta: the running figures are read from it
        # Tokens that came with no text (a thinking marker, or text the detokenizer holds back):
        # the thinking's or the answer's, as the next delta with text shows.
        self._held: list[TokenLogprob] = []

    def take(self, delta: Delta) -> str:
        """Record a delta; its answer text (as sent: whoever shows it passes it through the gate).
        Its thinking, if any, goes to the message's reasoning, apart from the answer."""
        if delta.usage is not None:
            self.reply.usage = delta.usage
        if self.last is not None and self.last.finished and not (delta.text or delta.reasoning or delta.new_tokens):
            return ""  # after the end (a server's closing usage): the figures stay the last token's
        text = delta.text
        if delta.reasoning:
            self._thought(delta)
        if text:
            if self.reply.figures.answered_ms is None:
                self._answered(delta)
            self.message.append(text)
        if delta.reasoning or self._held or (delta.logprobs and not text):
            self._file_tokens(delta)
        else:  # the common case: the delta's tokens are its text's
            self.reply.tokens.add(text, delta.logprobs)
        if delta.prompt_ids is not None:
            self.reply.prompt_ids = delta.prompt_ids
        self.last = delta
        return text

    def _file_tokens(self, delta: Delta) -> None:
        """A delta's tokens in order: those before its answer text are the thinking's (markers
        included) once the message thinks, the rest the answer's; tokens with no text wait."""
        text, tokens = delta.text, delta.logprobs or []
        if not text and not delta.reasoning:
            self._held.extend(tokens)
            return
        held, self._held = self._held, []
        if not self.message.reasoning:  # no thinking: the waiting tokens are the answer's, before this text
            self.reply.tokens.add(text, (held + tokens) or None)
            return
        # When the answer's tokens cannot be told apart (their pieces do not make its text), they
        # go with the thinking's: the ids keep the order the model wrote them in.
        answer = (answer_tokens(delta) or []) if text else []
        front = held + tokens[:len(tokens) - len(answer)]
        self.reply.thinking_tokens.add(delta.reasoning, front or None)
        self.reply.tokens.add(text, answer or None)

    def _settle_held(self) -> None:
        """The stream ended: tokens still waiting go where the last text went."""
        if self._held:
            spans = self.reply.tokens if self.message.content or not self.message.reasoning \
                else self.reply.thinking_tokens
            spans.add("", self._held)
            self._held = []

    def _thought(self, delta: Delta) -> None:
        self.message.append_reasoning(delta.reasoning)
        figures = self.reply.figures
        if figures.thought_ms is None:
            figures.thought_ms = (delta.now - delta.started) * 1000

    def _answered(self, delta: Delta) -> None:
        """The first piece of the answer: when it came and, after thinking, the tokens the thinking
        took: as the backend read them off the token ids, else as counted before this delta (a
        delta that ends the thinking and starts the answer then counts with the answer)."""
        figures = self.reply.figures
        figures.answered_ms = (delta.now - delta.started) * 1000
        if figures.thought_ms is not None:
            if delta.thought_tokens is not None:
                figures.thought_tokens = delta.thought_tokens
            else:
                figures.thought_tokens = self.last.tokens if self.last is not None else 0

    def streaming(self) -> None:
        self.reply.figures.state = STREAMING

    def figures(self) -> Figures:
        """The figures so far (brought up to date from the latest delta)."""
        figures = self.reply.figures
        if self.last is not None:
            figures.update(self.last)
        return figures

    def end(self, state: str, message: str = "") -> None:
        """The run ended: its figures are final in the same step as its state; a finished answer
        is judged against its output format."""
        self._settle_held()
        figures = self.figures()
        figures.state = state
        if message:
            figures.message = message
        if figures.thought_ms is not None and figures.answered_ms is None:
            figures.thought_tokens = figures.tokens  # it thought to the end, with no answer
        if state == DONE:
            self.reply.verdict = self.request.sampling.output_format.verdict(self.answer_text(), figures.finish_reason)

    def answer_text(self) -> str:
        """The answer its format applies to: the message's text, without its thinking (kept apart
        in `message.reasoning`, as vLLM constrains only what follows the thinking)."""
        return self.message.content

    def fail(self, exc: BaseException) -> None:
        """End as an error with the reason, as a person reads it (a backend's message as it is,
        anything else with its type)."""
        reason = exc if isinstance(exc, BackendError) else f"{type(exc).__name__}: {exc}"
        self.end(ERROR, one_line(reason))
