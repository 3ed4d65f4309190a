"""Greedy word wrap by terminal cells, incremental: appending text only re-wraps the open last line.

No Textual here, so the wrapping rules are tested on their own.
"""

from __future__ import annotations

from rich.cells import cell_len, get_character_cell_size


def _cut_index(text: str, width: int) -> int:
    """Length of the longest prefix of `text` that fits in `width` cells (at least 1 character)."""
    if text.isascii():
        return max(1, min(len(text), width))
    used = 0
    for index, char in enumerate(text):
        used += get_character_cell_size(char)
        if used > width:
            return max(1, index)
    return len(text)


def wrap_paragraph(text: str, width: int) -> list[str]:
    """Wrap one paragraph (no newlines) into lines of at most `width` cells; always ≥ 1 line.

    Width is at least 2, so that a double-width character always fits on a line of its own.
    """
    width = max(2, width)
    lines: list[str] = []
    while (len(text) > width) if text.isascii() else (cell_len(text) > width):
        cut = _cut_index(text, width)
        space = text.rfind(" ", 0, cut + 1)
        if space > 0:
            lines.append(text[:space])
            text = text[space + 1:]
        else:  # one word longer than the line: hard break
            lines.append(text[:cut])
            text = text[cut:]
    lines.append(text)
    return lines


def wrap_text(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(wrap_paragraph(paragraph, width))
    return lines


class WrappedText:
    """Text that grows at the end, kept as wrapped lines. `append` costs O(last line + new text)."""

    def __init__(self, width: int = 80) -> None:
        self.width = max(1, width)
        self._chunks: list[str] = []
        self.lines: list[str] = [""]

    @property
    def text(self) -> str:
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    def clear(self) -> None:
        self._chunks = []
        self.lines = [""]

    def append(self, text: str) -> int:
        """Add text; return the index of the first line that changed."""
        if not text:
            return len(self.lines) - 1
        self._chunks.append(text)
        first = len(self.lines) - 1
        # The last line is the only open one: earlier breaks cannot move when text is appended.
        self.lines[first:] = wrap_text(self.lines[first] + text, self.width)
        return first

    def rewrap(self, width: int) -> None:
        self.width = max(1, width)
        self.lines = wrap_text(self.text, self.width)
