"""Keeping the history within its size (`history_max_mb` in the config: the oldest runs go first),
compacting the file (`vllm-panes history --vacuum`), and writing runs out as JSONL."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from tui.storage import writable

if TYPE_CHECKING:
    from tui.store.history import StoredRun

log = logging.getLogger(__name__)

DEFAULT_MAX_MB = 1024
KEEP_BELOW = 0.95  # trimming goes this far under the limit, so that it does not run after every run
ROUNDS = 8  # a run's recorded size is an estimate: trim again while still over, at most this often


def used_bytes(conn: sqlite3.Connection) -> int:
    """What the database's pages in use take (free pages, left by dropped runs, not counted)."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    return (pages - free) * size


def enforce_limit(conn: sqlite3.Connection, max_bytes: int) -> int:
    """Drop the oldest runs until the database's pages in use fit under `max_bytes`; how many went."""
    dropped = 0
    for _ in range(ROUNDS):
        used = used_bytes(conn)
        if used <= max_bytes:
            break
        excess = used - int(max_bytes * KEEP_BELOW)
        last, total = None, 0
        for run_id, size in conn.execute("SELECT id, size FROM runs ORDER BY id"):
            last, total = run_id, total + size
            if total >= excess:
                break
        if last is None:
            break  # no run left: the session alone is the rest
        conn.execute("BEGIN IMMEDIATE")
        try:
            dropped += conn.execute("DELETE FROM runs WHERE id <= ?", (last,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    if dropped:
        log.info("history over %d MB: dropped the %d oldest runs", max_bytes // 2**20, dropped)
    return dropped


def vacuum(conn: sqlite3.Connection, max_bytes: int | None = None) -> tuple[int, int]:
    """Trim to the size limit, merge the search index, and rewrite the file without its free pages;
    (bytes before, bytes after)."""
    before = _file_bytes(conn)
    if max_bytes is not None:
        enforce_limit(conn, max_bytes)
    conn.execute("INSERT INTO run_text (run_text) VALUES ('optimize')")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return before, _file_bytes(conn)


def _file_bytes(conn: sqlite3.Connection) -> int:
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    return pages * conn.execute("PRAGMA page_size").fetchone()[0]


def export_jsonl(runs: Iterable[StoredRun], out: TextIO) -> int:
    """Each run as one JSON line; how many were written."""
    from tui.store.history import run_record

    count = 0
    for run in runs:
        out.write(writable(json.dumps(run_record(run), ensure_ascii=False), "history export") + "\n")
        count += 1
    return count
