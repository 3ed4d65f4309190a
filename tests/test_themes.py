"""Themes: every pane's border can be seen on every built-in theme, in true colour and in a
terminal of 256 colours."""

from __future__ import annotations

import pytest
from rich.color import ColorSystem
from textual.color import Color
from textual.theme import BUILTIN_THEMES

from tests.support.app import make_app
from tui.heat import contrast_ratio
from tui.themes import discover_themes

THEMES = [theme.name for theme in discover_themes()[0]]


def in_256_colours(color: Color) -> Color:
    downgraded = color.rich_color.downgrade(ColorSystem.EIGHT_BIT).get_truecolor()
    return Color(downgraded.red, downgraded.green, downgraded.blue)


@pytest.mark.parametrize("theme", THEMES)
async def test_an_unfocused_panes_border_is_seen(theme):
    app = make_app(theme=theme)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("ctrl+n")
        await pilot.pause()
        first = app.workbench.panes()[0]  # not focused: the new pane is
        assert not first.has_focus_within
        border = first.styles.border_top[1]
        behind = first.background_colors[0]
        seen = behind + border  # the border's colour as drawn over what is behind it
        assert contrast_ratio(seen, behind) >= 1.4, (theme, seen, behind)
        assert contrast_ratio(in_256_colours(seen), in_256_colours(behind)) >= 1.3, theme


@pytest.mark.parametrize("theme", THEMES + sorted(BUILTIN_THEMES))
def test_the_message_cursor_is_seen_on_every_theme(theme):
    """A new user could not find the message under the cursor (alt+up): its tint, a third of the
    accent over the pane, was faint, and on a light theme with a light accent hardly there."""
    from tui.heat import decoration_styles

    found = {t.name: t for t in discover_themes()[0]}
    variables = (found.get(theme) or BUILTIN_THEMES[theme]).to_color_system().generate()
    surface = Color.parse(variables["surface"])
    selected = decoration_styles(variables)["selected"]
    tint = Color.from_rich_color(selected.bgcolor)
    if tint.ansi is not None:  # an ANSI theme: the terminal's own colours, a colour of its own
        assert tint.ansi != surface.ansi, theme
        return
    assert contrast_ratio(tint, surface) >= 3.0, theme
    assert contrast_ratio(Color.from_rich_color(selected.color), tint) >= 4.5, theme  # its text reads
