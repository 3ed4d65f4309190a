"""Text that says what it must in the room there is: the first of several forms, longest first,
that fits a width; a cut word never, an ellipsis at a word boundary only when even the shortest
form is too long."""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text


def fit(forms: Sequence[Text], width: int) -> Text:
    """The first form no wider than `width` cells; else the shortest, cut at its last space that
    fits, with "…"."""
    for form in forms:
        if form.cell_len <= width:
            return form
    shortest = forms[-1]
    if width < 2:
        return shortest[:max(0, width)]
    plain = shortest.plain
    limit = width - 1
    while limit > 0 and cell_len(plain[:limit]) > width - 1:
        limit -= 1
    space = plain.rfind(" ", 0, limit + 1)
    cut = space if space > 0 else limit
    kept = shortest[:cut]
    kept.rstrip()
    kept.append("…", style="dim")
    return kept


def fit_parts(parts: Sequence[Sequence[str]], width: int, steps: Sequence[int], joiner: str = " · ") -> str:
    """Parts joined by `joiner`, each given in forms longest first (its last form may be "" to
    leave it out): while too wide, the part `steps[k]` takes its next form, k = 0, 1, …. What still
    does not fit is cut at a part's end with "…"."""
    chosen = [0] * len(parts)

    def joined() -> str:
        return joiner.join(form for form, part in ((p[c], p) for p, c in zip(parts, chosen)) if form)

    text = joined()
    for index in steps:
        if cell_len(text) <= width:
            return text
        if chosen[index] < len(parts[index]) - 1:
            chosen[index] += 1
            text = joined()
    if cell_len(text) <= width:
        return text
    return fit([Text(text)], width).plain
