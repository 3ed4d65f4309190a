"""The backend's life cycle for the UI: start it, report its progress, restart it, stop it.

The controller runs the backend's start in a Textual worker and tells a listener (the workbench)
of every change of state with an `EngineStateChanged` message; panes wait on it for the engine to
be ready. The app only creates it and stops it at the end.
"""

from __future__ import annotations

import asyncio

from textual.app import App
from textual.message import Message
from textual.message_pump import MessagePump

from tui.engine.protocol import Backend, BackendError, EngineState


class EngineStateChanged(Message):
    """The engine (or the remote server) changed state; `detail` says what it is doing or why."""

    def __init__(self, state: EngineState, detail: str, model: str | None) -> None:
        super().__init__()
        self.state = state
        self.detail = detail
        self.model = model


class EngineStartFailed(Message):
    """The engine could not start: `reason` is worth a notification."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class EngineControl:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.listener: MessagePump | None = None
        self._ready = asyncio.Event()
        self._reported: EngineState | None = None

    @property
    def model(self) -> str:
        return self.backend.model or ""

    @property
    def is_ready(self) -> bool:
        return self.backend.state is EngineState.READY

    @property
    def max_model_len(self) -> int | None:
        return self.backend.max_model_len

    def start(self, app: App) -> None:
        """Start (or restart) the backend in a worker; progress goes to the listener."""
        self._ready.clear()
        app.run_worker(self._start(), group="engine", exclusive=True, exit_on_error=False)

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()

        def progress(state: EngineState, text: str) -> None:  # called from the loading thread too
            loop.call_soon_threadsafe(self._report, state, text)

        try:
            if self.backend.state is not EngineState.STOPPED:
                await self.backend.restart(progress)
            else:
                await self.backend.start(progress)
        except BackendError as exc:
            self._report(EngineState.ERROR, str(exc))
            self._post(EngineStartFailed(str(exc)))
        finally:
            self._ready.set()  # queued panes wake up, and find out whether it worked

    def state_at_start(self, will_start: bool) -> EngineState:
        """What the engine line shows in the first frame: 'loading' when the engine starts right
        after it. A backend started before the UI (tests, the benchmark) is ready at once."""
        state = self.backend.state
        if state is EngineState.READY:
            self._ready.set()
        elif state is EngineState.STOPPED and will_start:
            state = EngineState.LOADING
        self._reported = state
        return state

    async def wait_ready(self) -> None:
        await self._ready.wait()
        if not self.is_ready:
            raise BackendError(f"engine is not running: {self.backend.error or self.backend.state.value}")

    def check_state(self) -> None:
        """Report a change the backend found by itself (a stream saw the engine die)."""
        state = self.backend.state
        if state is not self._reported and self._reported is not EngineState.LOADING:
            self._report(state, (self.backend.error or "") + " — ctrl+p → Restart engine")

    def _report(self, state: EngineState, text: str) -> None:
        self._reported = state
        detail = "" if state is EngineState.READY else text
        self._post(EngineStateChanged(state, detail, self.model or None))

    def _post(self, message: Message) -> None:
        if self.listener is not None:
            self.listener.post_message(message)

    async def shutdown(self) -> None:
        await self.backend.shutdown()
