"""F9: the history of every run, searched as you type, newest first; a run (or the whole comparison
it was started with) opens again in panes.

Searches and the reading of a run to reopen run in a thread (tui/store reads SQLite), so a long
history never holds the screen. Every text shown (prompts, answers, target names) is outside text:
it passes the gate and is drawn as Rich Text, never as markup.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui import validate as V
from tui.figures import DONE, Figures
from tui.keymap import LIST_BINDINGS
from tui.screens.dialogs import Dialog
from tui.store import codec
from tui.store.history import StoredRun, load_comparison, load_run
from tui.store.search import DEFAULT_LIMIT, HistoryQuery, QueryError, RunRow, parse_query, search
from tui.store.store import Store
from tui.text import one_line
from tui.widgets.line_input import LineInput

SEARCH_DELAY_S = 0.12  # typing: search once the keys pause
HINT = ("enter: this run in a new pane · alt+c: its whole comparison in new panes · alt+r: the comparison "
        "replaces the panes (alt+u brings them back) · esc: close")
PLACEHOLDER = "words in prompts and answers · target:NAME · model:NAME · since:7d · until:2026-05-01"
_STATE_STYLES = {DONE: "green", "cancelled": "yellow", "error": "red"}


@dataclass(frozen=True)
class Reopen:
    """What the history screen chose: runs to open as panes, and whether they replace the panes."""

    runs: list[StoredRun]
    replace: bool = False


def row_text(row: RunRow) -> Text:
    """A run as the list shows it: when, where, its figures; its prompt; its answer."""
    head = Text()
    head.append(row.when(), style="bold")
    head.append(f"  {one_line(row.target_label or row.model or '?', 60)}", style="bold cyan")
    if row.label:
        head.append(f" [{one_line(row.label, 40)}]", style="cyan")
    head.append(f"  {row.figures.state}", style=_STATE_STYLES.get(row.figures.state, "dim"))
    for part in row.figures.parts():
        head.append(f" · {part}")
    if row.together > 1:
        head.append(f"  ⧉ {row.together} together", style="magenta")
    if row.kind != "workbench":
        head.append(f"  ({row.kind})", style="dim")
    head.append("\n› " + one_line(row.prompt, 120), style="italic")
    head.append("\n  " + (one_line(row.answer, 120) or _no_answer(row.figures)), style="dim")
    return head


def _no_answer(figures: Figures) -> str:
    """What an empty answer's line says: a run cut while it thought has thinking, not nothing."""
    if figures.thought_ms is not None:
        tokens = f" ({figures.thought_tokens} tokens)" if figures.thought_tokens else ""
        return f"∅ no answer: it was still thinking{tokens}"
    return "∅"


class HistoryScreen(Dialog):
    DEFAULT_CSS = """
    HistoryScreen > Vertical { width: 95%; max-width: 160; height: 90%; max-height: 90%; }
    HistoryScreen #query { border: none; height: 1; padding: 0 1; margin: 0 0 1 0; background: $boost; }
    HistoryScreen OptionList { height: 1fr; max-height: 100%; }
    HistoryScreen .history-status { color: $text-muted; height: 1; }
    """
    BINDINGS = [
        *LIST_BINDINGS,
        # Priority: a terminal sends alt+c as ESC c, which Textual reads as alt+c with the
        # character `c`, and the search field, reached first, typed it.
        Binding("alt+c", "reopen(True, False)", "Whole comparison", priority=True),
        Binding("alt+r", "reopen(True, True)", "Replace the panes", priority=True),
    ]

    def __init__(self, store: Store, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        self._store = store
        self._limit = limit
        self.rows: list[RunRow] = []
        self.searches = 0  # searches shown (tests wait for them)
        self._asked = 0  # searches asked for: an older one that ends later is not shown
        self._timer = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("History: every run, newest first"), classes="dialog-title")
            yield LineInput(placeholder=PLACEHOLDER, id="query")
            yield OptionList()
            yield Static("", classes="history-status", markup=False)
            yield Static(Text(HINT), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#query", Input).focus()
        self._search("")

    # -- searching ------------------------------------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._timer is not None:
            self._timer.stop()
        text = event.value
        self._timer = self.set_timer(SEARCH_DELAY_S, lambda: self._search(text))

    def _search(self, text: str) -> None:
        try:
            query = parse_query(text, self._limit)
        except QueryError as exc:
            self._status(str(exc))
            return
        self._asked += 1
        self._run_search(query, self._asked)

    @work(thread=True, group="history-search")
    def _run_search(self, query: HistoryQuery, asked: int) -> None:
        try:
            with self._store.reading() as conn:
                rows = search(conn, query)
        except sqlite3.Error as exc:
            self._from_thread(self._status, f"The history could not be searched: {one_line(exc)}")
            return
        self._from_thread(self._show, rows, query, asked)

    def _show(self, rows: list[RunRow], query: HistoryQuery, asked: int) -> None:
        if asked != self._asked:
            return  # a later search is on its way
        self.rows = rows
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options([Option(row_text(row)) for row in rows])
        options.highlighted = 0 if rows else None
        if rows:
            more = f" (the newest {len(rows)})" if len(rows) >= query.limit else ""
            self._status(f"{len(rows)} run(s){more}")
        else:
            self._status("no run matches" if query.words or query.target or query.model or query.since
                         or query.until else "no run recorded yet")
        self.searches += 1

    def _status(self, message: str) -> None:
        self.query_one(".history-status", Static).update(Text(one_line(message, 300)))

    def action_move(self, action: str) -> None:
        getattr(self.query_one(OptionList), f"action_{action}")()

    # -- reopening ------------------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_reopen(False, False)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()  # a click, or enter with the list focused
        self.action_reopen(False, False)

    def action_reopen(self, comparison: bool, replace: bool) -> None:
        highlighted = self.query_one(OptionList).highlighted
        if highlighted is None or highlighted >= len(self.rows):
            self._status("no run chosen")
            return
        self._load(self.rows[highlighted], comparison, replace)

    @work(thread=True, exclusive=True, group="history-load")
    def _load(self, row: RunRow, comparison: bool, replace: bool) -> None:
        try:
            with self._store.reading() as conn:
                runs = load_comparison(conn, row.comparison) if comparison else [load_run(conn, row.id)]
        except (sqlite3.Error, V.FieldError, codec.CodecError, ValueError) as exc:
            self._from_thread(self._status, f"This run could not be read: {one_line(exc)}")
            return
        runs = [run for run in runs if run is not None]
        if not runs:
            self._from_thread(self._status, "this run is no longer in the history")
            return
        self._from_thread(self._reopen, Reopen(runs, replace))

    def _reopen(self, reopen: Reopen) -> None:
        if self.app.screen is not self:  # dismiss() pops the top screen, whichever it is
            self._status("the run was read while another window was open: enter reopens it")
            return
        self.dismiss(reopen)

    def _from_thread(self, callback, *args) -> None:
        """Hands a search's or a load's end to the app's loop: the person may have closed the screen
        while the thread read the store (its widgets are gone then, and the end is of no use)."""
        self.app.call_from_thread(self._if_still_open, callback, *args)

    def _if_still_open(self, callback, *args) -> None:
        # Off the stack from the moment it is closed: its widgets are taken down after that, and its
        # workers are cancelled last, so a thread's end can land in between.
        if self in self.app.screen_stack:
            callback(*args)
