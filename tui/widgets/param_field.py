"""One sampling knob as a compact labelled input, validated as it is typed."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.message_pump import MessagePump
from textual.widgets import Input, Label

from tui.engine.params import ParamError, ParamSpec
from tui.widgets.line_input import LineInput


FIELD_WIDTH = 9  # cells a knob's value has at least; a longer one (a seed) widens its field
FIELD_WIDTH_MAX = 21  # a 19-digit seed and the cursor


class ParamField(Horizontal):
    """`label [value]`. In a pane (inherit=True) blank means 'use the default above'."""

    DEFAULT_CSS = """
    ParamField { width: auto; height: 1; margin-right: 1; }
    ParamField Label { width: auto; color: $text-muted; padding-right: 1; }
    ParamField Input { height: 1; }
    ParamField Input.-invalid { background: $error 40%; }
    """

    class Changed(Message):
        def __init__(self, field: ParamField) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> ParamField:
            return self.field

    def __init__(self, spec: ParamSpec, value: str = "", *, inherit: bool, id: str | None = None,
                 classes: str | None = None, owner: MessagePump | None = None) -> None:
        super().__init__(id=id, classes=f"param-{spec.name} {classes or ''}".strip())
        self.spec = spec
        self.inherit = inherit
        self._initial = value
        self._placeholder = spec.blank_means or ""  # a pane shows the inherited default here
        self.error: str | None = None
        self._owner = owner  # told of changes made while the field is not mounted
        # A field need not be mounted to be read, set or checked: the optional knobs are mounted
        # only when first shown (ctrl+o), so that they do not delay the first frame.
        self._check()

    def compose(self) -> ComposeResult:
        yield Label(self.spec.label)
        yield LineInput(self._initial, placeholder=self._placeholder, compact=True, select_on_focus=True,
                    tooltip=f"{self.spec.name}: {self.spec.help} {self.spec.bounds_text()}".strip())

    def on_mount(self) -> None:
        self._validate()
        self._fit()

    def _fit(self) -> None:
        """Wide enough for the whole value: a seed cut to its first 9 digits read as another seed."""
        width = min(FIELD_WIDTH_MAX, max(FIELD_WIDTH, len(self.input.value) + 1))
        if self.input.styles.width is None or self.input.styles.width.value != width:
            self.input.styles.width = width

    @cached_property
    def input(self) -> Input:
        return self.query_one(Input)  # kept: every run reads every field (a query walks the DOM)

    @property
    def raw(self) -> str:
        return self.input.value if self.is_mounted else self._initial

    @raw.setter
    def raw(self, text: str) -> None:
        if self.is_mounted:
            self.input.value = text  # validated and reported by on_input_changed
        else:
            self._initial = text
            self._check()
            if self._owner is not None:
                self._owner.post_message(self.Changed(self))

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        if self.is_mounted:
            self.input.placeholder = text

    def parsed(self) -> tuple[bool, Any]:
        """(is_set, value). Raises ParamError for a bad value."""
        raw = self.raw.strip()
        if self.inherit and raw == "":
            return False, None
        if self.spec.means_unset(raw):
            return True, None
        return True, self.spec.parse(raw)

    def _check(self) -> None:
        try:
            self.parsed()
            self.error = None
        except ParamError as exc:
            self.error = str(exc)

    def _validate(self) -> None:
        self._check()
        self.input.set_class(self.error is not None, "-invalid")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._validate()
        self._fit()
        self.post_message(self.Changed(self))
