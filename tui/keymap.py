"""Every action of the workbench, declared once: its keys, what the footer, the help screen and the
palette call it. The bindings, the palette, the help screen and README's keys table come from here
(tests/test_keymap.py checks README against it). A person may give other keys in the config file.

The keys are ones terminals send and a text box does not use: a prompt editor keeps its editing
keys (ctrl+w, ctrl+k, ctrl+d, ctrl+u, alt+backspace… delete text there, as in a shell), and every
key here is read from a real terminal's escape sequence by Textual (xterm, tmux, kitty:
tests/test_keymap.py). Textual reads shift+f3 (`ESC [1;2R`) as a cursor position report, so no
key here is a modified f3.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.binding import Binding


@dataclass(frozen=True)
class Action:
    action: str  # the workbench's action (`action_<name>`, with its arguments)
    keys: str  # Textual key names, comma-separated; the first is the one shown
    label: str  # short: the footer and the help screen's first column
    title: str  # the command palette's entry
    help: str  # what it does, a line
    footer: bool = False  # shown in the footer (the keys used most; the rest are in f1 and ctrl+p)

    @property
    def key(self) -> str:
        return self.keys.split(",")[0].strip()

    @property
    def key_list(self) -> list[str]:
        return [key.strip() for key in self.keys.split(",") if key.strip()]


ACTIONS: tuple[Action, ...] = (
    Action("run_all", "ctrl+r", "Run all", "Run all panes",
           "Send the message box's text to every pane (or the marked ones); without it, run every pane", True),
    Action("run_focused", "f5,ctrl+enter", "Run pane", "Run focused pane",
           "Send the pane's message, answer its last question, or regenerate its last answer", True),
    Action("cancel_focused", "escape", "Cancel", "Cancel focused pane",
           "Abort its request in the engine (keeps what it wrote); leaves the token cursor or an edit first", True),
    Action("cancel_all", "ctrl+g", "Cancel all", "Cancel all panes", "Abort every request"),
    Action("new_pane", "ctrl+n", "New pane", "New pane", "Add an empty pane at the right end", True),
    Action("duplicate_pane", "alt+n", "Duplicate", "Duplicate pane",
           "The same conversation, settings and target in a new pane beside it"),
    Action("close_pane", "alt+w", "Close pane", "Close pane", "Close the focused pane (alt+u brings it back)"),
    Action("reopen_pane", "alt+u", "Reopen", "Reopen closed pane", "Bring back the pane closed last"),
    Action("regenerate", "alt+r", "Regenerate", "Regenerate answer",
           "A new answer to the same question; the old one is kept (‹ 1/2 ›)"),
    Action("edit_message", "alt+e", "Edit message", "Edit a message",
           "Put your last message (or the one under the message cursor) in the box: sending it makes a new branch"),
    Action("message_cursor(-1)", "alt+up", "Earlier message", "Earlier message",
           "Move the message cursor to the message before (heat, tokens and f6 then act on that answer)"),
    Action("message_cursor(1)", "alt+down", "Later message", "Later message", "Move the message cursor down"),
    Action("branch(-1)", "alt+pageup", "Previous branch", "Previous branch",
           "Show the previous sibling of the message under the cursor (or of the lowest one with ‹ n/m ›)"),
    Action("branch(1)", "alt+pagedown", "Next branch", "Next branch", "Show the next sibling"),
    Action("focus_composer", "alt+a", "To all", "Message all panes",
           "Go to the message box under the panes: ctrl+r sends its text to every pane", True),
    Action("mark_pane", "alt+m", "Mark pane", "Mark pane",
           "Mark or unmark the focused pane: with marks, the message box goes to the marked panes only"),
    Action("pick_target", "ctrl+t", "Target", "Choose target", "The focused pane's model, adapter or server", True),
    Action("every_target", "f7", "Every target", "Duplicate on every target",
           "The focused pane's conversation on every other target, one pane each, run at once"),
    Action("sweep", "f8", "Sweep", "Sweep",
           "One pane per combination of knob or target values, e.g. temperature=0,0.7 seed=1,2 or target=*"),
    Action("focus_pane(1)", "alt+right", "Next pane", "Next pane", "Focus the next pane"),
    Action("focus_pane(-1)", "alt+left", "Previous pane", "Previous pane", "Focus the previous pane"),
    Action("move_pane(1)", "alt+shift+right", "Move right", "Move pane right", "Move the focused pane right"),
    Action("move_pane(-1)", "alt+shift+left", "Move left", "Move pane left", "Move the focused pane left"),
    Action("toggle_more", "ctrl+o", "More knobs", "More sampling knobs",
           "Show or hide min_tokens, top_k, min_p and the penalties"),
    Action("output_format", "alt+o", "Format", "Output format",
           "The form the focused pane's answers must take: choice, regex, JSON schema, JSON object, grammar "
           "(vLLM's structured outputs); in the defaults line, the defaults'"),
    Action("toggle_xray", "f2", "X-ray", "Engine X-ray",
           "What the engine is doing (queue, KV cache, prefix cache, rates) and where each pane's time went", True),
    Action("toggle_heat", "f3", "Heat", "Heat view", "Colour the focused answer's tokens by probability", True),
    Action("toggle_heat_all", "alt+h", "Heat, all", "Heat view, all panes", "The heat view in every pane"),
    Action("toggle_thinking", "alt+t", "Thinking", "Thinking unfolded, this pane",
           "Unfold the thinking above the focused pane's answers, or fold it to its line"),
    Action("toggle_thinking_all", "alt+shift+t", "Thinking, all", "Thinking unfolded, all panes",
           "Unfold the thinking in every pane, or fold it"),
    Action("token_cursor", "f4", "Tokens", "Token cursor",
           "Move over the answer token by token with its alternatives; enter or 1-9 forks there"),
    Action("part", "f6", "Where panes part", "Where two panes part",
           "Mark the first token where two answers differ: f6 in one pane, then in the other"),
    Action("copy_answer", "alt+c", "Copy answer", "Copy answer",
           "Copy the shown answer to the clipboard (the terminal's, OSC 52)"),
    Action("export", "ctrl+s", "Export", "Export comparison",
           "Markdown (each pane's thread) and JSON (messages in OpenAI format), to the data dir"),
    Action("history", "f9", "History", "History",
           "Every run, searched as you type (target:, model:, since:); enter opens one again in a pane"),
    Action("arena", "f10", "Arena", "Blind arena",
           "Start (or end) blind battles: two targets drawn at random answer as A and B; vote, then see the names"),
    Action("vote", "alt+v", "Vote", "Vote in the arena", "A better, B better, tie or both bad (one key each)"),
    Action("leaderboard", "alt+l", "Leaderboard", "Arena leaderboard",
           "Ratings from your blind votes (Bradley–Terry, 95% intervals), pairwise win rates, the lean towards A"),
    Action("help", "f1", "Help", "Help", "Keys and how the workbench works", True),
)

# The app's own keys (Textual's palette, quitting): listed in help and README with the others.
APP_ACTIONS: tuple[Action, ...] = (
    Action("command_palette", "ctrl+p", "Palette", "Command palette", "Every action, theme choice, engine restart"),
    Action("quit", "ctrl+q", "Quit", "Quit", "Save the session, stop the engine and quit", True),
)

# A prompt editor's keys that a person types by habit (a shell's line editing, Textual's TextArea):
# no workbench action may take them from the editor. f6 and f7 select a line and everything in a
# TextArea; nobody types those by habit, and the workbench has had them since its start.
EDITING_KEYS = frozenset({
    "ctrl+w", "ctrl+k", "ctrl+d", "ctrl+u", "ctrl+a", "ctrl+e", "ctrl+b", "ctrl+f", "ctrl+h", "ctrl+y",
    "ctrl+z", "ctrl+x", "ctrl+c", "ctrl+v", "ctrl+left", "ctrl+right", "alt+b", "alt+f", "alt+d",
    "alt+backspace", "alt+delete", "home", "end", "backspace", "delete", "enter", "tab", "left", "right",
    "up", "down",
})


# Tab and shift+tab as the screens' own (Textual's Screen binds them too): priority, so they move the
# focus as soon as the app reads them. As Textual's, they ran once the key had gone up to the app,
# after the letters typed behind it had reached the field left: `tab random tab 400` in one burst
# wrote `random400` into the first field.
FOCUS_BINDINGS = [Binding("tab", "app.focus_next", show=False, priority=True),
                  Binding("shift+tab", "app.focus_previous", show=False, priority=True)]

# A list under a filter field (the target picker, the history): the arrows move in the list while
# the field has the focus. Priority, in the order typed: as plain bindings they ran once the key had
# gone up to the screen, after the field had taken the `enter` typed behind them, and `Down Enter`
# picked the first entry.
LIST_BINDINGS = [Binding("down", "move('cursor_down')", show=False, priority=True),
                 Binding("up", "move('cursor_up')", show=False, priority=True),
                 Binding("pagedown", "move('page_down')", show=False, priority=True),
                 Binding("pageup", "move('page_up')", show=False, priority=True)]


def bindings(actions: tuple[Action, ...] = ACTIONS) -> list[Binding]:
    """The workbench's bindings. priority=True: the prompt editor would take escape for itself."""
    return [Binding(a.keys, a.action, a.label, show=a.footer, priority=True, id=a.action) for a in actions]


def keymap(actions: tuple[Action, ...]) -> dict[str, str]:
    """Textual's keymap (binding id → keys) for actions whose keys differ from the defaults."""
    defaults = {a.action: a.keys for a in ACTIONS}
    return {a.action: a.keys for a in actions if defaults.get(a.action) != a.keys}


def with_keys(actions: tuple[Action, ...], keys: dict[str, str]) -> tuple[tuple[Action, ...], list[str]]:
    """The actions with the keys a person gave (config `[keys]`: action = "key,key"), and what is
    wrong with them: an unknown action, an editing key, a key two actions share (each named)."""
    problems: list[str] = []
    by_name = {a.action: a for a in actions}
    for name, value in keys.items():
        if name not in by_name:
            problems.append(f"[keys] {name}: no such action (known: {', '.join(sorted(by_name))})")
            continue
        wanted = [key.strip() for key in value.split(",") if key.strip()]
        taken = [key for key in wanted if key in EDITING_KEYS]
        if not wanted or taken:
            why = "no key given" if not wanted else f"{', '.join(taken)} edits text in the prompt editor"
            problems.append(f"[keys] {name}: {why}; keeping {by_name[name].keys}")
            continue
        by_name[name] = replace(by_name[name], keys=",".join(wanted))
    owner: dict[str, str] = {key: a.action for a in APP_ACTIONS for key in a.key_list}
    result = []
    for action in (by_name[a.action] for a in actions):
        kept = []
        for key in action.key_list:
            if key in owner:
                problems.append(f"[keys] {key} is given to {owner[key]} and {action.action}: {owner[key]} keeps it")
            else:
                owner[key] = action.action
                kept.append(key)
        result.append(replace(action, keys=",".join(kept)) if kept != action.key_list else action)
    return tuple(result), problems


def palette_help(action: Action) -> str:
    return f"{action.help} ({action.key})"
