"""The Textual app: the workbench screen, themes, the store (session and history), and quitting
cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterable
from pathlib import Path

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from tui import exit_codes, locations, render
from tui.commands import workbench_commands
from tui.config import Config, save_theme
from tui.engine.params import PARAM_SPECS, Sampling
from tui.engine.protocol import LOCAL, Backend, EngineState, Target
from tui.engine_control import EngineControl
from tui.core.pane_state import PaneState
from tui.guard import guarded
from tui.instrument import Observer
from tui.keymap import keymap, with_keys, ACTIONS
from tui.lifecycle import named_targets
from tui.screens.palette import Palette
from tui.screens.workbench import WorkbenchScreen
from tui.session import SessionLock, SessionRecord
from tui.store.db import StoreUnavailable
from tui.store.store import Store
from tui.signals import QUIT_SIGNALS, quit_signals_ignored
from tui.terminal import HangUpWatch, Terminal
from tui.text import one_line, short_path
from tui.themes import DEFAULT_THEME, discover_themes

log = logging.getLogger(__name__)

STORE_CLOSE_S = 5.0  # at quit, the store's last writes may take this long
KEYS_READ_WAIT_S = 1.0  # at quit, the keys read before it may take this long to be handled

AUTOSAVE_S = 1.0  # each save is a walk for what changed, written by the store's thread: cheap
FIRST_PROMPT = "The key to happiness is"  # the first start's panes (base and adapter) ask this


class KeysRead(Message):
    """Sent after the keys already read, along their path: it reaches the app once they are handled."""


class WorkbenchApp(App):
    TITLE = "vllm-panes"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, backend: Backend, sampling: Sampling | None = None, *,
                 config: Config | None = None, session: SessionRecord | None = None,
                 store: Store | None = None, saves_session: bool = True, log_path: str | None = None,
                 start_engine: bool = True, save_config: bool = True, xray: bool = False,
                 default_target: Target | None = None, autosave_s: float = AUTOSAVE_S,
                 observer: Observer | None = None) -> None:
        """`observer`: hooks for measuring the workbench (tui/instrument.py; the benchmark's)."""
        super().__init__()
        render.read_alt_key_bursts()  # before the driver's input thread makes its parser
        self._observer = observer
        self._quit_asked = False  # ctrl+q, a signal or the palette: waiting for the keys before it
        self._quit_started = False
        self._autosave_s = autosave_s
        self._xray = xray
        self._default_target = default_target
        self.engine = EngineControl(backend)
        self.config = config or Config()
        # The session and the history; the app closes it when it exits. `saves_session` False:
        # another app holds this session (see run_app); the history is recorded all the same.
        self.store = store
        self._saves_session = saves_session
        self._log_path = log_path
        self._start_engine_on_mount = start_engine
        self._save_config = save_config
        self.exit_signal: int | None = None
        self._hang_up_watch: HangUpWatch | None = None
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
        self.actions, problems = with_keys(ACTIONS, self.config.keys)
        self._notices.extend(problems)
        self.set_keymap(keymap(self.actions))

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every notification (the app's, its screens' and widgets') is plain, safe text: they carry
        file names, server messages and exception text, which must never be read as markup."""
        super().notify(one_line(message, 1000), title=one_line(title, 100), severity=severity,
                       timeout=timeout, markup=False)

    def action_help_quit(self) -> None:
        """ctrl+c, typed by habit to quit: say how (Textual's own says it in markup, and every
        notification here is plain text)."""
        self.notify("Press ctrl+q to quit (it saves the session); esc cancels an answer. In a text box "
                    "ctrl+c copies the selected text.", title="Do you want to quit?")

    def action_command_palette(self) -> None:
        """ctrl+p: the palette, with page keys that cannot end the app (tui/screens/palette.py)."""
        if self.use_command_palette and not Palette.is_open(self):
            self.push_screen(Palette(id="--command-palette"))

    # -- start -------------------------------------------------------------------------------------
    def get_default_screen(self) -> WorkbenchScreen:
        # The workbench is the first screen itself: pushed over a blank default screen, it would
        # be styled and laid out once more before the first frame.
        state = self.engine.state_at_start(will_start=self._start_engine_on_mount)
        self.workbench = WorkbenchScreen(self._initial_session, self.engine, self._log_path, state,
                                         xray=self._xray, default_target=self._default_target,
                                         actions=self.actions, observer=self._observer, store=self.store,
                                         save_session=lambda: self.save_session_now())
        return self.workbench

    async def on_mount(self) -> None:
        self.set_interval(self._autosave_s, self._autosave)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        for notice in self._notices:
            self.notify(notice, severity="warning", timeout=10)
        self._install_signal_handlers()

    def on_ready(self) -> None:
        """The workbench is mounted and laid out (Textual's Ready, sent once)."""
        if self._start_engine_on_mount and not self.engine.is_ready:
            # After the first frame: loading imports torch and vLLM in a thread, which would take
            # the GIL from the UI while it builds its first frame.
            self.call_after_refresh(self.start_engine)

    def start_engine(self) -> None:
        """Start the engine, or restart it (the palette's 'Restart engine'): runs still streaming
        end as cancelled, with what they wrote kept, and the new engine takes the next ones."""
        if self.engine.backend.state is not EngineState.STOPPED:
            self.workbench.action_cancel_all()
        self.engine.start(self)

    # -- session, theme ----------------------------------------------------------------------------
    def save_session_now(self) -> None:
        """Hand the store what changed in the session (its thread writes it)."""
        if self.store is None or not self._saves_session:
            return
        if not self.is_running:
            # Shutting down without the quit that saves (a crash, a test's end): runs cut now end
            # while the panes are being taken down, and a record of what is left would be an empty
            # session over the user's. The last save stands.
            return
        try:
            self.store.save_session(self.workbench.session_record())
            self.workbench.session_dirty = False
        except Exception as exc:  # a bug must not stop the quit that saves: the log has it
            log.exception("saving the session failed")
            self.notify(f"Could not save the session: {type(exc).__name__}: {exc}", severity="error")

    @guarded("saving the session")
    def _autosave(self) -> None:
        if self.workbench.session_dirty:
            self.save_session_now()
        self._show_store_problems()

    def _show_store_problems(self) -> None:
        """What the store's thread could not write, said once each."""
        if self.store is not None:
            for problem in self.store.take_problems():
                self.notify(problem, severity="error", timeout=15)

    def _close_store(self) -> None:
        """Write what is queued and close the store (once; on the way out)."""
        store, self.store = self.store, None
        if store is not None and not store.close(timeout=STORE_CLOSE_S):
            log.warning("the store did not finish writing within %s s; what it committed is kept", STORE_CLOSE_S)

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
        if not self.is_headless:
            # A terminal that goes without a SIGHUP is quit as on one (see HangUpWatch).
            self._hang_up_watch = HangUpWatch.on_stdin(
                lambda: loop.call_soon_threadsafe(self._on_terminal_gone))

    def _on_terminal_gone(self) -> None:
        if self.exit_signal is None:  # its SIGHUP may have come first
            log.info("the terminal is gone (its input ended): quitting as on SIGHUP")
            self._on_signal(signal.SIGHUP)

    def on_unmount(self) -> None:
        if self._hang_up_watch is not None:
            self._hang_up_watch.stop()
        self._close_store()
        loop = asyncio.get_running_loop()
        for signum in QUIT_SIGNALS:
            try:
                loop.remove_signal_handler(signum)
            except (RuntimeError, ValueError):
                pass

    def _on_signal(self, signum: int) -> None:
        log.info("%s: quitting", signal.Signals(signum).name)
        if self.exit_signal is not None:
            return  # quitting already: a closed window sends SIGHUP after its input has ended
        self.exit_signal = signum
        self.call_next(self.action_quit)

    def action_quit(self) -> None:
        """Quit once the keys read before it are handled. ctrl+q is a priority binding, handled as
        it is read, while the keys before it still wait their turn in the focused widget: the
        last letters typed (a prompt and its f5) were lost from the session and the history."""
        if self._quit_asked:
            return
        self._quit_asked = True
        self.set_timer(KEYS_READ_WAIT_S, self._quit_now)  # an action that never ends must not keep us
        self.post_after_keys_read(KeysRead())

    def post_after_keys_read(self, message: Message) -> None:
        """`message` reaches the app after the keys already read: it takes their path (the focused
        widget, then up to the app, one queue after another, in order)."""
        focused = self.focused
        if focused is None or not focused.post_message(message):
            self.post_message(message)

    @on(KeysRead)
    async def _keys_handled(self, message: KeysRead) -> None:
        message.stop()
        await self._quit_now()

    async def _quit_now(self) -> None:
        if self._quit_started:
            return
        self._quit_started = True
        log.info("quit")
        self.workbench.action_cancel_all()  # the cancelled runs go into the history
        self.save_session_now()
        self._close_store()
        self.exit()

    # -- command palette ---------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from workbench_commands(self.workbench, self.start_engine, self.save_session_now)


def _session_from_sampling(sampling: Sampling) -> SessionRecord:
    defaults = {spec.name: spec.format(sampling[spec.name]) for spec in PARAM_SPECS}
    return SessionRecord(defaults=defaults, chat_template=sampling.chat_template,
                         system_prompt=sampling.system_prompt, output_format=sampling.output_format)


def run_app(backend: Backend, sampling: Sampling, term: Terminal, *, fresh: bool = False,
            config: Config | None = None, cli_sampling_given: bool = False, xray: bool = False,
            targets: list | None = None, first_start_panes: list[Target] | None = None) -> int:
    """Run the UI, then stop the engine; return the exit code. `targets`: those --target named (the
    first is the default; a name only a server can resolve is looked up before the UI starts: exit
    2 if no server has it). `first_start_panes`: with no session yet (not --fresh), one pane per
    target on the same prompt."""
    config = config or Config()
    notices: list[str] = []
    lock = SessionLock(locations.session_file())  # held while this function runs (the app's life)
    saves_session = lock.acquire()
    store, session = open_store(config, saves_session, fresh, notices)
    if not saves_session:
        notices.append(f"Another vllm-panes has this session open: this one shows it but does not save "
                       f"it (its runs go into the history all the same: {short_path(locations.store_file())}).")
    if session is not None and cli_sampling_given:
        session.defaults = _session_from_sampling(sampling).defaults
        if not sampling.output_format.is_free:  # --choice, --regex, --json-schema…: the defaults' format
            session.output_format = sampling.output_format
    if session is None and first_start_panes and not fresh:
        session = _session_from_sampling(sampling)
        session.panes = [PaneState(number, draft=FIRST_PROMPT, target=target)
                         for number, target in enumerate(first_start_panes, 1)]
    config.notices.extend(notices)

    def make_app(default_target: Target | None) -> WorkbenchApp:
        return WorkbenchApp(backend, sampling, config=config, session=session, store=store,
                            saves_session=saves_session,
                            log_path=str(term.log_path) if term.log_path else None, xray=xray,
                            default_target=default_target)

    try:
        return asyncio.run(_run_then_stop(make_app, backend, targets or [], term))
    finally:
        if store is not None:
            store.close()  # already closed by the app, unless it never ran


def open_store(config: Config, saves_session: bool, fresh: bool,
               notices: list[str]) -> tuple[Store | None, SessionRecord | None]:
    """The store in the data directory and the session it holds (None with `fresh`); the session
    file of earlier versions is imported into it at the first start. Without a store (it cannot
    be opened) the app runs, and says that nothing is saved."""
    store = open_store_or_say_why(locations.store_file(), config.history_max_mb, notices)
    if store is None:
        return None, None
    session = None
    if saves_session:
        session, imported = store.import_session_file(locations.session_file())
        notices.extend(imported)
    if fresh:
        return store, None  # the saved session is written over by the first save
    if session is None:
        session, notice = store.load_session()
        if notice:
            notices.append(notice)
    return store, session


def open_store_or_say_why(path: Path, max_mb: float, notices: list[str]) -> Store | None:
    """The store at `path`, its notices added to `notices`; or None, with a notice that nothing
    will be saved, when it cannot be opened (a data directory that is a file or read-only): the
    app runs without it."""
    try:
        store = Store.open(path, max_mb=max_mb)
    except StoreUnavailable as exc:
        notices.append(f"The session and history database cannot be opened ({exc}): nothing will be saved.")
        return None
    notices.extend(store.notices)
    return store


async def _run_then_stop(make_app: Callable[[Target | None], WorkbenchApp], backend: Backend,
                         names: list[Target | str], term: Terminal) -> int:
    """The targets named, the UI, then the engine's shutdown, in one event loop: the backend's
    connections and tasks belong to the loop they were made in (a remote client closed from
    another loop raised 'Event loop is closed'). The exit code."""
    if any(isinstance(name, str) for name in names):
        print("vllm-panes: asking the servers for the --target named…", file=term.err, flush=True)
    targets = await named_targets(backend, names, term)
    if targets is None:
        return exit_codes.USAGE
    app = make_app(targets[0] if targets else None)
    await _run_app_then_stop_engine(app, term)
    if app.exit_signal:
        return exit_codes.for_signal(app.exit_signal)
    return app.return_code or exit_codes.OK


async def _run_app_then_stop_engine(app: WorkbenchApp, term: Terminal) -> None:
    try:
        await app.run_async()
    finally:
        with quit_signals_ignored():
            stopping = "stopping the engine" if app.engine.backend.source == LOCAL else "closing the connection to the server"
            log.info("app exited; %s", stopping)
            try:
                print(f"vllm-panes: {stopping}…", file=term.err, flush=True)
            except OSError:  # the terminal is gone (SIGHUP)
                pass
            await app.engine.shutdown()
            log.info("engine stopped")
