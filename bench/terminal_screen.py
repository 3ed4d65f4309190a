"""What a terminal shows after the bytes an app wrote to it: its rows of characters.

A terminal's byte stream does not hold the text it shows in one piece: Textual's compositor writes
only the cells that changed, so a line that became 'thought 2.1 s' over 'Thou askest' can arrive
as 't', a cursor move and 'ght 2.1 s'. Tests that ask whether something is on the screen ask this.
Enough of a terminal for Textual's output: cursor moves, text, erasing; styles and modes are
skipped.
"""

from __future__ import annotations

import codecs
import re

from rich.cells import cell_len

# CSI (with its parameters), OSC (ended by BEL or ST), a charset choice, or a two-byte escape.
_SEQUENCE = re.compile(r"\x1b(?:\[([0-9;?<>=]*)[ -/]*([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78DEMc])")
_INCOMPLETE = re.compile(r"\x1b(?:\[[0-9;?<>=]*[ -/]*|\][^\x07\x1b]*\x1b?|[()])?$")


class TerminalScreen:
    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.rows = columns, rows
        self._cells = [[" "] * columns for _ in range(rows)]
        self._x = self._y = 0
        self._held = ""  # the start of a sequence whose end has not been read yet
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character split by a read

    def feed(self, data: bytes) -> None:
        text = self._held + self._decoder.decode(data)
        incomplete = _INCOMPLETE.search(text)
        cut = incomplete.start() if incomplete else len(text)
        text, self._held = text[:cut], text[cut:]
        position = 0
        for match in _SEQUENCE.finditer(text):
            self._write(text[position:match.start()])
            position = match.end()
            if match.group(2):
                self._control(match.group(1), match.group(2))
        self._write(text[position:])

    def lines(self) -> list[str]:
        return ["".join(cell for cell in row if cell is not None).rstrip() for row in self._cells]

    def shows(self, text: str) -> bool:
        return any(text in line for line in self.lines())

    def _write(self, text: str) -> None:
        for char in text:
            if char == "\n":
                self._y = min(self._y + 1, self.rows - 1)
            elif char == "\r":
                self._x = 0
            elif char == "\b":
                self._x = max(self._x - 1, 0)
            elif char >= " ":
                width = cell_len(char)
                if self._x + width <= self.columns and width:
                    self._put(char, width)
                self._x = min(self._x + width, self.columns)

    def _put(self, char: str, width: int) -> None:
        row, x = self._cells[self._y], self._x
        if row[x] is None:
            row[x - 1] = " "  # over the right half of a wide character: its left half goes too
        end = x + width
        if end < self.columns and row[end] is None:
            row[end] = " "  # over the left half of one: its right half goes too
        row[x] = char
        if width == 2:
            row[x + 1] = None  # the right half of a wide character

    def _control(self, parameters: str, command: str) -> None:
        if parameters.startswith("?"):
            return  # modes: alternate screen, mouse, cursor shown, synchronized output
        numbers = [int(n) if n.isdigit() else 0 for n in parameters.split(";")] if parameters else []
        first = numbers[0] if numbers else 0
        if command in "Hf":
            row = numbers[0] if numbers else 1
            column = numbers[1] if len(numbers) > 1 else 1
            self._y = min(max(row, 1), self.rows) - 1
            self._x = min(max(column, 1), self.columns) - 1
        elif command == "A":
            self._y = max(self._y - max(first, 1), 0)
        elif command == "B":
            self._y = min(self._y + max(first, 1), self.rows - 1)
        elif command == "C":
            self._x = min(self._x + max(first, 1), self.columns - 1)
        elif command == "D":
            self._x = max(self._x - max(first, 1), 0)
        elif command == "G":
            self._x = min(max(first, 1), self.columns) - 1
        elif command == "J":
            self._erase_screen(first)
        elif command == "K":
            self._erase_line(first)

    def _erase_line(self, how: int) -> None:
        row = self._cells[self._y]
        start, end = {0: (self._x, self.columns), 1: (0, self._x + 1)}.get(how, (0, self.columns))
        row[start:end] = [" "] * (end - start)

    def _erase_screen(self, how: int) -> None:
        if how == 0:
            self._erase_line(0)
            rows = range(self._y + 1, self.rows)
        elif how == 1:
            self._erase_line(1)
            rows = range(0, self._y)
        else:
            rows = range(self.rows)
        for y in rows:
            self._cells[y] = [" "] * self.columns
