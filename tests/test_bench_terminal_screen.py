"""bench/terminal_screen.py: the rows a terminal shows after an app's bytes, which tests of the real
app in a pseudo-terminal ask instead of searching its bytes."""

from __future__ import annotations

from bench.terminal_screen import TerminalScreen


def screen_after(*pieces: bytes, size: tuple[int, int] = (40, 5)) -> TerminalScreen:
    screen = TerminalScreen(*size)
    for piece in pieces:
        screen.feed(piece)
    return screen


def test_a_line_written_in_pieces_over_another_reads_whole():
    """What a partial update can do: only the cells that changed are written, so 'thought' over
    'Thou askest' may come as 't', a cursor move and 'ght …', never as one piece of bytes."""
    first = b"\x1b[2;3H\x1b[2mThou askest of\x1b[0m"
    fold = b"\x1b[2;3H\x1b[38;5;8mt\x1b[2;7Hght 2.1 s \x1b[0m"
    screen = screen_after(first, fold)
    assert b"thought" not in first + fold
    assert screen.lines()[1] == "  thought 2.1 s"
    assert screen.shows("thought 2.1 s") and not screen.shows("Thou")


def test_sequences_and_characters_split_between_reads_are_put_together():
    raw = "\x1b[3;2H·x\x1b[1;1Hab".encode()
    for cut in range(1, len(raw)):
        screen = screen_after(raw[:cut], raw[cut:])
        assert screen.lines()[:3] == ["ab", "", " ·x"], cut


def test_erasing_clears_what_the_sequence_says():
    screen = screen_after(b"\x1b[1;1Hkeep this\x1b[2;1Hgone soon\x1b[3;1Hand this")
    screen.feed(b"\x1b[1;5H\x1b[K")  # to the end of the line
    screen.feed(b"\x1b[3;1H\x1b[2K")  # the whole line
    assert screen.lines()[:3] == ["keep", "gone soon", ""]
    screen.feed(b"\x1b[2J")
    assert screen.lines() == [""] * 5


def test_wide_characters_take_two_cells_and_modes_and_titles_write_nothing():
    screen = screen_after(b"\x1b[?1049h\x1b[?25l\x1b]0;vllm-panes\x07\x1b[1;1H", "漢字 ok".encode(), b"\x1b[?2026l")
    assert screen.lines()[0] == "漢字 ok"
    screen.feed(b"\x1b[1;3HX")  # over the second one's left half: its right half is a blank
    assert screen.lines()[0] == "漢X  ok"
    screen.feed(b"\x1b[1;2HY")  # over the first one's right half: its left half is a blank
    assert screen.lines()[0] == " YX  ok"


def test_writing_past_the_edges_stays_on_the_screen():
    screen = screen_after(b"\x1b[9;99Hz", b"\x1b[1;39Habcdef", size=(40, 3))
    assert screen.lines()[0].endswith("ab") and len(screen.lines()[0]) == 40
    assert screen.lines()[2] == " " * 39 + "z"  # the cursor stops at the last row and column
