"""The small protocol between the UI (or the headless runner) and an inference backend.

A backend starts in the background and reports its state, streams `Delta`s for a prompt,
aborts a request, and shuts down. The UI only ever sees this module's types.
"""

from __future__ import annotations

import enum
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tui.engine.params import Sampling
from tui.engine.logprobs import TokenLogprob
from tui.engine.stats import RequestTiming, StatsSource


class EngineState(str, enum.Enum):
    STOPPED = "stopped"
    LOADING = "loading"
    READY = "ready"
    ERROR = "error"


class BackendError(Exception):
    """A problem worth showing to the person as it is: bad values, a prompt too long, a dead engine."""


class RequestRejected(BackendError):
    """The engine refused this request (validation); the engine itself is fine."""


class EngineDead(BackendError):
    """The engine died; every request fails until it is restarted."""


@dataclass(frozen=True)
class Target:
    """Where a request goes: a backend (the in-process engine, or a server), a model it serves,
    and optionally a LoRA adapter on that model."""

    source: str  # LOCAL, or a server's address as shown (host:port, no credentials)
    model: str  # as requests name it: the engine's model, or a server's model id
    adapter: str | None = None  # a LoRA adapter's name (a server: the adapter's model id)

    @property
    def is_local(self) -> bool:
        return self.source == LOCAL

    @property
    def key(self) -> tuple[str, ...]:
        """What makes two targets the same: the in-process engine's model is whatever it loaded."""
        return (self.source, self.adapter or "") if self.is_local else (self.source, self.model, self.adapter or "")

    @property
    def label(self) -> str:
        """Short and unique in a workbench: 'demo', 'demo+proverbs', 'demo+proverbs @127.0.0.1:8000'."""
        name = short_model_name(self.model)
        if self.adapter is not None:
            name = f"{name}+{self.adapter}"
        return name if self.is_local else f"{name} @{self.source}"

    def check_source(self, source: str) -> None:
        """RequestRejected unless this target is served by the backend named `source`."""
        if self.source != source:
            where = "no engine in this process" if self.is_local else f"no server {self.source}"
            raise RequestRejected(f"{self.label} is not served here ({where} in this workbench)")

    def record(self) -> dict[str, str | None]:
        """As files keep it (sessions, exports, batch results)."""
        return {"server": None if self.is_local else self.source, "model": self.model, "adapter": self.adapter}


LOCAL = "engine"


def short_model_name(model: str) -> str:
    """A model's name as a header shows it: the last part of a path or of an 'org/name' id; the
    project's demo model (a folder named 'weights') is 'demo'."""
    parts = [p for p in model.replace("\\", "/").split("/") if p]
    if not parts:
        return model
    if parts[-1] == "weights" and len(parts) > 1 and parts[-2] == "demo_model":
        return "demo"
    return parts[-1]


@dataclass
class Delta:
    """New text for one request, with the running figures the UI shows."""

    text: str
    tokens: int  # tokens generated so far, this delta included
    new_tokens: int
    finish_reason: str | None
    started: float  # time.perf_counter() when the request was sent
    first_token: float | None  # time.perf_counter() of the first token
    now: float = field(default_factory=time.perf_counter)
    timing: RequestTiming | None = None  # where the request's time went in the engine, when known
    logprobs: list[TokenLogprob] | None = None  # the new tokens' probabilities, when asked for
    prompt_ids: list[int] | None = None  # the prompt as the engine got it (first delta, when known)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.started

    @property
    def tok_per_s(self) -> float | None:
        """Decode rate after the first token (the first one is TTFT's business)."""
        if self.first_token is None or self.tokens < 2:
            return None
        elapsed = self.now - self.first_token
        return (self.tokens - 1) / elapsed if elapsed > 0 else None


ProgressCallback = Callable[[EngineState, str], None]


@runtime_checkable
class Backend(Protocol):
    name: str
    model: str
    state: EngineState
    error: str | None
    stats: StatsSource | None  # the engine's figures (X-ray panel); None when there are none
    logprobs_mode: str | None  # what logprobs mean (vLLM's --logprobs-mode); None: the server's

    @property
    def max_model_len(self) -> int | None: ...

    async def start(self, on_progress: ProgressCallback | None = None) -> None:
        """Load the engine without blocking the event loop; raise BackendError on failure."""

    async def restart(self, on_progress: ProgressCallback | None = None) -> None:
        """Stop the engine (ending its requests) and start it again."""

    def stream(self, prompt: str, sampling: Sampling, request_id: str,
               prompt_ids: list[int] | None = None, target: Target | None = None) -> AsyncIterator[Delta]:
        """Yield deltas until the request finishes. Cancelling the iterating task aborts the request.
        With `prompt_ids` the prompt is those tokens, as they are (a fork): no chat template.
        `target` picks a model or adapter this backend serves (None: its own model)."""

    def targets(self) -> list[Target]:
        """Every target this backend serves now (a server's are known once connected)."""

    async def abort(self, request_id: str) -> None:
        """Abort a running request in the engine."""

    async def shutdown(self) -> None:
        """Stop the engine and every process it started."""
