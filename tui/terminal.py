"""Keeping the terminal for the app alone.

vLLM logs from three processes (main, EngineCore, Worker) and its children inherit file
descriptors 1 and 2 when they are spawned; warnings, tqdm bars and tracebacks are written there
directly. So, before anything else starts, fds 1 and 2 are pointed at the log file and the real
terminal is kept on duplicated descriptors, used only by the app (Textual draws on
`sys.__stderr__`) and by the headless printer.
"""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import select
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import TextIO


@dataclass
class Terminal:
    out: TextIO  # where headless answers go
    err: TextIO  # where messages to the person go; Textual draws here
    log_path: Path | None


def divert_output_to_log(log_path: Path) -> Terminal:
    """Point fds 1 and 2 (and sys.stdout/sys.stderr) at the log file; return the real terminal."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # Owner only: the log holds prompts, answers and server messages.
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(log_fd, 0o600)  # a log made by an earlier version was readable by all
    term_out_fd = os.dup(1)
    term_err_fd = os.dup(2)
    os.set_inheritable(term_out_fd, False)
    os.set_inheritable(term_err_fd, False)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    encoding = sys.stdout.encoding or "utf-8"
    out = os.fdopen(term_out_fd, "w", buffering=1, encoding=encoding, errors="replace")
    err = terminal_stream(term_err_fd, encoding)
    # sys.stdout/sys.stderr stay on fds 1/2 (the log), so stray prints and warnings land there.
    sys.__stdout__ = out  # type: ignore[misc]
    sys.__stderr__ = err  # type: ignore[misc]
    _configure_logging()
    _route_vllm_logging(log_path)
    _start_resource_tracker()
    return Terminal(out=out, err=err, log_path=log_path)


# A terminal that has gone away: its window was closed or its ssh connection dropped (EIO from a
# pseudo-terminal whose other side is closed; ENXIO from some; EPIPE when it was a pipe).
GONE_ERRNOS = frozenset({errno.EIO, errno.ENXIO, errno.EPIPE})


class TerminalDevice(io.FileIO):
    """The terminal's file descriptor, whose writes do not fail once the terminal is gone: from then
    on what is written is dropped, and `gone` is set.

    Textual writes from one thread through a bounded queue. An exception in that thread ends it; the
    next frames then fill the queue and the event loop blocks on it for good, so the SIGHUP that
    follows a closed terminal would never be handled and the engine would be left running."""

    gone = False

    def write(self, data) -> int:
        size = memoryview(data).nbytes
        if self.gone:
            return size
        try:
            return super().write(data)
        except OSError as exc:
            if exc.errno not in GONE_ERRNOS:
                raise
            self.gone = True
            return size


class HangUpWatch:
    """Calls `on_gone` (from a thread of its own) once the terminal the app reads keys from is gone.

    A terminal whose window is closed usually sends SIGHUP, but not to a process it is not the
    controlling terminal of (started in a new session, as a benchmark or a test does), nor when the
    process holding it is killed: then the app's reads just end (EOF, or EIO), and Textual's input
    thread reads the end again and again, for ever. poll() says a terminal has hung up (POLLHUP,
    POLLERR) without reading from it, so the keys stay Textual's."""

    def __init__(self, fd: int, on_gone: Callable[[], None]) -> None:
        self._fd = fd
        self._on_gone = on_gone
        self._wake_read, self._wake_write = os.pipe()  # stop() writes here to end the wait
        self._thread = threading.Thread(target=self._watch, name="terminal-hang-up", daemon=True)
        self._stopped = False

    @classmethod
    def on_stdin(cls, on_gone: Callable[[], None]) -> HangUpWatch | None:
        """A watch on standard input, started; None when it is no terminal."""
        try:
            fd = sys.__stdin__.fileno()
        except (AttributeError, OSError, ValueError):
            return None
        if not os.isatty(fd):
            return None
        watch = cls(fd, on_gone)
        watch.start()
        return watch

    def start(self) -> None:
        self._thread.start()

    def ended(self, timeout: float) -> bool:
        """Whether the watch has ended (told, or stopped), waiting up to `timeout` seconds."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _watch(self) -> None:
        poller = select.poll()
        poller.register(self._fd, 0)  # no events asked: only the hang-up, error and invalid ones
        poller.register(self._wake_read, select.POLLIN)
        try:
            ready = {fd for fd, _ in poller.poll()}
        finally:
            os.close(self._wake_read)
        if self._wake_read not in ready:
            self._on_gone()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            os.write(self._wake_write, b"x")
        except BrokenPipeError:  # the watch has ended already: it told
            pass
        finally:
            os.close(self._wake_write)


def terminal_stream(fd: int, encoding: str) -> io.TextIOWrapper:
    """A line-buffered text stream on the terminal's `fd` that keeps working after the terminal goes."""
    return io.TextIOWrapper(io.BufferedWriter(TerminalDevice(fd, "w")), encoding=encoding, errors="replace",
                            line_buffering=True)


def _route_vllm_logging(log_path: Path) -> None:
    """vLLM's loggers bind to sys.stdout when vLLM is imported, which may happen inside the app,
    where Textual has replaced sys.stdout with its own capture. Give them a file handler instead
    (vLLM's own VLLM_LOGGING_CONFIG_PATH mechanism; its children inherit the variable)."""
    if os.environ.get("VLLM_LOGGING_CONFIG_PATH"):
        return  # the person's own logging config wins
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log_path),
                              "formatter": "plain", "encoding": "utf-8"}},
        "loggers": {"vllm": {"handlers": ["file"], "level": os.environ.get("VLLM_LOGGING_LEVEL", "INFO"),
                             "propagate": False}},
    }
    config_path = log_path.with_name("vllm-logging.json")
    config_path.write_text(json.dumps(config), encoding="utf-8")
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = str(config_path)


def _start_resource_tracker() -> None:
    """multiprocessing's resource tracker hands `sys.stderr.fileno()` to its process when it first
    starts; inside Textual that is a capture object whose fileno() is -1, and vLLM's spawn then fails
    ("bad value(s) in fds_to_keep"). Start it now, while sys.stderr is the log file."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


def keep_terminal() -> Terminal:
    """No diversion (e.g. --log-to-terminal for debugging). Textual still draws on a stream that
    survives the terminal going away."""
    _start_resource_tracker()
    sys.stderr.flush()
    err = terminal_stream(os.dup(2), sys.stderr.encoding or "utf-8")
    sys.__stderr__ = err  # type: ignore[misc]
    return Terminal(out=sys.stdout, err=err, log_path=None)


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tui")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
