"""What WorkbenchScreen does with the history: every run that ends is recorded (with the id of the
runs started together with it: one ctrl+r, f7, a sweep), and f9 opens the history screen, from
which runs come back as panes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from textual.screen import Screen

from tui.core.run import Run
from tui.engine.params import ParamError
from tui.store.history import WORKBENCH, new_comparison, pane_state_of, run_entry
from tui.widgets.pane import Pane

if TYPE_CHECKING:
    from tui.screens.history import Reopen
    from tui.store.store import Store

log = logging.getLogger(__name__)


class HistoryActions(Screen):
    store: Store | None

    def init_history(self, store: Store | None, save_session: Callable[[], None] | None) -> None:
        """`save_session`: hands the store what changed in the session (None: the session is not saved)."""
        self.store = store
        self._save_session = save_session
        self._together: str | None = None  # the comparison the runs started now belong to
        self._comparisons: dict[str, str] = {}  # a running request's comparison, by request id

    @contextmanager
    def started_together(self) -> Iterator[None]:
        """The runs started inside share one comparison id (the history reopens them together)."""
        outer = self._together
        self._together = outer or new_comparison()
        try:
            yield
        finally:
            self._together = outer

    def run_started(self, request_id: str) -> None:
        self._comparisons[request_id] = self._together or new_comparison()

    def run_ended(self, pane: Pane, run: Run) -> None:
        """A pane's run ended (done, cancelled or failed): into the history."""
        comparison = self._comparisons.pop(run.request.request_id, None) or new_comparison()
        if self.store is None:
            return
        if self._save_session is not None:
            # The session's rows first (the writer keeps the order): a kill between the two writes
            # leaves an answer the history calls ended still running in the session, with a tail
            # missing, and the next start shows it cancelled beside a history that says done.
            self._save_session()
        try:
            target = self.target_of(pane) or (self._known[0] if self._known else None)
            self.store.record_run(run_entry(pane.state.conversation, run.message, comparison=comparison,
                                            kind=WORKBENCH, pane=pane.number, label=pane.label, target=target))
        except Exception:  # the history must never break a run's end: the log has it
            log.exception("pane %s: recording the run failed", pane.number)

    def action_history(self) -> None:
        from tui.screens.history import HistoryScreen  # imported when first asked for: not before the first frame

        if self.store is None:
            self.notify("This workbench keeps no history (it was started without its database).", severity="warning")
            return
        self.app.push_screen(HistoryScreen(self.store), self.reopen_runs)

    async def reopen_runs(self, choice: Reopen | None) -> None:
        """The runs chosen in the history, each in a new pane (after the focused one), or in place
        of every pane."""
        if not choice:
            return
        try:
            defaults = self.defaults().values
        except ParamError:
            defaults = None
        if choice.replace:
            await self._clear_panes()
        after = None
        opened = 0
        for run in choice.runs:
            pane = await self.add_pane(pane_state_of(run, self._take_number(), defaults, self.settings.output_format),
                                       after=after)
            if pane is None:
                break
            after, opened = pane, opened + 1
        if after is None and not self.panes():
            await self.action_new_pane()
        self._do_refresh_titles()
        left = len(choice.runs) - opened
        note = f" ({left} not opened: at most {len(self.panes())} panes)" if left else ""
        undo = ", alt+u brings back the panes that were there" if choice.replace else ""
        self.notify(f"{opened} run(s) from the history opened{note}{undo}.", timeout=6)

    async def _clear_panes(self) -> None:
        from tui.screens.workbench import CLOSED_KEPT

        for index, pane in enumerate(self.panes()):
            self._closed_panes.append((index, pane.state))
            await self.remove_pane(pane)
        del self._closed_panes[:-CLOSED_KEPT]
        self.session_dirty = True
