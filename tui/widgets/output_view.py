"""The answer of one pane: a line-API view that only renders what changed.

Text arrives already batched (at most once a frame) and is wrapped incrementally; rendered lines
are cached as Strips, so a frame costs the visible lines' cache lookups plus the one open line.
Model output is plain text: it is never parsed as markup and control characters are made visible.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.text import printable
from tui.wrap import WrappedText


class OutputView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    OutputView {
        height: 1fr;
        background: $surface;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self._text = WrappedText(80)
        self._strips: dict[int, Strip] = {}
        self._wrapped_width = 0

    @property
    def text(self) -> str:
        return self._text.text

    @property
    def line_count(self) -> int:
        return len(self._text.lines)

    def clear(self) -> None:
        self._text.clear()
        self._strips.clear()
        self._update_virtual_size()
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def set_text(self, text: str) -> None:
        self.clear()
        self.append(text)

    def append(self, text: str) -> None:
        if not text:
            return
        text = printable(text).replace("\t", "    ")
        follow = self.scroll_y >= self.max_scroll_y  # the person has not scrolled up
        first = self._text.append(text)
        for index in range(first, len(self._text.lines)):
            self._strips.pop(index, None)
        self._update_virtual_size()
        if follow and self.max_scroll_y > self.scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
            self.refresh()
        else:
            self.refresh_lines(first, len(self._text.lines) - first)

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._text.width, len(self._text.lines))

    def on_resize(self) -> None:
        width = max(1, self.scrollable_content_region.width)
        if width != self._wrapped_width:
            self._wrapped_width = width
            follow = self.scroll_y >= self.max_scroll_y
            self._text.rewrap(width)
            self._strips.clear()
            self._update_virtual_size()
            if follow:
                self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        index = self.scroll_offset.y + y
        width = self.scrollable_content_region.width
        lines = self._text.lines
        if index >= len(lines):
            return Strip.blank(width, self.rich_style)
        strip = self._strips.get(index)
        if strip is None or strip.cell_length != width:
            strip = Strip([Segment(lines[index], self.rich_style)]).extend_cell_length(width, self.rich_style)
            strip = strip.crop(0, width)
            self._strips[index] = strip
        return strip
