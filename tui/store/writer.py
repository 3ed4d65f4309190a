"""The one thread that writes the database: the event loop hands it small batches of changes (a
grown answer, a finished run, a changed setting) and never waits for a write.

Each batch is one short transaction. A batch of the session that fails (a full disk, another
process holding the database beyond the busy timeout) tells the session's walk to write the
whole session next time, and the writer skips the session's later partial batches until that
whole one comes: the database never holds a session with a hole in it. What went wrong is kept
for the app to show (`problems`), once per kind.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from tui.instrument import StoreObserver
from tui.store.session_rows import Op
from tui.text import one_line

log = logging.getLogger(__name__)

SESSION, HISTORY = "session", "history"
RETRIES = 3  # a batch that meets a busy database is tried again this many times
RETRY_PAUSE_S = 0.2


@dataclass
class Batch:
    kind: str  # SESSION or HISTORY
    ops: list[Op]
    whole: bool = False  # the whole session (it begins by clearing it)


@dataclass
class _Flush:
    done: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class Writer:
    def __init__(self, connect: Callable[[], sqlite3.Connection], *, on_session_failed: Callable[[], None],
                 after_history: Callable[[sqlite3.Connection], None] | None = None,
                 observer: StoreObserver | None = None) -> None:
        """`connect` makes the thread's connection; `on_session_failed` is called (on this thread)
        when a session batch could not be written; `after_history` runs after each history batch
        (the size limit), outside its transaction; `observer` hears of each batch (tui/instrument.py)."""
        self._connect = connect
        self._observer = observer
        self._on_session_failed = on_session_failed
        self._after_history = after_history
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="vllm-panes-store", daemon=True)
        self._session_broken = False
        self._said: set[str] = set()
        self.problems: deque[str] = deque(maxlen=20)  # for the person: read and emptied by the app
        self.batches_written = 0
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, batch: Batch) -> None:
        if batch.ops and not self._closed:
            self._queue.put(batch)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written (or failed); False after `timeout`."""
        if not self._thread.is_alive():
            return False
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued, then stop the thread and close its connection. False when it did
        not finish within `timeout` (what was committed stays committed)."""
        if self._closed:
            return True
        self._closed = True
        if not self._thread.is_alive():
            return True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- the thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            conn = self._connect()
        except Exception as exc:  # the app goes on without saving; it says so
            log.exception("the store's writer could not open the database")
            self._problem(f"The history database could not be opened for writing: {one_line(exc)}")
            self._drain_forever()
            return
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                if isinstance(item, _Flush):
                    item.done.set()
                    continue
                self._write_observed(conn, item)
        finally:
            conn.close()

    def _drain_forever(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if isinstance(item, _Flush):
                item.done.set()

    def _write_observed(self, conn: sqlite3.Connection, batch: Batch) -> None:
        if self._observer is None:
            self._write(conn, batch)
            return
        began = time.thread_time()
        self._write(conn, batch)
        self._observer.batch_done(batch.kind, time.thread_time() - began)

    def _write(self, conn: sqlite3.Connection, batch: Batch) -> None:
        if batch.kind == SESSION and self._session_broken and not batch.whole:
            return  # it changes a session the database does not hold: the whole one follows
        for attempt in range(RETRIES + 1):
            try:
                self._transaction(conn, batch.ops)
                break
            except sqlite3.OperationalError as exc:
                busy = getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")
                if busy and attempt < RETRIES:
                    time.sleep(RETRY_PAUSE_S)
                    continue
                self._failed(batch, exc)
                return
            except Exception as exc:  # a damaged file, a full disk, a bug: said, never fatal
                self._failed(batch, exc)
                return
        self.batches_written += 1
        if batch.kind == SESSION:
            self._session_broken = False
        elif self._after_history is not None:
            try:
                self._after_history(conn)
            except Exception as exc:
                log.exception("keeping the history within its size failed")
                self._problem(f"Could not keep the history within its size: {one_line(exc)}")

    @staticmethod
    def _transaction(conn: sqlite3.Connection, ops: list[Op]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                op.apply(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _failed(self, batch: Batch, exc: Exception) -> None:
        log.error("writing the %s failed: %s", batch.kind, exc, exc_info=not isinstance(exc, sqlite3.Error))
        if batch.kind == SESSION:
            self._session_broken = True
            self._on_session_failed()
            self._problem(f"Could not save the session: {one_line(exc)}")
        else:
            self._problem(f"Could not record a run in the history: {one_line(exc)}")

    def _problem(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self.problems.append(message)
