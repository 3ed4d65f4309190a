"""The command palette's entries (ctrl+p): every action of the workbench, with its key."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from textual.app import SystemCommand

from tui.engine.params import PARAM_SPECS

if TYPE_CHECKING:
    from tui.screens.workbench import WorkbenchScreen


def workbench_commands(bench: WorkbenchScreen, restart_engine: Callable[[], None],
                       save_session: Callable[[], None]) -> Iterator[SystemCommand]:
    optional = ", ".join(s.name for s in PARAM_SPECS if not s.main)
    yield SystemCommand("Run all panes", "Start every pane (ctrl+r)", bench.action_run_all)
    yield SystemCommand("Run focused pane", "Start the focused pane (f5)", bench.action_run_focused)
    yield SystemCommand("Cancel focused pane", "Abort its request in the engine (esc)", bench.action_cancel_focused)
    yield SystemCommand("Cancel all panes", "Abort every request (ctrl+k)", bench.action_cancel_all)
    yield SystemCommand("New pane", "Add an empty pane (ctrl+n)", bench.action_new_pane)
    yield SystemCommand("Duplicate pane", "Same prompt and settings, to compare (ctrl+d)",
                        bench.action_duplicate_pane)
    yield SystemCommand("Choose target", "The focused pane's model, adapter or server (ctrl+t)",
                        bench.action_pick_target)
    yield SystemCommand("Duplicate on every target", "The focused pane's prompt and settings on every other "
                        "target, run at once (f7)", bench.action_every_target)
    yield SystemCommand("Sweep", "One pane per combination of knob or target values, e.g. temperature=0,0.7 "
                        "seed=1,2 or target=* (f8)", bench.action_sweep)
    yield SystemCommand("Load LoRA adapter", "Name an adapter folder; it loads into the running engine and "
                        "becomes a target", bench.action_load_adapter)
    yield SystemCommand("Remove LoRA adapter", "Unload an adapter from the engine; its panes keep their answers",
                        bench.action_remove_adapter)
    yield SystemCommand("Close pane", "Close the focused pane (ctrl+w)", bench.action_close_pane)
    yield SystemCommand("Move pane right", "alt+shift+right", lambda: bench.action_move_pane(1))
    yield SystemCommand("Move pane left", "alt+shift+left", lambda: bench.action_move_pane(-1))
    yield SystemCommand("Next pane", "alt+right", lambda: bench.action_focus_pane(1))
    yield SystemCommand("Previous pane", "alt+left", lambda: bench.action_focus_pane(-1))
    yield SystemCommand("More sampling knobs", f"Show or hide {optional} (ctrl+o)", bench.action_toggle_more)
    yield SystemCommand("Engine X-ray", "Show or hide what the engine is doing: queue, KV cache, prefix cache, "
                        "rates; each pane's engine timings (f2)", bench.action_toggle_xray)
    yield SystemCommand("Heat view", "Colour the focused answer's tokens by probability; runs record them (f3)",
                        bench.action_toggle_heat)
    yield SystemCommand("Heat view, all panes", "The heat view in every pane (shift+f3)", bench.action_toggle_heat_all)
    yield SystemCommand("Token cursor", "Move over the focused answer token by token, with the alternatives (f4)",
                        bench.action_token_cursor)
    yield SystemCommand("Where two panes part", "Mark the first token where the focused answer and the next "
                        "differ, and the later differences (f6 in one pane, then in the other)",
                        bench.action_part_with_next)
    yield SystemCommand("Alternatives per token", "How many the heat view records: 5, 10, 20, 1, 3",
                        bench.action_next_top_logprobs)
    yield SystemCommand("Restart engine", "Stop the engine and start it again", restart_engine)
    yield SystemCommand("Export comparison", "Markdown table and JSON of every pane, to the data dir (ctrl+s)",
                        bench.action_export)
    yield SystemCommand("Save session", "Save prompts, settings and outputs now", save_session)
    yield SystemCommand("Help", "Keys and how the workbench works (f1)", bench.action_help)
