"""Helpers to run the real command in its own session and check that nothing of it survives."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

COMMAND = [sys.executable, "-m", "tui"]


def survivors(sid: int) -> list[str]:
    """Processes still in session `sid` (every descendant of the command inherits it)."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        try:
            if os.getsid(proc.pid) == sid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid} {' '.join(proc.info['cmdline'] or [proc.info['name']])[:80]}")
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return found


def wait_for_no_survivors(sid: int, timeout: float = 5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    left = survivors(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = survivors(sid)
    return left


def run_cli(args: list[str], *, timeout: float = 240, env: dict | None = None,
            cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, list[str]]:
    proc = subprocess.Popen(COMMAND + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = wait_for_no_survivors(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), left
