"""Helpers to drive the app from tests and the benchmark: build it, send keys, wait, stop blinking."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input, TextArea

from tui.app import WorkbenchApp
from tui.engine.scripted import ScriptedBackend
from tui.session import SessionRecord


def make_app(backend=None, *, session: SessionRecord | None = None, session_path: Path | None = None,
             theme: str | None = None) -> WorkbenchApp:
    from tui.config import Config

    app = WorkbenchApp(backend or ScriptedBackend(), config=Config(theme=theme), session=session,
                       session_path=session_path, save_config=False)
    return app


def still(app: WorkbenchApp) -> None:
    """No blinking cursors in snapshots."""
    for widget in app.screen.query("TextArea, Input"):
        widget.cursor_blink = False
        if isinstance(widget, (TextArea, Input)):
            widget._pause_blink(visible=widget.has_focus)  # noqa: SLF001 - show a steady cursor


async def type_prompt(pilot, pane, text: str) -> None:
    pane.editor.focus()
    pane.editor.text = text
    await pilot.pause()


async def wait_until(predicate, timeout: float = 30.0, step: float = 0.02) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


def send_key(app, key: str) -> None:
    """A key press as the terminal would deliver it, without Pilot's wait for an idle app
    (which, while answers stream, only comes when they have finished)."""
    from textual import events

    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)  # noqa: SLF001 - the same path Pilot.press uses


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes of session `sid`: a command started with start_new_session and
    everything it started (they inherit the session)."""
    import os

    import psutil

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


def wait_session_gone(sid: int, timeout: float = 10.0) -> float | None:
    """Seconds until session `sid` has no live process, or None after `timeout`."""
    import time

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if not session_members(sid):
            return time.perf_counter() - start
        time.sleep(0.02)
    return None


class PtyApp:
    """The real `vllm-panes` process in a pseudo-terminal (its own session), as a person runs it."""

    def __init__(self, args: list[str], *, size: tuple[int, int] = (200, 50), env: dict | None = None) -> None:
        import fcntl
        import os
        import pty
        import struct
        import subprocess
        import sys
        import termios
        import threading
        import time

        self._time = time
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tui", *args], stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, close_fds=True,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})})
        os.close(slave)
        self.master = master
        self.screen = bytearray()
        self.first_output: float | None = None
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> None:
        import os

        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self.screen.extend(data)
                if self.first_output is None and b"vllm-panes" in self.screen:
                    self.first_output = self._time.perf_counter() - self.started

    def seen(self, text: bytes, last: int = 200_000) -> bool:
        with self._lock:
            return text in self.screen[-last:]

    def wait_for(self, text: bytes, timeout: float = 120.0) -> bool:
        deadline = self._time.monotonic() + timeout
        while self._time.monotonic() < deadline:
            if self.seen(text):
                return True
            if self.proc.poll() is not None:
                return self.seen(text)
            self._time.sleep(0.05)
        return False

    def write(self, data: bytes) -> None:
        import os

        os.write(self.master, data)

    def survivors(self) -> list[int]:
        """Live processes of its session: the app and everything it started."""
        return session_members(self.pid)

    def wait_gone(self, timeout: float = 30.0) -> float | None:
        """Seconds until no process of the session is left, or None after `timeout`."""
        self.proc.poll()
        return wait_session_gone(self.pid, timeout)

    def close(self) -> None:
        import os

        for pid in self.survivors():
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        try:
            os.close(self.master)
        except OSError:
            pass
        self.proc.poll()
