"""Hooks for measuring the workbench from outside it (the benchmark, bench/): what arrives, when
it is taken into a pane's view, and when a frame with it reaches the terminal; and what the
store's writer thread spends on each batch it writes.

Give an `Observer` to `WorkbenchApp(observer=...)`. Its methods run on the event loop, in the
middle of streaming: they must be quick. Without an observer the workbench pays one check per
delta. Give a `StoreObserver` to `Store.open(path, observer=...)`: its method runs on the writer
thread, after each batch.
"""

from __future__ import annotations

from typing import Any


class Observer:
    """Every method does nothing here; a measurement overrides what it needs."""

    def delta_received(self, pane: int, delta: Any) -> None:
        """Pane `pane` took a delta from its backend (before it is drawn)."""

    def pane_flushed(self, pane: int, finished: bool) -> None:
        """A flush moved what pane `pane` had received into its view; `finished`: its answer has
        ended and all of it is in the view now. What it drew is in the next frame."""

    def frame_written(self, now: float) -> None:
        """A frame went to the terminal at `now` (time.perf_counter())."""


class StoreObserver:
    """Does nothing here; a measurement overrides it."""

    def batch_done(self, kind: str, cpu_s: float) -> None:
        """The store's writer thread is done with a batch of `kind` ("session" or "history"),
        written, skipped or failed; `cpu_s`: the thread's CPU time on it (what it can have held
        the GIL for, however loaded the machine). Runs on the writer thread: it must be quick and
        must not raise."""
