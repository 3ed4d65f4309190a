"""The global defaults every pane starts from: the knobs, chat template on/off and a system prompt."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from textual.app import ComposeResult
from textual.containers import HorizontalScroll, Vertical
from textual.message import Message
from rich.text import Text
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from tui.core.output_format import FREE_FORMAT, OutputFormat
from tui.engine.params import PARAM_SPECS, ParamError, Sampling
from tui.engine.protocol import Target
from tui.text import printable
from tui.widgets.line_input import LineInput
from tui.widgets.param_field import ParamField
from tui.widgets.tickbox import Tickbox


class SettingsBar(Vertical):
    DEFAULT_CSS = """
    SettingsBar { height: auto; background: $boost; padding: 0 1; }
    SettingsBar HorizontalScroll { height: 1; width: 1fr; scrollbar-size-horizontal: 0; }
    SettingsBar .title { width: auto; text-style: bold; padding-right: 1; }
    SettingsBar .more-row { display: none; height: 1; }
    SettingsBar.-show-more .more-row { display: block; }
    SettingsBar Checkbox { height: 1; border: none; padding: 0; margin-right: 1; background: transparent; }
    SettingsBar #system-prompt { width: 30; height: 1; }
    SettingsBar #default-target { width: 30; display: none; }
    SettingsBar.-targets #default-target { display: block; }
    SettingsBar .settings-error { color: $error; width: auto; padding-left: 1; }
    SettingsBar #defaults-format { width: auto; min-width: 6; height: 1; border: none; margin-right: 1; }
    """

    class Changed(Message):
        pass

    class FormatRequested(Message):
        """The defaults' output format was clicked: the workbench opens its dialog."""

    def __init__(self, raw: dict[str, str], chat_template: bool, system_prompt: str,
                 targets: list[Target] | None = None, default_target: Target | None = None,
                 output_format: OutputFormat = FREE_FORMAT) -> None:
        super().__init__()
        self._format = output_format
        self._targets = list(targets or [])
        self._default_target = default_target
        self._chat = chat_template
        self._system = system_prompt
        # Every knob, mounted or not: the optional ones are mounted when first shown (show_more).
        self._fields = [ParamField(spec, raw.get(spec.name, spec.format(spec.default)), inherit=False,
                                   owner=self) for spec in PARAM_SPECS]
        self._more_built = False

    def compose(self) -> ComposeResult:
        with HorizontalScroll(can_focus=False):  # no tab stop of its own: see Pane._more_row
            yield Label("defaults", classes="title")
            yield Select(self._target_options(), prompt="target", allow_blank=False, compact=True,
                         value=self._target_value(self._default_target), id="default-target")
            yield from (f for f in self._fields if f.spec.main)
            yield Label("format", classes="title")
            yield Button(Text(self._format.describe()), compact=True, id="defaults-format")
            yield Tickbox("chat template", self._chat, compact=True, id="chat-template")
            yield Label("system", classes="title")
            yield LineInput(self._system, placeholder="system prompt (chat only)", compact=True, id="system-prompt")
            yield Static("", classes="settings-error", markup=False)
        # The optional knobs (ctrl+o) on a line of their own: on the first, they pushed the system
        # prompt out of sight even at 200 columns.
        yield HorizontalScroll(classes="more-row", can_focus=False)

    def on_mount(self) -> None:
        self.set_class(len(self._targets) > 1, "-targets")

    def on_descendant_blur(self) -> None:
        """Tab scrolls a row sideways to the field it reaches; once the focus has left the bar, its
        rows start at their beginning again (a new user's line stayed ` lts demo ▼ T 0.8`)."""
        if not self.has_focus_within:
            for row in self.query(HorizontalScroll):
                row.scroll_home(animate=False)

    # -- the default target: shown when there is more than one ---------------------------------------
    def _target_options(self) -> list[tuple[Text, int]]:
        return [(Text(printable(t.label)), index) for index, t in enumerate(self._targets)] or [(Text("–"), 0)]

    def _target_value(self, target: Target | None) -> int:
        keys = [t.key for t in self._targets]
        return keys.index(target.key) if target is not None and target.key in keys else 0

    def set_targets(self, targets: list[Target], default: Target | None) -> None:
        self._targets = list(targets)
        select = self.query_one("#default-target", Select)
        with select.prevent(Select.Changed):
            select.set_options(self._target_options())
            select.value = self._target_value(default)
        self.set_class(len(targets) > 1, "-targets")

    def default_target(self) -> Target | None:
        """The target chosen in the bar; None while there is one target only."""
        if len(self._targets) < 2:
            return None
        value = self.query_one("#default-target", Select).value
        return self._targets[value] if isinstance(value, int) and 0 <= value < len(self._targets) else None

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._changed()

    def fields(self) -> list[ParamField]:
        return self._fields

    def field(self, name: str) -> ParamField:
        return next(f for f in self._fields if f.spec.name == name)

    def show_more(self, show: bool) -> None:
        """Show or hide the optional knobs; they are mounted the first time they are shown."""
        self.set_class(show, "-show-more")
        if show and not self._more_built and self.is_mounted:
            self._more_built = True
            more = [f for f in self._fields if not f.spec.main]
            self.query_one(".more-row", HorizontalScroll).mount(Label("more", classes="title"), *more)

    def raw_values(self) -> dict[str, str]:
        return {f.spec.name: f.raw for f in self.fields()}

    @property
    def chat_template(self) -> bool:
        return self._chat_box.value

    @property
    def system_prompt(self) -> str:
        return self._system_input.value

    # Kept, not queried: every run reads them.
    @cached_property
    def _chat_box(self) -> Checkbox:
        return self.query_one("#chat-template", Checkbox)

    @cached_property
    def _system_input(self) -> Input:
        return self.query_one("#system-prompt", Input)

    def sampling(self) -> Sampling:
        """The defaults as a Sampling; ParamError when a field is invalid."""
        values: dict[str, Any] = {}
        for field in self.fields():
            _, values[field.spec.name] = field.parsed()
        return Sampling(values, chat_template=self.chat_template, system_prompt=self.system_prompt,
                        output_format=self._format)

    def first_error(self) -> str | None:
        for field in self.fields():
            if field.error:
                return f"defaults: {field.error}"
        problem = self._format.problem()
        return None if problem is None else f"defaults: output format: {problem}"

    # -- the defaults' output format (its dialog is the workbench's) -------------------------------
    @property
    def output_format(self) -> OutputFormat:
        return self._format

    def set_output_format(self, fmt: OutputFormat) -> None:
        self._format = fmt
        if self.is_mounted:
            self.query_one("#defaults-format", Button).label = Text(fmt.describe())
        self._changed()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.post_message(self.FormatRequested())

    def _changed(self) -> None:
        error = self.first_error()
        self.query_one(".settings-error", Static).update(error or "")
        self.post_message(self.Changed())

    def on_param_field_changed(self, event: ParamField.Changed) -> None:
        event.stop()
        self._changed()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._changed()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed()


__all__ = ["SettingsBar", "ParamError"]
