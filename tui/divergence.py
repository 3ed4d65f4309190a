"""Where two answers part: the first token (or word) where they differ, and the later differences.

Answers from one tokenizer (both with recorded token ids) are compared token by token; others
word by word. The result is character ranges in each answer as shown, which the answer views
mark. Pure functions: tested without a UI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from tui.core.tokens import TokenSpans

_WORD = re.compile(r"\S+")


@dataclass
class DivergenceMarks:
    """One answer's marks: the first difference, and the later ones (character ranges)."""

    first: tuple[int, int] | None = None
    later: list[tuple[int, int]] = field(default_factory=list)
    token: int | None = None  # the first differing token's index (token comparison only)


@dataclass
class Divergence:
    """Where two answers part: the marks in each, how they were compared, and the place."""

    a: DivergenceMarks
    b: DivergenceMarks
    by_tokens: bool
    place: int  # the first difference's place (1 = the first token or word)


def find_divergence(spans_a: TokenSpans, text_a: str, spans_b: TokenSpans, text_b: str) -> Divergence | None:
    """Compare two answers (None when they do not differ): by token ids when both have every
    token recorded with its id, by words otherwise."""
    ids_a = [t.token_id for t in spans_a.tokens]
    ids_b = [t.token_id for t in spans_b.tokens]
    if ids_a and ids_b and None not in ids_a and None not in ids_b:
        return _diverge(ids_a, ids_b, [spans_a.span(i) for i in range(len(ids_a))],
                     [spans_b.span(i) for i in range(len(ids_b))], by_tokens=True)
    words_a = [(m.group(), m.span()) for m in _WORD.finditer(text_a)]
    words_b = [(m.group(), m.span()) for m in _WORD.finditer(text_b)]
    return _diverge([w for w, _ in words_a], [w for w, _ in words_b], [s for _, s in words_a],
                 [s for _, s in words_b], by_tokens=False)


def _diverge(units_a: Sequence, units_b: Sequence, spans_a: list[tuple[int, int]],
          spans_b: list[tuple[int, int]], by_tokens: bool) -> Divergence | None:
    common = 0
    for x, y in zip(units_a, units_b):
        if x != y:
            break
        common += 1
    if common == len(units_a) == len(units_b):
        return None
    a, b = DivergenceMarks(), DivergenceMarks()
    if common < len(units_a):
        a.first = spans_a[common]
    if common < len(units_b):
        b.first = spans_b[common]
    if by_tokens:
        a.token = common if common < len(units_a) else None
        b.token = common if common < len(units_b) else None
    matcher = SequenceMatcher(None, units_a[common + 1:], units_b[common + 1:], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        a.later.extend(spans_a[common + 1 + i] for i in range(i1, i2))
        b.later.extend(spans_b[common + 1 + j] for j in range(j1, j2))
    return Divergence(a, b, by_tokens, common + 1)
