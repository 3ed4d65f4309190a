"""Under an answer: the heat view's legend, and the token under the cursor with its alternatives.

Both are plain text (tokens have passed tui/text.py's gate and are shown by `token_text`), drawn
from the theme's colours each time they render, so that a theme change recolours them.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from tui.engine.logprobs import mean_logprob, perplexity, short_mode_label
from tui.core.tokens import BAND_LABELS, SHORT_BAND_LABELS, ShownTokens
from tui.heat import accent_text, band_styles
from tui.text import token_text
from tui.widgets.fit import fit

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
        self.constrained = False  # whether the answer shown had an output format

    def show(self, recorded: bool, mode: str | None, constrained: bool = False) -> None:
        """`constrained`: the answer had an output format, whose mask vLLM applies to the logits
        before any of its --logprobs-mode distributions: only what the format allowed has a
        probability."""
        if (recorded, mode, constrained) != (self.recorded, self.mode, self.constrained):
            self.recorded, self.mode, self.constrained = recorded, mode, constrained
            self.refresh()

    def render(self) -> Text:
        return fit(self.forms(), max(1, self.size.width - 2))

    def forms(self) -> list[Text]:
        """The legend, longest first: a narrow pane shows the first that fits."""
        if not self.recorded:
            return [Text.assemble(("heat", "bold"), (f" · {note}", "dim")) for note in (
                "no probabilities recorded for this answer: run it again (f5)", "not recorded: run again (f5)",
                "not recorded")] + [Text("heat", style="bold")]
        styles = band_styles(self.app.get_css_variables())
        forms = []
        for labels, mode in ((BAND_LABELS, True), (BAND_LABELS, False), (SHORT_BAND_LABELS, False)):
            text = Text("heat", style="bold")
            for style, label in zip(styles, labels):
                if not style:  # the most likely tokens are not tinted
                    text.append(f" plain {label}" if mode else f" {label}")
                    continue
                text.append(" ")
                text.append("  ", style=style)
                text.append(f" {label}")
            if mode:
                text.append(f" · {short_mode_label(self.mode)}", style="dim")
                if self.constrained:
                    text.append(", within the format", style="dim")
            forms.append(text)
        return forms


class TokenPanel(Widget):
    """The token under the cursor: its place, text, probability and rank, the top alternatives
    as bars, and the whole answer's mean logprob and perplexity; digits fork at an alternative."""

    DEFAULT_CSS = """
    TokenPanel { height: auto; max-height: 24; width: 1fr; padding: 0 1; background: $boost; }
    """

    def __init__(self, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.tokens: ShownTokens | None = None
        self.index: int | None = None
        self.text = ""

    def show(self, tokens: ShownTokens | None, index: int | None, text: str = "") -> None:
        """The token at `index` of `tokens`, whose spans are offsets in `text` (the view's)."""
        self.tokens, self.index, self.text = tokens, index, text
        self.refresh(layout=True)

    def render(self) -> Text:
        tokens, index = self.tokens, self.index
        width = max(1, self.size.width - 2)
        if tokens is None or index is None or not 0 <= index < len(tokens):
            return fit([Text("no token under the cursor", style="dim")], width)
        token = tokens.token(index)
        accent = accent_text(self.app.get_css_variables())
        piece = token_text(shown_piece(token.text, tokens.span(index), self.text))
        rank = f"rank {token.rank}" if token.rank is not None else f"not in the top {len(token.top)}"
        count = tokens.thinking_count
        place = (f"thinking token {index + 1} of {count}  " if index < count
                 else f"token {index - count + 1} of {len(tokens) - count}  ")
        lines = [fit([Text.assemble((place, "dim"), (piece, "bold"), tail)
                      for tail in (f"  p {token.probability:.3f}  logprob {_number(token.logprob)}  {rank}",
                                   f"  p {token.probability:.3f}  {rank}", f" {token.probability:.3f}")], width)]
        column = 14 if width >= 40 else 10
        bar = max(3, min(BAR_WIDTH, width - (4 + column + 8 + 2)))
        wide = width >= 4 + column + 8 + bar + 10  # room for "  ← chosen" after the bar
        for place, alt in enumerate(token.top, 1):
            chosen = alt.token_id == token.token_id if token.token_id is not None else alt.text == token.text
            row = Text(f" {place:>2} ", style="dim")
            row.append(f"{token_text(alt.text, column):<{column}}", style="bold" if chosen else "")
            row.append(f" {alt.probability:6.3f} ")
            row.append(_bar(alt.probability, bar), style=accent if chosen else "dim")
            if chosen:
                row.append("  ← chosen" if wide else " ◀", style="dim")
            lines.append(fit([row], width))
        mean = mean_logprob(tokens.answer.tokens)
        if mean is not None:
            lines.append(fit([Text(f"answer: mean logprob {mean:.3f} · perplexity {perplexity(mean):.2f}", style="dim"),
                              Text(f"mean logprob {mean:.3f} · ppl {perplexity(mean):.2f}", style="dim")], width))
        lines.append(fit([Text(hint, style="dim") for hint in (
            "←→ token  ↑↓ line  pgup/pgdn page  home/end  enter/1-9 fork  esc leave",
            "←→ ↑↓ move · enter/1-9 fork · esc", "←→↑↓ · enter fork · esc")], width))
        return Text("\n").join(lines)


def shown_piece(piece: str, span: tuple[int, int], text: str) -> str:
    """A token's text as read: a byte piece of a character split over tokens decodes to U+FFFD on
    its own; the text shown holds the joined character, at the token's place (`span`)."""
    if "\ufffd" not in piece and piece:
        return piece
    start, end = span
    joined = text[start:end]
    if joined:
        return joined
    return f"{piece or '∅'} (a piece of the next character)"


def _bar(p: float, width: int = BAR_WIDTH) -> str:
    eighths = round(p * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")


def _number(value: float) -> str:
    return f"{value:.3f}" if value > -math.inf else "-inf"
