"""Keeping the terminal for the app alone.

vLLM logs from three processes (main, EngineCore, Worker) and its children inherit file
descriptors 1 and 2 when they are spawned; warnings, tqdm bars and tracebacks are written there
directly. So, before anything else starts, fds 1 and 2 are pointed at the log file and the real
terminal is kept on duplicated descriptors, used only by the app (Textual draws on
`sys.__stderr__`) and by the headless printer.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
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
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    term_out_fd = os.dup(1)
    term_err_fd = os.dup(2)
    os.set_inheritable(term_out_fd, False)
    os.set_inheritable(term_err_fd, False)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    encoding = sys.stdout.encoding or "utf-8"
    out = os.fdopen(term_out_fd, "w", buffering=1, encoding=encoding, errors="replace")
    err = os.fdopen(term_err_fd, "w", buffering=1, encoding=encoding, errors="replace")
    # sys.stdout/sys.stderr stay on fds 1/2 (the log), so stray prints and warnings land there.
    sys.__stdout__ = out  # type: ignore[misc]
    sys.__stderr__ = err  # type: ignore[misc]
    _configure_logging()
    return Terminal(out=out, err=err, log_path=log_path)


def keep_terminal() -> Terminal:
    """No diversion (e.g. --log-to-terminal for debugging)."""
    return Terminal(out=sys.stdout, err=sys.stderr, log_path=None)


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tui")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
