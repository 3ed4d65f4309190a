"""The blind arena's screens: the vote (one key each), and the leaderboard (the fit runs off the
event loop; c and j write it to the data dir as CSV and JSON)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from tui import locations
from tui.arena.board import Board, board_json, board_lines, make_board
from tui.arena.rating import leaderboard_csv
from tui.arena.votes import Vote
from tui.screens.dialogs import Dialog
from tui.storage import atomic_write_text
from tui.text import one_line

log = logging.getLogger(__name__)

# (key, outcome, what the line says); the digits too, for a numeric keypad.
VOTE_KEYS = (("a", "1", "a", "A is better"), ("b", "2", "b", "B is better"), ("t", "3", "tie", "Tie"),
             ("x", "4", "both_bad", "Both are bad"))


class VoteDialog(Dialog):
    """A, B, tie or both bad: one key each; esc leaves without a vote (alt+v comes back)."""

    BINDINGS = [*(Binding(f"{key},{digit}", f"vote('{outcome}')", label, show=False)
                  for key, digit, outcome, label in VOTE_KEYS), *Dialog.BINDINGS]

    def __init__(self, title: str) -> None:
        super().__init__()
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            for key, digit, _, label in VOTE_KEYS:
                yield Static(Text(f"  {key} ({digit})  {label}"))
            yield Static(Text("The names are shown once you have voted · esc: later (alt+v)"),
                         classes="dialog-hint")

    def action_vote(self, outcome: str) -> None:
        self.answer(outcome)


class LeaderboardScreen(Dialog):
    """Every vote's ratings, pairwise rates and the lean towards A; c / j export."""

    DEFAULT_CSS = """
    LeaderboardScreen > Vertical { max-width: 120; width: 95%; }
    LeaderboardScreen VerticalScroll { height: auto; max-height: 30; }
    """
    BINDINGS = [Binding("c", "export('csv')", "CSV"), Binding("j", "export('json')", "JSON"),
                *Dialog.BINDINGS]

    def __init__(self, read_votes: Callable[[], tuple[list[Vote], list[str]]]) -> None:
        """`read_votes`: (the votes, those that could not be read), called off the event loop."""
        super().__init__()
        self._read_votes = read_votes
        self.board: Board | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Leaderboard: your blind votes"), classes="dialog-title")
            with VerticalScroll():
                yield Static(Text("Fitting…"), id="board", markup=False)
            yield Static(Text("c: CSV · j: JSON (to the data dir) · esc: close"), classes="dialog-hint")

    async def on_mount(self) -> None:
        try:
            votes, unreadable = await asyncio.to_thread(self._read_votes)
            self.board = await asyncio.to_thread(make_board, votes)
        except Exception as exc:  # a database gone bad: said here, never the end of the app
            log.exception("the leaderboard could not be made")
            self._show([f"The votes could not be read: {one_line(exc, 300)}"])
            return
        lines = board_lines(self.board)
        if unreadable:
            lines.append(f"{len(unreadable)} vote(s) left out: they do not read (see the log).")
            for problem in unreadable:
                log.warning("a vote left out of the leaderboard: %s", problem)
        self._show(lines)

    def _show(self, lines: list[str]) -> None:
        if self.is_attached:
            self.query_one("#board", Static).update(Text("\n".join(lines), no_wrap=True))

    def action_export(self, kind: str) -> None:
        if self.board is None:
            return
        text = leaderboard_csv(self.board.rows) if kind == "csv" else board_json(self.board)
        path = Path(locations.data_dir()) / f"leaderboard-{time.strftime('%Y%m%d-%H%M%S')}.{kind}"
        try:
            atomic_write_text(path, text)
        except OSError as exc:
            self.notify(f"Not written: {one_line(exc.strerror or exc)}", severity="error")
            return
        self.notify(f"Leaderboard written to {path}", timeout=8)
