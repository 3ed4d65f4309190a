"""A one-line status: renders a rich Text straight to a Strip (no Content pipeline per update)."""

from __future__ import annotations

from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine { height: 1; width: 1fr; padding: 0 1; background: $panel; }
    """

    def __init__(self, text: Text | None = None, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._text = text or Text()
        self._strip: Strip | None = None

    @property
    def text(self) -> Text:
        return self._text

    def set_text(self, text: Text) -> None:
        if text == self._text:
            return
        self._text = text
        self._strip = None
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width if self.is_mounted else 0
        style = self.rich_style
        if y != 0:
            return Strip.blank(width, style)
        if self._strip is None or self._strip.cell_length != width:
            segments = list(self._text.render(self.app.console))
            self._strip = Strip(segments).apply_style(style).crop_extend(0, width, style)
        return self._strip
