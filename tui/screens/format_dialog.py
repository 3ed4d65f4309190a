"""The output format dialog: the form a pane's answers (or the defaults') must take — free text,
a choice, a regex, a JSON schema (typed, or the file that holds it), any JSON object, a grammar —
checked as it is typed. An invalid format is said in red with the reason and cannot be accepted.

ctrl+s accepts (enter too in a regex, which is one line); esc leaves with nothing changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Checkbox, Select, Static, TextArea

from tui.core.output_format import (
    CHOICE,
    FREE,
    GRAMMAR,
    JSON_KINDS,
    JSON_OBJECT,
    JSON_SCHEMA,
    KIND_NAMES,
    KINDS,
    REGEX,
    FormatError,
    OutputFormat,
    from_text,
)
from tui.screens.dialogs import Dialog
from tui.text import one_line
from tui.widgets.tickbox import Tickbox

INHERIT = "inherit"  # a pane's choice: the defaults' format
PLACEHOLDERS = {
    CHOICE: "one choice a line, e.g.\nyes\nno",
    REGEX: r"a pattern the whole answer must match, e.g. (yes|no), [0-9]{1,2}",
    JSON_SCHEMA: '{"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}\n'
                 "(or on one line, the file that holds the schema)",
    GRAMMAR: 'vLLM\'s EBNF (root ::= "yes" | "no") or Lark (start: "yes" | "no"), or the file that holds it',
}
NEEDS_TEXT = (CHOICE, REGEX, JSON_SCHEMA, GRAMMAR)


@dataclass(frozen=True)
class FormatChoice:
    """What the dialog was left with: a format, or None for "as the defaults" (a pane's)."""

    format: OutputFormat | None


class FormatText(TextArea):
    """The format's text. In a regex (one line) enter accepts, in the order it was typed: as the
    dialog's binding it ran before the box had taken the letters typed before it, found the pattern
    cut short, and was lost."""

    async def on_key(self, event: events.Key) -> None:
        dialog = self.screen
        if event.key == "enter" and isinstance(dialog, FormatDialog) and dialog.one_line:
            event.stop()
            event.prevent_default()
            dialog.action_accept()


class FormatDialog(Dialog):
    DEFAULT_CSS = """
    FormatDialog #format-kind { width: 1fr; margin-bottom: 1; }
    FormatDialog #format-text { height: 10; border: round $foreground 30%; }
    FormatDialog #format-text.-invalid { border: round $error; }
    FormatDialog .format-options { height: auto; }
    FormatDialog .format-options Checkbox { border: none; padding: 0; background: transparent; }
    FormatDialog .format-check { height: auto; }
    FormatDialog .format-check.-ok { color: $success; }
    FormatDialog .format-check.-invalid { color: $error; }
    """
    BINDINGS = [Binding("ctrl+s", "accept", "Accept", priority=True)]

    def __init__(self, title: str, current: OutputFormat | None, defaults: OutputFormat | None = None,
                 base: Path | None = None) -> None:
        """`current`: the format now (None: a pane that has the defaults'); `defaults`: the
        defaults' format, for a pane's dialog (None: this is the defaults' dialog); `base`: where
        file names are read from (the working directory)."""
        super().__init__()
        self._title = title
        self._defaults = defaults
        self._base = base
        kind = INHERIT if current is None and defaults is not None else (current or OutputFormat()).kind
        self._kind = kind
        # Each kind keeps its own text while the kind is switched back and forth.
        self._texts = {k: "" for k in NEEDS_TEXT}
        shown = current if current is not None else OutputFormat()
        if shown.kind in NEEDS_TEXT:
            self._texts[shown.kind] = shown.source if shown.source else shown.editable_text()
        self._options = (shown.disable_any_whitespace, shown.disable_additional_properties)
        self.result: FormatChoice | None = None  # what is accepted now (None: nothing valid)

    def compose(self) -> ComposeResult:
        options: list[tuple[str, str]] = []
        if self._defaults is not None:
            options.append((f"as the defaults ({self._defaults.describe()})", INHERIT))
        options += [(KIND_NAMES[k], k) for k in KINDS]
        self.offered = [value for _, value in options]
        with Vertical():
            yield Static(Text(self._title), classes="dialog-title")
            yield Select(options, value=self._kind, allow_blank=False, compact=True, id="format-kind")
            yield FormatText(self._texts.get(self._kind, ""), soft_wrap=True, tab_behavior="focus", id="format-text")
            with Vertical(classes="format-options"):
                yield Tickbox("no free whitespace: compact JSON (vLLM's disable_any_whitespace)", self._options[0],
                               compact=True, id="format-compact")
                yield Tickbox("no properties but those named (vLLM's disable_additional_properties)",
                               self._options[1], compact=True, id="format-closed")
            yield Static("", classes="format-check", markup=False)
            yield Static(Text("ctrl+s: use it · esc: cancel · tab: next field · a file name alone on the line "
                              "reads the schema or grammar from it"), classes="dialog-hint")

    def on_mount(self) -> None:
        self._show_kind()
        self.check()
        if self._kind in NEEDS_TEXT:
            self.text_area.focus()
        else:
            self.query_one("#format-kind", Select).focus()

    @property
    def text_area(self) -> TextArea:
        return self.query_one("#format-text", TextArea)

    def _show_kind(self) -> None:
        area = self.text_area
        area.display = self._kind in NEEDS_TEXT
        area.placeholder = PLACEHOLDERS.get(self._kind, "")
        self.query_one("#format-compact", Checkbox).display = self._kind in JSON_KINDS
        self.query_one("#format-closed", Checkbox).display = self._kind == JSON_SCHEMA

    # -- checked as it is typed ------------------------------------------------------------------
    def parsed(self) -> tuple[FormatChoice | None, str]:
        """(the choice, what the check line says): no choice when the format cannot be used."""
        if self._kind == INHERIT:
            return FormatChoice(None), f"the defaults' format: {self._defaults.describe()}"
        try:
            fmt = from_text(self._kind, self.text_area.text if self._kind in NEEDS_TEXT else "",
                            disable_any_whitespace=self.query_one("#format-compact", Checkbox).value,
                            disable_additional_properties=self.query_one("#format-closed", Checkbox).value,
                            base=self._base)
        except FormatError as exc:
            return None, str(exc)
        problem = fmt.problem()
        if problem is not None:
            return None, problem
        return FormatChoice(fmt), fmt.describe()

    def check(self) -> None:
        self.result, said = self.parsed()
        ok = self.result is not None
        line = self.query_one(".format-check", Static)
        line.update(Text(("✓ " if ok else "✗ ") + one_line(said, 400)))
        line.set_class(ok, "-ok")
        line.set_class(not ok, "-invalid")
        self.text_area.set_class(not ok and self._kind in NEEDS_TEXT, "-invalid")

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value == self._kind or not isinstance(event.value, str):
            return
        if self._kind in NEEDS_TEXT:
            self._texts[self._kind] = self.text_area.text
        self._kind = event.value
        if self._kind in NEEDS_TEXT:
            with self.text_area.prevent(TextArea.Changed):
                self.text_area.text = self._texts[self._kind]
        self._show_kind()
        self.check()
        if self._kind in NEEDS_TEXT:  # what to type next: the pattern, the choices, the schema
            self.text_area.focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.check()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.check()

    # -- leaving ---------------------------------------------------------------------------------
    @property
    def one_line(self) -> bool:
        """A regex is one line: enter in its box accepts it; elsewhere enter is the widget's."""
        return self._kind == REGEX

    def action_accept(self) -> None:
        self.check()
        if self.result is None:
            self.app.bell()
            return
        self.dismiss(self.result)
