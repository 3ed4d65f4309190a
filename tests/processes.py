"""Helpers to run the real command in its own session and check that nothing of it survives."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tui.testing import session_members, wait_session_gone

COMMAND = [sys.executable, "-m", "tui"]


def run_cli(args: list[str], *, timeout: float = 240, env: dict | None = None,
            cwd: Path | None = None) -> tuple[subprocess.CompletedProcess, list[int]]:
    proc = subprocess.Popen(COMMAND + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
                            env={**os.environ, **(env or {})}, cwd=cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_session_gone(proc.pid, timeout=5)
    left = session_members(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), left
