"""The answer of one pane: a line-API view that only renders what changed.

Text arrives already batched (at most once a frame) and is wrapped incrementally; rendered lines
are cached as Strips, so a frame costs the visible lines' cache lookups plus the one open line.
Model output is plain text (it has passed tui/text.py's gate): never parsed as markup.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.render import repaint, set_virtual_size
from tui.render.plain import Frame, PlainLines
from tui.wrap import WrappedText


class OutputView(PlainLines, ScrollView, can_focus=True):
    DEFAULT_CSS = """
    OutputView {
        height: 1fr;
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
        scrollbar-background: $surface;
        scrollbar-background-hover: $surface;
        scrollbar-background-active: $surface;
        scrollbar-corner-color: $surface;
        /* Always shown: a scrollbar appearing is a layout change, which reflows every widget
           on the screen the first time each answer fills its view. */
        overflow-y: scroll;
        /* Text is wrapped to the view: never a horizontal scrollbar. With `auto`, Textual showed
           one the first time the height grew (the virtual width equals the view's, which it
           compares with the width less the vertical scrollbar), and reflowed the screen for it. */
        overflow-x: hidden;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self._text = WrappedText(80)
        self._strips: dict[int, Strip] = {}  # text line index -> content strip
        self._framed: dict[int, Strip] = {}  # text line index -> widget-wide strip (see tui/render/plain.py)
        self._framed_blank: Strip | None = None
        self._wrapped_width = 0
        self._height: int | None = None
        self._line_style = None
        self._top = 0  # where the view sits while following the end (see _place_end)

    @property
    def text(self) -> str:
        return self._text.text

    @property
    def line_count(self) -> int:
        return len(self._text.lines)

    def clear(self) -> None:
        if not self._text.text and self._top == 0 and self.scroll_y == 0:
            return  # already empty: a run's start redrew every answer for nothing
        self._text.clear()
        self._strips.clear()
        self._framed.clear()
        self._top = 0
        self._update_virtual_size()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def set_text(self, text: str) -> None:
        self.clear()
        self.append(text)

    @property
    def following(self) -> bool:
        """True unless the person scrolled up to read."""
        return self.scroll_y >= self._top

    def append(self, text: str) -> bool:
        """Add text at the end; True when the view jumped (the whole view was redrawn)."""
        if not text:
            return False
        text = text.replace("\t", "    ")  # the text has passed the gate (tui/text.py) already
        follow = self.following
        first = self._text.append(text)
        for index in range(first, len(self._text.lines)):
            self._strips.pop(index, None)
            self._framed.pop(index, None)
        if follow and self._place_end():
            self._jump_to_top()
            return True
        self._update_virtual_size()
        self.refresh_lines(first, len(self._text.lines) - first)
        return False

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        # ScrollView's own covers the scrollbar column too, which then gets redrawn with the lines.
        # Only lines change here (not the size or styles): marked without Textual's messages.
        repaint(self, Region(0, y_start - self._scroll_row(), self._view_width(), line_count))

    def _jump_to_top(self) -> None:
        self._update_virtual_size()
        self.scroll_to(y=self._top, animate=False, immediate=True)
        # Drawn in this frame with the other panes' lines (Textual's refresh from the scroll
        # arrives a frame later, and then finds nothing left to draw).
        repaint(self)
        self._repaint_scrollbar()

    def _repaint_scrollbar(self) -> None:
        if self.show_vertical_scrollbar:
            repaint(self.vertical_scrollbar)

    def jump_early(self) -> bool:
        """Jump now if the end is in the lower half of what is left before the next jump.
        Called when another pane jumped in this frame: the screen redraws those rows anyway,
        so jumping together costs less than jumping in separate frames."""
        view = self._view_height()
        lines = len(self._text.lines)
        if not self.following or lines <= view // 2:
            return False
        room = self._top + view - lines
        if room * 2 > view * 2 // 3:
            return False
        self._top = max(0, lines - view + view * 2 // 3)
        self._jump_to_top()
        return True

    def _place_end(self) -> bool:
        """Jump scrolling: when the answer runs past the bottom, move the view up two thirds of a
        page at once (a third stays as context). Between jumps only the changed lines are drawn,
        instead of the whole view every time a line is added. Returns True when the view moved."""
        view = self._view_height()
        lines = len(self._text.lines)
        if lines <= self._top + view:
            return False
        jump = max(1, view * 2 // 3)
        self._top = max(0, lines - view + jump)
        return True

    def _scroll_row(self) -> int:
        return round(self.scroll_y)  # scroll_offset.y, without reading scroll_x and making an Offset

    def _view_width(self) -> int:
        # The width the text is wrapped at, set in on_resize (the scrollbar is always shown).
        return self._wrapped_width or self.scrollable_content_region.width

    def _view_height(self) -> int:
        # Computing the region walks up the DOM; it only changes on resize (see on_resize).
        if self._height is None:
            self._height = max(1, self.scrollable_content_region.height)
        return self._height

    def _update_virtual_size(self) -> None:
        view = self._view_height()
        # At least a page, and the blank lines below the end while following: the height (and the
        # full-height scrollbar with it) then changes only when the view jumps, not with each line.
        height = max(len(self._text.lines), self._top + view)
        size = Size(self._text.width, height)
        if size == self.virtual_size:
            return
        set_virtual_size(self, size)  # the scrollbar is always shown: no reflow needed
        self._repaint_scrollbar()

    def on_resize(self) -> None:
        self._height = None
        width = max(1, self.scrollable_content_region.width)
        if width == self._wrapped_width:
            self._update_virtual_size()  # the height changed: at least a page, see there
        else:
            self._wrapped_width = width
            follow = self.following
            self._text.rewrap(width)
            self._strips.clear()
            self._framed.clear()
            if follow:
                self._top = 0
                self._place_end()
            self._update_virtual_size()
            if follow:
                self.scroll_to(y=self._top, animate=False, immediate=True)
            self.refresh()

    def frame_changed(self) -> None:
        # Also called on every style update (PlainLines.notify_style_update).
        self._strips.clear()
        self._line_style = None
        self._framed.clear()
        self._framed_blank = None

    def framed_line(self, frame: Frame, y: int, width: int) -> Strip:
        index = self._scroll_row() + y
        if index >= len(self._text.lines):
            strip = self._framed_blank
            if strip is None or strip.cell_length != width:
                strip = self._framed_blank = super().framed_line(frame, y, width)
            return strip
        strip = self._framed.get(index)
        if strip is None or strip.cell_length != width:
            strip = self._framed[index] = self._frame_text(frame, self._text.lines[index], width)
        return strip

    def _frame_text(self, frame: Frame, text: str, width: int) -> Strip:
        """A line of the answer as the widget-wide strip, built in one go: the same cells as
        `render_line` fitted and padded by `plain_line` (tests/test_render_equivalence.py)."""
        view = self._view_width()
        used = len(text) if text.isascii() else cell_len(text)
        rest = width - frame.pad_left - view  # the scrollbar's column and the right padding
        if used > view or rest < frame.pad_right:  # not expected (lines are wrapped to the view)
            content_width = width - frame.pad_left - frame.pad_right
            return self.plain_line(frame, self._content_strip(text, view), content_width, width)
        style = self.line_style
        return frame.line([Segment(text, frame.style(style))] if text else [], used, view, style, width)

    @property
    def line_style(self):
        # rich_style walks every ancestor; it only changes with the styles (theme, CSS).
        if self._line_style is None:
            self._line_style = self.rich_style
        return self._line_style

    def render_line(self, y: int) -> Strip:
        index = self._scroll_row() + y
        width = self._view_width()
        lines = self._text.lines
        style = self.line_style
        if index >= len(lines):
            return Strip.blank(width, style)
        strip = self._strips.get(index)
        if strip is None or strip.cell_length != width:
            strip = self._strips[index] = self._content_strip(lines[index], width)
        return strip

    def _content_strip(self, text: str, width: int) -> Strip:
        style = self.line_style
        return Strip([Segment(text, style)]).extend_cell_length(width, style).crop(0, width)
