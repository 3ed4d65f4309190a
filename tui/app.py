"""The Textual app: owns the backend, the engine's start, the frame-rate flush, session and theme."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tui import locations
from tui.config import Config, save_theme
from tui.engine.params import PARAM_SPECS, Sampling
from tui.engine.protocol import Backend, BackendError, EngineState
from tui.screens.workbench import WorkbenchScreen
from tui.session import SessionRecord, load_session, save_session
from tui.signals import QUIT_SIGNALS, quit_signals_ignored
from tui.terminal import Terminal
from tui.themes import DEFAULT_THEME, discover_themes
from tui.widgets.direct import repaint
from tui.widgets.pane import Pane

log = logging.getLogger(__name__)

FLUSH_HZ = 30  # answers are drawn at most this often, however fast tokens arrive
AUTOSAVE_S = 10.0


class WorkbenchApp(App):
    TITLE = "vllm-panes"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, backend: Backend, sampling: Sampling | None = None, *,
                 config: Config | None = None, session: SessionRecord | None = None,
                 session_path: Path | None = None, log_path: str | None = None,
                 start_engine: bool = True, save_config: bool = True) -> None:
        super().__init__()
        self.backend = backend
        self.config = config or Config()
        self._session_path = session_path
        self._log_path = log_path
        self._start_engine_on_mount = start_engine
        self._save_config = save_config
        self._engine_ready = asyncio.Event()
        self._dirty: set[Pane] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._draw_pending = False
        self._session_dirty = False
        self._notices: list[str] = list(self.config.notices)
        self._initial_session = session or _session_from_sampling(sampling or self.config.sampling)
        themes, problems = discover_themes()
        self._notices.extend(problems)
        for theme in themes:
            self.register_theme(theme)
        wanted = self.config.theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            self._notices.append(f"theme {wanted!r} not found; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME
        self.theme = wanted

    # -- start -------------------------------------------------------------------------------------
    def get_default_screen(self) -> WorkbenchScreen:
        # The workbench is the first screen itself: pushed over a blank default screen, it was
        # laid out and styled once more before the first frame.
        state = self.backend.state
        if state is EngineState.STOPPED and self._start_engine_on_mount:
            state = EngineState.LOADING  # it starts right after the first frame, which says so
        self.workbench = WorkbenchScreen(self._initial_session, getattr(self.backend, "model", ""),
                                         self._log_path, state)
        return self.workbench

    async def on_mount(self) -> None:
        self.set_interval(AUTOSAVE_S, self._autosave)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        for notice in self._notices:
            self.notify(notice, severity="warning", timeout=10)
        self._install_signal_handlers()

    def on_ready(self) -> None:
        """The workbench is mounted and laid out (Textual's Ready, sent once)."""
        if self.backend.state is EngineState.READY:
            self._engine_ready.set()
        elif self._start_engine_on_mount:
            # After the first frame: loading imports torch and vLLM in a thread, which took the
            # GIL from the UI while it built its first frame (py-spy). First frame in a terminal,
            # 5 starts each, measured when this was changed (the workbench was then pushed over
            # Textual's default screen): 0.41-0.51 s with both at once, 0.43-0.47 s this way.
            self.call_after_refresh(self.start_engine)

    def start_engine(self) -> None:
        self._engine_ready.clear()
        self.run_worker(self._start_engine(), group="engine", exclusive=True, exit_on_error=False)

    async def _start_engine(self) -> None:
        loop = asyncio.get_running_loop()

        def progress(state: EngineState, text: str) -> None:  # called from the loading thread too
            loop.call_soon_threadsafe(self._show_engine_state, state, text)

        try:
            if self.backend.state is not EngineState.STOPPED:
                await self.backend.restart(progress)  # type: ignore[attr-defined]
            else:
                await self.backend.start(progress)
        except BackendError as exc:
            self._show_engine_state(EngineState.ERROR, str(exc))
            self.notify(f"Engine failed to start: {exc}", severity="error", timeout=15)
        finally:
            self._engine_ready.set()  # queued panes wake up, and find out whether it worked

    def _show_engine_state(self, state: EngineState, text: str) -> None:
        line = self.workbench.engine_line
        model = getattr(self.backend, "model", None)
        line.set_state(state, "" if state is EngineState.READY else text, model=model)

    @property
    def engine_is_ready(self) -> bool:
        return self.backend.state is EngineState.READY

    async def wait_ready(self) -> None:
        await self._engine_ready.wait()
        if self.backend.state is not EngineState.READY:
            raise BackendError(f"engine is not running: {self.backend.error or self.backend.state.value}")

    # -- drawing -----------------------------------------------------------------------------------
    def mark_dirty(self, pane: Pane, now: bool = False) -> None:
        """A pane has something new to draw. Drawing happens at most FLUSH_HZ times a second, but
        without waiting for a fixed tick: at once if the last flush is a frame ago, or when the
        stream ends (`now`), so that the first and the last tokens are not held back."""
        self._dirty.add(pane)
        self._session_dirty = True
        loop = asyncio.get_running_loop()
        if now and self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._flush_handle is None:
            delay = 0.0 if now else max(0.0, self._last_flush + 1 / FLUSH_HZ - loop.time())
            # A plain loop callback: a Textual Timer per frame would cost a task each time.
            self._flush_handle = loop.call_later(delay, self._flush_panes)

    def _flush_panes(self) -> None:
        self._flush_handle = None
        if not self.workbench.is_attached or not self.is_running:
            return  # the app is closing: the streams' last calls come after the screen is gone
        line = self.workbench.engine_line
        if self.backend.state is not line.state and line.state is not EngineState.LOADING:
            # A stream found the engine dead: say so where the person looks.
            line.set_state(self.backend.state, (self.backend.error or "") + " — ctrl+p → Restart engine")
        loop = asyncio.get_running_loop()
        self._last_flush = loop.time()
        dirty, self._dirty = self._dirty, set()
        # Refreshing a widget that is scrolled out of view makes Textual rebuild its map of every
        # widget on the next frame; panes out of view keep buffering until they come into view
        # (this check is the one Textual's own Screen uses) or their stream ends.
        visible = self.workbench._compositor.visible_widgets  # noqa: SLF001
        again = [pane for pane in dirty
                 if pane.is_attached and ((pane.output not in visible and pane.running) or pane.flush())]
        if any(pane.jumped for pane in dirty):
            for pane in self._visible_running_panes(visible):
                pane.output.jump_early()
        self._draw_now()
        if again:
            self._dirty.update(again)
            self._flush_handle = loop.call_later(1 / FLUSH_HZ, self._flush_panes)

    def draw_soon(self, widget) -> None:
        """Draw `widget` whole on the loop's next turn (see PromptEditor.refresh)."""
        repaint(widget)
        if not self._draw_pending:
            self._draw_pending = True
            asyncio.get_running_loop().call_soon(self._draw_soon)

    def _draw_soon(self) -> None:
        self._draw_pending = False
        if self.workbench.is_attached and self.is_running:
            self._draw_now()

    def _draw_now(self) -> None:
        """Draw what the flush changed now, instead of on the screen's next update tick: that
        tick (Textual's update timer, 60 a second) waited up to 16 ms after the previous frame,
        and reaching it took a message round trip through the screen. What the screen's timer
        would do is done here (it is then paused until something else changes)."""
        screen = self.workbench
        if screen.is_current and screen._dirty_widgets and not self._batch_count:  # noqa: SLF001
            screen._on_timer_update()  # noqa: SLF001 - see the docstring; Textual is pinned

    def _visible_running_panes(self, visible) -> list[Pane]:
        return [p for p in self.workbench.panes() if p.running and p.output in visible]

    # -- session, theme ----------------------------------------------------------------------------
    def session_changed(self) -> None:
        self._session_dirty = True

    def save_session_now(self) -> None:
        try:
            save_session(self.workbench.session_record(), self._session_path)
            self._session_dirty = False
        except OSError as exc:
            self.notify(f"Could not save the session: {exc}", severity="error")

    def _autosave(self) -> None:
        if self._session_dirty:
            self.save_session_now()

    def _on_theme_changed(self, theme) -> None:
        if self._save_config:
            try:
                save_theme(theme.name)
            except OSError as exc:
                self.notify(f"Could not save the theme choice: {exc}", severity="warning")

    # -- quitting ----------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in QUIT_SIGNALS:
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (RuntimeError, ValueError):  # not the main thread (e.g. some test runners)
                pass

    def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in QUIT_SIGNALS:
            try:
                loop.remove_signal_handler(signum)
            except (RuntimeError, ValueError):
                pass

    def _on_signal(self, signum: int) -> None:
        self.exit_signal = signum
        self.call_next(self.action_quit)

    async def action_quit(self) -> None:
        log.info("quit")
        self.workbench.action_cancel_all()
        self.save_session_now()
        self.exit()

    # -- command palette ---------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        bench = self.workbench
        yield SystemCommand("Run all panes", "Start every pane (ctrl+r)", bench.action_run_all)
        yield SystemCommand("Run focused pane", "Start the focused pane (f5)", bench.action_run_focused)
        yield SystemCommand("Cancel focused pane", "Abort its request in the engine (esc)",
                            bench.action_cancel_focused)
        yield SystemCommand("Cancel all panes", "Abort every request (ctrl+k)", bench.action_cancel_all)
        yield SystemCommand("New pane", "Add an empty pane (ctrl+n)", bench.action_new_pane)
        yield SystemCommand("Duplicate pane", "Same prompt and settings, to compare (ctrl+d)",
                            bench.action_duplicate_pane)
        yield SystemCommand("Close pane", "Close the focused pane (ctrl+w)", bench.action_close_pane)
        yield SystemCommand("Move pane right", "alt+shift+right", lambda: bench.action_move_pane(1))
        yield SystemCommand("Move pane left", "alt+shift+left", lambda: bench.action_move_pane(-1))
        yield SystemCommand("Next pane", "alt+right", lambda: bench.action_focus_pane(1))
        yield SystemCommand("Previous pane", "alt+left", lambda: bench.action_focus_pane(-1))
        yield SystemCommand("More sampling knobs", "Show or hide " + ", ".join(
            s.name for s in PARAM_SPECS if not s.main) + " (ctrl+o)", bench.action_toggle_more)
        yield SystemCommand("Restart engine", "Stop the engine and start it again", self.start_engine)
        yield SystemCommand("Export comparison", "Markdown table and JSON of every pane, to the data dir (ctrl+s)",
                            bench.action_export)
        yield SystemCommand("Save session", "Save prompts, settings and outputs now", self.save_session_now)
        yield SystemCommand("Help", "Keys and how the workbench works (f1)", bench.action_help)


def _session_from_sampling(sampling: Sampling) -> SessionRecord:
    defaults = {spec.name: spec.format(sampling[spec.name]) for spec in PARAM_SPECS}
    return SessionRecord(defaults=defaults, chat_template=sampling.chat_template,
                         system_prompt=sampling.system_prompt)


def run_app(backend: Backend, sampling: Sampling, term: Terminal, *, fresh: bool = False,
            config: Config | None = None, cli_sampling_given: bool = False) -> int:
    """Run the UI, then stop the engine; return the exit code."""
    notices: list[str] = []
    session = None
    if not fresh:
        session, notice = load_session()
        if notice:
            notices.append(notice)
    if session is not None and cli_sampling_given:
        session.defaults = _session_from_sampling(sampling).defaults
    config = config or Config()
    config.notices.extend(notices)
    app = WorkbenchApp(backend, sampling, config=config, session=session,
                       session_path=locations.session_file(),
                       log_path=str(term.log_path) if term.log_path else None)
    try:
        app.run()
    finally:
        with quit_signals_ignored():
            log.info("app exited; stopping the engine")
            try:
                print("vllm-panes: stopping the engine…", file=term.err, flush=True)
            except OSError:  # the terminal is gone (SIGHUP)
                pass
            asyncio.run(backend.shutdown())
            log.info("engine stopped")
    signum = getattr(app, "exit_signal", None)
    return 128 + signum if signum else (app.return_code or 0)
