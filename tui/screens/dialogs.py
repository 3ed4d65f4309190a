"""Small modal screens over the workbench: the target picker, and a line to type (a sweep, an adapter).

Every text they show (targets' names, reasons) is outside text: shown as Text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.engine.protocol import Target
from tui.text import one_line, printable

class Dialog(ModalScreen[Any]):
    """A box in the middle of the screen over the workbench; esc leaves it with nothing chosen."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical {
        width: 80%; max-width: 100; height: auto; max-height: 80%;
        border: round $accent; background: $panel; padding: 0 1;
    }
    Dialog .dialog-title { text-style: bold; }
    Dialog .dialog-hint { color: $text-muted; }
    Dialog .dialog-error { color: $error; }
    Dialog OptionList { height: auto; max-height: 20; border: none; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class TargetPicker(Dialog):
    """Every known target, keyboard first: ↑↓ and enter choose, esc leaves."""

    def __init__(self, title: str, targets: list[tuple[Target, str]], current: Target | None) -> None:
        """`targets`: each with a note (what it is, or why it cannot be used now)."""
        super().__init__()
        self._title = title
        self._targets = targets
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            options = []
            for target, note in self._targets:
                line = Text(printable(target.label), style="bold")
                if note:
                    line.append(f"  {one_line(note, 120)}", style="dim")
                options.append(Option(line))
            yield OptionList(*options)
            yield Static(Text("↑↓ choose · enter: this target · esc: cancel"), classes="dialog-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        keys = [t.key for t, _ in self._targets]
        current = self._current.key if self._current is not None else None
        options.highlighted = keys.index(current) if current in keys else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self._targets[event.option_index][0])


class AskScreen(Dialog):
    """One line to type, checked by `check` (the value, or raises ValueError with the reason,
    shown under the line); enter accepts, esc leaves."""

    def __init__(self, title: str, hint: str, check: Callable[[str], Any], value: str = "",
                 placeholder: str = "") -> None:
        super().__init__()
        self._title = title
        self._hint = hint
        self._check = check
        self._value = value
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            yield Input(self._value, placeholder=self._placeholder)
            yield Static("", classes="dialog-error", markup=False)
            yield Static(Text(self._hint), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            result = self._check(event.value)
        except ValueError as exc:
            self.query_one(".dialog-error", Static).update(one_line(exc, 300))
            return
        self.dismiss(result)
