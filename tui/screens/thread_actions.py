"""The workbench's conversation actions: regenerate an answer, edit an earlier message (a new
branch), move the message cursor, step between branches, and the message box that sends one
message to every pane (or to the marked ones)."""

from __future__ import annotations

from tui.core.conversation import USER
from tui.core.run import Run
from tui.figures import DONE
from tui.widgets.pane import Pane


class ThreadActions:
    """What WorkbenchScreen does with the panes' threads."""

    def init_threads(self) -> None:
        self._marked: set[int] = set()  # pane numbers the message box goes to (none: every pane)
        self._said_same_seed: set[int] = set()  # panes told why a new answer was the same as before

    def say_if_same_answer(self, pane: Pane, run: Run) -> None:
        """A new answer with exactly the text of an earlier one beside it, asked with a fixed seed
        and sampling (temperature above 0): the seed is why, once per pane. A person who
        regenerates and sees the same text otherwise thinks nothing happened."""
        sampling = run.request.sampling
        seed = sampling["seed"]
        if (pane.number in self._said_same_seed or run.reply.state != DONE or seed is None
                or not sampling["temperature"] or not pane.state.conversation.repeats_a_sibling(run.message)):
            return
        self._said_same_seed.add(pane.number)
        self.notify(f"Same answer as before: seed {seed} is fixed "
                    "(set another seed, or clear it, for a different one).", timeout=8)

    # -- the message box --------------------------------------------------------------------------
    def addressed_panes(self) -> list[Pane]:
        panes = self.panes()
        marked = [pane for pane in panes if pane.number in self._marked]
        return marked or panes

    def action_focus_composer(self) -> None:
        self.set_focus(self.composer.editor)

    def action_toggle_thinking(self) -> None:
        """The thinking above the focused pane's answers: unfolded, or folded to its line (alt+t)."""
        pane = self.focused_pane()
        if pane is not None:
            pane.show_thinking(not pane.thinking_shown)

    def action_toggle_thinking_all(self) -> None:
        """The thinking in every pane: unfolded unless it is in all of them."""
        panes = self.panes()
        shown = not all(pane.thinking_shown for pane in panes)
        for pane in panes:
            pane.show_thinking(shown)

    def action_mark_pane(self) -> None:
        """Mark or unmark the focused pane: the message box then goes to the marked panes only."""
        pane = self.focused_pane()
        if pane is None:
            return
        self._marked ^= {pane.number}
        pane.set_class(pane.number in self._marked, "-marked")
        self.show_address()

    def show_address(self) -> None:
        """Say over the message box where ctrl+r sends it: A and B in the arena, else the marked
        panes, else every pane."""
        marked = sorted(n for n in self._marked if any(p.number == n for p in self.panes()))
        self.composer.address(marked, arena=self.arena is not None)

    # -- answers and messages ---------------------------------------------------------------------
    def action_regenerate(self) -> None:
        """A new answer to the focused pane's last question; the old one stays as a sibling."""
        pane = self.focused_pane()
        if pane is None:
            return
        self.run_pane(pane, regenerate=True)

    def action_edit_message(self) -> None:
        """Your message under the message cursor (else your last one) into the pane's message box:
        sending it makes a new branch beside it; alt+e again leaves the edit."""
        pane = self.focused_pane()
        if pane is None:
            return
        state = pane.state
        if state.editing is not None:
            self.end_edit(pane)
            return
        chosen = state.conversation.get(state.cursor)
        if chosen is None or chosen.role != USER:
            questions = [m for m in state.thread() if m.role == USER]
            if chosen is not None and chosen.parent is not None and chosen.parent.role == USER:
                questions = [chosen.parent]
            chosen = questions[-1] if questions else None
        if chosen is None:
            self.notify("No message of yours to edit in this pane yet.", severity="warning")
            return
        state.editing = chosen.id
        state.set_aside = state.draft
        if state.draft.strip():
            self.notify("What you had typed is set aside: it comes back when the edit is sent or left "
                        "(alt+e or esc).", timeout=4)
        pane.set_draft(chosen.content)
        pane.show_note()
        self.set_focus(pane.editor)
        pane.editor.move_cursor(pane.editor.document.end)

    def action_message_cursor(self, step: int) -> None:
        """Move the message cursor up or down the focused pane's thread: the heat view, the token
        cursor, f6, copying and the status line then act on the answer under it."""
        pane = self.focused_pane()
        if pane is None:
            return
        thread = pane.state.thread()
        if not thread:
            return
        ids = [m.id for m in thread]
        current = pane.state.cursor
        if current not in ids:
            index = len(ids) if step < 0 else -1
        else:
            index = ids.index(current)
        index = max(0, min(len(ids) - 1, index + step))
        pane.state.cursor = ids[index]
        pane.leave_token_cursor()
        pane.redraw()
        self._refresh_titles()
        self._scroll_to_message(pane, ids[index])

    def leave_message_mode(self, pane: Pane) -> bool:
        """esc: the message cursor goes (the last answer is shown again), or an edit is left."""
        state = pane.state
        if state.cursor is not None:
            state.cursor = None
            pane.redraw()
            self._refresh_titles()
            return True
        if state.editing is not None:
            self.end_edit(pane)
            return True
        return False

    def end_edit(self, pane: Pane) -> None:
        """Leave an edit unsent: the box gets back what it held before."""
        state = pane.state
        state.editing = None
        draft, state.set_aside = state.set_aside, ""
        pane.set_draft(draft)
        pane.show_note()

    def action_branch(self, step: int) -> None:
        """Show the previous or next sibling of the message under the cursor; without it, of the
        message these keys stepped last (so that the other key goes back), else of the lowest one
        shown with siblings (its `‹ n/m ›`), else of the last answer: another answer to the same
        question, or another version of an edited question."""
        pane = self.focused_pane()
        if pane is None:
            return
        state = pane.state
        conversation = state.conversation
        stepped = conversation.get(state.branch_stepped)
        if stepped is not None and stepped not in conversation.path():
            stepped = None  # another branch above it is shown now
        message = (conversation.get(state.cursor) or stepped or conversation.lowest_branch() or state.last_reply()
                   or conversation.last())
        if message is None:
            return
        if pane.running:
            self.notify("This pane is streaming: wait for it, or cancel it (esc), to change branches.",
                        severity="warning")
            return
        sibling = conversation.step(message, step)
        if sibling is None:
            place, count = conversation.siblings(message)
            self.notify(f"No {'earlier' if step < 0 else 'later'} branch here ({place} of {count}).", timeout=3)
            return
        if state.cursor is not None:
            state.cursor = sibling.id
        else:
            state.branch_stepped = sibling.id
        pane.leave_token_cursor()
        pane.show_parting(None)
        pane.redraw()
        self._refresh_titles()
        self.session_dirty = True

    def _scroll_to_message(self, pane: Pane, message_id: int) -> None:
        output = pane.output
        start = pane.thread_starts.get(message_id)
        if start is not None:
            output.scroll_to_line(output.line_at(start))
