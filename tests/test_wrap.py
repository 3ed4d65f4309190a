"""Incremental wrapping must give exactly what wrapping the whole text would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from tui.text import printable
from tui.wrap import WrappedText, wrap_text

texts = st.text(alphabet=st.sampled_from(list("ab  \nxy漢é")), max_size=300)


@settings(max_examples=400)
@given(texts, st.integers(min_value=1, max_value=40), st.lists(st.integers(1, 12), max_size=60))
def test_incremental_equals_full(text, width, cuts):
    wrapped = WrappedText(width)
    position = 0
    for cut in cuts:
        wrapped.append(text[position:position + cut])
        position += cut
    wrapped.append(text[position:])
    assert wrapped.lines == wrap_text(text, width)
    assert wrapped.text == text


@given(texts, st.integers(min_value=2, max_value=40))
def test_lines_fit_the_width(text, width):
    assert all(cell_len(line) <= width for line in wrap_text(text, width))


def test_rewrap_on_resize():
    wrapped = WrappedText(10)
    wrapped.append("the quick brown fox jumps over the lazy dog")
    wrapped.rewrap(20)
    assert wrapped.lines == ["the quick brown fox", "jumps over the lazy", "dog"]


def test_control_characters_are_made_visible():
    assert printable("a\x1b[31mb\x00c\nd\te") == "a\u241b[31mb\u2400c\nd\te"
    assert "\x1b" not in printable("\x1b\x9b\x7f")
