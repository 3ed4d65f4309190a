"""Streamed text reaches the screen at most FLUSH_HZ times a second, however fast tokens arrive.

Panes buffer their deltas and report that they have something new (`mark_dirty`); a flush moves
every dirty pane's buffer into its view and draws the frame at once. The first and the last
tokens of an answer are not held back: a flush happens at once when the previous one is a frame
ago, or when a stream ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tui import render

if TYPE_CHECKING:
    from textual.screen import Screen

    from tui.instrument import Observer

    from tui.widgets.pane import Pane

FLUSH_HZ = 30


class PaneFlusher:
    def __init__(self, screen: Screen, panes: Callable[[], Iterable[Pane]],
                 before_flush: Callable[[], None] = lambda: None, observer: Observer | None = None) -> None:
        self._screen = screen
        self._observer = observer
        self._panes = panes
        self._before_flush = before_flush
        self._dirty: set[Pane] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0

    def mark_dirty(self, pane: Pane, now: bool = False) -> None:
        """`pane` has something new to draw; `now`: its stream ended, draw without delay."""
        self._dirty.add(pane)
        loop = asyncio.get_running_loop()
        if now and self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._handle is None:
            delay = 0.0 if now else max(0.0, self._last_flush + 1 / FLUSH_HZ - loop.time())
            # A plain loop callback: a Textual Timer per frame would cost a task each time.
            self._handle = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._handle = None
        screen = self._screen
        if not screen.is_attached or not screen.app.is_running:
            return  # the app is closing: the streams' last calls come after the screen is gone
        self._before_flush()
        loop = asyncio.get_running_loop()
        self._last_flush = loop.time()
        dirty, self._dirty = self._dirty, set()
        # Refreshing a widget that is scrolled out of view makes Textual rebuild its map of every
        # widget on the next frame: panes out of view keep buffering until they come into view
        # or their stream ends.
        visible = render.on_screen(screen)
        # A pane being mounted has no view to draw into yet: it draws its state once it has
        # (a stream's first delta can come first, when panes are made and run in one burst).
        dirty = {pane for pane in dirty if pane.is_attached and pane.drawable}
        held = {pane for pane in dirty if pane.output not in visible and pane.running}
        drawn = [pane for pane in dirty if pane not in held]
        again = [*held, *(pane for pane in drawn if pane.flush())]
        if self._observer is not None:
            for pane in drawn:
                self._observer.pane_flushed(pane.number, not pane.running and not pane.pending)
        if any(pane.jumped for pane in drawn):  # a held pane's flag is its last flush's
            # The screen redraws the jumped rows anyway: other answers near their jump join in.
            for pane in self._panes():  # a pane being mounted has no view yet
                if pane.running and pane.drawable and pane.output in visible:
                    pane.output.jump_early()
        render.draw_now(screen)
        if again:
            self._dirty.update(again)
            self._handle = loop.call_later(1 / FLUSH_HZ, self._flush)
