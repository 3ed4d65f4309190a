"""A one-line status: renders a rich Text straight to a Strip (no Content pipeline per update)."""

from __future__ import annotations

from rich.text import Text
from textual.strip import Strip

from tui.widgets.direct import Frame, PlainLines, repaint


class StatusLine(PlainLines):
    DEFAULT_CSS = """
    StatusLine { height: 1; width: 1fr; padding: 0 1; background: $panel; }
    """

    def __init__(self, text: Text | None = None, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._text = text or Text()
        self._strip: Strip | None = None
        self._framed: Strip | None = None
        self._style = None

    @property
    def text(self) -> Text:
        return self._text

    def set_text(self, text: Text) -> None:
        if text == self._text:
            return
        self._text = text
        self._strip = self._framed = None
        repaint(self)  # same size and styles: no need for Textual's refresh messages

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None
        self._style = None

    def frame_changed(self) -> None:
        self._strip = self._framed = None
        self._style = None

    def framed_line(self, frame: Frame, y: int, width: int) -> Strip:
        if y != 0:
            return super().framed_line(frame, y, width)
        if self._framed is None or self._framed.cell_length != width:
            self._framed = super().framed_line(frame, y, width)
        return self._framed

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width if self.is_mounted else 0
        if self._style is None:  # rich_style walks every ancestor; it changes with the styles only
            self._style = self.rich_style
        style = self._style
        if y != 0:
            return Strip.blank(width, style)
        if self._strip is None or self._strip.cell_length != width:
            segments = list(self._text.render(self.app.console))
            self._strip = Strip(segments).apply_style(style).crop_extend(0, width, style)
        return self._strip
