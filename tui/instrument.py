"""Hooks for measuring the workbench from outside it (the benchmark, bench/): what arrives, when
it is taken into a pane's view, and when a frame with it reaches the terminal.

Give an `Observer` to `WorkbenchApp(observer=...)`. Its methods run on the event loop, in the
middle of streaming: they must be quick. Without an observer the workbench pays one check per
delta.
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
