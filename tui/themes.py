"""Themes as data: TOML files in themes/ (built in) and in the config dir's themes/ (the person's own).

Every field of a theme file is checked (colours must parse, numbers must be numbers); a person's
theme that cannot be used is moved aside with a notice that names the field.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

from tui import locations
from tui import validate as V
from tui.storage import move_aside
from tui.text import one_line

DEFAULT_THEME = "panes-dark"
COLOURS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
           "surface", "panel", "boost")
_KEYS = ("name", *COLOURS, "dark", "luminosity_spread", "text_alpha", "variables", "ansi")


def load_theme_file(path: Path) -> Theme:
    """A theme from its file; FieldError names the first bad field (OSError, UnicodeDecodeError
    and TOMLDecodeError when it cannot be read at all)."""
    return theme_from_data(tomllib.loads(path.read_text(encoding="utf-8")), default_name=path.stem)


def theme_from_data(data: Any, default_name: str) -> Theme:
    data = V.table(data, "theme")
    V.known_keys(data, "", _KEYS)
    values: dict[str, Any] = {"name": V.string(data.get("name", default_name), "name", limit=80)}
    if not values["name"].strip():
        raise V.FieldError("name", "must not be empty")
    if "primary" not in data:
        raise V.FieldError("primary", "is required (a colour)")
    for key in COLOURS:
        if key in data:
            values[key] = _colour(data[key], key)
    if "dark" in data:
        values["dark"] = V.boolean(data["dark"], "dark")
    if "ansi" in data:
        values["ansi"] = V.boolean(data["ansi"], "ansi")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data:
            values[key] = V.number(data[key], key, low=0, high=1)
    if "variables" in data:
        variables = V.table(data["variables"], "variables")
        values["variables"] = {name: V.string(value, f"variables.{name}", limit=200)
                               for name, value in variables.items()}
    return Theme(**values)


def _colour(value: Any, field: str) -> str:
    text = V.string(value, field, limit=80)
    try:
        Color.parse(text)
    except ColorParseError:
        raise V.FieldError(field, f"is not a colour ({V.describe(text)})") from None
    return text


def discover_themes() -> tuple[list[Theme], list[str]]:
    """Built-in themes first, then the person's (which may replace a built-in by name), and a
    notice for each of the person's files that was moved aside."""
    themes: list[Theme] = []
    problems: list[str] = []
    for folder, own in ((locations.builtin_themes_dir(), False), (locations.user_themes_dir(), True)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                themes.append(load_theme_file(path))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, V.FieldError) as exc:
                reason = str(exc) if isinstance(exc, V.FieldError) else f"cannot be read ({exc})"
                moved = move_aside(path) if own else None
                where = f"; moved to {moved.name}" if moved else ""
                problems.append(one_line(f"theme {path.name} skipped: {reason}{where}", 600))
    return themes, problems
