"""The small protocol between the UI (or the headless runner) and an inference backend.

A backend starts in the background and reports its state, streams `Delta`s for a prompt,
aborts a request, and shuts down. The UI only ever sees this module's types.
"""

from __future__ import annotations

import enum
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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

    @property
    def short_label(self) -> str:
        """What a narrow title calls it: the adapter's name, else the model's short name ('demo',
        not the demo's folder name 'weights', which a sweep's titles showed)."""
        return self.adapter or short_model_name(self.model)

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
    reasoning: str = ""  # new thinking text (a server's reasoning channel), apart from the answer's `text`
    # The tokens the thinking took, through its end marker, once the answer began, when the backend
    # read it off the token ids (None: the run counts the tokens before the answer's first delta).
    thought_tokens: int | None = None
    # The server's usage as it sent it (a JSON object: token counts and their details, such as the
    # thinking's reasoning_tokens), on the delta of the chunk that closes its stream with it.
    usage: dict[str, Any] | None = None

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


class StreamAccount:
    """One request's running figures as its stream arrives, kept the same way by every backend:
    when it was sent, when its first token came, how many tokens so far; the prompt's token ids go
    with the first delta that has them, and only with it."""

    __slots__ = ("started", "first", "tokens", "_told")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.first: float | None = None
        self.tokens = 0
        self._told = False

    def delta(self, text: str, finish: str | None, *, new_tokens: int = 0, total: int | None = None,
              timing: RequestTiming | None = None, logprobs: list[TokenLogprob] | None = None,
              prompt_ids: list[int] | None = None, reasoning: str = "",
              thought_tokens: int | None = None, usage: dict[str, Any] | None = None) -> Delta:
        """The next delta: `new_tokens` more tokens, or `total` so far when the source counts them;
        `reasoning`: new thinking text, which comes before the answer's `text` when both are there;
        `usage`: what the server said the request used, as it said it."""
        now = time.perf_counter()
        before = self.tokens
        self.tokens = max(before, total) if total is not None else before + new_tokens
        if self.tokens > before and self.first is None:
            self.first = now
        if self._told:
            prompt_ids = None
        elif prompt_ids is not None:
            self._told = True
            prompt_ids = list(prompt_ids)
        return Delta(text, self.tokens, self.tokens - before, finish, self.started, self.first, now, timing,
                     logprobs, prompt_ids, reasoning, thought_tokens, usage)


@dataclass(frozen=True)
class Request:
    """What one request asks for: a conversation so far in OpenAI's chat format (the system message
    first when there is one) and how to sample its next message.

    With `prompt_ids` the prompt is those tokens, as they are (a fork): no chat template. Without the
    chat template (`sampling.chat_template` off: raw mode) the prompt is the messages' text one after
    another, without the system message: the conversation is a text the model continues."""

    messages: tuple[dict[str, str], ...]
    sampling: Sampling
    request_id: str
    prompt_ids: list[int] | None = None
    target: Target | None = None

    @classmethod
    def of(cls, turns: list[tuple[str, str]], sampling: Sampling, request_id: str,
           prompt_ids: list[int] | None = None, target: Target | None = None) -> Request:
        """From (role, content) turns; the system message comes from the sampling settings."""
        system = ({"role": "system", "content": sampling.system_prompt},) if sampling.system_prompt.strip() else ()
        messages = system + tuple({"role": role, "content": content} for role, content in turns)
        return cls(messages, sampling, request_id, prompt_ids, target)

    @classmethod
    def of_prompt(cls, prompt: str, sampling: Sampling, request_id: str, target: Target | None = None) -> Request:
        """A one-message conversation: the prompt."""
        return cls.of([("user", prompt)], sampling, request_id, target=target)

    @property
    def chat(self) -> bool:
        """Sent through the model's chat template (not raw text, not token ids)."""
        return self.sampling.chat_template and self.prompt_ids is None

    def text(self) -> str:
        """The prompt as raw text: every message but the system one, joined as they are."""
        return "".join(m["content"] for m in self.messages if m["role"] != "system")


@dataclass(frozen=True)
class Abilities:
    """What a backend can do beyond streaming answers; the UI asks this, never the backend's
    attributes. A method of an ability a backend lacks raises `Unsupported`."""

    scoring: bool = False  # next_token_logprobs: how likely given tokens are next
    token_ids: bool = False  # token_id_of: an alternative's id from its text (a server names them by text)
    adapters: bool = False  # load_adapter / remove_adapter while it runs
    servers: bool = False  # other servers beside the primary backend (a fleet)
    metrics: bool = False  # `stats` gives the engine's figures (the X-ray)


class Unsupported(BackendError):
    """This backend cannot do that (see `Abilities`)."""


ProgressCallback = Callable[[EngineState, str], None]


@runtime_checkable
class Backend(Protocol):
    name: str
    model: str
    source: str  # its targets' source: LOCAL or a server's host:port
    state: EngineState
    error: str | None
    abilities: Abilities
    stats: StatsSource | None  # the engine's figures (X-ray panel); None when there are none
    logprobs_mode: str | None  # what logprobs mean (vLLM's --logprobs-mode); None: the server's

    @property
    def max_model_len(self) -> int | None: ...

    async def start(self, on_progress: ProgressCallback | None = None) -> None:
        """Load the engine without blocking the event loop; raise BackendError on failure."""

    async def restart(self, on_progress: ProgressCallback | None = None) -> None:
        """Stop the engine (ending its requests) and start it again."""

    def stream(self, request: Request) -> AsyncIterator[Delta]:
        """Yield deltas until the request finishes. Cancelling the iterating task aborts the
        request. `request.target` picks a model or adapter this backend serves (None: its own)."""

    def targets(self) -> list[Target]:
        """Every target this backend serves now (a server's are known once connected)."""

    async def abort(self, request_id: str) -> None:
        """Abort a running request in the engine."""

    async def shutdown(self) -> None:
        """Stop the engine and every process it started."""

    # -- abilities (see `Abilities`; Unsupported where the backend lacks one) ---------------------
    async def next_token_logprobs(self, prompt_ids: list[int], token_ids: list[int],
                                  target: Target | None = None) -> dict[int, float]: ...

    async def token_id_of(self, text: str, target: Target | None = None) -> int | None: ...

    async def load_adapter(self, name: str, path: str) -> Target: ...

    async def remove_adapter(self, name: str) -> None: ...

    def servers(self) -> list[Backend]:
        """The other servers beside this backend (a fleet's); [] for one backend."""

    def connect_servers(self) -> None:
        """Start connecting the other servers (a fleet's), once; nothing for one backend."""

    def backend_for(self, target: Target | None) -> Backend:
        """The backend that serves `target` (itself, or one of a fleet's)."""


class BackendBase:
    """What a backend without an ability does (`Unsupported`), and a single backend's answers to
    the fleet's questions; each backend overrides what it can do."""

    abilities = Abilities()
    stats: StatsSource | None = None
    source = LOCAL

    async def next_token_logprobs(self, prompt_ids: list[int], token_ids: list[int],
                                  target: Target | None = None) -> dict[int, float]:
        raise Unsupported("this backend cannot score tokens")

    async def token_id_of(self, text: str, target: Target | None = None) -> int | None:
        raise Unsupported("this backend cannot look tokens up")

    async def load_adapter(self, name: str, path: str) -> Target:
        raise Unsupported("adapters load into the in-process engine; a server loads its own")

    async def remove_adapter(self, name: str) -> None:
        raise Unsupported("adapters load into the in-process engine; a server loads its own")

    def servers(self) -> list[Backend]:
        return []

    def connect_servers(self) -> None:
        return None

    def backend_for(self, target: Target | None) -> Backend:
        return self  # type: ignore[return-value]
