"""A sweep: values for one or more knobs, targets or output formats, one pane per combination.

Typed as `temperature=0,0.7,1.2 seed=1,2` or `target=*` (every target) or
`target=base,proverbs top_p=0.9,1` or `format=free,pane`: each name is a sampling knob, `target`
or `format`, its values are separated by commas (`seed=1,2,random`: "random" or "none" asks for no
seed, as in a pane; a format's words: free, json, pane — the pane's own —, choice:A|B, regex:…,
schema:FILE, grammar:FILE, where a comma inside brackets belongs to the word). The panes are
titled by what differs between them (the target is in every pane's title already).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from tui.core.output_format import FREE_FORMAT, SWEEP_WORDS_HELP, FormatError, OutputFormat, parse_word, split_words
from tui.engine.params import SPECS_BY_NAME, ParamError
from tui.engine.protocol import Target
from tui.targets import TargetError, resolve
from tui.text import one_line

_AXIS_START = re.compile(r"\s+(?=[A-Za-z_]+\s*=)")  # a space before the next `name=`
EVERY = "*"
FORMAT = "format"


class SweepError(ValueError):
    """A sweep that cannot be run; the message says which part and why."""


@dataclass(frozen=True)
class Combination:
    overrides: dict[str, str]  # knob name → value as typed
    target: Target | None  # None: the pane's own target
    label: str  # what sets it apart, for its title
    output_format: OutputFormat | None = None  # None: the pane's own format


def parse_sweep(text: str, known: list[Target], limit: int,
                pane_format: OutputFormat = FREE_FORMAT) -> list[Combination]:
    """Every combination of the sweep's values, in order (the first axis varies slowest);
    SweepError when a name or a value is wrong, or there are more than `limit` combinations.
    `pane_format`: what the word `pane` means in a format axis (the sweeping pane's format)."""
    axes: list[tuple[str, list[str]]] = []
    for part in _AXIS_START.split(text.strip()):
        if not part:
            continue
        name, sep, values = part.partition("=")
        name = name.strip()
        if not sep:
            raise SweepError(f"{part!r}: write name=value,value (e.g. temperature=0,0.7,1.2)")
        if name not in ("target", FORMAT) and name not in SPECS_BY_NAME:
            raise SweepError(f"{name!r} is not a knob, 'target' or 'format' (knobs: {', '.join(SPECS_BY_NAME)})")
        if any(name == seen for seen, _ in axes):
            raise SweepError(f"{name} is given twice")
        axes.append((name, _formats(values, pane_format) if name == FORMAT else _values(name, values, known)))
    if not axes:
        raise SweepError("nothing to sweep: e.g. temperature=0,0.7,1.2 seed=1,2 or target=*")
    count = 1
    for _, values in axes:
        count *= len(values)
    if count > limit:
        raise SweepError(f"{count} combinations; room for {limit} more panes")
    # The target is in every title already (with more than one target): the label names the rest.
    varying = [name for name, values in axes if len(values) > 1 and name != "target"]
    combinations = []
    for chosen in itertools.product(*(values for _, values in axes)):
        picked = dict(zip((name for name, _ in axes), chosen))
        target = picked.pop("target", None)
        fmt = picked.pop(FORMAT, None)
        shown = {**picked, FORMAT: fmt.word if fmt is not None else ""}
        label = " · ".join(f"{name}={shown[name]}" for name in varying)
        combinations.append(Combination(picked, target, label, None if fmt is None else fmt.format))
    return combinations


@dataclass(frozen=True)
class _FormatValue:
    word: str  # as typed, for the panes' titles
    format: OutputFormat


def _formats(text: str, pane_format: OutputFormat) -> list[_FormatValue]:
    """A format axis's values, each checked (a schema must be valid, a regex must compile)."""
    values = []
    for word in split_words(text):
        if not word:
            raise SweepError(f"{FORMAT}: an empty value (words: {SWEEP_WORDS_HELP})")
        try:
            fmt = parse_word(word, pane=pane_format)
        except FormatError as exc:
            raise SweepError(f"{FORMAT}: {exc}") from None
        problem = fmt.problem()
        if problem is not None:
            raise SweepError(f"{FORMAT}={one_line(word, 40)}: {problem}")
        short = word if len(word) <= 24 else fmt.label or word[:24] + "…"
        values.append(_FormatValue(short, fmt))
    return values


def _values(name: str, text: str, known: list[Target]) -> list:
    """The axis's values: knob values as typed (checked), or the targets named."""
    values = [v.strip() for v in text.split(",")]
    if not any(values):
        raise SweepError(f"{name}: no values")
    if name == "target":
        if values == [EVERY]:
            return list(known)
        try:
            return [resolve(value, known) for value in values]
        except TargetError as exc:
            raise SweepError(str(exc)) from None
    spec = SPECS_BY_NAME[name]
    for value in values:
        if spec.means_unset(value):  # seed=1,2,random
            continue
        try:
            spec.parse(value)
        except ParamError as exc:
            raise SweepError(f"{name}={value}: {exc}") from None
    return values

