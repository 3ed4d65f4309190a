"""Opening the database: ours (recognised by `PRAGMA application_id`), at a schema this code knows,
in WAL mode so that a reader never waits for the writer and two apps can record at once.

A file that is not a database, is damaged, or is another program's (or a newer vllm-panes's) is
moved aside with a notice, as bad session files are, and a new database is made in its place:
nothing is lost, and the app starts. A database that is only busy or cannot be opened is not
moved: `StoreUnavailable` says why, and the caller runs without it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from tui.storage import move_aside
from tui.text import one_line

log = logging.getLogger(__name__)

APPLICATION_ID = 0x76706E73  # "vpns": this file is vllm-panes's store
SCHEMA_VERSION = 2  # 2: the thinking's tokens, the arena's votes
BUSY_TIMEOUT_S = 5.0  # another app writing: wait this long for its transaction before giving up

# Error codes that mean the file cannot be used as it is (anything else, e.g. SQLITE_BUSY or
# SQLITE_CANTOPEN, is a passing or outside problem: the file is left alone).
_DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}

TOKEN_COLUMNS = ("count", "ids", "logprobs", "ranks", "ends", "texts", "text_lengths", "top_counts",
                 "top_ids", "top_logprobs", "top_texts", "top_lengths")
_TOKEN_COLUMNS_SQL = """count INTEGER NOT NULL, ids BLOB NOT NULL, logprobs BLOB NOT NULL, ranks BLOB NOT NULL,
    ends BLOB NOT NULL, texts TEXT NOT NULL, text_lengths BLOB NOT NULL, top_counts BLOB NOT NULL,
    top_ids BLOB NOT NULL, top_logprobs BLOB NOT NULL, top_texts TEXT NOT NULL, top_lengths BLOB NOT NULL"""

SCHEMA = f"""
-- The session: the workbench's settings (key 'session'), whether one was saved, the import.
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- Each pane: its place on screen, and its fields as JSON (draft, overrides, target, label, ...).
CREATE TABLE panes (number INTEGER PRIMARY KEY, place INTEGER NOT NULL, record TEXT NOT NULL);
-- Every message of every pane's conversation tree; `place` among its siblings.
CREATE TABLE messages (
    pane INTEGER NOT NULL, id INTEGER NOT NULL, parent INTEGER, place INTEGER NOT NULL,
    role TEXT NOT NULL, chosen INTEGER NOT NULL, PRIMARY KEY (pane, id)) WITHOUT ROWID;
-- A message's text in the pieces it was saved in (a streamed answer grows by its tail), in
-- rowid order.
CREATE TABLE message_text (pane INTEGER NOT NULL, message INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX message_text_of ON message_text (pane, message);
-- An assistant message's reply: what is set when it starts (target, settings, a fork's start...)
-- and its figures, as JSON; the prompt's and a fork's given token ids as arrays.
CREATE TABLE replies (
    pane INTEGER NOT NULL, message INTEGER NOT NULL, record TEXT NOT NULL, figures TEXT NOT NULL,
    prompt_ids BLOB, given_ids BLOB, PRIMARY KEY (pane, message)) WITHOUT ROWID;
-- A reply's recorded tokens, in the pieces they were saved in (tui/store/codec.py), rowid order.
CREATE TABLE reply_tokens (pane INTEGER NOT NULL, message INTEGER NOT NULL, {_TOKEN_COLUMNS_SQL});
CREATE INDEX reply_tokens_of ON reply_tokens (pane, message);

-- The history: every run that ended, newest with the highest id.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    comparison TEXT NOT NULL,          -- runs started together (one ctrl+r, f7, a sweep) share it
    kind TEXT NOT NULL,                -- workbench, headless, batch
    pane INTEGER, label TEXT NOT NULL,
    started_at REAL, ended_at REAL NOT NULL,
    state TEXT NOT NULL, finish_reason TEXT, tokens INTEGER NOT NULL, ttft_ms REAL, tok_s REAL,
    figures TEXT NOT NULL,
    target TEXT, target_label TEXT NOT NULL, model TEXT NOT NULL, adapter TEXT, source TEXT NOT NULL,
    settings TEXT,
    messages TEXT NOT NULL,            -- the conversation it continued, OpenAI format (JSON)
    prompt TEXT NOT NULL,              -- its last user message
    answer TEXT NOT NULL,
    reasoning TEXT NOT NULL DEFAULT '',
    reply TEXT NOT NULL,               -- logprobs_mode, forced, forced_chars, origin (JSON)
    prompt_ids BLOB, given_ids BLOB,
    size INTEGER NOT NULL              -- bytes it takes, about: the size limit drops the oldest
);
CREATE INDEX runs_ended ON runs (ended_at);
CREATE INDEX runs_comparison ON runs (comparison);
CREATE TABLE run_tokens (run INTEGER PRIMARY KEY, {_TOKEN_COLUMNS_SQL});
CREATE VIRTUAL TABLE run_text USING fts5(prompt, answer, content='runs', content_rowid='id',
                                         tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER runs_added AFTER INSERT ON runs BEGIN
    INSERT INTO run_text (rowid, prompt, answer) VALUES (new.id, new.prompt, new.answer);
END;
CREATE TRIGGER runs_dropped AFTER DELETE ON runs BEGIN
    INSERT INTO run_text (run_text, rowid, prompt, answer) VALUES ('delete', old.id, old.prompt, old.answer);
    DELETE FROM run_tokens WHERE run = old.id;
END;
"""

# Schema 2: a thinking model's tokens in the session, apart from its answer's (offsets in its
# reasoning); the blind arena's votes, each with what was compared (JSON: the thread, both answers,
# their targets and settings, the seed). The size limit never drops votes: they are small, and a
# leaderboard that forgets votes would change under its reader.
SCHEMA_2 = f"""
CREATE TABLE IF NOT EXISTS reply_thinking_tokens (pane INTEGER NOT NULL, message INTEGER NOT NULL,
    {_TOKEN_COLUMNS_SQL});
CREATE INDEX IF NOT EXISTS reply_thinking_tokens_of ON reply_thinking_tokens (pane, message);
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY, battle TEXT NOT NULL, time REAL NOT NULL, left_name TEXT NOT NULL,
    right_name TEXT NOT NULL, outcome TEXT NOT NULL, prompt TEXT, record TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS votes_time ON votes (time);
"""
SCHEMA_2_TABLES = {"reply_thinking_tokens", "votes"}
TABLES = {"meta", "panes", "messages", "message_text", "replies", "reply_tokens", "runs", "run_tokens", "run_text",
          "reply_thinking_tokens", "votes"}


class StoreUnavailable(Exception):
    """The database cannot be opened now (busy beyond the timeout, no permission, disk error): the
    file is left as it is."""


class Unusable(Exception):
    """The file is not a database of ours that this code can use (the reason, as a person reads it)."""


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are begun and committed explicitly, short),
    that waits up to BUSY_TIMEOUT_S for another writer."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return conn


def open_database(path: Path) -> tuple[sqlite3.Connection, list[str]]:
    """A connection to our database at `path` (made if there is none), and notices for the person
    (a file moved aside). StoreUnavailable when it cannot be opened at all."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot make {path.parent}: {exc.strerror or exc}") from None
    try:
        return _open(path), []
    except Unusable as exc:
        reason = str(exc)
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") not in _DAMAGED:
            raise StoreUnavailable(one_line(exc)) from None
        reason = f"is damaged or not a database ({one_line(exc, 120)})"
    moved = move_database_aside(path)
    where = f"; moved to {moved}" if moved else ""
    notice = one_line(f"The history database {path} {reason}{where}. A new one was started.", 600)
    log.warning(notice)
    try:
        return _open(path), [notice]
    except (Unusable, sqlite3.DatabaseError) as exc:
        raise StoreUnavailable(one_line(exc)) from None


def _open(path: Path) -> sqlite3.Connection:
    conn = connect(path)
    try:
        prepare(conn)
        return conn
    except BaseException:
        conn.close()
        raise


def prepare(conn: sqlite3.Connection) -> None:
    """Check that the file is ours at a schema this code knows (make the schema in an empty one),
    then turn on WAL. Unusable or sqlite3.DatabaseError otherwise."""
    if _is_empty(conn):
        conn.execute("BEGIN IMMEDIATE")  # two apps starting at once: the second waits, then sees it made
        try:
            if _is_empty(conn):
                _create(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if application_id != APPLICATION_ID:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        raise Unusable(f"is another program's SQLite file (application id {application_id:#x}, {tables} tables)")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise Unusable(f"was made by a newer vllm-panes (schema {version}; this one knows {SCHEMA_VERSION})")
    found = _tables(conn)
    if version < SCHEMA_VERSION or not SCHEMA_2_TABLES <= found:
        _migrate(conn)  # a table schema 2 adds, missing: it is added, nothing is moved aside
        found = _tables(conn)
    missing = TABLES - found
    if missing:
        raise Unusable(f"lacks the table(s) {', '.join(sorted(missing))}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        log.warning("the history database stays in %s mode", mode)
    # A commit reaches the WAL file (the operating system's, so a killed app loses nothing
    # committed); it is synced to the disk at checkpoints.
    conn.execute("PRAGMA synchronous = NORMAL")


def _is_empty(conn: sqlite3.Connection) -> bool:
    """A new file (or one of zero bytes): no tables and no application id yet."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    return application_id == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def _create(conn: sqlite3.Connection) -> None:
    # executescript would commit the open transaction first: run the statements one by one.
    for statement in _statements(SCHEMA + SCHEMA_2):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a database of schema 1 to this schema (the thinking's tokens' and the votes' tables,
    each added when missing), in one transaction; two apps starting at once: the second waits,
    then finds it done."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] in (1, SCHEMA_VERSION):
            for statement in _statements(SCHEMA_2):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(script: str) -> list[str]:
    """The script's statements (a trigger's body holds semicolons of its own)."""
    statements, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        current.append(line)
        text = "\n".join(current)
        if sqlite3.complete_statement(text):
            statements.append(text)
            current = []
    return statements


def move_database_aside(path: Path) -> Path | None:
    """Rename the database (and its write-ahead log, which belongs to it) to `name.bad-TIME`
    (`name.bad-TIME-wal`), so that SQLite opens them together again; its shared-memory index is
    derived from the log and is removed. The new path, or None when it could not be moved."""
    moved = move_aside(path)
    if moved is None:
        return None
    wal = Path(f"{path}-wal")
    if wal.exists():
        try:
            os.replace(wal, Path(f"{moved}-wal"))
        except OSError as exc:
            log.warning("could not move %s beside %s: %s", wal, moved, exc)
    try:
        Path(f"{path}-shm").unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove %s-shm: %s", path, exc)
    return moved


def integrity_problems(conn: sqlite3.Connection) -> list[str]:
    """What `PRAGMA integrity_check` finds ([] when the database is sound)."""
    rows = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows
