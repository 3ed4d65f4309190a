"""A one-line status: renders a rich Text straight to a Strip (no Content pipeline per update)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip

from tui.render import repaint
from tui.widgets.fit import fit
from tui.render.plain import Frame, PlainLines


class StatusLine(PlainLines):
    DEFAULT_CSS = """
    StatusLine { height: 1; width: 1fr; padding: 0 1; background: $panel; }
    """

    def __init__(self, text: Text | Sequence[Text] | None = None, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self._forms: tuple[Text, ...] = _forms(text or Text())
        self._text = self._forms[0]  # the form that fits the width it was last drawn at
        self._fitted_to: int | None = None
        self._strip: Strip | None = None
        self._framed: Strip | None = None
        self._style = None
        self._slack = 0

    @property
    def slack(self) -> int:
        return self._slack

    @slack.setter
    def slack(self, columns: int) -> None:
        """Columns of its width that it leaves unused in choosing its form: a line one column wider
        than its neighbour's (panes share a row's width unevenly) shows the form the neighbour shows."""
        if columns != self._slack:
            self._slack = columns
            self._fitted_to = None
            self._strip = self._framed = None
            repaint(self)

    @property
    def text(self) -> Text:
        """The status in full (a narrow line shows a shorter form of it)."""
        return self._forms[0]

    def set_text(self, text: Text | Sequence[Text]) -> None:
        """The status, or its forms longest first: the line shows the first that fits."""
        forms = _forms(text)
        if forms == self._forms:
            return
        self._forms = forms
        self._fitted_to = None
        self._strip = self._framed = None
        # Same size and styles: no need for Textual's refresh messages. The line's content only
        # (padding unchanged), which repaint marks without walking the styles.
        frame = self._frame if self._frame_checked else None
        if frame is None:
            repaint(self)
        else:
            repaint(self, Region(0, 0, max(0, self.outer_size.width - frame.pad_left - frame.pad_right), 1))

    def frame_changed(self) -> None:
        # Also called on every style update (PlainLines.notify_style_update).
        self._strip = self._framed = None
        self._style = None

    def framed_line(self, frame: Frame, y: int, width: int) -> Strip:
        if y != 0:
            return super().framed_line(frame, y, width)
        if self._framed is None or self._framed.cell_length != width:
            self._framed = self._framed_text(frame, width) or super().framed_line(frame, y, width)
        return self._framed

    def _framed_text(self, frame: Frame, width: int) -> Strip | None:
        """The status as the widget-wide strip, built in one go, cropped in narrow panes (the same
        cells as `render_line` padded by `plain_line`: tests/test_render_equivalence.py); None when
        Rich's or Strip's way is needed."""
        style = self.base_style
        content_width = width - frame.pad_left - frame.pad_right
        segments = _simple_segments(self._fitted(content_width), style, self.app.console.get_style)
        if segments is None or content_width < 0:
            return None
        used = sum(cell_len(segment.text) for segment in segments)
        if used > content_width:  # narrow panes: cropped
            if used != sum(len(segment.text) for segment in segments):
                return None  # a wide character may be cut in half: Strip's way
            segments = Segment.adjust_line_length(segments, content_width)
            used = content_width
        content = [Segment(text, frame.style(part_style)) for text, part_style, _ in segments]
        return frame.line(content, used, content_width, style, width)

    @property
    def base_style(self) -> Style:
        # rich_style walks every ancestor; it only changes with the styles (frame_changed).
        if self._style is None:
            self._style = self.rich_style
        return self._style

    def render_line(self, y: int) -> Strip:
        width = self.content_region.width if self.is_mounted else 0
        style = self.base_style
        if y != 0:
            return Strip.blank(width, style)
        if self._strip is None or self._strip.cell_length != width:
            self._strip = self.text_strip(self._fitted(width), style, width)
        return self._strip

    def _fitted(self, width: int) -> Text:
        if width != self._fitted_to:
            room = width - self._slack
            self._text = fit(self._forms, room) if room > 0 else self._forms[0]
            self._fitted_to = width
        return self._text

    def text_strip(self, text: Text, style: Style, width: int) -> Strip:
        """The text on the base style, cropped or extended to the width: what Rich's rendering
        followed by `Strip.apply_style` gives, built directly for the status's simple texts
        (spans one after another, one line); anything else goes Rich's way."""
        segments = _simple_segments(text, style, self.app.console.get_style)
        if segments is None:
            return Strip(list(text.render(self.app.console))).apply_style(style).crop_extend(0, width, style)
        return Strip(segments).crop_extend(0, width, style)


def _forms(text: Text | Sequence[Text]) -> tuple[Text, ...]:
    return (text,) if isinstance(text, Text) else tuple(text) or (Text(),)


def _simple_segments(text: Text, base: Style, get_style) -> list[Segment] | None:
    plain = text.plain
    if text.style or "\n" in plain:
        return None
    segments = []
    position = 0
    for span in sorted(text.spans, key=lambda span: span.start):
        if span.start < position:
            return None  # overlapping spans combine their styles: Rich's way
        if span.start > position:
            segments.append(Segment(plain[position:span.start], base))
        if span.end > span.start:
            span_style = get_style(span.style) if isinstance(span.style, str) else span.style
            segments.append(Segment(plain[span.start:span.end], base + span_style))
        position = max(position, span.end)
    if position < len(plain):
        segments.append(Segment(plain[position:], base))
    return segments
