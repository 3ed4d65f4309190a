"""Sampling parameters: one list of specs drives parsing, validation, the CLI flags and the UI controls.

Adding a knob is one `ParamSpec` line; the bounds mirror vLLM's `SamplingParams` checks so that a bad
value is caught as it is typed, before anything reaches the engine (vLLM still validates again).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from tui.core.output_format import FREE_FORMAT, OutputFormat

SEED_MAX = 2**63 - 1
MAX_LOGPROBS = 20  # as OpenAI's top_logprobs; vLLM's default --max-logprobs


class ParamError(ValueError):
    """A value a person typed that cannot be used; the message says why, in a few words."""


UNSET_WORDS = ("random", "none")


def unset_word(spec: ParamSpec) -> str:
    """How a field shows an optional knob left unset on purpose: the seed's own word ("random", as
    its blank says), else "none"."""
    return spec.blank_means if spec.blank_means in UNSET_WORDS else "none"


@dataclass(frozen=True)
class ParamSpec:
    name: str
    label: str  # short, for pane headers
    kind: type  # int, float or bool (a switch: on / off)
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo itself is excluded
    optional: bool = False  # blank means "unset" (None)
    blank_means: str = ""
    help: str = ""
    main: bool = True  # shown by default; the others sit under "more"
    # Where the value goes: "request", vLLM's SamplingParams (a server's request body); "template",
    # the chat template's keyword arguments (vLLM's chat_template_kwargs).
    goes_to: str = "request"

    def bounds_text(self) -> str:
        if self.lo is not None and self.hi is not None:
            left = "(" if self.lo_open else "["
            return f"in {left}{_fmt(self.lo)}, {_fmt(self.hi)}]"
        if self.lo is not None:
            return f"> {_fmt(self.lo)}" if self.lo_open else f"≥ {_fmt(self.lo)}"
        return ""

    def means_unset(self, text: str) -> bool:
        """An optional knob left unset on purpose ("random", "none"): where blank means "the
        default above" (a pane, a sweep), this is how to ask for no value."""
        return self.optional and text.strip().lower() in UNSET_WORDS

    def parse(self, text: str | None) -> Any:
        """Parse what was typed; raise ParamError with a short reason."""
        raw = "" if text is None else str(text).strip()
        if raw == "":
            if self.optional:
                return None
            raise ParamError(f"{self.name} is required")
        if self.kind is bool:
            return self.check(_switch(raw, self.name))
        try:
            if self.kind is int:
                value: Any = int(raw, 10)
            else:
                value = float(raw)
        except ValueError:
            what = "a whole number" if self.kind is int else "a number"
            raise ParamError(f"{self.name} must be {what}, not {raw[:20]!r}") from None
        return self.check(value)

    def check(self, value: Any) -> Any:
        if value is None:
            if self.optional:
                return None
            raise ParamError(f"{self.name} is required")
        if self.kind is bool:
            if not isinstance(value, bool):
                raise ParamError(f"{self.name} must be on or off (true or false in a file)")
            return value
        if self.kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ParamError(f"{self.name} must be a number")  # values from files: "0.7" is text
            value = float(value)
            if not math.isfinite(value):
                raise ParamError(f"{self.name} must be a finite number")
        elif isinstance(value, bool) or not isinstance(value, int):
            raise ParamError(f"{self.name} must be a whole number")
        too_low = self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo)
        too_high = self.hi is not None and value > self.hi
        if too_low or too_high:
            raise ParamError(f"{self.name} must be {self.bounds_text()}")
        return value

    def format(self, value: Any) -> str:
        if value is None:
            return ""
        if self.kind is bool:
            return "on" if value else "off"
        return _fmt(value)


_ON_WORDS = ("on", "true", "yes", "1")
_OFF_WORDS = ("off", "false", "no", "0")


def _compact(part: str) -> str:
    """'T 0.8' → 'T0.8'; a switch keeps a mark between its words: 'thinking:off'."""
    label, _, shown = part.rpartition(" ")
    return f"{label}:{shown}" if shown in ("on", "off") else part.replace(" ", "")


def _switch(raw: str, name: str) -> bool:
    word = raw.lower()
    if word in _ON_WORDS:
        return True
    if word in _OFF_WORDS:
        return False
    raise ParamError(f"{name} must be on or off, not {raw[:20]!r}")


def _fmt(value: float | int) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# The knobs, in display order. Defaults are those of vLLM's async_llm_streaming example.
PARAM_SPECS: tuple[ParamSpec, ...] = (
    ParamSpec("temperature", "T", float, 0.8, lo=0.0, hi=2.0, help="0 is greedy"),
    ParamSpec("top_p", "p", float, 0.95, lo=0.0, hi=1.0, lo_open=True, help="nucleus mass"),
    ParamSpec("seed", "seed", int, 42, lo=0, hi=SEED_MAX, optional=True, blank_means="random",
              help="blank: random"),
    ParamSpec("max_tokens", "max", int, 100, lo=1, help="tokens to generate at most"),
    ParamSpec("min_tokens", "min", int, 0, lo=0, help="no end token before this many", main=False),
    ParamSpec("top_k", "k", int, 0, lo=-1, help="0: off", main=False),
    ParamSpec("min_p", "min_p", float, 0.0, lo=0.0, hi=1.0, help="0: off", main=False),
    ParamSpec("presence_penalty", "pres", float, 0.0, lo=-2.0, hi=2.0, main=False),
    ParamSpec("frequency_penalty", "freq", float, 0.0, lo=-2.0, hi=2.0, main=False),
    ParamSpec("repetition_penalty", "rep", float, 1.0, lo=0.0, hi=1e6, lo_open=True, main=False),
    # vLLM's: the thinking is closed after this many tokens (the engine needs --reasoning-parser)
    ParamSpec("thinking_token_budget", "think", int, None, lo=0, optional=True, blank_means="no limit",
              help="thinking tokens at most (needs --reasoning-parser)", main=False),
    # The chat template's switch (Qwen3's and others' templates; the demo model's): off opens the
    # answer with its thinking already closed. Blank: the template decides.
    ParamSpec("enable_thinking", "thinking", bool, None, optional=True, blank_means="template",
              help="on or off: the chat template's enable_thinking (blank: the template's default)",
              main=False, goes_to="template"),
)
SPECS_BY_NAME = {spec.name: spec for spec in PARAM_SPECS}
MAIN_SPECS = tuple(spec for spec in PARAM_SPECS if spec.main)


def default_values() -> dict[str, Any]:
    return {spec.name: spec.default for spec in PARAM_SPECS}


@dataclass(frozen=True)
class Sampling:
    """What one request is sent with: the knobs, how the prompt is presented, and the form the
    answer must take."""

    values: dict[str, Any] = field(default_factory=default_values)
    chat_template: bool = True
    system_prompt: str = ""
    logprobs: int = 0  # top alternatives to record per token (0: no logprobs asked for)
    output_format: OutputFormat = FREE_FORMAT  # vLLM's structured outputs (free: none)

    def __post_init__(self) -> None:
        if not isinstance(self.output_format, OutputFormat):
            raise ParamError("output_format must be an OutputFormat")
        if isinstance(self.logprobs, bool) or not isinstance(self.logprobs, int) or \
                not 0 <= self.logprobs <= MAX_LOGPROBS:
            raise ParamError(f"logprobs must be a whole number in [0, {MAX_LOGPROBS}]")
        merged = default_values()
        unknown = set(self.values) - set(merged)
        if unknown:
            raise ParamError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        for name, value in self.values.items():
            merged[name] = SPECS_BY_NAME[name].check(value)
        if merged["min_tokens"] > merged["max_tokens"]:
            raise ParamError("min_tokens must be ≤ max_tokens")
        object.__setattr__(self, "values", merged)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def request_values(self) -> dict[str, Any]:
        """The knobs vLLM's SamplingParams takes (a server: the request body's)."""
        return {name: value for name, value in self.values.items() if SPECS_BY_NAME[name].goes_to == "request"}

    @property
    def template_kwargs(self) -> dict[str, Any]:
        """The chat template's keyword arguments that are set (vLLM's chat_template_kwargs); they
        mean nothing without the chat template."""
        if not self.chat_template:
            return {}
        return {name: value for name, value in self.values.items()
                if SPECS_BY_NAME[name].goes_to == "template" and value is not None}

    def with_values(self, **changes: Any) -> Sampling:
        return replace(self, values={**self.values, **changes})

    def check_context(self, max_model_len: int | None) -> None:
        """max_tokens can only be judged against the model's context length."""
        if max_model_len is not None and self.values["max_tokens"] >= max_model_len:
            raise ParamError(
                f"max_tokens must be below the model's context length ({max_model_len})"
            )

    def compact_summary(self, tiny: bool = False, leave_out: frozenset[str] = frozenset()) -> str:
        """'T0.8 p0.95 seed42 max100': the summary in less room (narrow panes' titles); `tiny`:
        'T.8 p.95 s42 m100'."""
        summary = self.summary(leave_out=leave_out)
        parts = [_compact(part) for part in summary.split(" · ")] if summary else []
        if tiny:
            parts = [part.replace("0.", ".").replace("seed", "s").replace("max", "m") for part in parts]
        return " ".join(parts)

    def summary(self, names: tuple[str, ...] | None = None, leave_out: frozenset[str] = frozenset()) -> str:
        """Short 'T 0.8 · p 0.95 · seed 42 · max 100' text for headers and logs; without the knobs
        in `leave_out` (said elsewhere: a sweep pane's label)."""
        specs = MAIN_SPECS if names is None else tuple(SPECS_BY_NAME[n] for n in names)
        parts = []
        for spec in specs:
            if spec.name in leave_out:
                continue
            value = self.values[spec.name]
            shown = spec.blank_means if value is None else spec.format(value)
            parts.append(f"{spec.label} {shown}")
        for spec in PARAM_SPECS:
            if not spec.main and spec.name not in (names or ()) and spec.name not in leave_out \
                    and self.values[spec.name] != spec.default:
                parts.append(f"{spec.label} {spec.format(self.values[spec.name])}")
        if not self.output_format.is_free:
            parts.append(self.output_format.label)
        return " · ".join(parts)
