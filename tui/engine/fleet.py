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

from tui.engine.protocol import (
    Abilities,
    Backend,
    BackendBase,
    BackendError,
    Delta,
    EngineState,
    ProgressCallback,
    Request,
    Target,
)
from tui.engine.stats import StatsSource

log = logging.getLogger(__name__)


class Fleet(BackendBase):
    """The primary backend and other servers as one backend. Nothing is forwarded implicitly:
    what the fleet is (its model, state, figures) is the primary's, named here one by one."""

    name = "fleet"

    def __init__(self, primary: Backend, others: list[Backend]) -> None:
        sources = [b.source for b in (primary, *others)]
        repeated = sorted({s for s in sources if sources.count(s) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} given twice")
        self.primary = primary
        self.others = list(others)
        self._connecting: dict[int, asyncio.Future[None]] = {}
        self._requests: dict[str, Backend] = {}
        mine = primary.abilities
        each = [b.abilities for b in self.backends]
        self.abilities = Abilities(scoring=any(a.scoring for a in each), token_ids=any(a.token_ids for a in each),
                                   adapters=mine.adapters, servers=True, metrics=mine.metrics)

    # The primary's figures are the fleet's: the engine line and the X-ray show them.
    @property
    def model(self) -> str:
        return self.primary.model

    @property
    def source(self) -> str:  # type: ignore[override]
        return self.primary.source

    @property
    def state(self) -> EngineState:
        return self.primary.state

    @property
    def error(self) -> str | None:
        return self.primary.error

    @property
    def stats(self) -> StatsSource | None:  # type: ignore[override]
        return self.primary.stats

    @property
    def logprobs_mode(self) -> str | None:
        return self.primary.logprobs_mode

    @property
    def max_model_len(self) -> int | None:
        return self.primary.max_model_len

    @property
    def backends(self) -> list[Backend]:
        return [self.primary, *self.others]

    def servers(self) -> list[Backend]:
        return list(self.others)

    # -- life cycle ------------------------------------------------------------------------
    def connect_servers(self) -> None:
        self.connect_others()

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
            log.warning("%s: %s", backend.source, exc)

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

    # -- targets -----------------------------------------------------------------------------
    def targets(self) -> list[Target]:
        return [t for b in self.backends for t in b.targets()]

    def backend_for(self, target: Target | None) -> Backend:
        if target is None:
            return self.primary
        for backend in self.backends:
            if backend.source == target.source:
                return backend
        raise BackendError(f"{target.label}: no backend of this workbench serves it")

    async def _ready(self, backend: Backend) -> Backend:
        if backend is not self.primary:
            future = self._connecting.get(id(backend))
            if future is None:
                future = self.connect_others()[self.others.index(backend)]
            await asyncio.shield(future)
            if backend.state is not EngineState.READY:
                raise BackendError(f"{backend.source}: {backend.error or 'not connected'}")
        return backend

    # -- requests ----------------------------------------------------------------------------
    async def stream(self, request: Request) -> AsyncIterator[Delta]:
        backend = await self._ready(self.backend_for(request.target))
        self._requests[request.request_id] = backend
        try:
            async for delta in backend.stream(request):
                yield delta
        finally:
            self._requests.pop(request.request_id, None)

    async def abort(self, request_id: str) -> None:
        await self._requests.get(request_id, self.primary).abort(request_id)

    async def token_id_of(self, text: str, target: Target | None = None) -> int | None:
        return await (await self._ready(self.backend_for(target))).token_id_of(text, target=target)

    async def next_token_logprobs(self, prompt_ids: list[int], token_ids: list[int],
                                  target: Target | None = None) -> dict[int, float]:
        backend = await self._ready(self.backend_for(target))
        return await backend.next_token_logprobs(prompt_ids, token_ids, target=target)

    async def load_adapter(self, name: str, path: str) -> Target:
        return await self.primary.load_adapter(name, path)

    async def remove_adapter(self, name: str) -> None:
        await self.primary.remove_adapter(name)
