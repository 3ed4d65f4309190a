"""The command palette's entries (ctrl+p): every action of the workbench (from tui/keymap.py, with
its key), and those only the palette has."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from tui.keymap import palette_help

if TYPE_CHECKING:
    from tui.screens.workbench import WorkbenchScreen


def workbench_commands(workbench: WorkbenchScreen, restart_engine: Callable[[], None],
                       save_session: Callable[[], None]) -> Iterator[SystemCommand]:
    for action in workbench.actions:
        if action.action == "part":  # from the palette no pane is picked first: the one beside
            yield SystemCommand(action.title, "Mark where the focused answer and the next one part "
                                f"(f6 in one pane, then in the other: {action.key})", workbench.action_part_with_next)
            continue
        yield SystemCommand(action.title, palette_help(action), partial(workbench.run_action, action.action))
    yield SystemCommand("Load LoRA adapter", "Name an adapter folder; it loads into the running engine and "
                        "becomes a target", workbench.action_load_adapter)
    yield SystemCommand("Remove LoRA adapter", "Unload an adapter from the engine; its panes keep their answers",
                        workbench.action_remove_adapter)
    yield SystemCommand("Output format of the defaults", "The format every pane without its own takes (alt+o in "
                        "the defaults line)", workbench.action_defaults_format)
    yield SystemCommand("Alternatives per token", "How many the heat view records: 5, 10, 20, 1, 3",
                        workbench.action_next_top_logprobs)
    yield SystemCommand("Restart engine", "Stop the engine and start it again", restart_engine)
    yield SystemCommand("Save session", "Save every pane's conversation and settings now", save_session)
