"""The heat view's model: where each token of an answer is in its text, and how likely it was.

A pane records each token's span in the answer as shown (after tui/text.py's gate and the view's
tab expansion) beside its `TokenLogprob`. The answer view colours each span by its probability's
band, and the token cursor moves over the spans. No drawing here but the band colours, which are
made from the theme's own colours so that the scale reads on dark and light themes alike.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass

from rich.style import Style
from textual.color import Color

from tui.engine.logprobs import TokenLogprob
from tui.text import token_text

BANDS = (0.9, 0.5, 0.2, 0.05)  # lower bounds of the probability bands, most likely first
BAND_LABELS = ("≥90%", "50–90%", "20–50%", "5–20%", "<5%")
# An ANSI theme's tints: the terminal's palette cannot be mixed, so four of its colours.
ANSI_TINTS = (("green", "black"), ("yellow", "black"), ("magenta", "black"), ("red", "white"))


def band(probability: float) -> int:
    """0 for the most likely band … 4 for the least likely."""
    for index, bound in enumerate(BANDS):
        if probability >= bound:
            return index
    return len(BANDS)


def shown_length(text: str) -> int:
    """How many characters a piece of (gated) text takes in the answer view."""
    return len(text) + 3 * text.count("\t")


class TokenSpans:
    """The recorded tokens of one answer, in order, with the end of each in the shown text."""

    def __init__(self) -> None:
        self.tokens: list[TokenLogprob] = []
        self.ends: list[int] = []
        self.bands: list[int] = []
        self.length = 0  # the shown text's length so far, recorded tokens or not

    def __len__(self) -> int:
        return len(self.tokens)

    def clear(self) -> None:
        self.tokens.clear()
        self.ends.clear()
        self.bands.clear()
        self.length = 0

    def add(self, shown: str, tokens: list[TokenLogprob] | None) -> None:
        """A delta's text as shown and its tokens. Their pieces give each token's share when they
        add up to the text; otherwise (a stop string cut off, pieces that decode differently
        together) the whole text goes to the last token."""
        start = self.length
        self.length += shown_length(shown)
        if not tokens:
            return
        pieces = [shown_length(t.text) for t in tokens]
        if sum(pieces) != self.length - start:
            pieces = [0] * (len(tokens) - 1) + [self.length - start]
        end = start
        for token, piece in zip(tokens, pieces):
            end += piece
            self.tokens.append(token)
            self.ends.append(end)
            self.bands.append(band(token.probability))

    def restore(self, tokens: list[TokenLogprob], ends: list[int], length: int) -> None:
        """Tokens and span ends as saved (checked: ends rise and stay within `length`)."""
        self.clear()
        self.tokens.extend(tokens)
        self.ends.extend(ends)
        self.bands.extend(band(t.probability) for t in tokens)
        self.length = length

    def span(self, index: int) -> tuple[int, int]:
        return (self.ends[index - 1] if index else 0), self.ends[index]

    def index_at(self, offset: int) -> int | None:
        """The token whose span holds `offset`, or None past the recorded ones."""
        index = bisect_right(self.ends, offset)
        return index if index < len(self.ends) else None

    def within(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """(token index, span start, span end) of the tokens that overlap [start, end), clipped."""
        index = bisect_right(self.ends, start)
        while index < len(self.ends):
            a, b = self.span(index)
            if a >= end:
                return
            if b > a:
                yield index, max(a, start), min(b, end)
            index += 1


@dataclass(frozen=True)
class Fork:
    """A prompt made at a token of another pane's answer: sent as token ids, exactly."""

    parent: int  # the pane it was forked from
    at: int  # the chosen token's place in that answer (1 = its first token)
    token: str  # the chosen token's text
    ids: list[int]  # the parent's prompt tokens, its answer's tokens before `at`, the chosen token
    text: str  # what the pane's prompt editor shows: the parent's prompt and answer up to the token

    @property
    def title(self) -> str:
        return f"fork of {self.parent} @ {self.at} {token_text(self.token, 12)}"


def band_styles(variables: dict[str, str]) -> list[Style]:
    """A background tint per band, from the theme: none for the most likely tokens, then the
    theme's success, warning and error colours mixed into its surface ever more strongly. The text
    keeps the theme's colour, so it stays as readable as the rest of the answer."""
    surface = Color.parse(variables.get("surface", "#1e1e1e"))
    if variables.get("error", "").startswith("ansi_"):  # the terminal's own palette: cannot be mixed
        return [Style()] + [Style(bgcolor=bg, color=fg) for bg, fg in ANSI_TINTS]
    tints = (("success", 0.0), ("success", 0.28), ("warning", 0.38), ("warning", 0.62), ("error", 0.62))
    styles = []
    for name, amount in tints:
        if amount == 0.0:
            styles.append(Style())
            continue
        tint = surface.blend(Color.parse(variables.get(name, "#888888")), amount)
        styles.append(Style(bgcolor=tint.rich_color, color=readable_on(tint).rich_color))
    return styles


def cursor_style(variables: dict[str, str]) -> Style:
    accent = Color.parse(variables.get("accent", "#ffa62b"))
    return Style(bgcolor=accent.rich_color, color=readable_on(accent).rich_color, bold=True)


def readable_on(background: Color) -> Color:
    """Black or white, whichever contrasts more with `background` (WCAG's contrast ratio)."""
    light = contrast_ratio(Color(255, 255, 255), background)
    dark = contrast_ratio(Color(0, 0, 0), background)
    return Color(255, 255, 255) if light >= dark else Color(0, 0, 0)


def contrast_ratio(a: Color, b: Color) -> float:
    """WCAG 2's contrast ratio of two colours (1 to 21; 4.5 is its minimum for body text)."""
    def luminance(color: Color) -> float:
        def channel(value: int) -> float:
            c = value / 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        return 0.2126 * channel(color.r) + 0.7152 * channel(color.g) + 0.0722 * channel(color.b)

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)
