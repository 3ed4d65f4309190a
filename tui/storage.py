"""Writing files so that a crash mid-write never loses the previous version."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from tui.text import without_surrogates

log = logging.getLogger(__name__)


def writable(text: str, where: str) -> str:
    """`text` as UTF-8 can hold it: lone surrogates (from JSON a server sent) as U+FFFD, which
    the log notes. Writing never fails on odd text."""
    text, replaced = without_surrogates(text)
    if replaced:
        log.warning("%s: %d lone surrogate(s) written as U+FFFD", where, replaced)
    return text


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, fsync it, then rename it over `path` (the text made
    `writable` first)."""
    text = writable(text, path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass


def move_aside(path: Path) -> Path | None:
    """Rename a bad file to `name.bad-TIMESTAMP` so nothing is lost; return the new path."""
    return _beside(path, "bad", os.replace)


def keep_copy(path: Path) -> Path | None:
    """Copy a file to `name.kept-TIMESTAMP` before the app writes less than it holds."""
    return _beside(path, "kept", shutil.copy2)


def _beside(path: Path, label: str, put) -> Path | None:
    target = path.with_name(f"{path.name}.{label}-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        put(path, target)
        return target
    except OSError:
        return None
