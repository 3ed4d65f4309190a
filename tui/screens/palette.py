"""The command palette: Textual's, with keys that cannot end the app when they come in a burst.

- Textual's option list pages by the lines it lays out when it is first drawn; a page key that
  arrives before that (ctrl+p and pageup in one burst, as a terminal reads keys typed or pasted
  quickly) raised KeyError from the palette and ended the app (Textual 8.2.8; the same crash is
  reported against other apps' option lists, kagan-sh/kagan-legacy#31). Before that first draw
  there is no page to move by, so the key does nothing.
- Dismissing pops whatever screen is on top: a key read in the same burst after the one that chose
  a command (enter, escape) dismissed the palette a second time, and took the workbench's screen
  with it (ScreenStackError, the app ended). A palette that is no longer on top is dismissed
  already.
"""

from __future__ import annotations

from typing import ClassVar

from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.command import CommandList, CommandPalette


class Palette(CommandPalette):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown", "page(1)", "Next page", show=False),
        Binding("pageup", "page(-1)", "Previous page", show=False),
    ]

    def action_page(self, direction: int) -> None:
        commands = self.query_one(CommandList)
        try:
            if direction > 0:
                commands.action_page_down()
            else:
                commands.action_page_up()
        except KeyError:  # not laid out yet: no page to move by
            pass

    def dismiss(self, result: object = None) -> AwaitComplete:
        if self.app.screen is not self:  # dismissed already, by a key read in the same burst
            return AwaitComplete()
        return super().dismiss(result)
