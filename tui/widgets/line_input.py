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
        action = _EDITING_ACTIONS.get(event.key)
        if action is not None:
            event.stop()
            event.prevent_default()
            await self.run_action(action)


# Input's editing keys by key, read from its own bindings (so a newer Textual's are followed).
_EDITING_ACTIONS = {key: binding.action for binding in Input.BINDINGS if isinstance(binding, Binding)
                    for key in binding.key.split(",")}
