"""A checkbox whose box is empty when it is off.

Textual's draws `▐X▌` either way, the X only coloured differently when off: in a terminal a new
user read an unticked box as ticked (the format dialog's "no free whitespace"), and the demo model
then wrote a pane of blank lines.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class Tickbox(Checkbox):
    def render(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "  # the documented class attribute, per box
        return super().render()
