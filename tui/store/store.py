"""The store as the app, `--headless` and `--batch` use it: open it, read the session back, save
what changed, record runs, search; close it on the way out.

Only the writer thread writes (tui/store/writer.py). Reads (the session at start, the history
screen's searches, a run to reopen) go through one reading connection of their own, which in WAL
mode never waits for the writer.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.instrument import StoreObserver
from tui.session import SessionRecord, load_session
from tui.storage import keep_copy
from tui.store.db import connect, move_database_aside, open_database, prepare
from tui.store.history import WORKBENCH, RecordRun, RunEntry, new_comparison, run_entry
from tui.store.session_rows import Op, SessionUnreadable, has_session, read_session
from tui.store.session_sync import SessionSync
from tui.store.upkeep import DEFAULT_MAX_MB, enforce_limit
from tui.store.votes import RecordVote, StoredVotes, stored_votes
from tui.store.writer import HISTORY, SESSION, Batch, Writer
from tui.text import one_line

if TYPE_CHECKING:
    from tui.arena.votes import Vote

log = logging.getLogger(__name__)

IMPORTED_KEY = "imported"  # meta: the session file imported at the first start


class Store:
    def __init__(self, path: Path, conn: sqlite3.Connection, notices: list[str], max_mb: float,
                 observer: StoreObserver | None = None) -> None:
        self.path = path
        self.notices = notices  # for the person: a file moved aside, a session cut short
        self.max_bytes = int(max_mb * 2**20)
        self.sync = SessionSync()
        self._reader = conn
        self._read_lock = threading.Lock()
        self._observer = observer
        self._writer = self._new_writer()
        self._writer.start()
        self._closed = False
        self._saves_session = True

    @classmethod
    def open(cls, path: Path, *, max_mb: float = DEFAULT_MAX_MB, observer: StoreObserver | None = None) -> Store:
        """The store at `path` (made when there is none; a bad file moved aside, see `notices`).
        StoreUnavailable when it cannot be opened at all. `observer`: hears of each batch the
        writer thread is done with (a measurement's hook, tui/instrument.py)."""
        conn, notices = open_database(path)
        return cls(path, conn, notices, max_mb, observer)

    def _new_writer(self) -> Writer:
        def connect_writer() -> sqlite3.Connection:
            conn = connect(self.path)
            prepare(conn)
            return conn

        return Writer(connect_writer, on_session_failed=self.sync.invalidate,
                      after_history=lambda conn: enforce_limit(conn, self.max_bytes), observer=self._observer)

    # -- the session -------------------------------------------------------------------------------------
    def load_session(self) -> tuple[SessionRecord | None, str | None]:
        """(the saved session or None, a notice). A session whose rows cannot be read (a damaged or
        hand-edited file) moves the whole database aside, named in the notice, and a new one is
        started: nothing is lost."""
        try:
            with self.reading() as conn:
                record, cut = read_session(conn)
        except (SessionUnreadable, sqlite3.DatabaseError) as exc:
            if isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorname", "") not in (
                    "SQLITE_CORRUPT", "SQLITE_NOTADB"):
                self._saves_session = False  # saving over a session it has not read would lose it
                return None, one_line(f"The saved session could not be read now ({exc}): this app does not "
                                      "save the session; its runs go into the history", 600)
            return None, self._start_over(f"its saved session could not be read ({one_line(exc, 200)})")
        if record is not None:
            self.sync.adopt(record)
        notice = None
        if cut:
            notice = f"the saved session has {len(record.panes) + cut} panes: the first {len(record.panes)} are open"
        return record, notice

    def _start_over(self, reason: str) -> str:
        """Move the database aside and open a new one in its place; the notice."""
        self._writer.close()
        with self._read_lock:
            self._reader.close()
        moved = move_database_aside(self.path)
        self._reader, notices = open_database(self.path)
        self.sync = SessionSync()
        self._writer = self._new_writer()
        self._writer.start()
        where = f"; it was moved to {moved}" if moved else ""
        return one_line(f"The history database {self.path}: {reason}{where}. A new one was started.", 700)

    def save_session(self, record: SessionRecord) -> int:
        """Hand the writer what changed in the session since the last save; how many changes."""
        if not self._saves_session:
            return 0
        ops, whole = self.sync.changes(record)
        self._writer.submit(Batch(SESSION, ops, whole))
        return len(ops)

    def has_session(self) -> bool:
        with self.reading() as conn:
            return has_session(conn)

    def import_session_file(self, path: Path) -> tuple[SessionRecord | None, list[str]]:
        """Once, at the first start with the store: the session file of earlier versions (version 1
        or 2) becomes the store's session, its answers runs of the history, and the file is kept
        beside as `session.json.kept-TIME`. (None, []) when there is nothing to import."""
        with self.reading() as conn:
            done = conn.execute("SELECT 1 FROM meta WHERE key = ?", (IMPORTED_KEY,)).fetchone() is not None
            done = done or has_session(conn)  # the store has its own session already: the file stays
        if done or not path.exists():
            return None, []
        record, notice = load_session(path)  # a bad file is moved aside by it, with a notice
        notices = [notice] if notice else []
        if record is None:
            return None, notices
        self.save_session(record)
        comparison = new_comparison()
        for state in record.panes:
            for message in state.conversation.messages():
                if message.is_reply and message.reply.state != "idle":
                    entry = run_entry(state.conversation, message, comparison=comparison, kind=WORKBENCH,
                                      pane=state.number, label=state.label)
                    self.record_run(replace(entry, ended_at=message.reply.started_at or path.stat().st_mtime))
        self._writer.submit(Batch(HISTORY, [_MarkImported(str(path))]))
        if not self._writer.flush(timeout=60):
            return record, notices + ["The old session file is being imported: it is kept where it is for now."]
        kept = keep_copy(path)
        if kept is not None:
            try:
                path.unlink()
            except OSError as exc:
                log.warning("could not remove %s after importing it: %s", path, exc)
        notices.append(f"The session was moved into {self.path}" + (f"; the old file is kept as {kept}" if kept else ""))
        return record, notices

    # -- the history ----------------------------------------------------------------------------------------
    def record_run(self, entry: RunEntry) -> None:
        self._writer.submit(Batch(HISTORY, [RecordRun(entry)]))

    # -- the arena ------------------------------------------------------------------------------------------
    def record_vote(self, vote: Vote, compared: dict[str, Any]) -> None:
        self._writer.submit(Batch(HISTORY, [RecordVote(vote, compared)]))

    def votes(self) -> StoredVotes:
        """Every vote recorded (any thread; the leaderboard reads them off the event loop)."""
        with self.reading() as conn:
            return stored_votes(conn)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The reading connection, one user at a time (any thread)."""
        with self._read_lock:
            yield self._reader

    # -- the way out --------------------------------------------------------------------------------------
    def take_problems(self) -> list[str]:
        """What went wrong writing since the last call (each said once)."""
        problems = []
        while self._writer.problems:
            problems.append(self._writer.problems.popleft())
        return problems

    def flush(self, timeout: float = 10.0) -> bool:
        return self._writer.flush(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued and close; False when the writer did not finish in `timeout`."""
        if self._closed:
            return True
        self._closed = True
        finished = self._writer.close(timeout)
        with self._read_lock:
            self._reader.close()
        return finished


class _MarkImported(Op):
    def __init__(self, source: str) -> None:
        self.source = source

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     (IMPORTED_KEY, f"{self.source} at {time.strftime('%Y-%m-%d %H:%M:%S')}"))

