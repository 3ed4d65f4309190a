"""F1: every key of the workbench, from the key map (tui/keymap.py) that the bindings come from."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.keymap import Action

INTRO = (
    "Each pane is a conversation. Type a message in a pane and press f5, or type one in the box "
    "under the panes and press ctrl+r to send it to every pane: each continues its own thread on "
    "its own target and settings. f5 with nothing typed regenerates the last answer (the old one is "
    "kept: ‹ 1/2 ›). Set the defaults on the top line; a pane's own fields override them (blank: the "
    "default); tab reaches every field, a pane's knobs and the defaults line's. The status line under "
    "each answer shows its state, time to first token, tokens and tokens per second; 'stale' there "
    "means the pane's settings or target have changed since that answer was written. In a pane's "
    "box, enter adds a line and pageup/pagedown page its thread."
)


def key_table(actions: list[Action]) -> Table:
    table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
    table.add_column("key")
    table.add_column("does")
    for action in actions:
        table.add_row(", ".join(action.key_list) or "(palette)", f"{action.label}: {action.help}")
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [Binding("escape,f1,q", "dismiss_help", "Close help")]

    def __init__(self, actions: tuple[Action, ...]) -> None:
        super().__init__()
        self._actions = list(actions)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static("vllm-panes — keys\n", markup=False, classes="title")
            yield Static(INTRO + "\n", markup=False)
            yield Static(key_table(self._actions))
            yield Static("\nEvery action is also in the command palette (ctrl+p). Keys can be changed in "
                         "the config file's [keys] table. Esc closes this.", markup=False)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
