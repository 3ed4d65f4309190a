"""A run's figures (state, TTFT, tokens, tok/s, finish reason) and the one way they are written.

The pane's status line, the headless printer, the Markdown export and the batch JSONL all show
the same figures; `Figures.parts()` is where their wording and rounding live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IDLE, QUEUED, STREAMING, DONE, CANCELLED, ERROR = "idle", "queued", "streaming", "done", "cancelled", "error"
RUNNING_STATES = (QUEUED, STREAMING)
ENDED_STATES = (DONE, CANCELLED, ERROR)
STATES = (IDLE, QUEUED, STREAMING, DONE, CANCELLED, ERROR)


@dataclass
class Figures:
    """What is known of a request's run, so far or at its end."""

    state: str = IDLE
    tokens: int = 0
    ttft_ms: float | None = None
    tok_s: float | None = None
    finish_reason: str | None = None
    message: str = ""  # why it failed (state ERROR)
    # Where the request's time went in the engine, when the backend knows (the in-process engine).
    queued_ms: float | None = None
    prefill_ms: float | None = None
    decode_ms: float | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None  # prompt tokens served from the prefix cache
    # A thinking answer (a server's reasoning channel): when its first thinking piece and its
    # first answer piece came (from the request's start), and the tokens counted before the answer.
    thought_ms: float | None = None
    answered_ms: float | None = None
    thought_tokens: int | None = None

    @property
    def thinking_ms(self) -> float | None:
        """How long it thought: from its first thinking piece to its first answer piece (None
        until the answer starts, or when it did not think)."""
        if self.thought_ms is None or self.answered_ms is None:
            return None
        return max(0.0, self.answered_ms - self.thought_ms)

    def update(self, delta: Any) -> None:
        """Take the running figures of the latest `Delta` of the request."""
        self.tokens = delta.tokens
        self.ttft_ms = None if delta.ttft is None else delta.ttft * 1000
        self.tok_s = delta.tok_per_s
        self.finish_reason = delta.finish_reason
        timing = delta.timing
        if timing is not None:
            self.queued_ms = _ms(timing.queued_s)
            self.prefill_ms = _ms(timing.prefill_s)
            self.decode_ms = _ms(timing.decode_s)
            self.prompt_tokens = timing.prompt_tokens
            self.cached_tokens = timing.cached_tokens

    @classmethod
    def of(cls, delta: Any, state: str = DONE) -> Figures:
        figures = cls(state)
        if delta is not None:
            figures.update(delta)
        return figures

    def context_full(self, max_tokens: int | None) -> bool:
        """Whether the answer was cut by the model's context, not by its own `max_tokens`: it ended
        for length before that many tokens (unknown `max_tokens`: not said)."""
        return self.finish_reason == "length" and max_tokens is not None and self.tokens < max_tokens

    def finish_part(self, short: bool = False, max_tokens: int | None = None) -> str:
        """The finish reason as shown: 'cut: context full' (short 'ctx full') when the context ran
        out before `max_tokens`, which the reason 'length' alone does not tell apart from
        `max_tokens`; short, only the cuts are said ('max', 'ctx full'): 'stop' is the usual end."""
        if self.context_full(max_tokens):
            return "ctx full" if short else "cut: context full"
        if short:
            return "max" if self.finish_reason == "length" else ""
        return self.finish_reason or ""

    def parts(self, short: bool = False, max_tokens: int | None = None) -> list[str]:
        """['TTFT 49 ms', '84 tok', '266 tok/s', 'stop']: what is known, in that order; `short`:
        ['49ms', '84t', '266t/s'] for narrow panes, with the finish reason only when the answer
        was cut ('max', 'ctx full'). `max_tokens`: what the answer was asked with, to tell a cut
        by the context from one by `max_tokens` (see `finish_part`)."""
        parts = []
        if self.ttft_ms is not None:
            parts.append(f"{self.ttft_ms:.0f}ms" if short else f"TTFT {self.ttft_ms:.0f} ms")
        if self.tokens:
            parts.append(f"{self.tokens}t" if short else f"{self.tokens} tok")
        if self.tok_s is not None:
            parts.append(f"{self.tok_s:.0f}t/s" if short else f"{self.tok_s:.0f} tok/s")
        finish = self.finish_part(short, max_tokens)
        if finish:
            parts.append(finish)
        return parts

    @property
    def before_engine_ms(self) -> float | None:
        """The part of the time to the first token the engine's own timings do not cover: from
        the request leaving the app to the engine queueing it (the chat template, tokenizing, the
        engine busy with its step, the way between the processes)."""
        if self.ttft_ms is None or self.queued_ms is None or self.prefill_ms is None:
            return None
        return max(0.0, self.ttft_ms - self.queued_ms - self.prefill_ms)

    def engine_parts(self, short: bool = False) -> list[str]:
        """['to the engine 12 ms', 'queued 2 ms', 'prefill 31 ms', 'decode 1.20 s', 'cached 96/128']:
        what is known; the first three add up to the time to the first token."""
        names = ("to engine", "q", "prefill", "dec") if short else ("to the engine", "queued", "prefill", "decode")
        parts = []
        for name, value in zip(names, (self.before_engine_ms, self.queued_ms, self.prefill_ms, self.decode_ms)):
            if value is not None:
                parts.append(f"{name} {_duration(value, short)}")
        if self.cached_tokens is not None and self.prompt_tokens:
            parts.append(f"cached {self.cached_tokens}/{self.prompt_tokens}")
        return parts

    def line(self, with_state: bool = True, engine: bool = False) -> str:
        """One line of plain text: 'done · TTFT 49 ms · 84 tok · 266 tok/s · stop'; with `engine`,
        the engine's timings follow."""
        parts = ([self.state] if with_state else []) + self.parts()
        if engine:
            parts += self.engine_parts()
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)

    def record(self, engine: bool = False) -> dict[str, Any]:
        """The figures as JSON fields (batch results), rounded as shown; with `engine`, the
        engine's timings too (None where unknown)."""
        record: dict[str, Any] = {
            "tokens": self.tokens,
            "ttft_ms": _round(self.ttft_ms),
            "tok_s": _round(self.tok_s),
            "finish_reason": self.finish_reason,
            "thought_ms": _round(self.thought_ms),
            "answered_ms": _round(self.answered_ms),
            "thought_tokens": self.thought_tokens,
        }
        if engine:
            record.update(before_engine_ms=_round(self.before_engine_ms), queued_ms=_round(self.queued_ms),
                          prefill_ms=_round(self.prefill_ms),
                          decode_ms=_round(self.decode_ms), prompt_tokens=self.prompt_tokens,
                          cached_tokens=self.cached_tokens)
        return record


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _duration(ms: float, short: bool = False) -> str:
    if short:
        return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.1f}s"
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


def snapshot_parts(snapshot: Any, totals: bool = False) -> list[tuple[str, str]]:
    """What an `EngineSnapshot` reports, as (text, emphasis) pairs: emphasis is "" or "warn" (requests
    wait) or "bad" (requests were preempted). The X-ray panel shows the engine now; `totals` is
    the summary at the end of a headless run. Figures the source does not report are left out."""
    s = snapshot
    parts: list[tuple[str, str]] = []
    if totals:
        if s.prompt_tokens is not None:
            parts.append((f"{s.prompt_tokens} prompt tokens", ""))
        if s.gen_tokens is not None:
            parts.append((f"{s.gen_tokens} generated", ""))
    else:
        if s.running is not None:
            parts.append((f"{s.running} running", ""))
        if s.waiting is not None:
            parts.append((f"{s.waiting} waiting", "warn" if s.waiting else ""))
    if s.kv_usage is not None:
        blocks = f" of {s.kv_blocks} blocks" if s.kv_blocks else ""
        parts.append((f"KV {s.kv_usage:.0%}{blocks}", ""))
    if s.prefix_hit_rate is not None:
        parts.append((f"prefix cache hits {s.prefix_hit_rate:.0%}", ""))
    if s.preemptions is not None:
        parts.append((f"{s.preemptions} preempted", "bad" if s.preemptions else ""))
    if s.steps_s is not None and not totals:
        parts.append((f"{s.steps_s:.0f} steps/s", ""))
    if s.spec_acceptance is not None:
        parts.append((f"drafts accepted {s.spec_acceptance:.0%}", ""))
    return parts


def snapshot_line(snapshot: Any, totals: bool = False) -> str:
    """The snapshot as one line of plain text (headless, batch): 'engine · 27 prompt tokens · …'."""
    if snapshot.unavailable:
        return f"engine · {snapshot.unavailable}"
    parts = [text for text, _ in snapshot_parts(snapshot, totals)] or ["no figures"]
    return " · ".join(["engine", *parts])
