"""Themes as data: TOML files in themes/ (built in) and in the config dir's themes/ (the person's own)."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

from tui import locations

DEFAULT_THEME = "panes-dark"
_THEME_FIELDS = {f.name for f in fields(Theme)}


def load_theme_file(path: Path) -> Theme:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(data) - _THEME_FIELDS
    if unknown:
        raise ValueError(f"unknown theme keys: {', '.join(sorted(unknown))}")
    data.setdefault("name", path.stem)
    return Theme(**data)


def discover_themes() -> tuple[list[Theme], list[str]]:
    """Built-in themes first, then the person's (which may replace a built-in by name)."""
    themes: list[Theme] = []
    problems: list[str] = []
    for folder in (locations.builtin_themes_dir(), locations.user_themes_dir()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                themes.append(load_theme_file(path))
            except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
                problems.append(f"theme {path.name} skipped: {exc}")
    return themes, problems
