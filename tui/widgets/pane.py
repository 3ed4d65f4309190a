"""One prompt and its answer: prompt editor, per-pane overrides, the streamed output and its figures."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import cached_property
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static, TextArea
from textual.worker import Worker

from tui import render
from tui.engine.params import PARAM_SPECS, ParamError, Sampling
from tui.engine.protocol import Backend, BackendError, Delta, Target
from tui.figures import CANCELLED, DONE, ERROR, QUEUED, RUNNING_STATES, STREAMING, Figures
from tui.text import one_line, printable
from tui.engine.logprobs import token_from_record, token_record
from tui.heat import Fork, TokenSpans
from tui.widgets.output_view import OutputView
from tui.widgets.token_panel import HeatLegend, TokenPanel
from tui.widgets.param_field import ParamField
from tui.widgets.status_line import StatusLine

STATUS_EVERY = 3  # figures are redrawn every third frame (10 Hz); state changes at once

_request_numbers = itertools.count(1)
log = logging.getLogger(__name__)
_STATE_STYLES = {STREAMING: "bold cyan", DONE: "bold green", CANCELLED: "bold yellow", ERROR: "bold red",
                 QUEUED: "bold magenta"}


def status_text(figures: Figures) -> Text:
    """The status line under an answer: the state in its colour, then the figures."""
    text = Text()
    text.append(figures.state, style=_STATE_STYLES.get(figures.state, "dim"))
    if figures.state == ERROR and figures.message:
        text.append(f": {figures.message}", style="red")
        return text
    if figures.state == QUEUED:
        text.append(" (engine loading)", style="dim")
    for part in figures.parts():
        text.append(f" · {part}")
    return text


def engine_text(figures: Figures) -> Text:
    """The line under the status with the X-ray on: where the request's time went in the engine."""
    text = Text("engine", style="dim")
    parts = figures.engine_parts()
    for part in parts or ["–"]:
        text.append(f" · {part}")
    return text


class PromptEditor(TextArea):
    """A steady cursor: Textual redraws everything between the highest and the lowest changed row
    in one pass, so a blinking cursor above streaming answers redraws all panes twice a second."""

    DEFAULT_CSS = """
    PromptEditor { height: 5; border: none; padding: 0 1; }
    PromptEditor:focus { border: none; }
    """

    def on_mount(self) -> None:
        self.cursor_blink = False

    def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
        result = super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        if repaint and not layout and not recompose and self.is_mounted and self.has_focus:
            # What the person types shows at once, not after Textual's message round trips and
            # the screen's next update tick, which wait behind streaming answers.
            render.draw_soon(self)
        return result


class Pane(Vertical):
    DEFAULT_CSS = """
    Pane {
        width: 1fr;  /* the workbench sets a fixed width when panes overflow the screen */
        min-width: 38;
        height: 1fr;
        border: round $panel-lighten-2;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
    }
    Pane:focus-within { border: round $accent; }
    Pane .params { height: 1; width: 1fr; }
    Pane .more { display: none; }
    Pane.-show-more .more { display: block; }
    Pane.-compact PromptEditor { height: 2; }
    Pane .pane-error { color: $error; height: auto; display: none; padding: 0 1; }
    Pane .pane-engine { display: none; }
    Pane.-show-engine .pane-engine { display: block; }
    Pane .pane-legend { display: none; }
    Pane.-heat .pane-legend { display: block; }
    Pane .pane-token { display: none; }
    Pane .pane-parting { display: none; height: auto; padding: 0 1; background: $boost; }
    Pane.-parting .pane-parting { display: block; }
    Pane.-token-cursor .pane-token { display: block; }
    Pane.-has-error .pane-error { display: block; }
    """

    class Changed(Message):
        """Something a session would save changed (prompt, overrides, state)."""

    class ForkRequested(Message):
        """Fork this answer at the token cursor: with the token itself (`choice` None) or with
        alternative number `choice` (1 = most likely)."""

        def __init__(self, pane: Pane, choice: int | None) -> None:
            super().__init__()
            self.pane = pane
            self.choice = choice

    def __init__(self, number: int, *, prompt: str = "", overrides: dict[str, str] | None = None,
                 more: bool = False, target: Target | None = None, label: str = "") -> None:
        super().__init__(classes="-show-more" if more else None)
        self.number = number
        self.target = target  # where this pane's requests go; None: the workbench's default target
        self.label = label  # what sets this pane apart (a sweep's values), first in its title
        self.target_label = ""  # the target as the title shows it (set with the title)
        self._prompt = prompt
        self.figures = Figures()
        self.defaults_summary = ""
        self._pending: list[str] = []
        self._last: Delta | None = None
        self._worker: Worker | None = None
        self.request_id: str | None = None
        self.runs = 0  # how many runs this pane has started
        self._flushes = 0
        # Every knob, mounted or not (see show_more); kept, since every run reads them all.
        overrides = overrides or {}
        self._fields = [ParamField(spec, overrides.get(spec.name, ""), inherit=True, owner=self)
                        for spec in PARAM_SPECS]
        self._more_built = False
        self._shown_state = ""
        self.jumped = False  # whether the last flush moved the view (see OutputView.jump_early)
        self.on_dirty: Callable[..., None] = lambda pane, now=False: None
        self._show_engine = False  # the engine's timings on a line under the status (with the X-ray)
        self.spans = TokenSpans()  # the answer's tokens with their logprobs, when recorded
        self.prompt_ids: list[int] | None = None  # the last run's prompt as the engine got it
        self.fork: Fork | None = None  # where this pane's prompt was forked from (its token ids)
        self.logprobs_mode: str | None = "raw_logprobs"  # what the recorded numbers are

    # -- composition ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield PromptEditor(self._prompt, soft_wrap=True, tab_behavior="focus", compact=True,
                           placeholder="Type a prompt…")
        self._main_row = Horizontal(*self._main_fields(), classes="params")
        yield self._main_row
        if self.has_class("-show-more"):
            yield self._more_row()
        yield Static("", classes="pane-error", markup=False)
        yield HeatLegend(classes="pane-legend")
        yield Static("", classes="pane-parting", markup=False)
        yield OutputView()
        yield TokenPanel(classes="pane-token")
        yield StatusLine(status_text(self.figures), classes="pane-status")
        yield StatusLine(engine_text(self.figures), classes="pane-engine")

    def on_mount(self) -> None:
        # Kept, not queried: flush() runs every frame while streaming.
        self._output = self.query_one(OutputView)
        self._status = self.query_one(".pane-status", StatusLine)
        self._engine_status = self.query_one(".pane-engine", StatusLine)
        self._output.spans = self.spans
        self._output.heat = self.heat  # set before the pane was mounted
        self._legend = self.query_one(HeatLegend)
        self._token_panel = self.query_one(TokenPanel)

    @cached_property
    def editor(self) -> PromptEditor:
        return self.query_one(PromptEditor)  # kept: every run reads it (a query walks the DOM)

    @property
    def output(self) -> OutputView:
        return self._output

    @property
    def answer(self) -> str:
        """The whole answer so far, drawn or still waiting for the next frame."""
        return self.output.text + "".join(self._pending)

    @property
    def prompt(self) -> str:
        return self.editor.text if self.is_mounted else self._prompt

    def fields(self) -> list[ParamField]:
        return self._fields

    def field(self, name: str) -> ParamField:
        return next(f for f in self._fields if f.spec.name == name)

    def _main_fields(self) -> list[ParamField]:
        return [f for f in self._fields if f.spec.main]

    def _more_row(self) -> Horizontal:
        self._more_built = True
        return Horizontal(*(f for f in self._fields if not f.spec.main), classes="params more")

    def show_more(self, show: bool) -> None:
        """Show or hide the optional knobs; they are mounted the first time they are shown."""
        self.set_class(show, "-show-more")
        if show and self.is_mounted and not self._more_built:
            self.mount(self._more_row(), after=self._main_row)

    def overrides(self) -> dict[str, str]:
        return {f.spec.name: f.raw for f in self._fields if f.raw.strip()}

    # -- settings -------------------------------------------------------------------------------
    def effective_sampling(self, defaults: Sampling) -> Sampling:
        """The defaults with this pane's overrides; ParamError names the first bad field."""
        values: dict[str, Any] = {}
        for field in self.fields():
            is_set, value = field.parsed()
            if is_set:
                values[field.spec.name] = value
        return defaults.with_values(**values)

    def field_errors(self) -> list[str]:
        return [f.error for f in self.fields() if f.error]

    def show_error(self, message: str | None) -> None:
        message = message or ""
        line = self._error_line
        if line.content == message:
            return  # Static.update reflows the whole screen, which at a run's start delays it
        line.update(message)
        self.set_class(bool(message), "-has-error")

    @cached_property
    def _error_line(self) -> Static:
        return self.query_one(".pane-error", Static)

    def refresh_title(self, defaults: Sampling | None) -> None:
        """Header summary, and each blank field shows (dimmed) the default it inherits."""
        if defaults is not None and self.is_mounted:
            for field in self.fields():
                value = defaults[field.spec.name]
                field.set_placeholder(field.spec.blank_means if value is None else field.spec.format(value))
        try:
            summary = self.effective_sampling(defaults).summary() if defaults else ""
        except ParamError:
            summary = "invalid settings"
        parts = [str(self.number), self.label, self.target_label,
                 self.fork.title if self.fork is not None else "", summary]
        # Text, not a str: a title (a model id, an adapter, a token) is never read as markup.
        self.border_title = Text(" · ".join(printable(part) for part in parts if part))

    def on_param_field_changed(self, event: ParamField.Changed) -> None:
        errors = self.field_errors()
        self.show_error(errors[0] if errors else None)
        self.post_message(self.Changed())

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if self.fork is not None and self.editor.text != self.fork.text:
            self.fork = None  # an edited prompt is a prompt: sent as text from now on
        self.post_message(self.Changed())

    # -- running --------------------------------------------------------------------------------
    @property
    def tokens_received(self) -> int:
        """Tokens received for the current run, drawn or not yet."""
        return 0 if self._last is None else self._last.tokens

    @property
    def running(self) -> bool:
        return self.figures.state in RUNNING_STATES

    def start(self, backend: Backend, sampling: Sampling, wait_ready: Callable[[], Awaitable[None]],
              ready: bool, target: Target | None = None) -> None:
        """Replace the output with a new run of this pane's prompt."""
        self.cancel()
        self.runs += 1
        self.leave_token_cursor()
        self.output.clear()
        self.spans.clear()
        self.show_parting(None)
        self.prompt_ids = None
        self.logprobs_mode = getattr(backend, "logprobs_mode", None)
        self._pending.clear()
        self._last = None
        self.figures = Figures(state=STREAMING if ready else QUEUED)
        self._show_figures()
        self.show_error(None)
        self._show_legend()
        self._worker = self.run_worker(self._stream(backend, self.prompt, sampling, wait_ready, target),
                                       group="stream", exit_on_error=False)

    async def _stream(self, backend: Backend, prompt: str, sampling: Sampling,
                      wait_ready: Callable[[], Awaitable[None]], target: Target | None) -> None:
        try:
            await wait_ready()
            self.figures.state = STREAMING
            self.request_id = f"pane{self.number}-{next(_request_numbers)}"
            self.on_dirty(self)
            # A fork sends its token ids; other prompts are text. A target is named when there is one
            # (wrapped backends keep the 3 arguments).
            extra: dict[str, Any] = {} if self.fork is None else {"prompt_ids": self.fork.ids}
            if target is not None:
                extra["target"] = target
            async for delta in backend.stream(prompt, sampling, self.request_id, **extra):
                if delta.prompt_ids is not None:
                    self.prompt_ids = delta.prompt_ids
                shown = printable(delta.text) if delta.text else ""  # outside text: through the gate
                if shown:
                    self._pending.append(shown)
                recorded = bool(self.spans)
                self.spans.add(shown, delta.logprobs)
                if not recorded and self.spans:
                    self._show_legend()  # the first recorded token: the legend has a scale now
                self._last = delta
                self.on_dirty(self)
            self._end_run(DONE)
        except asyncio.CancelledError:
            self._end_run(CANCELLED)
            raise
        except BackendError as exc:
            self._end_run(ERROR, one_line(exc))
        except Exception as exc:  # never let one pane's failure take the app down
            log.exception("pane %s: the run failed", self.number)
            self._end_run(ERROR, one_line(f"{type(exc).__name__}: {exc}"))
        finally:
            self.request_id = None
            self.on_dirty(self, now=True)  # the end of an answer is drawn without delay

    def cancel(self) -> bool:
        """Cancel this pane's run; the engine aborts the request. Keeps the partial answer."""
        worker = self._worker
        if worker is not None and not worker.is_finished:
            worker.cancel()
            self._end_run(CANCELLED)
            self.on_dirty(self, now=True)
            return True
        return False

    def _end_run(self, state: str, message: str = "") -> None:
        """The run ended: its figures are final in the same step as its state (the answer's last
        text still reaches the view with the next flush)."""
        if self._last is not None:
            self.figures.update(self._last)
        self.figures.state = state
        if message:
            self.figures.message = message

    def flush(self) -> bool:
        """Move buffered text to the view and refresh the figures; called at most once a frame.
        Returns True when the figures still wait for their turn (call again next frame)."""
        self.jumped = False
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self.jumped = self.output.append(text)
        if self._last is not None:
            self.figures.update(self._last)
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
            if self.is_mounted:
                self._show_figures()

    def _show_figures(self) -> None:
        self._shown_state = self.figures.state
        self._status.set_text(status_text(self.figures))
        if self._show_engine:
            self._engine_status.set_text(engine_text(self.figures))

    # -- the heat view and the token cursor ----------------------------------------------------------
    @property
    def heat(self) -> bool:
        return self.has_class("-heat")

    @heat.setter
    def heat(self, on: bool) -> None:
        """Colour the answer's tokens by probability; runs started while it is on record them."""
        self.set_class(on, "-heat")
        if self.is_mounted:
            self.output.heat = on
            self._show_legend()

    def _show_legend(self) -> None:
        if self.heat:
            self._legend.show(bool(self.spans), self.logprobs_mode)

    @property
    def token_cursor(self) -> int | None:
        return self.output.cursor if self.is_mounted else None

    def enter_token_cursor(self) -> bool:
        """Put the cursor on the first token in view; False when the answer has no recorded
        tokens."""
        if not self.spans:
            return False
        output = self.output
        if output.cursor is None:
            start = output.line_token(round(output.scroll_y))
            self.move_token_cursor(len(self.spans) - 1 if start is None else start)
        self.set_class(True, "-token-cursor")
        output.focus()
        return True

    def move_token_cursor(self, index: int) -> None:
        if not self.spans:
            return
        index = max(0, min(index, len(self.spans) - 1))
        self.output.set_cursor(index)
        self._token_panel.show(self.spans, index, self.answer)

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
            self.move_token_cursor(cursor + event.count)
        elif event.unit == "end":
            self.move_token_cursor(0 if event.count < 0 else len(self.spans) - 1)
        else:
            lines = self.output.lines_of(cursor)
            if not lines:
                return
            step = event.count * (self.output.size.height if event.unit == "page" else 1)
            line = (lines[0] if step < 0 else lines[-1]) + step
            target = self.output.line_token(line)
            self.move_token_cursor(len(self.spans) - 1 if target is None else target)

    def on_output_view_cursor_left(self, event: OutputView.CursorLeft) -> None:
        event.stop()
        self.leave_token_cursor()

    def on_output_view_fork(self, event: OutputView.Fork) -> None:
        event.stop()
        if self.output.cursor is not None:
            self.post_message(self.ForkRequested(self, event.choice))

    def fork_point(self, choice: int | None, alternative_id: int | None = None) -> Fork | str:
        """The fork at the token cursor with the token itself or alternative `choice` (whose id is
        `alternative_id` when the backend did not record it), or why there is none: the prompt's
        tokens, the answer's before the cursor, then the chosen one."""
        index = self.output.cursor
        if index is None:
            return "no token under the cursor"
        token = self.spans.tokens[index]
        if choice is None:
            chosen_id, chosen_text = token.token_id, token.text
        elif 1 <= choice <= len(token.top):
            alternative = token.top[choice - 1]
            chosen_id = alternative_id if alternative.token_id is None else alternative.token_id
            chosen_text = alternative.text
        else:
            return f"this token has {len(token.top)} alternatives"
        before = [t.token_id for t in self.spans.tokens[:index]]
        if self.prompt_ids is None or chosen_id is None or None in before:
            return "the backend did not give the token ids a fork needs"
        if index and len(before) != index:
            return "the answer's tokens are not all recorded"
        start, _ = self.spans.span(index)
        # What the fork's editor shows (its request is the ids): the prompt, then the answer so far.
        text = f"{self.prompt}\n↳ {self.answer[:start]}{chosen_text}"
        return Fork(parent=self.number, at=index + 1, token=chosen_text,
                    ids=[*self.prompt_ids, *before, chosen_id], text=text)

    def show_parting(self, text: str | None) -> None:
        """Where this answer parts from another's (marked in the answer), in a line above it."""
        if text is None and not self.has_class("-parting"):
            return
        self.set_class(text is not None, "-parting")
        self.query_one(".pane-parting", Static).update(text or "")
        if text is None:
            self.output.set_marks([])

    def restore_tokens(self, records: list[dict], mode: str | None, prompt_ids: list[int] | None,
                       fork: dict | None, heat: bool) -> None:
        """Recorded tokens, the prompt's ids and the fork's origin, as saved (checked by
        tui/session.py; token texts through the gate)."""
        tokens = [token_from_record(record) for record in records]
        tokens = [replace(t, text=printable(t.text),
                          top=tuple(replace(a, text=printable(a.text)) for a in t.top)) for t in tokens]
        self.spans.restore(tokens, [record["end"] for record in records], len(self.output.text))
        self.logprobs_mode = mode
        self.prompt_ids = prompt_ids
        if fork is not None:
            self.fork = Fork(parent=fork["parent"], at=fork["at"], token=printable(fork["token"]),
                             ids=fork["ids"], text=fork["text"])
        self.heat = heat
        self._show_legend()

    def token_records(self) -> list[dict]:
        """The recorded tokens as saved: `token_record` with where each ends in the answer."""
        return [{**token_record(t), "end": end} for t, end in zip(self.spans.tokens, self.spans.ends)]

    def restore(self, output: str, figures: Figures) -> None:
        """Show a saved answer and its figures (from a file: through the gate)."""
        self.output.set_text(printable(output))
        figures.message = one_line(figures.message)
        self.figures = figures
        self._show_figures()
