"""The message box under the panes: one message to every pane (or to the marked ones), each pane
continuing its own thread on its own target and settings (ctrl+r sends it)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from tui.widgets.pane import PromptEditor

EVERY_PANE = "A message for every pane: ctrl+r sends it · enter: new line · alt+m marks panes"
MARKED_PANES = "A message for the marked panes: ctrl+r sends it (alt+m on a marked pane unmarks it)"
ARENA = "A prompt for A and B: ctrl+r sends it (after a vote, it starts the next battle)"


class Composer(Horizontal):
    DEFAULT_CSS = """
    Composer { height: 2; background: $boost; padding: 0 1; }
    Composer Label { width: auto; padding-right: 1; color: $text-muted; }
    Composer:focus-within Label { color: $accent; text-style: bold; }
    Composer PromptEditor { height: 2; width: 1fr; padding: 0; }
    """

    def __init__(self, text: str = "", sent: list[str] | None = None) -> None:
        super().__init__()
        self._text = text
        self._to = "to all panes"
        self._sent: list[str] = list(sent or [])  # its messages, oldest first (`up` brings them back)

    def compose(self) -> ComposeResult:
        yield Label(self._to, id="composer-to", markup=False)
        yield PromptEditor(self._text, soft_wrap=True, tab_behavior="focus", compact=True, id="composer-text",
                           placeholder=EVERY_PANE, recall=lambda: list(dict.fromkeys(reversed(self._sent))))

    @property
    def editor(self) -> PromptEditor:
        return self.query_one(PromptEditor)

    @property
    def text(self) -> str:
        return self.editor.text if self.is_mounted else self._text

    def clear(self) -> None:
        self._text = ""
        if self.is_mounted:
            self.editor.text = ""

    @property
    def sent_messages(self) -> list[str]:
        """What it sent, oldest first (the session keeps them)."""
        return list(self._sent)

    def clear_sent(self) -> None:
        """Its text was sent: kept for `up`, and the box emptied."""
        if self.text.strip():
            self._sent.append(self.text)
        self.clear()

    def address(self, marked: list[int], arena: bool = False) -> None:
        """Say where a message goes: every pane, the marked ones, or a blind battle's two."""
        if arena:
            self._to, placeholder = "to A and B", ARENA
        elif marked:
            self._to, placeholder = f"to panes {', '.join(map(str, marked))}", MARKED_PANES
        else:
            self._to, placeholder = "to all panes", EVERY_PANE
        if self.is_mounted:
            self.query_one("#composer-to", Label).update(self._to)
            self.editor.placeholder = placeholder
