"""The answer view's colours: the heat view's probability bands, the token cursor, and the
thread's questions, figures and selected message.

They are made from the theme's own colours so that they read on dark and light themes alike. The
tokens and their bands are the core's (tui/core/tokens.py).
"""

from __future__ import annotations

from rich.style import Style
from textual.color import Color

# An ANSI theme's tints: the terminal's palette cannot be mixed, so four of its colours.
ANSI_TINTS = (("green", "black"), ("yellow", "black"), ("magenta", "black"), ("red", "white"))


def band_styles(variables: dict[str, str]) -> list[Style]:
    """A background tint per band, from the theme: none for the most likely tokens, then the
    theme's success, warning and error colours mixed into its surface ever more strongly. The text
    keeps the theme's colour, so it stays as readable as the rest of the answer."""
    surface = Color.parse(variables.get("surface", "#1e1e1e"))
    if variables.get("error", "").startswith("ansi_"):  # the terminal's own palette: cannot be mixed
        return [Style()] + [Style(bgcolor=bg, color=fg, dim=False) for bg, fg in ANSI_TINTS]
    tints = (("success", 0.0), ("success", 0.28), ("warning", 0.38), ("warning", 0.62), ("error", 0.62))
    styles = []
    for name, amount in tints:
        if amount == 0.0:
            styles.append(Style())
            continue
        tint = surface.blend(Color.parse(variables.get(name, "#888888")), amount)
        # Not dimmed, even in the thinking (dimmed elsewhere): a tint's text keeps its contrast.
        styles.append(Style(bgcolor=tint.rich_color, color=readable_on(tint).rich_color, dim=False))
    return styles


def decoration_styles(variables: dict[str, str]) -> dict[str, Style]:
    """The thread's styles (tui/thread_text.py): a question in the theme's primary text colour, an
    earlier answer's figures and an answer's thinking dimmed, the message under the message cursor
    on an accent tint."""
    surface = Color.parse(variables.get("surface", "#1e1e1e"))
    question = variables.get("text-primary") or variables.get("primary", "")
    selected = cursor_tint(surface, variables)
    user = Style(bold=True)
    if question and not question.startswith("ansi_"):
        try:
            user = Style(bold=True, color=Color.parse(question).rich_color)
        except Exception:  # a colour Textual cannot parse: bold alone
            pass
    return {"user": user, "meta": Style(dim=True), "thinking": Style(dim=True, italic=True),
            "selected": Style(bgcolor=selected.rich_color, color=readable_on(selected).rich_color)}


CURSOR_CONTRAST = 3.0  # the message cursor's tint against the pane (WCAG ratio): found at a glance
_TINT_COLOURS = ("accent", "primary", "secondary", "foreground")


def cursor_tint(surface: Color, variables: dict[str, str]) -> Color:
    """The message cursor's background: the theme's accent blended into the surface, as little as
    stands out (CURSOR_CONTRAST), else the next of its colours that does. A third of the accent,
    for every theme, was too faint to find on some (a new user); on a light theme with a light
    accent no amount of it stood out."""
    amounts = [step / 20 for step in range(7, 17)]  # 0.35 … 0.8
    best: tuple[float, Color] | None = None
    for name in _TINT_COLOURS:
        try:
            colour = Color.parse(variables.get(name) or "#ffa62b")
        except Exception:  # a colour Textual cannot parse: the next one
            continue
        for amount in amounts:
            tint = surface.blend(colour, amount)
            contrast = contrast_ratio(surface, tint)
            if contrast >= CURSOR_CONTRAST:
                return tint
        if best is None or contrast > best[0]:
            best = (contrast, tint)
    return best[1] if best is not None else surface.blend(Color.parse("#ffa62b"), 0.5)


def accent_text(variables: dict[str, str]) -> Style:
    """Text in the theme's accent colour. Read by Textual: its colour names (an ANSI theme's
    'ansi_green') are not Rich's, and given to Rich as a style they crash the drawing."""
    try:
        return Style(color=Color.parse(variables.get("accent", "#ffa62b")).rich_color)
    except Exception:  # a colour Textual cannot parse either: the text's own colour
        return Style()


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
