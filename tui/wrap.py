"""Greedy word wrap by terminal cells, incremental: appending text only re-wraps the open last line.

Cells are measured as Rich measures them (by grapheme: an emoji with a variation selector or a
joined family is as wide as Rich draws it), so a wrapped line is never cropped when it is drawn.
Wrapping a paragraph is linear in its length. No Textual here, so the rules are tested on their own.
"""

from __future__ import annotations

from itertools import accumulate

from rich.cells import cell_len, split_graphemes


def wrap_paragraph(text: str, width: int) -> list[str]:
    """Wrap one paragraph (no newlines) into lines of at most `width` cells; always ≥ 1 line.

    A line breaks at its last space that fits (the space is dropped), or, for a word longer than
    the line, after the last grapheme that fits. Width is at least 2, so that a double-width
    character always fits on a line of its own.
    """
    return [text[start:end] for start, end in wrap_spans(text, width)]


def wrap_spans(text: str, width: int) -> list[tuple[int, int]]:
    """`wrap_paragraph`'s lines as (start, end) offsets into the paragraph."""
    width = max(2, width)
    if text.isascii():
        return _wrap_ascii(text, width)
    if cell_len(text) <= width:
        return [(0, len(text))]
    spans, _ = split_graphemes(text)
    starts = [start for start, _, _ in spans] + [len(text)]
    # Each grapheme measured as Rich measures a string (a span of stray joiners counts what it holds).
    ends = [0, *accumulate(cell_len(text[start:end]) for start, end, _ in spans)]  # cells of spans[:k]
    last_space = []  # last_space[k]: index of the last space among spans[:k + 1], or -1
    space = -1
    for index, (start, end, _) in enumerate(spans):
        if end - start == 1 and text[start] == " ":
            space = index
        last_space.append(space)
    lines = []
    first = 0  # the line's first span
    fit = 0  # one past the last span that fits on the line (only moves forward)
    count = len(spans)
    while ends[count] - ends[first] > width:
        fit = max(fit, first + 1)
        while fit < count and ends[fit + 1] - ends[first] <= width:
            fit += 1
        space = last_space[fit] if fit < count else -1
        if space > first:  # the last space that fits, or the one right after what fits
            lines.append((starts[first], starts[space]))
            first = space + 1
        else:  # one word longer than the line: hard break
            lines.append((starts[first], starts[fit]))
            first = fit
    lines.append((starts[first], len(text)))
    return lines


def _wrap_ascii(text: str, width: int) -> list[tuple[int, int]]:
    """`wrap_spans` where every character is one cell."""
    lines = []
    first = 0
    while len(text) - first > width:
        space = text.rfind(" ", first + 1, first + width + 1)
        if space > first:
            lines.append((first, space))
            first = space + 1
        else:
            lines.append((first, first + width))
            first += width
    lines.append((first, len(text)))
    return lines


def wrap_text(text: str, width: int) -> list[str]:
    return [text[start:end] for start, end in wrap_text_spans(text, width)]


def wrap_text_spans(text: str, width: int, offset: int = 0) -> list[tuple[int, int]]:
    """Wrapped lines of a text with newlines, as (start, end) offsets (+ `offset`) into it."""
    spans: list[tuple[int, int]] = []
    start = 0
    for paragraph in text.split("\n"):
        spans.extend((offset + start + a, offset + start + b) for a, b in wrap_spans(paragraph, width))
        start += len(paragraph) + 1
    return spans


class WrappedText:
    """Text that grows at the end, kept as wrapped lines. `append` costs O(last line + new text).

    `starts[i]` is where line i begins in `text` (a line break drops the space or newline it
    breaks at): the heat view finds a line's tokens by it."""

    def __init__(self, width: int = 80) -> None:
        self.width = max(1, width)
        self._chunks: list[str] = []
        self._length = 0
        self.lines: list[str] = [""]
        self.starts: list[int] = [0]

    @property
    def text(self) -> str:
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def length(self) -> int:
        """len(text), without joining it."""
        return self._length

    def clear(self) -> None:
        self._chunks = []
        self._length = 0
        self.lines = [""]
        self.starts = [0]

    def append(self, text: str) -> int:
        """Add text; return the index of the first line that changed."""
        if not text:
            return len(self.lines) - 1
        self._chunks.append(text)
        self._length += len(text)
        first = len(self.lines) - 1
        # The last line is the only open one: earlier breaks cannot move when text is appended;
        # but a joiner or a combining mark joins the break before it (the space a line broke at
        # becomes part of a grapheme): then the line before is open too (rare: the whole text).
        if first and cell_len(text[0]) == 0:
            first -= 1
            start = self.starts[first]
            joined = self.text[start:]
        else:
            start = self.starts[first]
            joined = self.lines[first] + text
        spans = wrap_text_spans(joined, self.width, start)
        self.lines[first:] = [joined[a - start:b - start] for a, b in spans]
        self.starts[first:] = [a for a, _ in spans]
        return first

    def rewrap(self, width: int) -> None:
        self.width = max(1, width)
        text = self.text
        spans = wrap_text_spans(text, self.width)
        self.lines = [text[a:b] for a, b in spans]
        self.starts = [a for a, _ in spans]
