"""Quit signals while the engine is being stopped.

Once shutdown has begun, another SIGTERM, SIGINT or SIGHUP must not kill this process half-way:
its default action would leave EngineCore and Worker running without a parent. They are ignored
until the engine is stopped (which takes ~2 s), then the process exits anyway.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextmanager
def quit_signals_ignored() -> Iterator[None]:
    previous = {}
    for signum in QUIT_SIGNALS:
        try:
            previous[signum] = signal.signal(signum, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
