"""Reading values from files a person may have edited by hand: every field is checked for its type
and range, and a bad one is named (`FieldError("panes[2].ttft_ms", "must be a number or null")`).

Session, config, theme and batch files use these; what to do with a bad file (move it aside with a
notice, or exit 2 with `file:line: reason`) is their caller's business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from tui.text import one_line


class FieldError(ValueError):
    """A field of a file that cannot be used: where it is, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def describe(value: Any) -> str:
    """A value as a reason may quote it: short and safe."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return one_line(repr(value), 30)
    if isinstance(value, str):
        return one_line(repr(value), 40)
    return f"a {'table' if isinstance(value, Mapping) else 'list' if isinstance(value, list) else type(value).__name__}"


def table(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FieldError(field, f"must be a table (object), not {describe(value)}")
    for key in value:
        if not isinstance(key, str):
            raise FieldError(field, f"has a key that is not a string ({describe(key)})")
    return value


def string(value: Any, field: str, *, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise FieldError(field, f"must be a string, not {describe(value)}")
    if limit is not None and len(value) > limit:
        raise FieldError(field, f"is longer than {limit} characters")
    return value


def optional_string(value: Any, field: str) -> str | None:
    return None if value is None else string(value, field)


def boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise FieldError(field, f"must be true or false, not {describe(value)}")
    return value


def integer(value: Any, field: str, *, low: int | None = None, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise FieldError(field, f"must be a whole number, not {describe(value)}")
    _check_range(value, field, low, high)
    return value


def number(value: Any, field: str, *, low: float | None = None, high: float | None = None,
           optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        what = "a number or null" if optional else "a number"
        raise FieldError(field, f"must be {what}, not {describe(value)}")
    _check_range(value, field, low, high)
    return float(value)


def one_of(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise FieldError(field, f"must be one of {', '.join(choices)}, not {describe(value)}")
    return value


def list_of(value: Any, field: str, item: Callable[[Any, str], Any], *, limit: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise FieldError(field, f"must be a list, not {describe(value)}")
    if limit is not None and len(value) > limit:
        raise FieldError(field, f"has more than {limit} items")
    return [item(entry, f"{field}[{index}]") for index, entry in enumerate(value)]


def known_keys(data: Mapping[str, Any], field: str, known: tuple[str, ...] | set[str]) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        where = f"{field}." if field else ""
        raise FieldError(f"{where}{unknown[0]}", f"is not a setting here (known: {', '.join(sorted(known))})")


def _check_range(value: float, field: str, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise FieldError(field, f"must be ≥ {low:g}, not {describe(value)}")
    if high is not None and value > high:
        raise FieldError(field, f"must be ≤ {high:g}, not {describe(value)}")
