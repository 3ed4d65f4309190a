"""What an answer's view shows: as the terminal shows it (what the person sees), or as the view
draws itself (on either render path, also when its pane is scrolled out of sight)."""

from __future__ import annotations

from textual.geometry import Region

from tests.support.terminal import Cells, row_text


def drawn_rows(view) -> list[str]:
    """The view's rows as it draws them (`render_lines`: the fast path's or Textual's), stripped:
    the padding and the scrollbar's column add only blanks."""
    width, height = view.size
    strips = view.render_lines(Region(0, 0, width, height))
    return ["".join(segment.text for segment in strip).strip() for strip in strips]


def terminal_rows(terminal: Cells, view) -> list[str] | None:
    """The view's rows as the terminal shows them, stripped; None unless the whole view is in
    sight (a grid row scrolled away is not on the terminal)."""
    if not view.screen.can_view_entire(view):
        return None
    area = view.scrollable_content_region
    return [row_text(terminal, y, area.x, area.right).strip() for y in area.line_range]


def shows_end(rows: list[str], answer: str) -> bool:
    """The answer's last word is on one of the rows (each answer's words differ from the others')."""
    words = answer.split()
    return bool(words) and any(words[-1] in row.split() for row in rows)


def answer_problem(view) -> str | None:
    """What is wrong with what the view draws of its answer, or None: it shows lines of its answer
    as they are wrapped, and the last one while it follows the end."""
    lines = view._text.lines  # noqa: SLF001 - the wrapped lines, tested on their own in test_wrap.py
    if not view.text.strip() or not view.size.height:
        return None
    rows = drawn_rows(view)
    first = round(view.scroll_y)
    if first >= len(lines):
        return f"scrolled to line {first} of {len(lines)}: nothing of the answer in view"
    shown = [line.strip() for line in lines[first:first + len(rows)]]
    if rows[:len(shown)] != shown or any(rows[len(shown):]):
        return f"draws {rows} where lines {first}.. are {shown}"
    if view.following and len(lines) > first + len(rows):
        return f"follows the end, but shows lines {first}..{first + len(rows) - 1} of {len(lines)}"
    return None
