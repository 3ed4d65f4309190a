"""Line widgets drawn without Textual's styles cache, and strips that make their caches lazily.

While answers stream, a frame changes a line or two in each visible pane:

- `Widget.render_lines()` goes through the styles cache, which for every call walks the ancestors
  for colours, rebuilds padding and border information and copies strips. `PlainLines` draws a
  widget whose styles are plain (background and left/right padding only) from strips the widget
  keeps, with the line filters already applied, and falls back to Textual's way for anything else
  (a border, tint, opacity...), and always on the stock path.
- A Textual `Strip` makes seven caches when it is made, most of which a strip drawn once never
  uses. `LightStrip` makes each cache on first use.

`tests/test_render_equivalence.py` checks the result against Textual's own, cell by cell.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.cache import FIFOCache
from textual.color import Color
from textual.filter import ANSIToTruecolor, DimFilter, LineFilter, Monochrome, NoColor
from textual.geometry import Offset, Region
from textual.strip import Strip
from textual.style import Style
from textual.widget import Widget

from tui import render


# Textual's Strip makes these caches (slot name -> size) in its __init__.
_STRIP_CACHES = {"_divide_cache": 4, "_crop_cache": 16, "_style_cache": 16, "_filter_cache": 4,
                 "_line_length_cache": 4, "_crop_extend_cache": 4, "_offsets_cache": 4}


class LightStrip(Strip):
    """A Strip whose caches are made when first used instead of when the strip is made."""

    __slots__ = ()

    def __init__(self, segments, cell_length: int | None = None) -> None:  # noqa: D107
        self._segments = list(segments)
        self._cell_length = cell_length
        self._render_cache = None
        self._link_ids = None
        self._cell_count = None

    def __getattr__(self, name: str):
        # Reached only for a slot not set yet (or a name Strip does not have).
        size = _STRIP_CACHES.get(name)
        if size is None:
            raise AttributeError(name)
        cache = FIFOCache(size)
        setattr(self, name, cache)
        return cache


# Textual's own line filters change each segment's style by itself (and drop control codes,
# which plain widgets do not draw): for these, a strip can be built with filtered styles.
_STYLE_FILTERS = (ANSIToTruecolor, DimFilter, Monochrome, NoColor)


class Frame(NamedTuple):
    """How a plain widget's content is framed: padding and the background behind it, and the
    line filters its strips get (applied when they are made, so cached strips are kept filtered)."""

    pad_left: int
    pad_right: int
    inner: RichStyle  # what Textual's styles cache fills padding and short lines with
    background: Color  # the key Textual applies line filters with
    filters: tuple[LineFilter, ...] = ()
    by_style: bool = True  # every filter is one of Textual's own (see _STYLE_FILTERS)

    def with_filters(self, filters: tuple[LineFilter, ...]) -> Frame:
        return self._replace(filters=filters, by_style=all(type(f) in _STYLE_FILTERS for f in filters))

    def style(self, style: RichStyle | None) -> RichStyle | None:
        """`style` as the filters leave it, for a strip built with `strip(..., styled=True)`."""
        if not self.filters or not self.by_style or style is None:
            return style
        return _filtered_style(self.filters, self.background, style)

    def line(self, content: list[Segment], used: int, content_width: int, fill: RichStyle,
             width: int) -> Strip:
        """A widget-wide strip: left padding, `content` (`used` cells, styles from `style()`),
        `fill` up to `content_width`, then the widget's background up to `width` (the right
        padding, and for an answer the scrollbar's column too)."""
        inner = self.style(self.inner)
        segments = [Segment(" " * self.pad_left, inner)] if self.pad_left else []
        segments.extend(content)
        if used < content_width:
            segments.append(Segment(" " * (content_width - used), self.style(fill)))
        rest = width - self.pad_left - content_width
        if rest:
            segments.append(Segment(" " * rest, inner))
        return self.strip(segments, width, styled=True)

    def strip(self, segments: list[Segment], width: int, styled: bool = False) -> Strip:
        """A widget-wide strip of these segments, filtered as Textual's styles cache does.
        `styled`: every segment's style came from `style()` already."""
        if not self.filters or (styled and self.by_style):
            return LightStrip(segments, width)
        if self.by_style:
            style = self.style
            return LightStrip([Segment(text, style(s)) for text, s, _ in segments], width)
        background = self.background
        for line_filter in self.filters:
            segments = line_filter.apply(segments, background)
        return LightStrip(segments, width)


@lru_cache(maxsize=256)
def _filtered_style(filters: tuple[LineFilter, ...], background: Color, style: RichStyle) -> RichStyle | None:
    segments = [Segment(" ", style)]
    for line_filter in filters:
        segments = line_filter.apply(segments, background)
    return segments[0].style


@lru_cache(maxsize=64)
def _inner_style(base_background: Color, background: Color) -> RichStyle:
    # As Textual's styles cache: the background over the background beneath the widget.
    return Style(background=base_background + background).rich_style


class PlainLines(Widget):
    """A line-API widget drawn without the styles cache when its styles allow it.

    Subclasses implement `render_line(y)` (content coordinates, as for any line widget). They may
    override `framed_line(frame, y, width)` to cache the widget-wide strips it returns (built with
    `plain_line` or `frame.strip`); `frame_changed()` tells them that such cached strips are
    stale."""

    _frame: Frame | None = None
    _frame_checked = False
    _offset: Offset | None = None  # content_offset, kept until the styles change
    _colours_kept: int | None = None  # the app's CSS version the kept colours were found for

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._frame_checked = False
        self._offset = None
        self.frame_changed()

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False):
        # Inline style changes (`widget.styles.border = ...`) come this way, not through
        # notify_style_update; `repaint()` does not, so streaming keeps the check.
        self._frame_checked = False
        self._offset = None
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def frame_changed(self) -> None:
        """Styles changed: drop strips cached with the old frame."""

    def mark_lines(self, regions: tuple[Region, ...]) -> None:
        """What `Widget._set_dirty(*regions)` does, with the content offset kept: it walks the
        styles for padding, border and scrollbars each time, and only changes with the styles."""
        offset = self._offset
        if offset is None:
            offset = self._offset = self.content_offset
        widget_regions = [region.translate(offset) for region in regions]
        self._dirty_regions.update(widget_regions)
        self._repaint_regions.update(widget_regions)
        self._styles_cache.set_dirty(*widget_regions)

    def plain_frame(self) -> Frame | None:
        """The frame if this widget's styles are plain, else None (Textual then draws it).
        Checked again after each style update or refresh of this widget. The colours are looked up
        again on every call (an ancestor's background may change without this widget's styles
        changing) unless this widget's own background is opaque: then they do not depend on the
        ancestors' backgrounds, and are kept until its styles or the app's CSS (a theme) change.
        (An ancestor's opacity changing alone would be missed then; nothing here sets opacity.)
        Always None on the stock path."""
        if not render.fast():
            return None
        styles = self.styles
        css_version = self.app._css_update_count  # noqa: SLF001 - bumped by theme changes
        if self._frame_checked and self._colours_kept == css_version:
            return self._frame
        if not self._frame_checked:
            self._frame_checked = True
            top, right, bottom, left = styles.padding
            plain = (
                not top and not bottom
                and not any(edge for edge, _ in styles.border)
                and not any(edge for edge, _ in styles.outline)
                and not styles.tint.a
                and styles.text_opacity == 1.0
                and not (styles.has_rule("hatch") and styles.hatch != "none")
                and not self.BLANK
            )
            self._frame = Frame(left, right, RichStyle(), Color(0, 0, 0)) if plain else None
        frame = self._frame
        if frame is None:
            return None
        # Colours and opacity come from the ancestors: one walk, as Widget.background_colors.
        base_background = background = Color(0, 0, 0, 0)
        opacity = 1.0
        for node in reversed(self.ancestors_with_self):
            node_styles = node.styles
            base_background = background
            opacity *= node_styles.opacity
            background += node_styles.background.tint(node_styles.background_tint).multiply_alpha(opacity)
        if opacity != 1.0:
            self._colours_kept = None
            return None
        inner = _inner_style(base_background, background)
        if inner is not frame.inner or background != frame.background:
            self._frame = frame = frame._replace(inner=inner, background=background)
            self.frame_changed()
        own = styles.background
        opaque = own.a == 1.0 and not styles.background_tint.a
        self._colours_kept = css_version if opaque else None
        return frame

    def plain_line(self, frame: Frame, content: Strip, content_width: int, width: int) -> Strip:
        """One widget-wide line: content fitted to the content width, padded both sides."""
        inner = frame.inner
        segments: list[Segment] = []
        if frame.pad_left:
            segments.append(Segment(" " * frame.pad_left, inner))
        segments.extend(content.adjust_cell_length(content_width, inner))
        if frame.pad_right:
            segments.append(Segment(" " * frame.pad_right, inner))
        return frame.strip(segments, width)

    def render_lines(self, crop: Region) -> list[Strip]:
        frame = self.plain_frame()  # None on the stock path
        if frame is None:
            return super().render_lines(crop)
        filters = tuple(self.get_line_filters())
        if filters != frame.filters:  # they change without a style update (`App.ansi_color`)
            self._frame = frame = frame.with_filters(filters)
            self.frame_changed()
        width = self.outer_size.width  # the region's width (`region` looks the widget up)
        strips = [self.framed_line(frame, y, width) for y in crop.line_range]
        if crop.column_span != (0, width):
            x1, x2 = crop.column_span
            strips = [strip.crop(x1, x2) for strip in strips]
        return strips

    def framed_line(self, frame: Frame, y: int, width: int) -> Strip:
        """Widget row `y` (no top padding or border, so also the content row), framed."""
        return self.plain_line(frame, self.render_line(y), width - frame.pad_left - frame.pad_right, width)
