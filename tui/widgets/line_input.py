"""A one-line field whose editing keys act in the order they were typed.

Textual's Input runs its editing keys (ctrl+u, ctrl+w, backspace, the arrows, enter…) as bindings,
and a widget's bindings run once the key has gone up to the app: by then the letters typed behind
it in one burst (a fast typist, a paste of keys, `tmux send-keys`) have reached the field. ctrl+u
then `xyz` left `yz` or nothing; in the seed field ctrl+u then `random` left `andom`. The message
boxes had the same fault and the same cure (tui/widgets/pane.py, PromptEditor).
"""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Input


class LineInput(Input):
    async def on_key(self, event: events.Key) -> None:
        await run_editing_key(self, event, _EDITING_ACTIONS)

    def action_delete_shell_word_left(self) -> None:
        """ctrl+w as a shell has it: see shell_word_start."""
        if not self.selection.is_empty:
            self.delete_selection()
        elif self.password:
            self.action_delete_left_all()
        else:
            self.delete(shell_word_start(self.value, self.cursor_position), self.cursor_position)


def shell_word_start(text: str, position: int) -> int:
    """Where ctrl+w deletes back to in a shell (readline's unix-word-rubout): over the spaces left
    of `position`, then over everything up to the previous space. Textual's ctrl+w stops at
    punctuation: on `Who was Ahab?` it took only the `?`, and the next word typed was sent as
    `AhabElijah?` (a new user)."""
    start = position
    while start > 0 and text[start - 1].isspace():
        start -= 1
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return start


async def run_editing_key(widget, event: events.Key, actions: dict[str, str]) -> bool:
    """Run the widget's own action for `event`'s key now; True if it took the key. An action that
    declines (ctrl+c copies nothing without a selection) leaves the key to go on up, as its binding
    would have: to the app's ctrl+c, which tells how to quit."""
    action = actions.get(event.key)
    if action is None or not await widget.app.run_action(action, widget):
        return False
    event.stop()
    event.prevent_default()
    return True


# Input's editing keys by key, read from its own bindings (so a newer Textual's are followed);
# ctrl+w deletes as in a shell.
_EDITING_ACTIONS = {key: binding.action for binding in Input.BINDINGS if isinstance(binding, Binding)
                    for key in binding.key.split(",")} | {"ctrl+w": "delete_shell_word_left"}
