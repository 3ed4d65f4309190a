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
- An enter read after the one that chose a command, before the palette was gone, chose it again:
  the command ran twice (a new user's `ctrl+p pageup pagedown down enter enter` opened two
  leaderboards, one under the other). Once the palette is leaving, its choices are ignored.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.command import CommandList, CommandPalette
from textual.message import Message
from textual.widgets import Button, Input, OptionList


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

    leaving = False  # a command was chosen or the palette escaped: it is on its way out

    def dismiss(self, result: object = None) -> AwaitComplete:
        if self.leaving or self.app.screen is not self:  # dismissed already, by a key of the same burst
            return AwaitComplete()
        self.leaving = True
        return super().dismiss(result)

    @on(Input.Submitted)
    @on(OptionList.OptionSelected)
    @on(Button.Pressed)
    def _no_second_choice(self, event: Message) -> None:
        """Runs before the palette's own handlers; once it is leaving, theirs do not run."""
        if self.leaving:
            event.prevent_default()
            event.stop()
