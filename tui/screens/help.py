"""F1: every key of the workbench, read from the bindings themselves so docs and keys agree."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "Each pane is one prompt. Type prompts, set the defaults on the top line (a pane's own fields "
    "override them; blank means 'use the default'), then run. Output streams side by side; the "
    "status line under each answer shows state, time to first token, tokens and tokens per second."
)


def key_table(bindings: list[Binding]) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("key")
    table.add_column("does")
    for binding in bindings:
        keys = ", ".join(k.strip() for k in binding.key.split(","))
        table.add_row(keys, binding.description)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "Close help")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self._key_list = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("[b]vllm-panes[/b] — keys\n")
            yield Static(INTRO + "\n", markup=False)
            yield Static(key_table(self._key_list))
            yield Static("\nEvery action is also in the command palette (ctrl+p). Esc closes this.",
                         markup=False)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
