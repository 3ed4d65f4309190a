"""Looking inside the drawing, for the tests and the benchmark (never used by the app itself).

They compare the fast path with Textual's own drawing and time frames; what they touch is as
private as the fast path, so it lives beside it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from textual._compositor import Compositor  # noqa: PLC2701
from textual.app import App
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from tui.render.compositor import ChangedCellsCompositor
from tui.render.plain import PlainLines

Update = object  # what Textual's compositor hands to the driver (a LayoutUpdate or ChopsUpdate)


@contextlib.contextmanager
def updates_written(callback: Callable[[App, Screen, Update], None]) -> Iterator[None]:
    """Call `callback(app, screen, update)` for every update Textual writes to the terminal (it
    skips those made while the app is not running yet or batches updates at start)."""
    original = App._display  # noqa: SLF001

    def display(self: App, screen: Screen, update) -> None:
        original(self, screen, update)
        if update is not None and self._running and not self._batch_count:  # noqa: SLF001
            callback(self, screen, update)

    App._display = display  # noqa: SLF001
    try:
        yield
    finally:
        App._display = original  # noqa: SLF001


def full_update(screen: Screen) -> Update:
    """A full redraw of `screen`, drawn the current path's way."""
    compositor = screen._compositor  # noqa: SLF001
    pending = set(compositor._dirty_regions)  # noqa: SLF001
    try:
        return compositor.render_full_update()
    finally:
        compositor._dirty_regions.update(pending)  # noqa: SLF001


def full_update_textuals_way(screen: Screen) -> Update:
    """A full redraw of `screen` drawn Textual's way (styles cache, no plain lines); the regions
    waiting for the screen's next update are kept for it."""
    compositor = screen._compositor  # noqa: SLF001
    pending = set(compositor._dirty_regions)  # noqa: SLF001
    original = PlainLines.plain_frame
    PlainLines.plain_frame = lambda self: None  # type: ignore[method-assign]
    try:
        return compositor.render_full_update()
    finally:
        PlainLines.plain_frame = original  # type: ignore[method-assign]
        compositor._dirty_regions.update(pending)  # noqa: SLF001


def lines_textuals_way(widget: Widget, crop: Region) -> list[Strip]:
    """`widget`'s lines drawn from scratch through Textual's styles cache."""
    widget._styles_cache.clear()  # noqa: SLF001
    return Widget.render_lines(widget, crop)


def visible_regions(screen: Screen) -> dict[Widget, tuple[Region, Region]]:
    """Every widget drawn in the screen's last update: (region, clip)."""
    return screen._compositor.visible_widgets  # noqa: SLF001


class CheckedCompositor(ChangedCellsCompositor):
    """Computes every partial update twice, Textual's way then ours, and keeps both (and how
    many widget renders ours took) in `updates`: (textual's, ours, renders)."""

    updates: list[tuple[Update, Update, int]] = []

    def render_partial_update(self):
        regions = set(self._dirty_regions)
        reference = Compositor.render_partial_update(self)  # consumes the regions
        self._dirty_regions.update(regions)
        calls = [0]
        original = self._get_renders

        def counted(crop=None):
            for render in original(crop):
                calls[0] += 1
                yield render

        self._get_renders = counted
        try:
            ours = super().render_partial_update()
        finally:
            del self._get_renders
        if reference is None or ours is None:
            assert reference is None and ours is None, (reference, ours)
            return ours
        self.updates.append((reference, ours, calls[0]))
        return ours


@contextlib.contextmanager
def checked_compositor() -> Iterator[type[CheckedCompositor]]:
    """New screens get a `CheckedCompositor` (fast path only); yields the class, whose `updates`
    fill as the screens draw."""
    import tui.render.compositor as module

    CheckedCompositor.updates = []
    original = module.ChangedCellsCompositor
    module.ChangedCellsCompositor = CheckedCompositor  # install_compositor imports it from there
    try:
        yield CheckedCompositor
    finally:
        module.ChangedCellsCompositor = original


def after_next_frame(screen: Screen) -> list[Callable[[float], None]]:
    """A list of functions called with the time right after the screen writes its next frame (at
    the end of its compositor refresh, where Textual hands the update to the driver)."""
    hooks = screen.__dict__.get("_probe_after_frame")
    if hooks is None:
        hooks = screen.__dict__["_probe_after_frame"] = []
        original = screen._compositor_refresh  # noqa: SLF001

        def refresh() -> None:
            original()
            if hooks:
                now = time.perf_counter()
                waiting = hooks[:]
                hooks.clear()
                for hook in waiting:
                    hook(now)

        screen._compositor_refresh = refresh  # noqa: SLF001
    return hooks


def keys_read_from(*reads: str) -> list[str]:
    """The keys Textual reads from what a terminal sends (its own parser, as the app's driver uses
    it), read by read: e.g. "\\x1b[15~" → ["f5"]; a cursor position report and the like give no key."""
    return [event.key for event in key_events_read_from(*reads)]


def key_events_read_from(*reads: str) -> list:
    """The key events themselves, with the characters Textual gives them: a terminal's alt+c (ESC c)
    is read as the key alt+c with the character `c`, which a text field types unless something
    takes the key first. Post them to the app as its driver does."""
    from textual import events
    from textual._xterm_parser import XTermParser  # noqa: PLC2701

    parser = XTermParser()
    found = [event for sequence in reads for event in parser.feed(sequence)]
    found += list(parser.feed(""))  # a lone ESC (or ESC and a key) waits for more: end the input
    return [event for event in found if isinstance(event, events.Key)]
