"""The workbench's output formats: the dialog for the focused pane's (alt+o) or the defaults'
(alt+o in the defaults line, or a click on its format)."""

from __future__ import annotations

from textual.screen import Screen

from tui.core.output_format import OutputFormat
from tui.screens.format_dialog import FormatChoice, FormatDialog
from tui.widgets.settings_bar import SettingsBar


class FormatActions(Screen):
    """What WorkbenchScreen does with output formats (the panes and the settings bar are its own)."""

    def action_output_format(self) -> None:
        """The focused pane's format; the defaults' when the focus is in the defaults line."""
        if self._focus_in(self.settings):
            self.action_defaults_format()
            return
        pane = self.focused_pane()
        if pane is None:
            return
        defaults = self.settings.output_format

        def chosen(choice: FormatChoice | None) -> None:
            if choice is not None and pane.is_attached:
                pane.state.output_format = choice.format
                self._do_refresh_titles()
                self.session_dirty = True

        self.app.push_screen(FormatDialog(f"Output format of pane {pane.number}", pane.state.output_format,
                                          defaults=defaults), chosen)

    def action_defaults_format(self) -> None:
        """The defaults' format: every pane without one of its own takes it."""

        def chosen(choice: FormatChoice | None) -> None:
            if choice is not None and isinstance(choice.format, OutputFormat):
                self.settings.set_output_format(choice.format)

        self.app.push_screen(FormatDialog("Output format of the defaults (panes without their own)",
                                          self.settings.output_format), chosen)

    def on_settings_bar_format_requested(self, event: SettingsBar.FormatRequested) -> None:
        event.stop()
        self.action_defaults_format()

    def _focus_in(self, widget) -> bool:
        node = self.focused
        while node is not None:
            if node is widget:
                return True
            node = node.parent
        return False
