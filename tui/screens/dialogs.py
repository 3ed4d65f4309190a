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
from textual.fuzzy import FuzzySearch
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.engine.protocol import Target
from tui.keymap import FOCUS_BINDINGS, LIST_BINDINGS
from tui.text import one_line, printable
from tui.widgets.line_input import LineInput

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
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel"), *FOCUS_BINDINGS]
    _answered = False

    def answer(self, value: Any) -> None:
        """Close with `value`, once: keys typed fast (enter, enter) would dismiss it twice, and a
        second dismiss of a screen already gone raised ScreenStackError."""
        if not self._answered and self.is_current:
            self._answered = True
            self.dismiss(value)

    def action_dismiss_none(self) -> None:
        self.answer(None)


class TargetPicker(Dialog):
    """Every known target, keyboard first: type to filter (fuzzy, as the command palette), ↑↓ and
    enter choose, esc leaves."""

    DEFAULT_CSS = """
    TargetPicker #filter { border: none; height: 1; padding: 0 1; margin: 0 0 1 0; background: $boost; }
    """
    BINDINGS = LIST_BINDINGS

    def __init__(self, title: str, targets: list[tuple[Target, str]], current: Target | None) -> None:
        """`targets`: each with a note (what it is, or why it cannot be used now)."""
        super().__init__()
        self._title = title
        self._targets = targets
        self._current = current
        self._shown: list[int] = []  # the targets listed, by index into _targets

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            yield LineInput(placeholder="type to filter", id="filter")
            yield OptionList()
            yield Static("", classes="dialog-error", markup=False)
            yield Static(Text("type to filter · ↑↓ choose · enter: this target · esc: cancel · ● the pane's now"),
                         classes="dialog-hint")

    def on_mount(self) -> None:
        self._show("")
        keys = [self._targets[i][0].key for i in self._shown]
        current = self._current.key if self._current is not None else None
        self.query_one(OptionList).highlighted = keys.index(current) if current in keys else 0
        self.query_one("#filter", Input).focus()

    def _show(self, query: str) -> None:
        """List the targets whose label matches `query`, best first (all, in order, when blank)."""
        search = FuzzySearch()
        scored = []
        for index, (target, _) in enumerate(self._targets):
            label = printable(target.label)
            score, offsets = search.match(query, label) if query else (1.0, ())
            if score > 0:
                scored.append((-score, index, label, offsets))
        scored.sort()
        self._shown = [index for _, index, _, _ in scored]
        options = self.query_one(OptionList)
        options.clear_options()
        current = self._current.key if self._current is not None else None
        options.add_options([self._option(label, offsets, self._targets[index][1],
                                          self._targets[index][0].key == current)
                             for _, index, label, offsets in scored])
        options.highlighted = 0 if scored else None
        options.display = bool(scored)
        none = f"no target matches {query!r}: backspace to widen the filter" if not scored else ""
        error = self.query_one(".dialog-error", Static)
        error.update(Text(one_line(none, 200)))
        error.display = bool(none)

    @staticmethod
    def _option(label: str, matched, note: str, current: bool) -> Option:
        line = Text("● " if current else "  ", style="bold")
        line.append(label, style="bold")
        matched = [offset + 2 for offset in matched]
        for offset in matched:
            line.stylize("underline", offset, offset + 1)
        if note:
            line.append(f"  {one_line(note, 120)}", style="dim")
        return Option(line)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._show(event.value.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        highlighted = self.query_one(OptionList).highlighted
        if highlighted is not None:
            self.answer(self._targets[self._shown[highlighted]][0])

    def action_move(self, action: str) -> None:
        getattr(self.query_one(OptionList), f"action_{action}")()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()  # a click, or enter with the list focused
        self.answer(self._targets[self._shown[event.option_index]][0])


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
            yield LineInput(self._value, placeholder=self._placeholder)
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
        self.answer(result)
