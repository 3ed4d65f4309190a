"""A run's figures (state, TTFT, tokens, tok/s, finish reason) and the one way they are written.

The pane's status line, the headless printer, the Markdown export and the batch JSONL all show
the same figures; `Figures.parts()` is where their wording and rounding live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

IDLE, QUEUED, STREAMING, DONE, CANCELLED, ERROR = "idle", "queued", "streaming", "done", "cancelled", "error"
RUNNING_STATES = (QUEUED, STREAMING)
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

    def update(self, delta: Any) -> None:
        """Take the running figures of the latest `Delta` of the request."""
        self.tokens = delta.tokens
        self.ttft_ms = None if delta.ttft is None else delta.ttft * 1000
        self.tok_s = delta.tok_per_s
        self.finish_reason = delta.finish_reason

    @classmethod
    def of(cls, delta: Any, state: str = DONE) -> Figures:
        figures = cls(state)
        if delta is not None:
            figures.update(delta)
        return figures

    def parts(self) -> list[str]:
        """['TTFT 49 ms', '84 tok', '266 tok/s', 'stop']: what is known, in that order."""
        parts = []
        if self.ttft_ms is not None:
            parts.append(f"TTFT {self.ttft_ms:.0f} ms")
        if self.tokens:
            parts.append(f"{self.tokens} tok")
        if self.tok_s is not None:
            parts.append(f"{self.tok_s:.0f} tok/s")
        if self.finish_reason:
            parts.append(self.finish_reason)
        return parts

    def line(self, with_state: bool = True) -> str:
        """One line of plain text: 'done · TTFT 49 ms · 84 tok · 266 tok/s · stop'."""
        parts = ([self.state] if with_state else []) + self.parts()
        if self.message:
            parts.append(self.message)
        return " · ".join(parts)

    def record(self) -> dict[str, Any]:
        """The figures as JSON fields (batch results), rounded as shown."""
        return {
            "tokens": self.tokens,
            "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 1),
            "tok_s": None if self.tok_s is None else round(self.tok_s, 1),
            "finish_reason": self.finish_reason,
        }
