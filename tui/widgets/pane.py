"""A pane: the view of one `PaneState` — its thread, the message being written, its own knobs,
and the figures of the answer shown. It streams a run's deltas into the core's objects and the
answer view; everything it shows can be drawn again from its state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import cached_property, partial

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, HorizontalScroll, Vertical
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static, TextArea
from textual.worker import Worker

from tui import render
from tui.core.conversation import USER, Message as ThreadMessage
from tui.core.output_format import Verdict
from tui.core.pane_state import PaneState, effective_sampling, stale_reason
from tui.core.run import Run
from tui.core.tokens import ShownTokens, TokenSpans
from tui.engine.params import PARAM_SPECS, ParamError, Sampling
from tui.engine.protocol import Backend, BackendError, Target
from tui.figures import CANCELLED, DONE, ENDED_STATES, ERROR, QUEUED, STREAMING, Figures
from tui.instrument import Observer
from tui.text import one_line, printable
from tui.thread_text import THINKING, ThreadText, shown, thread_text
from tui.widgets.fit import fit_parts
from tui.widgets.line_input import run_editing_key, shell_word_start
from tui.widgets.output_view import OutputView
from tui.widgets.token_panel import HeatLegend, TokenPanel
from tui.widgets.param_field import ParamField
from tui.widgets.status_line import StatusLine

STATUS_EVERY = 3  # figures are redrawn every third frame (10 Hz); state changes at once

log = logging.getLogger(__name__)
_STATE_STYLES = {STREAMING: "bold cyan", DONE: "bold green", CANCELLED: "bold yellow", ERROR: "bold red",
                 QUEUED: "bold magenta"}


def status_text(figures: Figures, branch: str = "", stale: str | None = None) -> Text:
    """The status line under an answer: the state in its colour, then the figures; ‹ 2/3 › when
    the answer has siblings; why it no longer matches its pane (another target, other settings)."""
    return status_texts(figures, branch, stale)[0]


def status_texts(figures: Figures, branch: str = "", stale: str | None = None, verdict: Verdict | None = None,
                 compiling: bool = False, max_tokens: int | None = None) -> list[Text]:
    """The status line in its forms, longest first (a narrow pane shows the first that fits, or
    the last cut at a word); after the figures, whether the answer took its output format
    (`verdict`: it stays whole while the figures shorten, then go); `compiling`: a formatted
    request waits for its first token while the engine compiles the format. An answer cut short
    (by the context, or at `max_tokens`, what it was asked with) says so in every form: the last
    form, then, is the state and the cut alone."""
    # A model's name (in `stale`), an error message and a finish reason are a server's words, or a
    # session file's: through the gate.
    forms = []
    # The last form, with a verdict: the state and the verdict alone (its reason is what matters).
    cut = figures.finish_part(short=True, max_tokens=max_tokens)
    shapes = ((False, True, True), (False, False, True), (True, False, True)) + \
        (((True, False, False),) if verdict is not None or cut else ())
    for short, reason, figured in shapes:
        text = Text()
        if stale:
            text.append("stale", style="bold yellow")
            text.append(f" ({one_line(stale)})" if reason else "", style="yellow")
            text.append(" · ")
        text.append(figures.state, style=_STATE_STYLES.get(figures.state, "dim"))
        if figures.state == ERROR and figures.message:
            if not short:
                text.append(f": {one_line(figures.message)}", style="red")
            forms.append(text)
            continue
        if figures.state == QUEUED and not short:
            text.append(" (engine loading)", style="dim")
        if compiling and figures.state == STREAMING and not figures.tokens:
            text.append(" · compiling…" if short else " · compiling the format…", style="magenta")
        for part in figures.parts(short, max_tokens) if figured else ([cut] if cut else []):
            text.append(f" · {one_line(part)}")
        if branch:
            text.append(f" · {branch}" if not short else f" {branch.replace(' ', '')}", style="bold")
        if verdict is not None:  # a session file's text too: through the gate
            text.append(" · ")
            text.append(one_line(verdict.shown, 200), style=_VERDICT_STYLES[verdict.valid])
        forms.append(text)
    return forms


_VERDICT_STYLES = {True: "bold green", False: "bold red", None: "dim"}


def engine_texts(figures: Figures) -> list[Text]:
    """The line under the status with the X-ray on: where the request's time went in the engine
    (long, then short forms)."""
    forms = []
    for short, label in ((False, True), (True, True), (True, False)):
        text = Text("engine" if label else "", style="dim")
        parts = figures.engine_parts(short) or ["–"]
        if not label:  # the tiniest: the figures alone
            parts = [part.replace("prefill ", "pf ").replace("cached ", "") for part in parts]
        for index, part in enumerate(parts):
            text.append(f" · {part}" if label or index else part)
        forms.append(text)
    return forms


def engine_text(figures: Figures) -> Text:
    return engine_texts(figures)[0]


def title_parts(number: int, label: str, target: str, short_target: str, fork: tuple[str, str],
                summary: tuple[str, ...]) -> tuple[list[list[str]], list[int]]:
    """A pane's title in parts with their forms (longest first, "" to leave one out), and the
    order in which they give way when the title does not fit: the settings first (down to those that
    differ from the defaults), the fork to its short form, the target to its short one (an
    adapter's name: the settings that differ say more than the base model's name), then the
    settings, the fork, the target and the sweep's label go; the number stays."""
    parts = [[str(number)], [label, ""] if label else [""], [target, short_target, ""] if target else [""],
             [*fork, ""] if fork[0] else [""], [*summary, ""] if summary[0] else [""]]
    return parts, [4, 4, 3, 4, 2, 4, 3, 2, 1]


class PromptEditor(TextArea):
    """A steady cursor: Textual redraws everything between the highest and the lowest changed row
    in one pass, so a blinking cursor above streaming answers redraws all panes twice a second."""

    DEFAULT_CSS = """
    PromptEditor { height: 5; border: none; padding: 0 1; }
    PromptEditor:focus { border: none; }
    """

    BINDINGS = [Binding("pageup", "page_answer(-1)", show=False),
                Binding("pagedown", "page_answer(1)", show=False)]

    def __init__(self, *args, recall: Callable[[], list[str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.recall = recall or list  # the messages `up` brings back into an empty box, newest first
        self._recalled: tuple[int, str] | None = None  # which one the box shows, and its text

    def on_mount(self) -> None:
        self.cursor_blink = False
        # A box restored with its text (a draft, the message box): what is typed next goes after
        # it, as in any editor reopened. At its start, a new user's next prompt went in front of
        # the restored one, and both were sent as one.
        self.move_cursor(self.document.end)

    async def on_key(self, event: events.Key) -> None:
        """The box's own editing keys act in the order they were typed. As bindings they ran once
        the key had gone up to the app, after the letters typed behind it had reached the box:
        ctrl+u then `Hello` in one burst deleted `Hello` with the line."""
        if event.key in ("up", "down") and self._recall_step(-1 if event.key == "down" else 1):
            event.stop()
            event.prevent_default()
            return
        await run_editing_key(self, event, _EDITING_ACTIONS)

    def _recall_step(self, step: int) -> bool:
        """`up` in an empty box brings back the last message sent, again the one before, `down`
        the later one, as a shell's history does (a shell user's habit); True when it did. A box
        with text of the person's own keeps its arrows for moving in it."""
        recalled = self._recalled
        if recalled is not None and self.text != recalled[1]:
            recalled = self._recalled = None  # edited since: the person's text now
        if recalled is None and (step < 0 or self.text):
            return False
        row = self.cursor_location[0]
        if (step > 0 and row != 0) or (step < 0 and row != self.document.line_count - 1):
            return False
        messages = self.recall()
        index = (-1 if recalled is None else recalled[0]) + step
        if index >= len(messages):
            return True  # the oldest is shown: nothing before it
        text = messages[index] if index >= 0 else ""
        self._recalled = (index, text) if index >= 0 else None
        self.text = text
        self.move_cursor(self.document.end)
        return True

    def render_line(self, y: int) -> Strip:
        # Textual wraps an empty box's placeholder to the box's inner width, and Rich's wrap fails
        # on a width of 0: a pane squeezed to its padding (many panes, a narrow terminal) ended
        # the app. Nothing fits there anyway.
        if self.content_size.width < 1:
            return Strip.blank(max(0, self.content_size.width), self.rich_style)
        return super().render_line(y)

    def action_delete_shell_word_left(self) -> None:
        """ctrl+w as a shell has it (tui/widgets/line_input.py: shell_word_start); at a line's start
        it joins the line to the one above, as backspace does."""
        start, end = self.selection
        if start != end:
            self.delete(start, end)
            return
        row, column = end
        if column == 0:
            if row:
                self.delete((row - 1, len(self.document[row - 1])), (row, 0))
            return
        self.delete((row, shell_word_start(self.document[row], column)), (row, column))

    def action_page_answer(self, pages: int) -> None:
        """In a pane, the page keys page its thread: the box is a few lines tall (the arrows move
        in it), and a user paging back through the answers from the box found they did not move.
        Elsewhere (the message box under the panes) they move in the text as usual."""
        pane = pane_holding(self)
        if pane is None:
            if pages < 0:
                self.action_cursor_page_up()
            else:
                self.action_cursor_page_down()
            return
        view = pane.output
        if pages < 0:
            view.scroll_page_up(animate=False)
        else:
            view.scroll_page_down(animate=False)

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        result = super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        if repaint and not layout and not recompose and self.is_mounted and self.has_focus:
            # What the person types shows at once, not after Textual's message round trips and
            # the screen's next update tick, which wait behind streaming answers.
            render.draw_soon(self)
        return result


# TextArea's keys (ctrl+u, ctrl+w, backspace, the arrows…) by key, but for those the box binds
# itself (the page keys page the thread).
_EDITING_ACTIONS = {key: binding.action for binding in TextArea.BINDINGS if isinstance(binding, Binding)
                    for key in binding.key.split(",")
                    if key not in {own.key for own in PromptEditor.BINDINGS if isinstance(own, Binding)}} | {
    "ctrl+w": "delete_shell_word_left"}  # as in a shell


class Pane(Vertical):
    DEFAULT_CSS = """
    Pane {
        width: 1fr;  /* the workbench sets a fixed width when panes overflow the screen */
        min-width: 38;
        height: 1fr;
        border: round $foreground 25%;  /* seen on light themes and in 256 colours too */
        border-title-color: $text;
        border-subtitle-color: $text-muted;
    }
    Pane:focus-within { border: round $accent; }
    Pane.-marked { border: heavy $secondary; }  /* the message box goes to the marked panes */
    Pane.-marked:focus-within { border: heavy $accent; }
    Pane .params { height: 1; width: 1fr; }
    Pane HorizontalScroll.more { height: auto; scrollbar-size-horizontal: 1; }
    Pane HorizontalScroll.main { scrollbar-size-horizontal: 0; }
    Pane .more { display: none; }
    Pane.-show-more .more { display: block; }
    Pane.-compact PromptEditor { height: 2; }
    /* At most 3 rows: a long error in a small pane hid the whole thread */
    Pane .pane-error { color: $error; height: auto; max-height: 3; display: none; padding: 0 1; }
    Pane .pane-note { color: $text-accent; height: auto; display: none; padding: 0 1; }
    Pane.-has-note .pane-note { display: block; }
    Pane .pane-engine { display: none; }
    Pane.-show-engine .pane-engine { display: block; }
    Pane .pane-legend { display: none; }
    Pane.-heat .pane-legend { display: block; }
    Pane .pane-token { display: none; }
    Pane .pane-parting { display: none; height: auto; padding: 0 1; background: $boost; }
    Pane.-parting .pane-parting { display: block; }
    Pane.-token-cursor .pane-token { display: block; }
    Pane.-has-error .pane-error { display: block; }
    Pane.-blind .params { display: none; }  /* a blind battle's knobs would name a preset */
    """

    class Changed(Message):
        """Something a session would save changed (the draft, the knobs, the state)."""

    class ForkRequested(Message):
        """Fork this answer at the token cursor: with the token itself (`choice` None) or with
        alternative number `choice` (1 = most likely)."""

        def __init__(self, pane: Pane, choice: int | None) -> None:
            super().__init__()
            self.pane = pane
            self.choice = choice

    def __init__(self, state: PaneState, *, more: bool = False) -> None:
        super().__init__(classes="-show-more" if more else None)
        self.state = state
        self.target_label = ""  # the target as the title shows it (set with the title)
        self._blind: str | None = None  # a blind battle's side ("A", "B"): the whole title, until the vote
        self._shown_title: Text | None = None  # the border title shown
        self.defaults_summary = ""
        self._pending: list[str] = []
        self._pending_thinking: list[str] = []  # the answer's thinking, before its text (drawn first)
        self._fold = False  # the answer started after thinking: the next flush folds the thinking
        self._run: Run | None = None
        self._worker: Worker | None = None
        self.request_id: str | None = None
        self.runs = 0  # how many runs this pane has started
        self._flushes = 0
        # Every knob, mounted or not (see show_more); kept, since every run reads them all.
        self._fields = [ParamField(spec, state.overrides.get(spec.name, ""), inherit=True, owner=self)
                        for spec in PARAM_SPECS]
        self._more_built = False
        self._shown_state = ""
        self.jumped = False  # whether the last flush moved the view (see OutputView.jump_early)
        self.on_dirty: Callable[..., None] = lambda pane, now=False: None
        self.observer: Observer | None = None  # hooks for measuring (tui/instrument.py)
        self.on_run_end: Callable[[Pane, Run], None] = lambda pane, run: None  # the history records it
        self._show_engine = False  # the engine's timings on a line under the status (with the X-ray)
        self._stale: str | None = None  # why the answer shown no longer matches the pane
        self._drawable = False
        self.closing = False  # being taken off the screen (see leave)
        self.column_width: int | None = None  # the narrowest column of the panes' grid (fit_forms)
        self._title_forms: tuple[list[list[str]], list[int]] = ([[str(state.number)]], [])
        self.thread_starts: dict[int, int] = {}  # where each message starts in the view's text
        self._thinking_start: int | None = None  # where the shown answer's thinking starts in it
        self._view_has_run = False  # the running answer is the end of the thread shown
        self.set_class(state.heat, "-heat")

    # -- composition ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield PromptEditor(self.state.draft, soft_wrap=True, tab_behavior="focus", compact=True,
                           placeholder="A message: f5 sends · enter: new line", recall=self.sent_messages)
        # It scrolls to the knob that has the focus, as the optional knobs' row does: in a narrow
        # pane (or beside a long seed) `max` was past its end, and what was typed there unseen.
        self._main_row = HorizontalScroll(*self._main_fields(), classes="params main", can_focus=False)
        yield self._main_row
        if self.has_class("-show-more"):
            yield self._more_row()
        yield Static("", classes="pane-error", markup=False)
        yield Static("", classes="pane-note", markup=False)
        yield HeatLegend(classes="pane-legend")
        yield Static("", classes="pane-parting", markup=False)
        yield OutputView()
        yield TokenPanel(classes="pane-token")
        yield StatusLine(self._status_texts(), classes="pane-status")
        yield StatusLine(engine_texts(self.figures), classes="pane-engine")

    def on_mount(self) -> None:
        # Kept, not queried: flush() runs every frame while streaming.
        self._output = self.query_one(OutputView)
        self._status = self.query_one(".pane-status", StatusLine)
        self._engine_status = self.query_one(".pane-engine", StatusLine)
        self._legend = self.query_one(HeatLegend)
        self._token_panel = self.query_one(TokenPanel)
        self._drawable = True  # its widgets are there to draw into (is_mounted is not true yet)
        self._output.heat = self.heat
        self.redraw()
        self.show_note()

    @cached_property
    def editor(self) -> PromptEditor:
        return self.query_one(PromptEditor)  # kept: every run reads it (a query walks the DOM)

    def leave(self) -> None:
        """It is being taken off the screen: its widgets go one by one from here while keys and
        timers go on, so nothing runs in it or draws into them any more."""
        self.closing = True
        self._drawable = False

    @property
    def drawable(self) -> bool:
        """Its widgets are there to draw into: mounted, or in the middle of mounting (on_mount ran)."""
        return self._drawable

    @property
    def output(self) -> OutputView:
        return self._output

    # -- what the state holds, as the workbench asks for it ----------------------------------------
    @property
    def number(self) -> int:
        return self.state.number

    @property
    def target(self) -> Target | None:
        return self.state.target

    @target.setter
    def target(self, target: Target | None) -> None:
        self.state.target = target

    @property
    def label(self) -> str:
        return self.state.label

    @property
    def draft(self) -> str:
        return self.editor.text if self.is_mounted else self.state.draft

    def sent_messages(self) -> list[str]:
        """The questions of the thread shown, newest first (`up` in its empty box brings them back)."""
        questions = [m.content for m in reversed(self.state.thread()) if m.role == USER and m.content.strip()]
        return list(dict.fromkeys(questions))

    @property
    def reply(self) -> ThreadMessage | None:
        """The answer shown (the one under the message cursor, else the last)."""
        return self.state.shown_reply()

    @property
    def answer(self) -> str:
        """The shown answer's text as the view holds it (through the gate)."""
        reply = self.reply
        return "" if reply is None else shown(reply.content)

    @property
    def spans(self) -> TokenSpans:
        reply = self.reply
        return reply.reply.tokens if reply is not None else TokenSpans()

    @property
    def figures(self) -> Figures:
        reply = self.reply
        return reply.reply.figures if reply is not None else Figures()

    @property
    def logprobs_mode(self) -> str | None:
        reply = self.reply
        return reply.reply.logprobs_mode if reply is not None else None

    def fields(self) -> list[ParamField]:
        return self._fields

    def field(self, name: str) -> ParamField:
        return next(f for f in self._fields if f.spec.name == name)

    def _main_fields(self) -> list[ParamField]:
        return [f for f in self._fields if f.spec.main]

    def _more_row(self) -> HorizontalScroll:
        # A narrow pane holds a few of them: the row scrolls to the knob that has the focus. Not a
        # stop of its own for tab (a scrolling row is, when it overflows): the keys typed there went
        # nowhere, and a key it left went up to whatever had the focus by then.
        self._more_built = True
        return HorizontalScroll(*(f for f in self._fields if not f.spec.main), classes="params more",
                                can_focus=False)

    def on_descendant_blur(self) -> None:
        """A knob row scrolled sideways to the field tab reached starts at its beginning again once
        the focus has left it (as the defaults line does)."""
        for row in self.query("HorizontalScroll.params"):
            if not row.has_focus_within:
                row.scroll_home(animate=False)

    def show_more(self, show: bool) -> None:
        """Show or hide the optional knobs; they are mounted the first time they are shown."""
        self.set_class(show, "-show-more")
        if show and self.is_mounted and not self._more_built:
            self.mount(self._more_row(), after=self._main_row)

    def overrides(self) -> dict[str, str]:
        return dict(self.sync().overrides)

    def sync(self) -> PaneState:
        """The state, with what is typed in the pane's fields and message box now (their change
        messages may not have been handled yet)."""
        state = self.state
        state.overrides = {f.spec.name: f.raw for f in self._fields if f.raw.strip()}
        if self.is_mounted:
            state.draft = self.editor.text
        return state

    # -- settings -------------------------------------------------------------------------------
    def effective_sampling(self, defaults: Sampling) -> Sampling:
        """The defaults with this pane's overrides and output format; ParamError names the first
        bad field (or the format's problem)."""
        state = self.sync()
        return effective_sampling(defaults, state.overrides, state.output_format)

    def field_errors(self) -> list[str]:
        return [f.error for f in self.fields() if f.error]

    def show_error(self, message: str | None) -> None:
        if not self._drawable:
            return
        message = message or ""
        line = self._error_line
        if line.content == message:
            return  # Static.update reflows the whole screen, which at a run's start delays it
        line.update(message)
        self.set_class(bool(message), "-has-error")

    @cached_property
    def _error_line(self) -> Static:
        return self.query_one(".pane-error", Static)

    def show_note(self) -> None:
        """What the draft is: an edit of an earlier message (a new branch when sent)."""
        if not self._drawable:
            return
        editing = self.state.conversation.get(self.state.editing)
        note = ("editing an earlier message: f5 sends it as a new branch (the old one is kept) · "
                "alt+e again leaves it") if editing is not None else ""
        line = self.query_one(".pane-note", Static)
        if line.content != note:
            line.update(note)
            self.set_class(bool(note), "-has-note")

    def refresh_title(self, defaults: Sampling | None, target: Target | None = None) -> None:
        """Header summary, each blank field shows (dimmed) the default it inherits, and the answer
        says whether it still matches the pane's target and settings."""
        if defaults is not None and self.is_mounted:
            for field in self.fields():
                value = defaults[field.spec.name]
                field.set_placeholder(field.spec.blank_means if value is None else field.spec.format(value))
        sampling: Sampling | None = None
        said = self.state.labelled_knobs()  # in the title once: in the sweep's label
        try:
            sampling = self.effective_sampling(defaults) if defaults else None
            summary = sampling.summary(leave_out=said) if sampling is not None else ""
        except ParamError:
            summary = "invalid settings"
        reply = self.reply
        origin = self.state.conversation.fork_of(reply)  # the thread's fork, the answers after it too
        compact = sampling.compact_summary(leave_out=said) if sampling is not None else summary
        tiny = sampling.compact_summary(tiny=True, leave_out=said) if sampling is not None else summary
        if sampling is not None and defaults is not None:  # the least room: what differs from the defaults
            alike = frozenset(name for name, value in sampling.values.items() if value == defaults[name])
            changed = sampling.compact_summary(tiny=True, leave_out=said | alike)
        else:
            changed = summary
        fork = (origin.title, f"⑂{origin.pane}@{origin.at}") if origin is not None else ("", "")
        self._title_forms = title_parts(self.number, printable(self.label), printable(self.target_label),
                                  printable(target.short_label) if target else "",
                                  (printable(fork[0]), fork[1]), (summary, compact, tiny, changed))
        if self._blind is not None:  # nothing that names the target or its settings
            self._title_forms = ([[self._blind]], [])
        self._fit_title()
        stale = None
        # A blind pane is never called stale: which side a changed default makes stale names a preset.
        if reply is not None and not self.running and reply.reply.state != "idle" and self._blind is None:
            stale = stale_reason(reply.reply, target, sampling)
        if stale != self._stale:
            self._stale = stale
            if self._drawable:
                self._show_figures()

    @property
    def blind(self) -> str | None:
        return self._blind

    @blind.setter
    def blind(self, side: str | None) -> None:
        """A blind battle's side: the title is only `side` and the knobs are hidden (None: shown)."""
        self._blind = side
        self.set_class(side is not None, "-blind")
        if side is not None:
            self._title_forms = ([[side]], [])
            self._fit_title()

    def _slack(self) -> int:
        """How much wider this pane is than the narrowest column: panes side by side share the
        width unevenly (80 and 81 columns), and a title or a status line that chose its form by its
        own width showed `T0.8 p0.95` beside `T 0.8 · p 0.95`."""
        if self.column_width is None or not self.outer_size.width:
            return 0
        return max(0, self.outer_size.width - self.column_width)

    def _fit_title(self) -> None:
        # Text, not a str: a title (a model id, an adapter, a token) is never read as markup.
        parts, steps = self._title_forms
        width = self.size.width - 6 - self._slack() if self.size.width else 200  # "╭─ " and " ─╮" around it
        title = Text(fit_parts(parts, max(1, width), steps))
        if title != self._shown_title:  # setting a border title repaints the whole pane, even the same one
            self._shown_title = title
            self.border_title = title

    def on_resize(self) -> None:
        self.fit_forms()

    def fit_forms(self) -> None:
        """The title's and the status lines' forms for the pane's width (and its column's)."""
        self._fit_title()
        if self._drawable:
            slack = self._slack()
            self._status.slack = self._engine_status.slack = slack

    def on_param_field_changed(self, event: ParamField.Changed) -> None:
        self.sync()
        errors = self.field_errors()
        self.show_error(errors[0] if errors else None)
        self.post_message(self.Changed())

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        self.state.draft = self.editor.text
        if self.has_class("-has-error") and self.state.draft.strip():
            errors = self.field_errors()  # "not run: the prompt is empty" is not true any more
            self.show_error(errors[0] if errors else None)
        self.post_message(self.Changed())

    def set_draft(self, text: str) -> None:
        """Put text in the message box (what the state holds now)."""
        self.state.draft = text
        if self.is_mounted and self.editor.text != text:
            self.editor.text = text
            self.editor.move_cursor(self.editor.document.end)

    # -- drawing from the state -------------------------------------------------------------------
    def redraw(self) -> None:
        """Draw the thread, the shown answer's figures and its tokens again from the state."""
        if not self._drawable:
            return
        state = self.state
        conversation = state.conversation
        shown_reply = self.reply
        last = conversation.last()
        text = thread_text(state.thread(), shown_reply, chat=self._chat, cursor=state.cursor,
                           siblings=conversation.siblings,
                           label=lambda m: m.reply.target.label if m.reply and m.reply.target else "",
                           thinking=self.state.thinking_shown)
        self._pending.clear()
        self._pending_thinking.clear()
        self._fold = False
        self.thread_starts = text.starts
        self._thinking_start = text.thinking_start
        self._view_has_run = self._run is not None and self._run.message is last
        cursor = self.output.cursor  # a token cursor stays on (the tokens shown may change: alt+t)
        self.output.show(text, self._shown_tokens(shown_reply, text))
        if cursor is not None:
            self.call_after_refresh(self._put_cursor_back)
        if shown_reply is not None and shown_reply is not last:
            lines = self.output.lines_of(0) if self.output.tokens else []
            start_line = lines[0] if lines else 0
            self.output.scroll_to_line(start_line)
        self._show_figures()
        self._show_legend()

    @staticmethod
    def _shown_tokens(message: ThreadMessage | None, text: ThreadText) -> ShownTokens | None:
        """The shown answer's tokens at their places in the view, its thinking's first where the
        thinking's text is shown."""
        if message is None:
            return None
        reply = message.reply
        if text.thinking_start is None:
            return ShownTokens(reply.tokens, text.base)
        return ShownTokens(reply.tokens, text.base, reply.thinking_tokens, text.thinking_start,
                           lambda: message.reasoning)

    @property
    def shown_tokens(self) -> ShownTokens:
        """The tokens the view shows (the token cursor's), none before it is drawn."""
        tokens = self.output.tokens if self._drawable else None
        return tokens if tokens is not None else ShownTokens(TokenSpans(), 0)

    _chat = True  # how the thread is shown: messages, or one text (raw mode; set by the workbench)

    @property
    def thinking_shown(self) -> bool:
        return self.state.thinking_shown  # in the state: a pane closed and brought back keeps it

    def show_thinking(self, shown: bool) -> None:
        """Unfold the answers' thinking above them, or fold it to its `thought …` line."""
        if shown != self.state.thinking_shown:
            self.state.thinking_shown = shown
            self.redraw()
            if shown and self._drawable and self._thinking_start is not None:
                # The view follows its end: the thinking just asked for was above the rows shown.
                self.output.scroll_to_line(self.output.line_at(self._thinking_start))

    def set_chat(self, chat: bool) -> None:
        if chat != self._chat:
            self._chat = chat
            self.redraw()

    # -- running --------------------------------------------------------------------------------
    @property
    def tokens_received(self) -> int:
        """Tokens received for the current run, drawn or not yet."""
        run = self._run
        return 0 if run is None or run.last is None else run.last.tokens

    @property
    def running(self) -> bool:
        return self.state.running

    @property
    def pending(self) -> bool:
        """Text received and not in the view yet (the next flush takes it)."""
        return bool(self._pending or self._pending_thinking or self._fold)

    def start(self, backend: Backend, run: Run, wait_ready: Callable[[], Awaitable[None]], ready: bool) -> None:
        """Stream `run` (its answer is in the conversation already) into the view."""
        self.cancel()
        self.runs += 1
        self.leave_token_cursor()
        self.show_parting(None)
        run.reply.figures.state = STREAMING if ready else QUEUED
        self._run = run
        self._stale = None  # the answer shown is this run's, on the pane's target and settings now
        self.set_draft(self.state.draft)
        self.show_note()
        self.redraw()
        self.show_error(None)
        self.request_id = run.request.request_id
        # The coroutine is made when the worker starts: a pane removed before that (keys in a
        # burst) left one never awaited, and Python warned of it.
        self._worker = self.run_worker(partial(self._stream, backend, run, wait_ready), group="stream",
                                       exit_on_error=False)

    async def _stream(self, backend: Backend, run: Run, wait_ready: Callable[[], Awaitable[None]]) -> None:
        try:
            await wait_ready()
            run.streaming()
            self.on_dirty(self)
            pending = self._pending
            observer, number = self.observer, self.number
            thinking_began = False  # its leading newlines are not shown (as thread_text draws it)
            scaled = False  # the heat legend shows its scale (tokens were recorded)
            async for delta in backend.stream(run.request):
                if observer is not None:
                    observer.delta_received(number, delta)
                started = run.message.has_content
                text = run.take(delta)
                if delta.reasoning and not started and not text:
                    piece = shown(delta.reasoning)  # outside text: through the gate
                    piece = piece if thinking_began else piece.lstrip("\n")
                    if piece:
                        thinking_began = True
                        self._pending_thinking.append(piece)
                if text:
                    pending.append(shown(text))  # outside text: through the gate
                    if not started and run.message.reasoning:
                        self._fold = True  # the thinking above it becomes one line
                if delta.logprobs and not scaled and (run.reply.tokens.tokens or run.reply.thinking_tokens.tokens):
                    scaled = True
                    self._show_legend()  # the first recorded tokens: the legend has a scale now
                self.on_dirty(self)
            self._end_run(run, DONE)
        except asyncio.CancelledError:
            self._end_run(run, CANCELLED)
            raise
        except BackendError as exc:
            self._end_run(run, ERROR, one_line(exc))
        except Exception as exc:  # never let one pane's failure take the app down
            log.exception("pane %s: the run failed", self.number)
            self._end_run(run, ERROR, one_line(f"{type(exc).__name__}: {exc}"))
        finally:
            self.request_id = None
            self.on_dirty(self, now=True)  # the end of an answer is drawn without delay

    def cancel(self) -> bool:
        """Cancel this pane's run; the engine aborts the request. Keeps the partial answer."""
        worker = self._worker
        if worker is not None and not worker.is_finished:
            worker.cancel()
            if self._run is not None:
                self._end_run(self._run, CANCELLED)
            self.on_dirty(self, now=True)
            return True
        return False

    def _end_run(self, run: Run, state: str, message: str = "") -> None:
        """The run ended: its figures are final in the same step as its state (the answer's last
        text still reaches the view with the next flush)."""
        if run.reply.state in ENDED_STATES:
            return  # ended already (cancelled, then the worker's own CancelledError)
        run.end(state, message)
        if state == ERROR and message:
            self.show_error(f"error: {message}")  # whole, wrapped: the status line has room for little
        self.on_run_end(self, run)
        self.post_message(self.Changed())

    def flush(self) -> bool:
        """Move buffered text to the view and refresh the figures; called at most once a frame.
        Returns True when the figures still wait for their turn (call again next frame)."""
        self.jumped = False
        output, running = self.output, self.running
        if running and self._view_has_run:
            output.start_streaming()
        if self._fold:
            self._fold = False
            if self._view_has_run:
                self.redraw()  # once per answer: the thinking folds to a line above the text so far
                self.jumped = True
        if self._pending_thinking:
            text = "".join(self._pending_thinking)
            self._pending_thinking.clear()
            if self._view_has_run:  # the answer's thinking, so far, is the end of the thread shown
                self.jumped = output.append(text, THINKING) or self.jumped
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            if self._view_has_run:  # the run's answer is the end of the thread shown
                self.jumped = output.append(text) or self.jumped
        if not running:
            output.settle()  # the end at the bottom, no blank page below it
        if self._run is not None:
            self._run.figures()
        self._flushes += 1
        if self.figures.state != self._shown_state or self._flushes % STATUS_EVERY == 0:
            self._show_figures()
            return False
        return True

    @property
    def show_engine(self) -> bool:
        return self._show_engine

    @show_engine.setter
    def show_engine(self, show: bool) -> None:
        if show != self._show_engine:
            self._show_engine = show
            self.set_class(show, "-show-engine")
            if self._drawable:
                self._show_figures()

    def _status_texts(self) -> list[Text]:
        reply = self.reply
        branch = ""
        if reply is not None:
            place, count = self.state.conversation.siblings(reply)
            branch = f"‹ {place}/{count} ›" if count > 1 else ""
        verdict = reply.reply.verdict if reply is not None else None
        return status_texts(self.figures, branch, self._stale, verdict, compiling=self._formatted(reply),
                            max_tokens=self._max_tokens(reply))

    @staticmethod
    def _max_tokens(reply: ThreadMessage | None) -> int | None:
        """The max_tokens the answer was asked with (None: not recorded)."""
        settings = reply.reply.settings if reply is not None and reply.reply is not None else None
        value = settings.get("max_tokens") if settings else None
        return value if isinstance(value, int) else None

    @staticmethod
    def _formatted(reply: ThreadMessage | None) -> bool:
        """Whether the answer was asked for with an output format (its settings say so)."""
        settings = reply.reply.settings if reply is not None and reply.reply is not None else None
        return bool(settings and settings.get("format"))

    def _show_figures(self) -> None:
        figures = self.figures
        self._shown_state = figures.state
        self._status.set_text(self._status_texts())
        if self._show_engine:
            self._engine_status.set_text(engine_texts(figures))

    # -- the heat view and the token cursor ----------------------------------------------------------
    @property
    def heat(self) -> bool:
        return self.state.heat

    @heat.setter
    def heat(self, on: bool) -> None:
        """Colour the answer's tokens by probability; runs started while it is on record them."""
        self.state.heat = on
        self.set_class(on, "-heat")
        if self._drawable:
            self.output.heat = on
            self._show_legend()

    def _show_legend(self) -> None:
        if self.heat and self._drawable:
            self._legend.show(bool(self.shown_tokens), self.logprobs_mode, constrained=self._formatted(self.reply))

    @property
    def token_cursor(self) -> int | None:
        return self.output.cursor if self.is_mounted else None

    def enter_token_cursor(self) -> bool:
        """Put the cursor on the first token in view; False when the answer has no recorded
        tokens."""
        tokens = self.shown_tokens
        if not tokens:
            return False
        output = self.output
        if output.cursor is None:
            start = output.line_token(round(output.scroll_y))
            self.move_token_cursor(len(tokens) - 1 if start is None else start)
        self.set_class(True, "-token-cursor")
        output.focus()
        return True

    def _put_cursor_back(self) -> None:
        if self.has_class("-token-cursor") and self.output.cursor is None and not self.enter_token_cursor():
            self.leave_token_cursor()  # no token shown now

    def move_token_cursor(self, index: int, step: int = 1) -> None:
        """Put the token cursor on token `index`, or the nearest one in the direction of `step`
        that shows some text (a thinking's markers show none)."""
        tokens = self.shown_tokens
        if not tokens:
            return
        index = max(0, min(index, len(tokens) - 1))
        index = self._showing(tokens, index, 1 if step >= 0 else -1)
        self.output.set_cursor(index)
        self._token_panel.show(tokens, index, self.output.text)
        self.call_after_refresh(self.output.scroll_to_cursor)  # the panel it opens takes rows from the view

    @staticmethod
    def _showing(tokens: ShownTokens, index: int, step: int) -> int:
        """`index`, or the next token from it (then the previous) whose span holds text; `index`
        when none does."""
        for direction in (step, -step):
            at = index
            while 0 <= at < len(tokens):
                start, end = tokens.span(at)
                if end > start or not tokens.in_thinking(at):
                    return at
                at += direction
        return index

    def leave_token_cursor(self) -> None:
        if self.is_mounted and self.output.cursor is not None:
            self.output.set_cursor(None)
        self.set_class(False, "-token-cursor")

    def on_output_view_cursor_step(self, event: OutputView.CursorStep) -> None:
        """A cursor key in the answer: by tokens, lines or pages (see OutputView)."""
        event.stop()
        cursor = self.output.cursor
        if cursor is None:
            return
        if event.unit == "token":
            self.move_token_cursor(cursor + event.count, event.count)
        elif event.unit == "end":
            self.move_token_cursor(0 if event.count < 0 else len(self.shown_tokens) - 1, -event.count)
        else:
            lines = self.output.lines_of(cursor)
            if not lines:
                return
            step = event.count * (self.output.size.height if event.unit == "page" else 1)
            line = (lines[0] if step < 0 else lines[-1]) + step
            target = self.output.line_token(line)
            self.move_token_cursor(len(self.shown_tokens) - 1 if target is None else target)

    def on_output_view_cursor_left(self, event: OutputView.CursorLeft) -> None:
        event.stop()
        self.leave_token_cursor()

    def on_output_view_fork(self, event: OutputView.Fork) -> None:
        event.stop()
        if self.output.cursor is not None:
            self.post_message(self.ForkRequested(self, event.choice))

    def show_parting(self, text: str | None) -> None:
        """Where this answer parts from another's (marked in the answer), in a line above it."""
        if text is None and not self.has_class("-parting"):
            return
        self.set_class(text is not None, "-parting")
        self.query_one(".pane-parting", Static).update(text or "")
        if text is None:
            self.output.set_marks([])


def pane_holding(widget: Widget | None) -> Pane | None:
    """The pane `widget` is in (its message box, its view, a knob), or None outside the panes."""
    for node in widget.ancestors_with_self if widget is not None else ():
        if isinstance(node, Pane):
            return node
    return None
