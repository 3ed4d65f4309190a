"""The main screen: the global line, the defaults, the panes side by side, and the message box."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual import on
from textual.widgets import Footer, TextArea
from textual.widget import MountError

from tui import render
from tui.core.pane_state import PaneState, begin_turn, next_turn, request_for
from tui.core.run import Run, new_reply
from tui.engine.params import ParamError, Sampling
from tui.engine.protocol import BackendError, EngineState, Target
from tui.engine.stats import EngineSnapshot
from tui.engine_control import EngineControl, EngineStartFailed, EngineStateChanged
from tui.export import ExportedPane, export_comparison
from tui.figures import QUEUED, STREAMING
from tui.flush import PaneFlusher
from tui.instrument import Observer
from tui.keymap import ACTIONS, FOCUS_BINDINGS, Action, bindings
from tui.screens.arena_actions import ArenaActions
from tui.screens.format_actions import FormatActions
from tui.screens.history_actions import HistoryActions
from tui.screens.target_actions import TargetActions
from tui.screens.thread_actions import ThreadActions
from tui.screens.token_actions import TokenActions
from tui.session import MAX_PANES, SessionRecord
from tui.targets import canonical
from tui.text import short_path
from tui.widgets.composer import Composer
from tui.widgets.engine_line import EngineLine
from tui.widgets.pane import Pane, pane_holding
from tui.widgets.settings_bar import SettingsBar
from tui.widgets.xray_panel import XrayPanel

if TYPE_CHECKING:
    from tui.store.store import Store

log = logging.getLogger(__name__)
REFUSAL_NOTICE_S = 6.0  # how long 'Not sent: … still answering' shows (cleared once the message goes)

PANE_MIN_WIDTH = 38
PANE_MIN_HEIGHT = 10  # a grid row lower than this scrolls instead (border, prompt, knobs, status, answer)
COMPACT_BELOW = 20  # rows lower than this give the prompt 2 lines instead of 5
STATS_EVERY_S = 0.5  # the engine's figures are read this often (while shown or while panes run)
CLOSED_KEPT = 20  # closed panes that alt+u can bring back

_request_numbers = itertools.count(1)


def grid_shape(count: int, width: int, height: int) -> tuple[int, int, int | None]:
    """(columns, rows, row height) for `count` panes: one row while every pane is at least
    PANE_MIN_WIDTH wide; then as many columns as fit, the panes spread evenly over the rows. The
    row height is None when the rows share the height (all in view), else PANE_MIN_HEIGHT."""
    fits = max(1, width // PANE_MIN_WIDTH)
    if count <= fits:
        return max(1, count), 1, None
    rows = -(-count // fits)
    columns = -(-count // rows)
    return columns, rows, None if height // rows >= PANE_MIN_HEIGHT else PANE_MIN_HEIGHT


class WorkbenchScreen(ThreadActions, TokenActions, TargetActions, FormatActions, HistoryActions, ArenaActions):
    BINDINGS = [*bindings(), *FOCUS_BINDINGS]
    DEFAULT_CSS = """
    WorkbenchScreen #panes { height: 1fr; layout: grid; grid-size: 1; grid-rows: 1fr; }
    /* The compact footer gives every key a margin on its right, the palette's too: docked at the
       right edge, it left the last column to the keys under it (`▏^p palette3` in a narrow
       terminal). Padding instead: the same width, covered. */
    WorkbenchScreen Footer.-compact FooterKey.-command-palette { margin-right: 0; padding-right: 1; }
    """

    def __init__(self, session: SessionRecord, control: EngineControl, log_path: str | None,
                 engine_state: EngineState = EngineState.STOPPED, xray: bool = False,
                 default_target: Target | None = None, actions: tuple[Action, ...] = ACTIONS,
                 observer: Observer | None = None, store: Store | None = None,
                 save_session: Callable[[], None] | None = None) -> None:
        """`observer`: hooks for measuring (tui/instrument.py); `store`: where every run that ends is
        recorded (None: no history); `save_session`: hands the store what changed in the session
        (None: it is not saved)."""
        super().__init__()
        self.observer = observer  # hooks for measuring (tui/instrument.py)
        self.actions = actions  # with the keys the config gives (the app applies them as its keymap)
        render.install_compositor(self)
        self.control = control
        control.listener = self
        self.flusher = PaneFlusher(self, self.panes, before_flush=self._before_flush, observer=observer)
        self.session_dirty = False  # something a session saves changed since the last save
        self._session = session
        self._log_path = log_path
        self._engine_state = engine_state
        self._next_number = max([session.next_number, *(s.number + 1 for s in session.panes)])
        self._last_pane: Pane | None = None
        self._titles_pending = False
        self._container: VerticalScroll | None = None
        self._known: list[Target] = control.backend.targets()
        given = default_target or session.default_target
        self.default_target = canonical(given, self._known) if given is not None else None
        self._more = False  # the optional knobs shown (ctrl+o)
        self._xray = xray  # the engine X-ray shown (f2)
        self._refused_at: float | None = None  # when a message was last refused (still answering)
        self._closed_panes: list[tuple[int, PaneState]] = []  # closed panes (where they were), for alt+u
        self.init_tokens()
        self.init_threads()
        self.init_history(store, save_session)
        self.init_arena()

    def compose(self) -> ComposeResult:
        yield EngineLine(self.control.model, self._log_path, self._engine_state,
                         note=render.current_path().why_stock)
        yield SettingsBar(self._session.defaults, self._session.chat_template, self._session.system_prompt,
                          targets=self._known, default_target=self.default_target,
                          output_format=self._session.output_format)
        yield XrayPanel()
        # No tab stop of its own when the grid overflows (a scrolling container is one): keys typed
        # there went nowhere; a pane taking the focus scrolls into view.
        with VerticalScroll(id="panes", can_focus=False):
            for state in self._session.panes or [PaneState(self._take_number())]:
                state.settle()
                if state.target is not None:
                    state.target = canonical(state.target, self._known)
                pane = self._make_pane(state)
                pane.blind = self.resumed_side(state.number)  # a battle kept waiting for its vote
                yield pane
        yield Composer(self._session.composer, self._session.composer_sent)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._do_refresh_titles()  # now, so that the first frame has them
        self.xray.set_class(self._xray, "-shown")
        for pane in self.panes():
            pane.show_engine = self._xray
        self.set_interval(STATS_EVERY_S, self._read_stats)
        if self.observer is not None:
            render.observe_frames(self, self.observer.frame_written)
        self.control.backend.connect_servers()  # even when the engine was started before the UI
        self.resume_arena()
        self._fit_panes()
        self._focus_where_typed(self._session.focus)

    def _focus_where_typed(self, where: int | None) -> None:
        """The focus where the person typed when the session was saved (a restart put it in the
        first pane, and what they typed next went there instead of the message box)."""
        if where == 0:
            self.composer.editor.focus()
            return
        panes = self.panes()
        chosen = next((pane for pane in panes if pane.number == where), panes[0] if panes else None)
        if chosen is not None:
            chosen.editor.focus()

    def on_resize(self) -> None:
        self._fit_panes()
        self.call_after_refresh(self._focused_pane_in_view)

    def _focused_pane_in_view(self) -> None:
        """After a resize the grid scrolls as it did: the pane typed in could be out of view (typing
        went on there, unseen)."""
        pane = pane_holding(self.focused)
        if pane is not None and not pane.closing:
            pane.scroll_visible(animate=False)

    def _fit_panes(self) -> None:
        """Side by side while every pane fits at a readable width; beyond that, a grid of equal
        rows (as many columns as fit, the panes spread evenly over the rows), all in view while
        the rows stay readable, scrolling down when they would not."""
        panes = self.panes()
        container = self.panes_container
        width = container.size.width or self.size.width
        height = container.size.height or self.size.height
        if not panes or not width:
            return
        columns, rows, row_height = grid_shape(len(panes), width, height)
        styles = container.styles
        if styles.grid_size_columns != columns:
            styles.grid_size_columns = columns
        rows_value = "1fr" if row_height is None else str(row_height)
        if str(styles.grid_rows[0] if styles.grid_rows else "") != rows_value:
            styles.grid_rows = rows_value
        compact = (row_height or (height // rows if rows else height)) < COMPACT_BELOW
        column_width = width // columns  # the grid's 1fr columns differ by a cell at most
        for pane in panes:
            pane.set_class(compact, "-compact")
            if pane.column_width != column_width:
                pane.column_width = column_width
                pane.fit_forms()

    # -- panes ------------------------------------------------------------------------------------
    def _take_number(self) -> int:
        number = self._next_number
        self._next_number += 1
        return number

    def _make_pane(self, state: PaneState) -> Pane:
        pane = Pane(state, more=self._more)
        pane.show_engine = self._xray
        pane.on_dirty = self.flusher.mark_dirty
        pane.observer = self.observer
        pane.on_run_end = self._run_ended
        pane.set_chat(self._chat_template())
        return pane

    def _run_ended(self, pane: Pane, run: Run) -> None:
        self.run_ended(pane, run)  # into the history
        self.say_if_same_answer(pane, run)
        self.battle_run_ended(pane)

    def panes(self) -> list[Pane]:
        # The container's children, not a query: that walks every widget on the screen (~350),
        # and runs and frames ask for the panes.
        return [child for child in self.panes_container.children if isinstance(child, Pane) and not child.closing]

    async def remove_pane(self, pane: Pane) -> None:
        """Take `pane` off the screen; whoever keeps its state (alt+u) has taken it already."""
        pane.cancel()
        pane.leave()
        self.forget_pane(pane)
        await pane.remove()
        if self._last_pane is pane:
            self._last_pane = None

    @property
    def panes_container(self) -> VerticalScroll:
        if self._container is None:
            self._container = self.query_one("#panes", VerticalScroll)
        return self._container

    # Looked up once (a query walks every widget; the flush asks for the engine line each frame).
    @cached_property
    def settings(self) -> SettingsBar:
        return self.query_one(SettingsBar)

    @cached_property
    def engine_line(self) -> EngineLine:
        return self.query_one(EngineLine)

    @cached_property
    def xray(self) -> XrayPanel:
        return self.query_one(XrayPanel)

    @cached_property
    def composer(self) -> Composer:
        return self.query_one(Composer)

    def focused_pane(self) -> Pane | None:
        holding = pane_holding(self.focused)
        if holding is not None:
            return None if holding.closing else holding  # a key in a pane on its way out acts on none
        if self._last_pane is not None and self._last_pane.is_attached and not self._last_pane.closing:
            return self._last_pane
        panes = self.panes()
        return panes[0] if panes else None

    def on_descendant_focus(self, event) -> None:
        pane = pane_holding(event.widget)
        if pane is not None:
            self._last_pane = pane

    def defaults(self) -> Sampling:
        return self.settings.sampling()

    def _chat_template(self) -> bool:
        try:
            return self.settings.chat_template
        except Exception:  # not composed yet: the session's
            return self._session.chat_template

    def _refresh_titles(self) -> None:
        """Coalesced: many fields report changes at once (e.g. at mount); one refresh serves all."""
        if not self._titles_pending:
            self._titles_pending = True
            self.call_after_refresh(self._do_refresh_titles)

    def _do_refresh_titles(self) -> None:
        self._titles_pending = False
        try:
            defaults: Sampling | None = self.defaults()
        except ParamError:
            defaults = None
        labelled = len(self._known) > 1
        for pane in self.panes():
            target = self.target_of(pane)
            pane.target_label = target.label if target is not None and (labelled or pane.target) else ""
            pane.refresh_title(defaults, target)

    def on_settings_bar_changed(self, event: SettingsBar.Changed) -> None:
        chosen = self.settings.default_target()
        if chosen is not None:
            self.default_target = chosen
        chat = self._chat_template()
        for pane in self.panes():
            pane.set_chat(chat)
        self._refresh_titles()
        self.session_dirty = True

    def on_pane_changed(self, event: Pane.Changed) -> None:
        self._refresh_titles()
        self.session_dirty = True

    @on(TextArea.Changed, "#composer-text")
    def _composer_changed(self) -> None:
        self.session_dirty = True  # the message box's text is kept, as a pane's draft is

    # -- the engine -----------------------------------------------------------------------------------
    def on_engine_state_changed(self, event: EngineStateChanged) -> None:
        self.engine_line.set_state(event.state, event.detail, model=event.model)
        self.refresh_targets()

    def on_engine_start_failed(self, event: EngineStartFailed) -> None:
        self.notify(f"Engine failed to start: {event.reason}", severity="error", timeout=15)

    async def _read_stats(self) -> None:
        """Read the engine's figures for the X-ray and the engine line's load; only while the
        X-ray is shown or panes run (a remote server is not asked for nothing)."""
        self.refresh_targets()  # a server reached since, an adapter loaded
        source = self.control.backend.stats
        if source is None or not self.control.is_ready or not (self._xray or self.any_running()):
            if self.engine_line.running or self.engine_line.waiting:
                self.engine_line.set_load(0, 0)
            return
        snapshot = await source.snapshot()
        self.engine_line.set_load(snapshot.running, snapshot.waiting)
        if self._xray:
            # A server's line names it: none while a blind battle's answers are shown.
            blind = any(self.in_battle(pane) for pane in self.battle_panes or ())
            self.xray.show(snapshot, [] if blind else await self._other_snapshots())

    async def _other_snapshots(self) -> list[tuple[str, EngineSnapshot]]:
        """The other servers' figures (several backends), read side by side."""
        named = [(b.source, b.stats) for b in self.control.backend.servers() if b.stats is not None]
        snapshots = await asyncio.gather(*(source.snapshot() for _, source in named))
        return [(name, snapshot) for (name, _), snapshot in zip(named, snapshots)]

    def any_running(self) -> bool:
        return any(pane.running for pane in self.panes())

    def _before_flush(self) -> None:
        self.session_dirty = True  # answers grew
        self.control.check_state()  # a stream may have found the engine dead: say so where one looks

    # -- running ------------------------------------------------------------------------------------
    def run_pane(self, pane: Pane, message: str | None = None, regenerate: bool = False) -> bool:
        """Run one pane (send its draft, answer its question, regenerate its last answer), or send
        it `message` from the message box; False (the reason shown in the pane) when it cannot."""
        if pane.closing:
            return False  # a key that came as it closed: its conversation is with alt+u now
        pane.sync()  # the box as it is now: its change messages may still be on their way
        if self.in_battle(pane) and not self._arena_sending:
            pane.show_error("not run: in a blind battle, the message box (alt+a, ctrl+r) asks A and B together")
            return False
        problem = self.settings.first_error() or (pane.field_errors() or [None])[0]
        probe = next_turn(pane.state, self._chat_template(), message, regenerate)
        if problem is None and isinstance(probe, str):
            problem = probe  # nothing to run: said before any knob's problem
        if problem is None and pane.running and probe.user is not None:
            # Sending would cancel the answer under way: a message waits for it (regenerating
            # or rerunning is asking for a new answer, and cancels it as it says).
            problem = "still answering: esc cancels the answer, then f5 sends your message"
        target = self.target_of(pane)
        backend = self.control.backend
        sampling: Sampling | None = None
        if problem is None:
            try:
                serving = backend.backend_for(target)
                sampling = pane.effective_sampling(self.defaults())
                if serving is backend or serving.source == backend.source:  # a server checks its own limit
                    sampling.check_context(self.control.max_model_len)
            except (ParamError, BackendError) as exc:
                problem = str(exc)
        if problem is None and sampling is not None:
            pane.cancel()
            turn = next_turn(pane.state, sampling.chat_template, message, regenerate)
            if isinstance(turn, str):
                problem = turn
        if problem is not None or sampling is None:
            pane.show_error(f"not run: {problem}")
            return False
        if pane.heat:  # logprobs cost the engine work: asked for only while the view is on
            sampling = replace(sampling, logprobs=self.top_logprobs)
        control = self.control
        reply = new_reply(sampling, target, STREAMING if control.is_ready else QUEUED)
        reply.logprobs_mode = serving.logprobs_mode
        answer = begin_turn(pane.state, turn, reply)
        request = request_for(pane.state.conversation, answer, sampling,
                              f"pane{pane.number}-{next(_request_numbers)}", target)
        pane.start(backend, Run(answer, request), control.wait_ready, control.is_ready)
        self.run_started(request.request_id)
        self.session_dirty = True
        return True

    def after_typed_keys(self, callback: Callable[[], object]) -> None:
        """Call `callback` once the focused widget has handled the keys typed before this one.
        A priority binding (f5) runs as soon as the app reads its key, while the letters typed
        just before it still wait in the text box's queue: reading the box at once sent half a
        message when keys came fast."""
        focused = self.focused
        if focused is None:
            callback()
        else:
            focused.call_later(callback)

    def action_run_all(self) -> None:
        self.after_typed_keys(self.run_all)

    def run_all(self) -> None:
        """Send the message box's text to every pane (or the marked ones); without one, run every
        pane."""
        message = self.composer.text
        if self.arena_takes(message):
            return
        if message.strip() and self.refuse_while_answering(self.addressed_panes()):
            return
        with self.started_together():
            if message.strip():
                panes = self.addressed_panes()
                started = [self.run_pane(pane, message) for pane in panes]
                if any(started):
                    self.composer.clear_sent()
                    self.forget_refusal()
            else:
                started = [self.run_pane(pane) for pane in self.panes()]
        if not any(started):
            self.notify("Nothing was run: see the reasons in the panes.", severity="warning")

    def refuse_while_answering(self, panes: list[Pane]) -> bool:
        """True, with a notice, when one of `panes` is still answering: the message box's text
        would cancel that answer, so it stays in the box until the answers end or are cancelled."""
        busy = [str(pane.number) for pane in panes if pane.running]
        if not busy:
            return False
        which = f"pane {busy[0]} is" if len(busy) == 1 else f"panes {', '.join(busy)} are"
        self.notify(f"Not sent: {which} still answering. esc cancels a pane's answer, ctrl+g every "
                    "answer; your message stays in the box.", severity="warning", timeout=REFUSAL_NOTICE_S)
        self._refused_at = time.monotonic()
        return True

    def forget_refusal(self) -> None:
        """The message was sent after all: a 'Not sent' notice still shown would be about answers
        that have ended, over the new ones (Textual clears its notices only all at once)."""
        if self._refused_at is not None and time.monotonic() - self._refused_at < REFUSAL_NOTICE_S:
            self.app.clear_notifications()
        self._refused_at = None

    def action_run_focused(self) -> None:
        # Where f5 was pressed, read now: the keys after it (alt+w, alt+u, alt+→) may move the focus
        # before the call, and it ran the pane they moved to.
        in_composer = self.focused is self.composer.editor
        pane = None if in_composer else self.focused_pane()
        self.after_typed_keys(lambda: self.run_focused(pane, in_composer))

    def run_focused(self, pane: Pane | None, in_composer: bool) -> None:
        """Run the pane f5 was pressed in (or send the message box's text, pressed there)."""
        if in_composer:
            if self.composer.text.strip():
                self.run_all()
                return
            pane = self.focused_pane()
        if pane is not None and pane.is_attached:
            self.run_pane(pane)

    def action_cancel_focused(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            return
        if pane.token_cursor is not None:  # esc leaves the token cursor first
            pane.leave_token_cursor()
            self.set_focus(pane.editor)
            return
        if self.leave_message_mode(pane):
            return
        pane.cancel()

    def action_cancel_all(self) -> None:
        for pane in self.panes():
            pane.cancel()

    async def add_pane(self, state: PaneState, after: Pane | None = None, index: int | None = None,
                       blind: str | None = None) -> Pane | None:
        """A new pane showing `state`, after `after` (default: the focused one) or at `index`,
        focused; `blind`: a blind battle's side, its only title from the first frame."""
        if len(self.panes()) >= MAX_PANES:
            self.notify(f"At most {MAX_PANES} panes.", severity="warning")
            return None
        pane = self._make_pane(state)
        pane.blind = blind
        container = self.panes_container
        panes = self.panes()
        # `after` may have been closed meanwhile (the runs of a comparison open one by one).
        current = after if after is not None and not after.closing else self.focused_pane()
        try:
            if index is not None and index < len(panes):
                await container.mount(pane, before=panes[index])
            elif index is None and current is not None and current.is_attached:
                await container.mount(pane, after=current)
            else:
                await container.mount(pane)
        except MountError:  # the screen is going (the app quits mid-way through opening runs)
            return None
        if not pane.drawable:  # the same, once the mount had begun
            return None
        self._refresh_titles()
        self._fit_panes()
        self.set_focus(pane.editor)
        pane.scroll_visible(animate=False)
        self.session_dirty = True
        return pane

    async def action_new_pane(self) -> Pane | None:
        """An empty pane at the right end, where its number puts it (a copy goes beside its pane)."""
        return await self.add_pane(PaneState(self._take_number()), index=len(self.panes()))

    async def action_duplicate_pane(self) -> None:
        """The same conversation (branches and all), settings and target beside the focused pane."""
        pane = self.focused_pane()
        if pane is not None and not self.refuse_in_battle(pane, "Duplicate"):
            await self.add_pane(pane.state.copy(self._take_number()))

    async def action_close_pane(self) -> None:
        """Close the focused pane; alt+u brings it back (its conversation and all)."""
        pane = self.focused_pane()
        panes = self.panes()
        if pane is None:
            return
        if self.in_battle(pane):  # its names are not to be seen before the vote: the battle is given up
            await self.abandon_battle()
            rest = self.panes()
            if not rest:
                await self.action_new_pane()
            else:
                self.set_focus(self.composer.editor)
            self.session_dirty = True
            return
        index = panes.index(pane)
        kept = not pane.sync().holds_nothing()
        if kept:  # empty panes pushed the conversations closed before them off the list
            self._closed_panes.append((index, pane.state))
            del self._closed_panes[:-CLOSED_KEPT]
        await self.remove_pane(pane)
        rest = self.panes()
        self._fit_panes()
        if not rest:
            await self.action_new_pane()
        else:
            self.set_focus(rest[min(index, len(rest) - 1)].editor)
        self.session_dirty = True
        keys = next((a.key for a in self.actions if a.action == "reopen_pane"), "the palette")
        back = f"{keys} brings it back" if kept else "it was empty"
        self.notify(f"Pane {pane.number} closed: {back}.", timeout=4)

    async def action_reopen_pane(self) -> None:
        if not self._closed_panes:
            self.notify("No closed pane to bring back.", severity="warning")
            return
        index, state = self._closed_panes.pop()
        await self.add_pane(state, index=index)

    def action_focus_pane(self, step: int) -> None:
        """The next or the previous pane; from outside the panes (the message box, the defaults
        line), back to the pane last focused, whichever the direction: a person who went down to
        the message box went back up with alt+← and landed one pane to the left of theirs."""
        panes = self.panes()
        current = self.focused_pane()
        if not panes or current is None:
            return
        in_a_pane = pane_holding(self.focused) is not None
        target = panes[(panes.index(current) + step) % len(panes)] if in_a_pane else current
        # set_focus now, not widget.focus(), which moves focus only after the keys already read:
        # the letters typed right after alt+→ went to the pane left behind
        self.set_focus(target.editor)
        target.scroll_visible(animate=False)

    def action_move_pane(self, step: int) -> None:
        panes = self.panes()
        pane = self.focused_pane()
        if pane is None or len(panes) < 2:
            return
        index = panes.index(pane)
        target = index + step
        if not 0 <= target < len(panes):
            return
        container = self.panes_container
        if step > 0:
            container.move_child(pane, after=panes[target])
        else:
            container.move_child(pane, before=panes[target])
        pane.scroll_visible(animate=False)
        self.session_dirty = True

    def action_toggle_more(self) -> None:
        self._more = not self._more
        self.settings.show_more(self._more)
        for pane in self.panes():
            pane.show_more(self._more)

    async def action_toggle_xray(self) -> None:
        """Show or hide the engine X-ray; each pane's status adds the engine's timings with it."""
        self._xray = not self._xray
        self.xray.set_class(self._xray, "-shown")
        for pane in self.panes():
            pane.show_engine = self._xray
        if self._xray:
            await self._read_stats()

    def action_help(self) -> None:
        from tui.keymap import APP_ACTIONS
        from tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(self.actions + APP_ACTIONS))

    # -- session ------------------------------------------------------------------------------------
    def session_record(self) -> SessionRecord:
        """What the session keeps, from the panes' states (a pane not drawn yet is kept too)."""
        bar = self.settings
        return SessionRecord(defaults=bar.raw_values(), chat_template=bar.chat_template,
                             system_prompt=bar.system_prompt, panes=[pane.sync() for pane in self.panes()],
                             default_target=self.default_target, next_number=self._next_number,
                             composer=self.composer.text, composer_sent=self.composer.sent_messages,
                             output_format=bar.output_format,
                             arena=self.arena_state(), focus=self._typed_in())

    def _typed_in(self) -> int | None:
        """Where the person types, as the session keeps it: a pane's number, 0 the message box."""
        if self.focused is self.composer.editor:
            return 0
        pane = self.focused_pane()
        return pane.number if pane is not None else None

    # -- export -------------------------------------------------------------------------------------
    def comparison(self) -> list[ExportedPane]:
        """Every pane with the target and settings it runs with now (None: invalid settings)."""
        try:
            defaults: Sampling | None = self.defaults()
        except ParamError:
            defaults = None
        exported = []
        for pane in self.panes():
            sampling = None
            if defaults is not None:
                try:
                    sampling = pane.effective_sampling(defaults)
                except ParamError:
                    sampling = None
            target = self.target_of(pane) or (self._known[0] if self._known else None)
            exported.append(ExportedPane(pane.state, target, sampling))
        return exported

    def action_export(self) -> None:
        try:
            md, js = export_comparison(self.comparison(), self.control.model)
        except OSError as exc:
            self.notify(f"Could not export: {exc}", severity="error", timeout=10)
            return
        self.notify(f"{md.name}\n{js.name}\nin {short_path(md.parent)}", title="Exported", timeout=10)
