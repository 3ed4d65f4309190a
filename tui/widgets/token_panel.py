"""Under an answer: the heat view's legend, and the token under the cursor with its alternatives.

Both are plain text (tokens have passed tui/text.py's gate and are shown by `token_text`), drawn
from the theme's colours each time they render, so that a theme change recolours them.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from tui.engine.logprobs import mean_logprob, perplexity, short_mode_label
from tui.core.tokens import BAND_LABELS, TokenSpans
from tui.heat import band_styles
from tui.text import token_text

BAR_WIDTH = 12


class HeatLegend(Widget):
    """'heat ■ ≥90% ■ 50–90% … · the model's own, before temperature/top-p'."""

    DEFAULT_CSS = """
    HeatLegend { height: 1; width: 1fr; padding: 0 1; background: $panel; }
    """

    def __init__(self, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.mode: str | None = "raw_logprobs"
        self.recorded = False  # whether the answer shown has logprobs

    def show(self, recorded: bool, mode: str | None) -> None:
        if (recorded, mode) != (self.recorded, self.mode):
            self.recorded, self.mode = recorded, mode
            self.refresh()

    def render(self) -> Text:
        text = Text("heat", style="bold")
        if not self.recorded:
            text.append(" · no probabilities recorded for this answer: run it again (f5)", style="dim")
            return text
        for style, label in zip(band_styles(self.app.get_css_variables()), BAND_LABELS):
            if not style:  # the most likely tokens are not tinted
                text.append(f" plain {label}")
                continue
            text.append(" ")
            text.append("  ", style=style)
            text.append(f" {label}")
        text.append(f" · {short_mode_label(self.mode)}", style="dim")
        return text


class TokenPanel(Widget):
    """The token under the cursor: its place, text, probability and rank, the top alternatives
    as bars, and the whole answer's mean logprob and perplexity; digits fork at an alternative."""

    DEFAULT_CSS = """
    TokenPanel { height: auto; max-height: 24; width: 1fr; padding: 0 1; background: $boost; }
    """

    def __init__(self, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.spans: TokenSpans | None = None
        self.index: int | None = None
        self.answer = ""

    def show(self, spans: TokenSpans | None, index: int | None, answer: str = "") -> None:
        self.spans, self.index, self.answer = spans, index, answer
        self.refresh(layout=True)

    def render(self) -> Text:
        spans, index = self.spans, self.index
        if spans is None or index is None or not 0 <= index < len(spans):
            return Text("no token under the cursor", style="dim")
        token = spans.tokens[index]
        variables = self.app.get_css_variables()
        accent = variables.get("accent", "yellow")
        text = Text()
        text.append(f"token {index + 1} of {len(spans)}  ", style="dim")
        text.append(token_text(shown_piece(token.text, spans, index, self.answer)), style="bold")
        rank = f"rank {token.rank}" if token.rank is not None else f"not in the top {len(token.top)}"
        text.append(f"  p {token.probability:.3f}  logprob {_number(token.logprob)}  {rank}")
        for place, alt in enumerate(token.top, 1):
            p = alt.probability
            chosen = alt.token_id == token.token_id if token.token_id is not None else alt.text == token.text
            text.append(f"\n {place:>2} ", style="dim")
            text.append(f"{token_text(alt.text, 14):<14}", style="bold" if chosen else "")
            text.append(f" {p:6.3f} ")
            text.append(_bar(p), style=accent if chosen else "dim")
            if chosen:
                text.append("  ← chosen", style="dim")
        mean = mean_logprob(spans.tokens)
        if mean is not None:
            text.append(f"\nanswer: mean logprob {mean:.3f} · perplexity {perplexity(mean):.2f}", style="dim")
        text.append("\n←→ token  ↑↓ line  pgup/pgdn page  home/end  esc leave", style="dim")
        return text


def shown_piece(piece: str, spans: TokenSpans, index: int, answer: str) -> str:
    """A token's text as read: a byte piece of a character split over tokens decodes to U+FFFD on
    its own; the answer holds the joined character, at the token's place."""
    if "\ufffd" not in piece and piece:
        return piece
    start, end = spans.span(index)
    joined = answer[start:end]
    if joined:
        return joined
    return f"{piece or '∅'} (a piece of the next character)"


def _bar(p: float) -> str:
    eighths = round(p * BAR_WIDTH * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")


def _number(value: float) -> str:
    return f"{value:.3f}" if value > -math.inf else "-inf"
