"""The main screen: the global line, the defaults, and the panes side by side."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, replace
from functools import cached_property

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Footer

from tui import render
from tui.divergence import Parting, Side, part
from tui.engine.logprobs import mean_logprob, perplexity, probability, token_record
from tui.engine.params import ParamError, Sampling
from tui.engine.protocol import EngineState, Target
from tui.engine.stats import EngineSnapshot
from tui.engine_control import EngineControl, EngineStartFailed, EngineStateChanged
from tui.export import ComparisonPane, export_comparison
from tui.figures import CANCELLED, RUNNING_STATES, Figures
from tui.flush import PaneFlusher
from tui.screens.target_actions import TargetActions
from tui.session import MAX_PANES, PaneRecord, SessionRecord
from tui.targets import canonical, target_from_record, targets_of
from tui.text import token_text
from tui.widgets.engine_line import EngineLine
from tui.widgets.pane import Pane
from tui.widgets.settings_bar import SettingsBar
from tui.widgets.xray_panel import XrayPanel

log = logging.getLogger(__name__)

PANE_MIN_WIDTH = 38
PANE_MIN_HEIGHT = 10  # a grid row lower than this scrolls instead (border, prompt, knobs, status, answer)
COMPACT_BELOW = 20  # rows lower than this give the prompt 2 lines instead of 5
TOP_LOGPROBS = (5, 10, 20, 1, 3)  # alternatives per token recorded with the heat view; the first is the default
STATS_EVERY_S = 0.5  # the engine's figures are read this often (while shown or while panes run)

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


def parting_text(result: Parting, pane: Pane, side: Side, other: Pane, other_side: Side,
                 scored: float | None = None) -> str:
    """'parts from pane 2 at token 7: here ␣the (p 0.412); pane 2 has ␣a, p 0.213 here'."""
    unit = "token" if result.by_tokens else "word"
    text = f"parts from pane {other.number} at {unit} {result.place}"
    if side.first is None:
        return f"{text}: this answer ends there"
    if not result.by_tokens or side.token is None:
        return text + " (word by word: no shared token ids)"
    mine = pane.spans.tokens[side.token]
    text += f": here {token_text(mine.text, 16)} (p {mine.probability:.3f})"
    if other_side.token is None:
        return text + f"; pane {other.number}'s answer ends there"
    theirs = other.spans.tokens[other_side.token]
    here = next((alt for alt in mine.top if alt.token_id == theirs.token_id), None)
    if here is not None or scored is not None:
        p = here.probability if here is not None else scored
        likely = f"p {p:.3f} here"
    else:
        likely = f"not in the top {len(mine.top)} here"
    return text + f"; pane {other.number} has {token_text(theirs.text, 16)}, {likely}"


# Fixed keys (README and the help screen are generated from / agree with this list). priority=True
# because the prompt editor would otherwise take ctrl+k, ctrl+w, ctrl+d and escape for itself.
WORKBENCH_BINDINGS = [
    Binding("ctrl+r", "run_all", "Run all", priority=True),
    Binding("f5,ctrl+enter", "run_focused", "Run pane", priority=True),
    Binding("escape", "cancel_focused", "Cancel pane", priority=True),
    Binding("ctrl+k", "cancel_all", "Cancel all", show=False, priority=True),
    Binding("ctrl+n", "new_pane", "New pane", priority=True),
    Binding("ctrl+w", "close_pane", "Close pane", show=False, priority=True),
    Binding("ctrl+d", "duplicate_pane", "Duplicate", show=False, priority=True),
    Binding("ctrl+t", "pick_target", "Target", priority=True),
    Binding("f7", "every_target", "Every target", show=False, priority=True),
    Binding("f8", "sweep", "Sweep", show=False, priority=True),
    Binding("alt+right", "focus_pane(1)", "Next pane", show=False, priority=True),
    Binding("alt+left", "focus_pane(-1)", "Previous pane", show=False, priority=True),
    Binding("alt+shift+right", "move_pane(1)", "Move pane right", show=False, priority=True),
    Binding("alt+shift+left", "move_pane(-1)", "Move pane left", show=False, priority=True),
    Binding("ctrl+o", "toggle_more", "More knobs", show=False, priority=True),
    Binding("f2", "toggle_xray", "X-ray", priority=True),
    Binding("f3", "toggle_heat", "Heat", priority=True),
    Binding("shift+f3", "toggle_heat_all", "Heat, all panes", show=False, priority=True),
    Binding("f4", "token_cursor", "Tokens", priority=True),
    Binding("f6", "part", "Where panes part", show=False, priority=True),
    Binding("ctrl+s", "export", "Export", show=False, priority=True),
    Binding("f1", "help", "Help", priority=True),
]
APP_KEYS = [
    Binding("ctrl+p", "command_palette", "Command palette"),
    Binding("ctrl+q", "quit", "Quit (saves the session)"),
]


class WorkbenchScreen(TargetActions):
    BINDINGS = WORKBENCH_BINDINGS
    DEFAULT_CSS = """
    WorkbenchScreen #panes { height: 1fr; layout: grid; grid-size: 1; grid-rows: 1fr; }
    """

    def __init__(self, session: SessionRecord, control: EngineControl, log_path: str | None,
                 engine_state: EngineState = EngineState.STOPPED, xray: bool = False,
                 default_target: Target | None = None) -> None:
        super().__init__()
        render.install_compositor(self)
        self.control = control
        control.listener = self
        self.flusher = PaneFlusher(self, self.panes, before_flush=self._before_flush)
        self.session_dirty = False  # something a session saves changed since the last save
        self._session = session
        self._log_path = log_path
        self._engine_state = engine_state
        self._next_number = 1
        self._last_pane: Pane | None = None
        self._titles_pending = False
        self._container: VerticalScroll | None = None
        self._known: list[Target] = targets_of(control.backend)
        given = default_target or target_from_record(session.default_target, "default_target")
        self.default_target = canonical(given, self._known) if given is not None else None
        self._more = False  # the optional knobs shown (ctrl+o)
        self._xray = xray  # the engine X-ray shown (f2)
        self.top_logprobs = TOP_LOGPROBS[0]  # alternatives recorded per token while heat is on
        self._picked: Pane | None = None  # the first pane of a comparison (f6), until the second
        self._parted: tuple[Pane, Pane] | None = None  # the two panes marked where they part

    def compose(self) -> ComposeResult:
        yield EngineLine(self.control.model, self._log_path, self._engine_state,
                         note=render.current_path().why_stock)
        yield SettingsBar(self._session.defaults, self._session.chat_template, self._session.system_prompt,
                          targets=self._known, default_target=self.default_target)
        yield XrayPanel()
        with VerticalScroll(id="panes"):
            records = self._session.panes or [PaneRecord()]
            for record in records:
                target = target_from_record(record.target, "target")
                yield self._make_pane(record.prompt, record.overrides,
                                      canonical(target, self._known) if target else None, record.label)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for pane, record in zip(self.panes(), self._session.panes):
            state = CANCELLED if record.state in RUNNING_STATES else record.state
            pane.restore(record.output, Figures(state, record.tokens, record.ttft_ms, record.tok_s,
                                                record.finish_reason, record.message))
            pane.restore_tokens(record.token_logprobs, record.logprobs_mode, record.prompt_ids, record.fork,
                                record.heat)
        self._do_refresh_titles()  # now, so that the first frame has them
        self.xray.set_class(self._xray, "-shown")
        for pane in self.panes():
            pane.show_engine = self._xray
        self.set_interval(STATS_EVERY_S, self._read_stats)
        connect = getattr(self.control.backend, "connect_others", None)
        if connect is not None:  # the other servers, even when the engine was started before the UI
            connect()
        self._fit_panes()
        panes = self.panes()
        if panes:
            panes[0].editor.focus()

    def on_resize(self) -> None:
        self._fit_panes()

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
        for pane in panes:
            pane.set_class(compact, "-compact")

    # -- panes ------------------------------------------------------------------------------------
    def _make_pane(self, prompt: str = "", overrides: dict[str, str] | None = None,
                   target: Target | None = None, label: str = "") -> Pane:
        pane = Pane(self._next_number, prompt=prompt, overrides=overrides, more=self._more, target=target,
                    label=label)
        pane.show_engine = self._xray
        self._next_number += 1
        pane.on_dirty = self.flusher.mark_dirty
        return pane

    def panes(self) -> list[Pane]:
        # The container's children, not a query: that walks every widget on the screen (~350),
        # and runs and frames ask for the panes.
        return [child for child in self.panes_container.children if isinstance(child, Pane)]

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

    def focused_pane(self) -> Pane | None:
        node = self.focused
        while node is not None:
            if isinstance(node, Pane):
                return node
            node = node.parent
        if self._last_pane is not None and self._last_pane.is_attached:
            return self._last_pane
        panes = self.panes()
        return panes[0] if panes else None

    def on_descendant_focus(self, event) -> None:
        node = event.widget
        while node is not None and not isinstance(node, Pane):
            node = node.parent
        if node is not None:
            self._last_pane = node

    def defaults(self) -> Sampling:
        return self.settings.sampling()

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
            pane.refresh_title(defaults)

    def on_settings_bar_changed(self, event: SettingsBar.Changed) -> None:
        chosen = self.settings.default_target()
        if chosen is not None:
            self.default_target = chosen
        self._refresh_titles()
        self.session_dirty = True

    def on_pane_changed(self, event: Pane.Changed) -> None:
        self._refresh_titles()
        self.session_dirty = True

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
        source = getattr(self.control.backend, "stats", None)
        if source is None or not self.control.is_ready or not (self._xray or self.any_running()):
            if self.engine_line.running or self.engine_line.waiting:
                self.engine_line.set_load(0, 0)
            return
        snapshot = await source.snapshot()
        self.engine_line.set_load(snapshot.running, snapshot.waiting)
        if self._xray:
            self.xray.show(snapshot, await self._other_snapshots())

    async def _other_snapshots(self) -> list[tuple[str, EngineSnapshot]]:
        """The other servers' figures (several backends), read side by side."""
        others = getattr(self.control.backend, "other_stats", None)
        named = others() if others is not None else []
        snapshots = await asyncio.gather(*(source.snapshot() for _, source in named))
        return [(name, snapshot) for (name, _), snapshot in zip(named, snapshots)]

    def any_running(self) -> bool:
        return any(pane.running for pane in self.panes())

    def _before_flush(self) -> None:
        self.session_dirty = True  # answers grew
        self.control.check_state()  # a stream may have found the engine dead: say so where one looks

    # -- running ------------------------------------------------------------------------------------
    def run_pane(self, pane: Pane) -> bool:
        """Start one pane; False (with the reason shown in the pane) when it cannot run."""
        problem = self.settings.first_error() or (pane.field_errors() or [None])[0]
        if problem is None and not pane.prompt.strip():
            problem = "the prompt is empty"
        sampling = None
        target = self.target_of(pane)
        on_primary = target is None or target.source == getattr(self.control.backend, "source", target.source)
        if problem is None:
            try:
                sampling = pane.effective_sampling(self.defaults())
                if on_primary:  # another server checks its own context length
                    sampling.check_context(self.control.max_model_len)
            except ParamError as exc:
                problem = str(exc)
        if problem is not None or sampling is None:
            pane.show_error(f"not run: {problem}")
            return False
        if pane.heat:  # logprobs cost the engine work: asked for only while the view is on
            sampling = replace(sampling, logprobs=self.top_logprobs)
        control = self.control
        pane.start(control.backend, sampling, control.wait_ready, control.is_ready, target)
        return True

    def action_run_all(self) -> None:
        started = [self.run_pane(pane) for pane in self.panes()]
        if not any(started):
            self.notify("Nothing was run: see the reasons in the panes.", severity="warning")

    def action_run_focused(self) -> None:
        pane = self.focused_pane()
        if pane is not None:
            self.run_pane(pane)

    def action_cancel_focused(self) -> None:
        pane = self.focused_pane()
        if pane is None:
            return
        if pane.token_cursor is not None:  # esc leaves the token cursor first
            pane.leave_token_cursor()
            pane.editor.focus()
            return
        pane.cancel()

    def action_cancel_all(self) -> None:
        for pane in self.panes():
            pane.cancel()

    async def action_new_pane(self, prompt: str = "", overrides: dict[str, str] | None = None,
                              target: Target | None = None, label: str = "", after: Pane | None = None) -> Pane | None:
        """A new pane after `after` (default: the focused one), focused."""
        if len(self.panes()) >= MAX_PANES:
            self.notify(f"At most {MAX_PANES} panes.", severity="warning")
            return None
        pane = self._make_pane(prompt, overrides, target, label)
        current = after or self.focused_pane()
        container = self.panes_container
        if current is not None:
            await container.mount(pane, after=current)
        else:
            await container.mount(pane)
        self._refresh_titles()
        self._fit_panes()
        pane.editor.focus()
        pane.scroll_visible(animate=False)
        self.session_dirty = True
        return pane

    async def action_duplicate_pane(self) -> None:
        """The same prompt, settings and target beside the focused pane (ctrl+d)."""
        pane = self.focused_pane()
        if pane is not None:
            await self.action_new_pane(pane.prompt, pane.overrides(), pane.target, pane.label)

    async def action_close_pane(self) -> None:
        pane = self.focused_pane()
        panes = self.panes()
        if pane is None:
            return
        pane.cancel()
        index = panes.index(pane)
        await pane.remove()
        if self._last_pane is pane:
            self._last_pane = None
        rest = self.panes()
        self._fit_panes()
        if not rest:
            await self.action_new_pane()
        else:
            rest[min(index, len(rest) - 1)].editor.focus()
        self.session_dirty = True

    def action_focus_pane(self, step: int) -> None:
        panes = self.panes()
        current = self.focused_pane()
        if not panes or current is None:
            return
        target = panes[(panes.index(current) + step) % len(panes)]
        target.editor.focus()
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

    def action_toggle_heat(self) -> None:
        """The heat view of the focused pane: its tokens coloured by probability (f3)."""
        pane = self.focused_pane()
        if pane is not None:
            pane.heat = not pane.heat

    def action_toggle_heat_all(self) -> None:
        """The heat view in every pane: on unless it is on in all of them (shift+f3)."""
        panes = self.panes()
        on = not all(pane.heat for pane in panes)
        for pane in panes:
            pane.heat = on

    def action_token_cursor(self) -> None:
        """Move over the focused answer token by token, with each token's alternatives (f4)."""
        pane = self.focused_pane()
        if pane is None:
            return
        if pane.token_cursor is not None:
            pane.leave_token_cursor()
            pane.editor.focus()
        elif not pane.enter_token_cursor():
            self.notify("This answer has no recorded probabilities: turn the heat view on (f3) and run it.",
                        severity="warning")

    async def on_pane_fork_requested(self, event: Pane.ForkRequested) -> None:
        """A new pane beside the answer, continuing from the token chosen at its cursor, run at once
        with the same settings (and heat view) as the pane it came from."""
        parent = event.pane
        fork = parent.fork_point(event.choice, await self._alternative_id(parent, event.choice))
        if isinstance(fork, str):
            self.notify(f"Cannot fork here: {fork}.", severity="warning")
            return
        parent.leave_token_cursor()
        # The fork's ids are its parent's model's tokens: it runs where its parent ran.
        pane = await self.action_new_pane(fork.text, parent.overrides(), parent.target or self.default_target,
                                          parent.label)
        if pane is None:
            return
        pane.fork = fork
        pane.heat = parent.heat
        self._do_refresh_titles()
        self.run_pane(pane)

    def action_part(self) -> None:
        """Where two answers part (f6 in one pane, then f6 in the other): the first differing
        token marked in both, the later differences underlined; f6 again clears the marks."""
        pane = self.focused_pane()
        if pane is None:
            return
        if self._parted is not None:
            self.clear_parting()
            return
        picked = self._picked
        if picked is None or picked is pane or not picked.is_attached:
            self._picked = pane
            self.notify(f"Pane {pane.number} picked: press f6 in the pane to compare it with.")
            return
        self._picked = None
        self.mark_parting(picked, pane)

    def action_part_with_next(self) -> None:
        """The palette's way: the focused pane and the one after it (or before the last)."""
        panes = self.panes()
        pane = self.focused_pane()
        if pane is None or len(panes) < 2:
            self.notify("Two panes are needed to compare.", severity="warning")
            return
        index = panes.index(pane)
        self.clear_parting()
        self.mark_parting(pane, panes[index + 1] if index + 1 < len(panes) else panes[index - 1])

    def clear_parting(self) -> None:
        if self._parted is not None:
            for pane in self._parted:
                if pane.is_attached:
                    pane.show_parting(None)
        self._parted = None

    def mark_parting(self, a: Pane, b: Pane) -> None:
        result = part(a.spans, a.answer, b.spans, b.answer)
        if result is None:
            self.notify(f"Panes {a.number} and {b.number} give the same answer.")
            return
        self._parted = (a, b)
        for pane, side, other, other_side in ((a, result.a, b, result.b), (b, result.b, a, result.a)):
            marks = [(*side.first, "part")] if side.first else []
            marks += [(start, end, "diff") for start, end in side.later]
            pane.output.set_marks(marks)
            pane.show_parting(parting_text(result, pane, side, other, other_side))
            if result.by_tokens and side.token is not None and other_side.token is not None:
                self.run_worker(self._score_other(result, pane, side, other, other_side), group="parting")
            if side.first:
                lines = pane.output.lines_of(side.token) if side.token is not None else []
                pane.output.scroll_to_line(lines[0] if lines else 0)

    async def _alternative_id(self, pane: Pane, choice: int | None) -> int | None:
        """The chosen alternative's token id when the backend named it by text only (a server):
        asked of the backend (vLLM's /tokenize)."""
        index = pane.token_cursor
        lookup = getattr(self.control.backend, "token_id_of", None)
        if choice is None or index is None or lookup is None:
            return None
        top = pane.spans.tokens[index].top
        if not 1 <= choice <= len(top) or top[choice - 1].token_id is not None:
            return None
        return await lookup(top[choice - 1].text, **self._on_target(pane))

    async def _score_other(self, result: Parting, pane: Pane, side: Side, other: Pane, other_side: Side) -> None:
        """Ask the engine how likely the other pane's token was here (one step with vLLM's
        logprob_token_ids), when it is not among this token's recorded alternatives."""
        mine, theirs = pane.spans.tokens[side.token], other.spans.tokens[other_side.token]
        score = getattr(self.control.backend, "next_token_logprobs", None)
        if score is None or pane.prompt_ids is None or any(a.token_id == theirs.token_id for a in mine.top):
            return
        context = pane.prompt_ids + [t.token_id for t in pane.spans.tokens[:side.token]]
        try:
            found = await score(context, [theirs.token_id], **self._on_target(pane))
        except Exception as exc:  # a scoring request is a nicety: say why it is missing, go on
            log.info("scoring the other pane's token failed: %s", exc)
            return
        if theirs.token_id in found and self._parted is not None and pane in self._parted:
            pane.show_parting(parting_text(result, pane, side, other, other_side,
                                           probability(found[theirs.token_id])))

    def action_next_top_logprobs(self) -> None:
        """How many alternatives per token the heat view records (5, 10, 20, 1, 3, …)."""
        self.top_logprobs = TOP_LOGPROBS[(TOP_LOGPROBS.index(self.top_logprobs) + 1) % len(TOP_LOGPROBS)]
        self.notify(f"The heat view records the top {self.top_logprobs} alternatives per token from the next run.")

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen(WORKBENCH_BINDINGS + APP_KEYS))

    # -- export -------------------------------------------------------------------------------------
    def comparison(self) -> list[ComparisonPane]:
        """What every pane shows now, with the settings it runs with (defaults + overrides)."""
        try:
            defaults: Sampling | None = self.defaults()
        except ParamError:
            defaults = None
        rows = []
        for pane in self.panes():
            params = None
            if defaults is not None:
                try:
                    sampling = pane.effective_sampling(defaults)
                    params = {**sampling.values, "chat_template": sampling.chat_template,
                              "system_prompt": sampling.system_prompt}
                except ParamError:
                    params = None
            f = pane.figures
            recorded = pane.spans.tokens
            mean = mean_logprob(recorded)
            rows.append(ComparisonPane(
                number=pane.number, prompt=pane.prompt, params=params,
                text=pane.answer, state=f.state, tokens=f.tokens,
                ttft_ms=f.ttft_ms, tok_s=f.tok_s, finish_reason=f.finish_reason, message=f.message,
                fork=None if pane.fork is None else pane.fork.title,
                token_logprobs=[token_record(t) for t in recorded] or None,
                mean_logprob=None if mean is None else round(mean, 6),
                perplexity=None if mean is None else round(perplexity(mean), 6),
                target=self._target_record(pane), label=pane.label))
        return rows

    def action_export(self) -> None:
        try:
            md, js = export_comparison(self.comparison(), self.control.model)
        except OSError as exc:
            self.notify(f"Could not export: {exc}", severity="error", timeout=10)
            return
        self.notify(f"Exported to {md} and {js.name}", title="Export", timeout=10)

    # -- session ------------------------------------------------------------------------------------
    def session_record(self) -> SessionRecord:
        bar = self.settings
        panes = []
        for pane in self.panes():
            figures = pane.figures
            panes.append(PaneRecord(
                prompt=pane.prompt, overrides=pane.overrides(), output=pane.answer,
                state=figures.state, tokens=figures.tokens, ttft_ms=figures.ttft_ms, tok_s=figures.tok_s,
                finish_reason=figures.finish_reason, message=figures.message, heat=pane.heat,
                token_logprobs=pane.token_records(), logprobs_mode=pane.logprobs_mode,
                prompt_ids=pane.prompt_ids, fork=None if pane.fork is None else asdict(pane.fork),
                target=None if pane.target is None else pane.target.record(), label=pane.label))
        return SessionRecord(defaults=bar.raw_values(), chat_template=bar.chat_template,
                             system_prompt=bar.system_prompt, panes=panes,
                             default_target=None if self.default_target is None else self.default_target.record())

    def _target_record(self, pane: Pane) -> dict | None:
        target = self.target_of(pane)
        if target is None and self._known:
            target = self._known[0]
        return None if target is None else target.record()
