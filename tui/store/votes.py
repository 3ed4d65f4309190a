"""The arena's votes in the store: one row each, with what was compared (the thread, both answers,
their targets and settings), written by the writer thread and read back checked field by field.

A row that does not read as a vote (a hand-edited file) is left where it is and named: the
leaderboard is made from the others, and says how many it could not read.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from tui import validate as V
from tui.arena.votes import Vote
from tui.store.session_rows import Op, dumps
from tui.storage import writable
from tui.text import one_line


class RecordVote(Op):
    def __init__(self, vote: Vote, compared: dict[str, Any]) -> None:
        """`compared`: what the vote was about (JSON-able): the thread, the answers, the targets."""
        self.vote = vote
        self.compared = compared

    def apply(self, conn: sqlite3.Connection) -> None:
        v = self.vote
        conn.execute("INSERT INTO votes (battle, time, left_name, right_name, outcome, prompt, record) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (writable(v.battle, "a vote's battle"), v.time, writable(v.left, "a vote's target"),
                      writable(v.right, "a vote's target"), v.outcome,
                      None if v.prompt is None else writable(v.prompt, "a vote's prompt"),
                      dumps(self.compared, "a vote's record")))


@dataclass
class StoredVotes:
    votes: list[Vote]
    unreadable: list[str]  # each row that is not a vote: its id and why


def stored_votes(conn: sqlite3.Connection) -> StoredVotes:
    """Every vote, oldest first."""
    votes, unreadable = [], []
    rows = conn.execute("SELECT id, battle, time, left_name, right_name, outcome, prompt FROM votes ORDER BY id")
    for row_id, battle, when, left, right, outcome, prompt in rows:
        record = dict(battle=battle, time=when, left=left, right=right, outcome=outcome, prompt=prompt)
        try:
            votes.append(Vote.from_record(record, f"votes[id={row_id}]"))
        except V.FieldError as exc:
            unreadable.append(one_line(exc, 300))
    return StoredVotes(votes, unreadable)
