"""The render seam: the only code of ours that touches Textual's private names.

Answers stream into many panes at once, and Textual's general machinery (a compositor that renders
every widget on screen for each partial update, three messages per refresh, the styles cache on
every line) takes CPU from the engine, which shares the cores with the UI. The fast path avoids it
by reaching into Textual:

- `compositor.ChangedCellsCompositor`: partial updates render only the widgets that own changed
  cells;
- `plain.PlainLines`: line widgets drawn from strips they keep, without the styles cache;
- `repaint()` and `draw_now()`: changed regions are marked on the screen directly and drawn at the
  end of a flush, without the message round trips of `refresh()`.

Private names change without notice, so the fast path runs only on the Textual versions it was
tested on (`TESTED_TEXTUAL`). On any other version, or with `VLLM_PANES_STOCK_RENDER=1`, the app
runs on Textual's public API alone: its own compositor, `refresh()` and the line API. What reaches
the terminal is the same (the tests compare both paths cell by cell); only the cost differs.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Container
from dataclasses import dataclass
from importlib.metadata import version

from rich.segment import Segment
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

log = logging.getLogger(__name__)

# Textual releases the fast path was tested on (the full suite, both paths).
TESTED_TEXTUAL = frozenset({"8.2.8"})
STOCK_VARIABLE = "VLLM_PANES_STOCK_RENDER"


@dataclass(frozen=True)
class RenderPath:
    fast: bool
    why_stock: str = ""  # shown to the person once, in the engine line

    @property
    def name(self) -> str:
        return "fast" if self.fast else "stock"


def choose_path(environ: dict[str, str] | None = None, textual_version: str | None = None) -> RenderPath:
    environ = os.environ if environ is None else environ
    textual_version = textual_version or version("textual")
    if environ.get(STOCK_VARIABLE, "").strip() not in ("", "0"):
        return RenderPath(False, f"stock drawing ({STOCK_VARIABLE} is set)")
    if textual_version not in TESTED_TEXTUAL:
        return RenderPath(False, f"stock drawing (Textual {textual_version}: fast path not tested on it)")
    return RenderPath(True)


_path = choose_path()
if not _path.fast:
    log.info("render path: %s", _path.why_stock)


def current_path() -> RenderPath:
    return _path


def fast() -> bool:
    return _path.fast


def use_path(wanted: bool | RenderPath) -> RenderPath:
    """Switch paths for the screens made from now on (the tests and the benchmark run both in one
    process); returns the path that was in use, which may be given back to restore it. The fast
    path is refused on an untested Textual."""
    global _path
    previous = _path
    if isinstance(wanted, RenderPath):
        _path = wanted
    elif wanted:
        chosen = choose_path(environ={})
        if not chosen.fast:
            raise RuntimeError(chosen.why_stock)
        _path = chosen
    else:
        _path = RenderPath(False, "stock drawing (chosen)")
    return previous


# -- what the widgets and the workbench call ------------------------------------------------------
def read_alt_key_bursts() -> None:
    """Alt+letter keys that arrive together are read as alt keys, not as '^' and a letter
    (tui/render/alt_keys.py; on the tested Textual versions only, whatever the drawing path)."""
    from tui.render import alt_keys

    if not alt_keys.install():
        log.info("alt keys typed together may be read as '^' and a letter (Textual %s: not tested)",
                 version("textual"))


def install_compositor(screen: Screen) -> None:
    """Give a new screen the compositor of the current path (call from its __init__)."""
    if _path.fast:
        from tui.render.compositor import ChangedCellsCompositor

        screen._compositor = ChangedCellsCompositor()  # noqa: SLF001


def repaint(widget: Widget, *regions: Region) -> None:
    """Draw `regions` of `widget` (relative to its content area; none: all of it) on the next
    screen update, for a widget whose size, layout and styles did not change."""
    if not _path.fast:
        if widget.is_mounted:
            widget.refresh(*regions)
        return
    if not widget.is_mounted or not widget.display:
        return
    screen = widget.__dict__.get("_repaint_screen")
    if screen is None:  # `screen` walks up the DOM; a widget never moves to another screen
        screen = widget.__dict__["_repaint_screen"] = widget.screen
    from tui.render.plain import PlainLines

    if regions and isinstance(widget, PlainLines):
        widget.mark_lines(regions)
    else:
        widget._set_dirty(*regions)  # noqa: SLF001
    if not screen.is_current:
        return  # drawn when the screen comes back (it is then redrawn whole)
    dirty = screen._dirty_widgets  # noqa: SLF001
    if not dirty:  # the first since the last frame: the screen's idle handler starts its update timer
        screen.check_idle()
    dirty.add(widget)


def draw_now(screen: Screen) -> None:
    """Draw what was marked now instead of on the screen's next update tick (a timer that waits up
    to a frame, reached through a message round trip). Stock path: Textual's tick draws it."""
    if _path.fast and screen.is_current and screen._dirty_widgets and not screen.app._batch_count:  # noqa: SLF001
        screen._on_timer_update()  # noqa: SLF001


_draws_pending: set[Screen] = set()


def draw_soon(widget: Widget) -> None:
    """Draw `widget` whole on the event loop's next turn (what the person types, while answers
    stream). Stock path: its own `refresh()` has asked Textual already."""
    if not _path.fast:
        return
    repaint(widget)
    screen = widget.screen
    if screen not in _draws_pending:
        _draws_pending.add(screen)
        asyncio.get_running_loop().call_soon(_draw_soon, screen)


def _draw_soon(screen: Screen) -> None:
    _draws_pending.discard(screen)
    if screen.is_attached and screen.app.is_running:
        draw_now(screen)


def on_screen(screen: Screen) -> Container[Widget]:
    """The widgets drawn in the screen's last update (test with `in`)."""
    if _path.fast:
        return screen._compositor.visible_widgets  # noqa: SLF001
    return _VisibleOn(screen)


class _VisibleOn:
    def __init__(self, screen: Screen) -> None:
        self._screen = screen

    def __contains__(self, widget: object) -> bool:
        return isinstance(widget, Widget) and self._screen.can_view_partial(widget)


def set_virtual_size(widget: Widget, size: Size) -> None:
    """`widget.virtual_size = size` for a widget whose own size does not change with it (its
    scrollbar is always shown): `virtual_size` is a layout reactive, and setting it reflows the
    whole screen. The fast path updates the value and the scrollbars only."""
    if not _path.fast or size.width != widget.virtual_size.width or not widget.is_mounted:
        widget.virtual_size = size
        return
    widget.set_reactive(type(widget).virtual_size, size)
    widget._scroll_update(size)  # noqa: SLF001


def make_strip(segments: list[Segment], cell_length: int | None = None) -> Strip:
    """A strip to be drawn once: its caches are made on first use on the fast path."""
    if _path.fast:
        from tui.render.plain import LightStrip

        return LightStrip(segments, cell_length)
    return Strip(segments, cell_length)


def observe_frames(screen: Screen, written: Callable[[float], None]) -> None:
    """Call `written(now)` each time `screen` writes a frame (the end of its compositor refresh,
    where Textual hands the update to the terminal): the measuring hook of tui/instrument.py.
    The same on both paths: Textual's own refresh, with a call after it."""
    import time

    original = screen._compositor_refresh  # noqa: SLF001

    def refresh() -> None:
        original()
        written(time.perf_counter())

    screen._compositor_refresh = refresh  # noqa: SLF001
