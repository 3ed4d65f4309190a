"""Several backends as one: the in-process engine (or a first server) and more servers beside it.

The fleet is a Backend whose requests go where their target says. The primary backend is the one
the engine line and a restart are about (the X-ray shows the others' figures under its own); the
other servers connect in the background when the fleet starts, and one that cannot be reached
fails only the requests sent to it, with its reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from tui.engine.params import Sampling
from tui.engine.protocol import LOCAL, Backend, BackendError, Delta, EngineState, ProgressCallback, Target

log = logging.getLogger(__name__)


def source_of(backend: Any) -> str:
    return getattr(backend, "source", LOCAL)


class Fleet:
    name = "fleet"

    def __init__(self, primary: Backend, others: list[Backend]) -> None:
        sources = [source_of(b) for b in (primary, *others)]
        repeated = sorted({s for s in sources if sources.count(s) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} given twice")
        self.primary = primary
        self.others = list(others)
        self._connecting: dict[int, asyncio.Future[None]] = {}
        self._requests: dict[str, Backend] = {}

    # The primary's figures are the fleet's: the engine line and the X-ray show them.
    def __getattr__(self, name: str) -> Any:
        if name in ("primary", "others"):  # not set yet (a half-built fleet): no delegation loop
            raise AttributeError(name)
        return getattr(self.primary, name)

    @property
    def state(self) -> EngineState:
        return self.primary.state

    @property
    def error(self) -> str | None:
        return self.primary.error

    @property
    def max_model_len(self) -> int | None:
        return self.primary.max_model_len

    @property
    def backends(self) -> list[Backend]:
        return [self.primary, *self.others]

    # -- life cycle ------------------------------------------------------------------------
    def connect_others(self) -> list[asyncio.Future[None]]:
        """Start connecting every other server (once); their futures, for whoever must wait."""
        for backend in self.others:
            if id(backend) not in self._connecting:
                self._connecting[id(backend)] = asyncio.ensure_future(self._connect(backend))
        return list(self._connecting.values())

    async def _connect(self, backend: Backend) -> None:
        try:
            await backend.start()
        except BackendError as exc:  # its requests will say so
            log.warning("%s: %s", source_of(backend), exc)

    async def start(self, on_progress: ProgressCallback | None = None) -> None:
        self.connect_others()
        await self.primary.start(on_progress)

    async def restart(self, on_progress: ProgressCallback | None = None) -> None:
        for backend in self.others:
            if backend.state is EngineState.ERROR:  # try a lost server again
                self._connecting.pop(id(backend), None)
        self.connect_others()
        await self.primary.restart(on_progress)

    async def shutdown(self) -> None:
        for future in self._connecting.values():
            future.cancel()
        await asyncio.gather(*self._connecting.values(), return_exceptions=True)
        await asyncio.gather(*(b.shutdown() for b in self.others), return_exceptions=True)
        await self.primary.shutdown()

    def other_stats(self) -> list[tuple[str, Any]]:
        """The other servers' figures (their /metrics) for the X-ray, by server name."""
        return [(source_of(b), b.stats) for b in self.others if getattr(b, "stats", None) is not None]

    # -- targets -----------------------------------------------------------------------------
    def targets(self) -> list[Target]:
        return [t for b in self.backends for t in b.targets()]

    def backend_for(self, target: Target | None) -> Backend:
        if target is None:
            return self.primary
        for backend in self.backends:
            if source_of(backend) == target.source:
                return backend
        raise BackendError(f"{target.label}: no backend of this workbench serves it")

    async def _ready(self, backend: Backend) -> Backend:
        if backend is not self.primary:
            future = self._connecting.get(id(backend))
            if future is None:
                future = self.connect_others()[self.others.index(backend)]
            await asyncio.shield(future)
            if backend.state is not EngineState.READY:
                raise BackendError(f"{source_of(backend)}: {backend.error or 'not connected'}")
        return backend

    # -- requests ----------------------------------------------------------------------------
    async def stream(self, prompt: str, sampling: Sampling, request_id: str,
                     prompt_ids: list[int] | None = None, target: Target | None = None) -> AsyncIterator[Delta]:
        backend = await self._ready(self.backend_for(target))
        self._requests[request_id] = backend
        try:
            async for delta in backend.stream(prompt, sampling, request_id, prompt_ids=prompt_ids, target=target):
                yield delta
        finally:
            self._requests.pop(request_id, None)

    async def abort(self, request_id: str) -> None:
        await self._requests.get(request_id, self.primary).abort(request_id)

    async def token_id_of(self, text: str, target: Target | None = None) -> int | None:
        lookup = getattr(await self._ready(self.backend_for(target)), "token_id_of", None)
        return None if lookup is None else await lookup(text, target=target)

    async def next_token_logprobs(self, prompt_ids: list[int], token_ids: list[int],
                                  target: Target | None = None) -> dict[int, float]:
        score = getattr(await self._ready(self.backend_for(target)), "next_token_logprobs", None)
        return {} if score is None else await score(prompt_ids, token_ids, target=target)
