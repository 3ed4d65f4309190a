"""Finding runs in the history: words searched in prompts and answers (SQLite's FTS5), filters by
target, model and date, newest first; the history screen and `vllm-panes history` share it.

A query is what a person types: words, and `target:NAME`, `model:NAME`, `since:DATE`,
`until:DATE` (DATE as 2026-05-01, or 7d / 12h ago). Every word is matched as the start of a word
("happi" finds "happiness"), all of them in the same run; words are quoted before they reach FTS5,
so nothing typed is read as its query syntax.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tui import validate as V
from tui.core.records import figures_from_record
from tui.figures import Figures

DEFAULT_LIMIT = 200
_FILTERS = ("target", "model", "since", "until")
_AGO = re.compile(r"^(\d+)([dhm])$")


class QueryError(ValueError):
    """A filter that cannot be read (the message says which and why)."""


@dataclass(frozen=True)
class HistoryQuery:
    words: tuple[str, ...] = ()
    target: str | None = None
    model: str | None = None
    since: float | None = None  # time.time() values
    until: float | None = None
    limit: int = DEFAULT_LIMIT

    def fts(self) -> str | None:
        """The words as an FTS5 query: each a quoted prefix; None when there are none."""
        terms = ['"' + word.replace('"', '""') + '"*' for word in self.words if any(c.isalnum() for c in word)]
        return " ".join(terms) or None


def parse_query(text: str, limit: int = DEFAULT_LIMIT, now: float | None = None) -> HistoryQuery:
    """A query from what a person typed; QueryError for a filter with a value that is no date."""
    words: list[str] = []
    found: dict[str, str] = {}
    for part in text.split():
        name, colon, value = part.partition(":")
        if colon and name.lower() in _FILTERS and value:
            found[name.lower()] = value
        else:
            words.append(part)
    return HistoryQuery(tuple(words), found.get("target"), found.get("model"),
                        parse_time(found["since"], "since", now) if "since" in found else None,
                        parse_time(found["until"], "until", now, end=True) if "until" in found else None, limit)


def parse_time(value: str, name: str, now: float | None = None, end: bool = False) -> float:
    """'2026-05-01' (local time; as an end, that whole day), '2026-05-01T14:30', or '7d' / '12h' /
    '30m' ago."""
    now = time.time() if now is None else now
    ago = _AGO.match(value.strip())
    if ago:
        amount, unit = int(ago.group(1)), ago.group(2)
        return now - amount * {"d": 86400, "h": 3600, "m": 60}[unit]
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise QueryError(f"{name}: {value!r} is not a date (2026-05-01, 2026-05-01T14:30, or 7d, 12h ago)") from None
    stamp = moment.timestamp()
    if end and len(value.strip()) <= 10:
        stamp += 86400  # until a day: to its end
    return stamp


@dataclass(frozen=True)
class RunRow:
    """A run as a list shows it."""

    id: int
    comparison: str
    kind: str
    pane: int | None
    label: str
    ended_at: float
    figures: Figures
    target_label: str
    model: str
    prompt: str  # its start (whole when searched `whole`)
    answer: str  # its start (whole when searched `whole`)
    together: int  # runs in its comparison

    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.ended_at))

    def record(self) -> dict[str, Any]:
        """As `vllm-panes history --json` prints it."""
        return {"id": self.id, "comparison": self.comparison, "kind": self.kind, "pane": self.pane,
                "label": self.label, "ended_at": self.ended_at, "target": self.target_label, "model": self.model,
                "state": self.figures.state, **self.figures.record(), "prompt": self.prompt, "answer": self.answer,
                "runs_in_comparison": self.together}


PREVIEW = 300  # characters of the prompt and the answer a row carries


def search(conn: sqlite3.Connection, query: HistoryQuery, whole: bool = False) -> list[RunRow]:
    """The runs that match, newest first, at most `query.limit`; their prompts and answers cut to
    PREVIEW characters for a list, or `whole` (`history --json`: a script took the cut answer for
    the answer)."""
    where, params = _conditions(query)
    match = query.fts()
    source = "runs r"
    if match is not None:
        source = "run_text JOIN runs r ON r.id = run_text.rowid"
        where.insert(0, "run_text MATCH ?")
        params.insert(0, match)
    texts = "r.prompt, r.answer" if whole else f"substr(r.prompt, 1, {PREVIEW}), substr(r.answer, 1, {PREVIEW})"
    sql = (f"SELECT r.id, r.comparison, r.kind, r.pane, r.label, r.ended_at, r.figures, r.target_label, r.model, "
           f"{texts}, "
           f"(SELECT count(*) FROM runs c WHERE c.comparison = r.comparison) "
           f"FROM {source} {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY r.id DESC LIMIT ?")
    rows = conn.execute(sql, (*params, max(0, query.limit))).fetchall()
    return [_row(row) for row in rows]


def matching_ids(conn: sqlite3.Connection, query: HistoryQuery) -> list[int]:
    """The ids of the runs that match, oldest first (an export), `query.limit` of the newest."""
    return sorted(row.id for row in search(conn, query))


def _conditions(query: HistoryQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if query.target:
        where.append("(r.target_label LIKE ? OR r.adapter = ?)")
        params += [f"%{_like(query.target)}%", query.target]
    if query.model:
        where.append("r.model LIKE ?")
        params.append(f"%{_like(query.model)}%")
    if query.since is not None:
        where.append("r.ended_at >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append("r.ended_at < ?")
        params.append(query.until)
    return [w.replace("LIKE ?", "LIKE ? ESCAPE '\\'") for w in where], params


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row(row: tuple) -> RunRow:
    run_id, comparison, kind, pane, label, ended_at, figures, target_label, model, prompt, answer, together = row
    try:
        shown = figures_from_record(json.loads(figures), "figures")
    except (V.FieldError, ValueError, RecursionError):
        shown = Figures("?")  # a damaged row is listed all the same
    return RunRow(run_id, comparison, kind, pane, label, ended_at, shown, target_label, model, prompt, answer, together)


def count_runs(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM runs").fetchone()[0]
