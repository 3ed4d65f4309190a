"""The answer of one pane: a line-API view that only renders what changed.

Text arrives already batched (at most once a frame) and is wrapped incrementally; rendered lines
are cached as Strips, so a frame costs the visible lines' cache lookups plus the one open line.
Model output is plain text (it has passed tui/text.py's gate): never parsed as markup.
"""

from __future__ import annotations

from bisect import bisect_right

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.core.tokens import ShownTokens
from tui.heat import band_styles, cursor_style, decoration_styles
from tui.render import repaint, set_virtual_size
from tui.render.plain import Frame, PlainLines
from tui.thread_text import ThreadText
from tui.wrap import WrappedText


# Where two answers part (tui/divergence.py): the first difference, then the later ones.
MARK_STYLES = {"part": Style(bold=True, reverse=True), "diff": Style(underline=True)}


class OutputView(PlainLines, ScrollView, can_focus=True):
    # With the token cursor on (see Pane.enter_token_cursor), the scroll keys move it instead.
    BINDINGS = [
        Binding("left", "step('token', -1)", show=False),
        Binding("right", "step('token', 1)", show=False),
        Binding("up", "step('line', -1)", show=False),
        Binding("down", "step('line', 1)", show=False),
        Binding("pageup", "step('page', -1)", show=False),
        Binding("pagedown", "step('page', 1)", show=False),
        Binding("home", "step('end', -1)", show=False),
        Binding("end", "step('end', 1)", show=False),
        Binding("enter", "fork", show=False),
        *(Binding(str(n), f"fork({n})", show=False) for n in range(1, 10)),
    ]
    _SCROLLS = {("token", -1): "scroll_left", ("token", 1): "scroll_right", ("line", -1): "scroll_up",
                ("line", 1): "scroll_down", ("page", -1): "page_up", ("page", 1): "page_down",
                ("end", -1): "scroll_home", ("end", 1): "scroll_end"}

    class CursorStep(Message):
        """A cursor key: move the token cursor by `count` tokens, lines or pages, or to an end."""

        def __init__(self, unit: str, count: int) -> None:
            super().__init__()
            self.unit = unit
            self.count = count

    class CursorLeft(Message):
        """The answer lost the focus: the token cursor goes."""

    class Fork(Message):
        """enter or a digit with the token cursor on: fork there (see Pane.fork_point)."""

        def __init__(self, choice: int | None) -> None:
            super().__init__()
            self.choice = choice

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
        self._reading: int | None = None  # the text offset at the top of a scrolled-up view (see on_resize)
        self._placed_for = Size(0, 0)  # the size on_resize last placed the view for
        self._streaming = False  # an answer streams in: the view jumps ahead (see _place_end)
        # The person was reading, and a resize put the place read where the view's end is: it
        # shows its end without following it (on_resize, reading_place), until it scrolls.
        self._reading_at_end = False
        # The heat view: the answer's tokens (set by the pane), coloured when `heat` is on; the
        # token cursor's token, drawn whether heat is on or not.
        self.tokens: ShownTokens | None = None
        self._heat = False
        self._cursor: int | None = None
        self._band_styles: list | None = None
        self._cursor_style = None
        self._marks: list[tuple[int, int, str]] = []  # where this answer parts from another
        # The thread around the shown answer (tui/thread_text.py): questions and earlier answers'
        # figures are styled; the shown answer's tokens and marks start at `_base`.
        self._decorations: list[tuple[int, int, str]] = []
        self._decorated_to = 0
        self._decoration_styles: dict[str, Style] | None = None
        self._base = 0

    @property
    def text(self) -> str:
        return self._text.text

    @property
    def line_count(self) -> int:
        return len(self._text.lines)

    def clear(self) -> None:
        if not self._text.text and self._top == 0 and self.scroll_y == 0:
            return  # already empty: a run's start redrew every answer for nothing
        self._reading_at_end = False
        self._text.clear()
        self._strips.clear()
        self._framed.clear()
        self._cursor = None
        self._marks = []
        self._decorations = []
        self._decorated_to = 0
        self._base = 0
        self._top = 0
        self._update_virtual_size()
        self.scroll_to(0, 0, animate=False, immediate=True)
        self.refresh()

    def set_text(self, text: str) -> None:
        self.clear()
        self.append(text)

    def show(self, thread: ThreadText, tokens: ShownTokens | None) -> None:
        """Show a thread (its text has passed the gate), with the shown answer's tokens (its
        thinking's too, where its text is shown)."""
        self.clear()
        self._decorations = thread.decorations
        self._decorated_to = max((end for _, end, _ in thread.decorations), default=0)
        self._base = thread.base
        self.tokens = tokens
        self.append(thread.text)
        self.refresh()

    @property
    def base(self) -> int:
        """Where the shown answer starts in the view's text."""
        return self._base

    @property
    def following(self) -> bool:
        """True unless the person scrolled up to read."""
        return self.scroll_y >= self._top

    def append(self, text: str, kind: str | None = None) -> bool:
        """Add text at the end, styled as the thread's `kind` when given (an answer's thinking as it
        streams); True when the view jumped (the whole view was redrawn)."""
        if not text:
            return False
        text = text.replace("\t", "    ")  # the text has passed the gate (tui/text.py) already
        self._reading_at_end = False  # the text changed: what is shown is the place now
        if kind is not None:
            self._decorate_end(len(text), kind)
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

    def _decorate_end(self, length: int, kind: str) -> None:
        """Style the next `length` characters appended as `kind` (joined to the last decoration
        when it ends where they start and is of that kind, so that a long stream stays one)."""
        start = self._text.length
        decorations = self._decorations
        if decorations and decorations[-1][1] == start and decorations[-1][2] == kind:
            decorations[-1] = (decorations[-1][0], start + length, kind)
        else:
            self._decorations = decorations = [*decorations, (start, start + length, kind)]
        self._decorated_to = start + length

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
        if not self.size.height:
            # Not laid out yet (a pane shows its thread when it mounts): with no height known every
            # text would jump past its end and stop following it. on_resize places the end.
            return False
        view = self._view_height()
        lines = len(self._text.lines)
        if lines <= self._top + view:
            return False
        # Less than a page, so that the last line stays in view (a one-line view has no room).
        # Nothing streaming in, the end is at the bottom: see settle.
        jump = view * 2 // 3 if self._streaming else 0
        self._top = max(0, lines - view + jump)
        return True

    def start_streaming(self) -> None:
        """An answer streams in from now: the view jumps ahead as it reaches the bottom."""
        self._streaming = True

    def settle(self) -> None:
        """Nothing streams in any more: the end goes to the bottom of the view, where following it.
        A jump leaves up to two thirds of a page blank below the end, which, once the answer had
        ended, read as an answer cut short with empty lines under it (a new user)."""
        self._streaming = False
        if not self.following or not self.size.height:
            return
        top = max(0, len(self._text.lines) - self._view_height())
        if top != self._top:
            self._top = top
            self._jump_to_top()

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
        """Wrap again at a new width, and place the view again for the new size: at the end while
        following, else at the text the person was reading. `scroll_y` and `_top` are line numbers
        of the old wrapping and the old height; kept as they were, they pointed past a shorter
        text, or above an end that moved down, and the answer vanished from its pane."""
        self._placed_for = self.outer_size
        self._height = None
        # A view whose place read is at its end (room for all of its text, or the place read on
        # its last page) shows its end whether the person reads or follows: a resize through such
        # a size (a grid laid out again shows a pane wide for a moment) made a reading view follow
        # its end at the next one, and the place read was lost.
        follow = self.following and not self._reading_at_end
        width = max(1, self.scrollable_content_region.width)
        reading = None  # where in the text the top line of the view starts, when not following
        if width != self._wrapped_width:
            if not follow:
                reading = self._reading = self.reading_place()
            self._wrapped_width = width
            self._text.rewrap(width)
            self._strips.clear()
            self._framed.clear()
            self.refresh()
        self._top = 0
        self._place_end()
        self._update_virtual_size()
        if follow:
            row = self._top
        elif reading is not None:
            row = self._line_at(reading)
        else:
            row = self._scroll_row()  # the same lines, if the new size lets the view show them
        self.scroll_to(y=row, animate=False, immediate=True)
        self._reading_at_end = not follow and self._scroll_row() >= self._top
        # The token cursor stays in sight: entering it shows the token panel, and the view, now
        # lower, followed its end away from the cursor's token.
        self.scroll_to_cursor()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        if old_value != new_value:
            self._reading_at_end = False  # scrolled: the place is what it shows now
        super().watch_scroll_y(old_value, new_value)

    def validate_scroll_y(self, value: float) -> float:
        # Textual clamps the scroll to a new size as it lays the view out, before on_resize: kept
        # as it was until then, so that on_resize knows whether the view followed the end and
        # what it showed. (Clamped, a view that followed took itself for scrolled up, and kept
        # line numbers of the old wrapping that pointed past the text: answers vanished.) Text
        # streamed in meanwhile is placed for the old height, and placed again by on_resize.
        if self.outer_size != self._placed_for:
            return value
        return super().validate_scroll_y(value)

    def reading_place(self) -> int:
        """Where in the text the view's top line is: the place kept at the last resize while it is
        still on that line, else the line's start. (A line of the new wrapping starts before the
        place, so that each resize would otherwise move the view up the text a little.)"""
        row = min(self._scroll_row(), len(self._text.starts) - 1)
        kept = self._reading
        if kept is not None and (self._reading_at_end or self._line_at(kept) == row):
            return kept
        return self._text.starts[row]

    def _line_at(self, offset: int) -> int:
        """The wrapped line that a text offset is on."""
        return max(0, bisect_right(self._text.starts, offset) - 1)

    def frame_changed(self) -> None:
        # Also called on every style update (PlainLines.notify_style_update).
        self._strips.clear()
        self._line_style = None
        self._framed.clear()
        self._framed_blank = None
        self._band_styles = self._cursor_style = self._decoration_styles = None  # a theme change changes them

    # -- the heat view and the token cursor --------------------------------------------------------
    def action_step(self, unit: str, count: int) -> None:
        if self._cursor is None:
            getattr(self, f"action_{self._SCROLLS[(unit, count)]}")()
        else:
            self.post_message(self.CursorStep(unit, count))

    def action_fork(self, choice: int | None = None) -> None:
        if self._cursor is not None:
            self.post_message(self.Fork(choice))

    def on_blur(self) -> None:
        if self._cursor is not None:
            self.post_message(self.CursorLeft())

    @property
    def heat(self) -> bool:
        return self._heat

    @heat.setter
    def heat(self, on: bool) -> None:
        if on != self._heat:
            self._heat = on
            self._redraw_lines()

    @property
    def cursor(self) -> int | None:
        return self._cursor

    def set_cursor(self, index: int | None) -> None:
        """Put the token cursor on a recorded token (None: no cursor), redraw its lines, and bring
        it into view."""
        old, self._cursor = self._cursor, index
        for token in (old, index):
            if token is not None:
                for line in self.lines_of(token):
                    self._strips.pop(line, None)
                    self._framed.pop(line, None)
                    self.refresh_lines(line)
        self.scroll_to_cursor()

    def scroll_to_cursor(self) -> None:
        """Bring the token cursor's first line into view (no cursor: nothing)."""
        lines = self.lines_of(self._cursor) if self._cursor is not None else []
        if lines:
            self.scroll_to_line(lines[0])

    def lines_of(self, token: int) -> list[int]:
        """The wrapped lines a token's span is on."""
        if self.tokens is None or not 0 <= token < len(self.tokens):
            return []
        start, end = self.tokens.span(token)
        starts = self._text.starts
        first = max(0, bisect_right(starts, start) - 1)
        last = max(first, bisect_right(starts, max(start, end - 1)) - 1)
        return list(range(first, min(last, len(starts) - 1) + 1))

    def line_at(self, offset: int) -> int:
        """The wrapped line that holds a character of the view's text."""
        return max(0, bisect_right(self._text.starts, offset) - 1)

    def line_token(self, line: int) -> int | None:
        """The first token that starts on or after a line's start (None past the recorded ones)."""
        if self.tokens is None or not self._text.lines:
            return None
        line = max(0, min(line, len(self._text.lines) - 1))
        return self.tokens.index_at(self._text.starts[line])

    def scroll_to_line(self, line: int) -> None:
        top = self._scroll_row()
        view = self._view_height()
        if line < top:
            self.scroll_to(y=line, animate=False, immediate=True)
            repaint(self)
        elif line >= top + view:
            self.scroll_to(y=line - view + 1, animate=False, immediate=True)
            repaint(self)

    def _redraw_lines(self) -> None:
        self._strips.clear()
        self._framed.clear()
        repaint(self)

    def _styled(self, start: int) -> bool:
        """Whether a line that starts at `start` may need more than the view's own style."""
        return (bool(self._marks) or start < self._decorated_to
                or (self.tokens is not None and (self._heat or self._cursor is not None)))

    @property
    def marks(self) -> list[tuple[int, int, str]]:
        return self._marks

    def set_marks(self, marks: list[tuple[int, int, str]]) -> None:
        """Character ranges of the shown answer to mark: (start, end, "part") for where it parts
        from another, (start, end, "diff") for its later differences (see tui/divergence.py)."""
        base = self._base
        self._marks = sorted((start + base, end + base, kind) for start, end, kind in marks)
        self._redraw_lines()

    def _segments(self, index: int, text: str, style, frame: Frame | None) -> list[Segment]:
        """One line's segments: in `style`, or cut where a token, a mark or the cursor begins or
        ends, each piece in its token's band colours (with heat), its mark's and the cursor's."""
        def styled(value):
            return value if frame is None else frame.style(value)

        if not text:
            return []
        start = self._text.starts[index]
        if not self._styled(start):
            return [Segment(text, styled(style))]
        if self._band_styles is None:
            variables = self.app.get_css_variables()
            self._band_styles = band_styles(variables)
            self._cursor_style = cursor_style(variables)
            self._decoration_styles = decoration_styles(variables)
        shown = self.tokens
        end = start + len(text)
        cuts = {start, end}
        tokens = shown is not None and (self._heat or self._cursor is not None)
        if tokens:
            for _, a, b in shown.within(start, end):
                cuts.update((a, b))
        marks = [(max(a, start), min(b, end), kind) for a, b, kind in self._marks if a < end and b > start]
        decorations = [(max(a, start), min(b, end), kind) for a, b, kind in self._decorations
                       if a < end and b > start] if start < self._decorated_to else []
        for a, b, _ in marks + decorations:
            cuts.update((a, b))
        points = sorted(cuts)
        segments = []
        for a, b in zip(points, points[1:]):
            piece_style = style
            for mark_start, mark_end, kind in decorations:
                if mark_start <= a < mark_end:
                    piece_style = piece_style + self._decoration_styles[kind]
            if tokens:
                token = shown.index_at(a)
                if token is not None and shown.span(token)[0] <= a:
                    if token == self._cursor:
                        piece_style = piece_style + self._cursor_style
                    elif self._heat:
                        piece_style = piece_style + self._band_styles[shown.band(token)]
            for mark_start, mark_end, kind in marks:
                if mark_start <= a < mark_end:
                    piece_style = piece_style + MARK_STYLES[kind]
            segments.append(Segment(text[a - start:b - start], styled(piece_style)))
        return segments

    def framed_line(self, frame: Frame, y: int, width: int) -> Strip:
        index = self._scroll_row() + y
        if index >= len(self._text.lines):
            strip = self._framed_blank
            if strip is None or strip.cell_length != width:
                strip = self._framed_blank = super().framed_line(frame, y, width)
            return strip
        strip = self._framed.get(index)
        if strip is None or strip.cell_length != width:
            strip = self._framed[index] = self._frame_text(frame, index, self._text.lines[index], width)
        return strip

    def _frame_text(self, frame: Frame, index: int, text: str, width: int) -> Strip:
        """A line of the answer as the widget-wide strip, built in one go: the same cells as
        `render_line` fitted and padded by `plain_line` (tests/test_render_equivalence.py)."""
        view = self._view_width()
        used = len(text) if text.isascii() else cell_len(text)
        rest = width - frame.pad_left - view  # the scrollbar's column and the right padding
        if used > view or rest < frame.pad_right:  # not expected (lines are wrapped to the view)
            content_width = width - frame.pad_left - frame.pad_right
            return self.plain_line(frame, self._content_strip(index, text, view), content_width, width)
        style = self.line_style
        return frame.line(self._segments(index, text, style, frame), used, view, style, width)

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
            strip = self._strips[index] = self._content_strip(index, lines[index], width)
        return strip

    def _content_strip(self, index: int, text: str, width: int) -> Strip:
        style = self.line_style
        return Strip(self._segments(index, text, style, None)).extend_cell_length(width, style).crop(0, width)
