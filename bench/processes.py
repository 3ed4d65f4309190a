"""The real `vllm-panes` as a person runs it: in a pseudo-terminal or as a command, each in its own
session, and a check that nothing of it survives; and, when the benchmark is stopped, the end of
every process it started."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from bench.terminal_screen import TerminalScreen


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session `sid`: a command started with start_new_session and
    everything it started (they inherit the session)."""
    members = []
    for pid in psutil.pids():
        try:
            if os.getsid(pid) == sid and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                members.append(pid)
        except (OSError, psutil.Error, IndexError):
            # A process exiting while it is read: psutil raised IndexError once in CI, from a
            # /proc/<pid>/stat read that came back empty (it is gone, or about to be).
            continue
    return members


# The sessions of the processes started here (each its own session leader, so its id is the
# session's), whose members are ended when the benchmark is stopped.
_started_sessions: set[int] = set()
_stopping = False
STOP_GRACE_S = 5.0  # how long what was started may take to quit on SIGTERM before it is killed


def end_started_processes_when_stopped() -> None:
    """On SIGTERM or SIGINT the benchmark ends every process it started, then dies of that signal
    (as it would have without this). Without this its apps (each in a session of its own, as a person's would be) and
    its engine's processes outlived it: one spun for an hour on a terminal no one held."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _on_stop)


def _on_stop(signum: int, frame) -> None:
    global _stopping
    if _stopping:  # a second ^C while the first is being handled
        return
    _stopping = True
    end_started_processes()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def end_started_processes(grace: float = STOP_GRACE_S) -> None:
    """SIGTERM to every process started here (and their descendants, even orphaned ones still in
    their sessions); SIGKILL to what is left after `grace` seconds."""
    procs = _started_processes()
    for proc in procs:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive + _started_processes():  # and what started meanwhile
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(_started_processes(), timeout=grace)


def _started_processes() -> list[psutil.Process]:
    """This process's descendants (an in-process engine's EngineCore and Worker, the apps) and the
    members of the sessions started here; not its own resource tracker, which ends with it and
    cleans up after it."""
    me = psutil.Process()
    found = {}
    try:
        children = me.children(recursive=True)
    except psutil.Error:
        children = []
    for proc in children:
        try:
            if proc.ppid() == me.pid and any("resource_tracker" in part for part in proc.cmdline()):
                continue
        except psutil.Error:
            continue
        found[proc.pid] = proc
    for sid in list(_started_sessions):
        for pid in session_members(sid):
            try:
                found.setdefault(pid, psutil.Process(pid))
            except psutil.Error:
                pass
    return list(found.values())


def wait_session_gone(sid: int, timeout: float = 10.0) -> float | None:
    """Seconds until session `sid` has no live process, or None after `timeout`."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if not session_members(sid):
            return time.perf_counter() - start
        time.sleep(0.02)
    return None


TERMINAL_GONE = "terminal gone, SIGHUP 2 s later"
TERMINAL_CLOSED = "terminal gone, no SIGHUP"  # its holder was killed; the app is in a session of its own


class PtyApp:
    """The real `vllm-panes` process in a pseudo-terminal (its own session), as a person runs it."""

    def __init__(self, args: list[str], *, size: tuple[int, int] = (200, 50), env: dict | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.started = time.perf_counter()
        # Without COLUMNS and LINES: pytest-xdist's workers set 80 and 24, which the app takes over
        # the terminal's own size (every app under `-n 2` ran at 80 × 24, whatever `size` said).
        inherited = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui", *args], stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, close_fds=True,
            env={**inherited, "TERM": "xterm-256color", **(env or {})})
        _started_sessions.add(self.proc.pid)
        os.close(slave)
        self.master = master
        self.screen = bytearray()  # every byte it wrote
        # What those bytes show, brought up to date only when asked: the reader thread stays as
        # cheap as it was (the benchmark times the app beside it).
        self._terminal = TerminalScreen(*size)
        self._terminal_read = 0  # bytes of `screen` fed to it
        self.first_output: float | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        """What the app draws, until the terminal is closed; only this thread closes it: a read
        blocked in it would keep the terminal open after another thread's close."""
        try:
            while not self._closing.is_set():
                if not select.select([self.master], [], [], 0.05)[0]:
                    continue
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the app and its terminal are gone (EIO)
                    return
                if not data:
                    return
                self._keep(data)
        finally:
            os.close(self.master)

    def close_terminal(self) -> None:
        """The terminal goes (its window is closed, the process holding it killed): the app reads
        the end of its input, and gets no signal for it."""
        self._closing.set()
        self._reader.join(10)

    def _keep(self, data: bytes) -> None:
        with self._lock:
            self.screen.extend(data)
            if self.first_output is None and b"vllm-panes" in self.screen:
                self.first_output = time.perf_counter() - self.started

    def seen(self, text: bytes, last: int = 200_000) -> bool:
        with self._lock:
            return text in self.screen[-last:]

    def shown(self) -> str:
        """The terminal's rows now."""
        return "\n".join(self._terminal_now().lines())

    def shows(self, text: str) -> bool:
        return self._terminal_now().shows(text)

    def _terminal_now(self) -> TerminalScreen:
        with self._lock:
            unread = bytes(self.screen[self._terminal_read:])
            self._terminal_read = len(self.screen)
            self._terminal.feed(unread)
        return self._terminal

    def wait_shown(self, text: str, timeout: float = 120.0) -> bool:
        """Whether `text` is on one of the terminal's rows within `timeout` s: `wait_for` looks for
        bytes, which a partial update may write in pieces around a cursor move."""
        return self._wait_until(lambda: self.shows(text), timeout)

    def wait_for(self, text: bytes, timeout: float = 120.0) -> bool:
        return self._wait_until(lambda: self.seen(text), timeout)

    def _wait_until(self, check: Callable[[], bool], timeout: float) -> bool:
        """`check` came true within `timeout` s (asked once more when the app has ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return True
            if self.proc.poll() is not None:
                return check()
            time.sleep(0.05)
        return False

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def survivors(self) -> list[int]:
        """Live processes of its session: the app and everything it started."""
        return session_members(self.pid)

    def wait_gone(self, timeout: float = 30.0) -> float | None:
        """Seconds until no process of the session is left, or None after `timeout`."""
        self.proc.poll()
        return wait_session_gone(self.pid, timeout)

    def run_prompt(self, prompt: bytes) -> None:
        """Type a prompt into the focused pane and run it (F5)."""
        self.write(prompt)
        time.sleep(0.3)  # the editor takes the paste before the key
        self.write(b"\x1b[15~")

    def quit(self, how) -> float:
        """Quit the way a person would: "ctrl+q", or a signal (SIGHUP: the terminal goes away
        first), or TERMINAL_GONE (the terminal goes while the app is drawing, and its SIGHUP comes
        later, as when an ssh connection drops), or TERMINAL_CLOSED (no SIGHUP ever comes). Seconds
        until none of its processes is left (AssertionError after 20 s)."""
        start = time.perf_counter()
        if how == "ctrl+q":
            self.write(b"\x11")
        elif how == TERMINAL_CLOSED:
            self.close_terminal()
        elif how == TERMINAL_GONE:
            self.close_terminal()
            time.sleep(2)
            os.kill(self.pid, signal.SIGHUP)
        else:
            if how == signal.SIGHUP:
                self.close_terminal()
            os.kill(self.pid, how)
        gone = self.wait_gone(timeout=20)
        assert gone is not None, f"still running: {self.survivors()}"
        return time.perf_counter() - start

    def close(self) -> None:
        for pid in self.survivors():
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        self.close_terminal()
        self.proc.poll()
        if wait_session_gone(self.pid, timeout=5) is not None:
            _started_sessions.discard(self.pid)


COMMAND = [sys.executable, "-m", "tui"]


def run_cli(args: list[str], *, timeout: float = 240, env: dict | None = None,
            cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, list[int]]:
    proc = subprocess.Popen(COMMAND + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    _started_sessions.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Its engine's processes end after it: under two workers' load one took more than 5 s.
    wait_session_gone(proc.pid, timeout=30)
    left = session_members(proc.pid)
    if not left:
        _started_sessions.discard(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), left
