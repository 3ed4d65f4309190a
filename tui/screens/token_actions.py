"""The workbench's token actions: the heat view, the token cursor, forks at a token, where two
answers part, and copying an answer. They act on each pane's shown answer (the last one, or the
one under the message cursor)."""

from __future__ import annotations

import logging

from tui.core.pane_state import fork_reply, fork_state
from tui.divergence import Divergence, DivergenceMarks, find_divergence
from tui.engine.logprobs import probability
from tui.engine.params import ParamError
from tui.text import token_text
from tui.widgets.pane import Pane

log = logging.getLogger(__name__)

TOP_LOGPROBS = (5, 10, 20, 1, 3)  # alternatives per token recorded with the heat view; the first is the default


def parting_text(result: Divergence, pane: Pane, side: DivergenceMarks, other: Pane, other_side: DivergenceMarks,
                 scored: float | None = None) -> str:
    """'parts from pane 2 at token 7: here ␣the (p 0.412); pane 2 has ␣a, p 0.213 here'."""
    unit = "token" if result.by_tokens else "word"
    text = f"parts from pane {other.number} at {unit} {result.place}"
    if side.first is None:
        return f"{text}: this answer ends there"
    if not result.by_tokens or side.token is None:
        return text + " (word by word: with the heat view on (f3), runs record tokens to compare)"
    mine = pane.spans.tokens[side.token]
    text += f": here {token_text(mine.text, 16)} (p {mine.probability:.3f})"
    if other_side.token is None:
        return text + f"; pane {other.number}'s answer ends there"
    theirs = other.spans.tokens[other_side.token]
    here = next((alt for alt in mine.top if alt.token_id == theirs.token_id), None)
    if here is not None or scored is not None:
        p = here.probability if here is not None else scored
        likely = f"p {p:.3f} here"
    else:
        likely = f"not in the top {len(mine.top)} here"
    return text + f"; pane {other.number} has {token_text(theirs.text, 16)}, {likely}"


class TokenActions:
    """What WorkbenchScreen does with an answer's tokens."""

    def init_tokens(self) -> None:
        self.top_logprobs = TOP_LOGPROBS[0]  # alternatives recorded per token while heat is on
        self._picked: Pane | None = None  # the first pane of a comparison (f6), until the second
        self._parted: tuple[Pane, Pane] | None = None  # the two panes marked where they part

    def forget_pane(self, pane: Pane) -> None:
        """A pane is closing: nothing here holds on to it."""
        if self._picked is pane:
            self._picked = None
        if self._parted is not None and pane in self._parted:
            self.clear_parting()

    def action_toggle_heat(self) -> None:
        """The heat view of the focused pane: its tokens coloured by probability (f3)."""
        pane = self.focused_pane()
        if pane is not None:
            pane.heat = not pane.heat

    def action_toggle_heat_all(self) -> None:
        """The heat view in every pane: on unless it is on in all of them."""
        panes = self.panes()
        on = not all(pane.heat for pane in panes)
        for pane in panes:
            pane.heat = on

    def action_token_cursor(self) -> None:
        """Move over the focused answer token by token, with each token's alternatives (f4)."""
        pane = self.focused_pane()
        if pane is None:
            return
        if pane.token_cursor is not None:
            pane.leave_token_cursor()
            self.set_focus(pane.editor)
        elif not pane.enter_token_cursor():
            self.notify("This answer has no recorded probabilities: turn the heat view on (f3) and run it.",
                        severity="warning")

    def action_next_top_logprobs(self) -> None:
        """How many alternatives per token the heat view records (5, 10, 20, 1, 3, …)."""
        self.top_logprobs = TOP_LOGPROBS[(TOP_LOGPROBS.index(self.top_logprobs) + 1) % len(TOP_LOGPROBS)]
        self.notify(f"The heat view records the top {self.top_logprobs} alternatives per token from the next run.")

    def action_copy_answer(self) -> None:
        """The shown answer to the clipboard, through the terminal (OSC 52, Textual's)."""
        pane = self.focused_pane()
        reply = pane.reply if pane is not None else None
        if reply is None or not reply.content:
            self.notify("No answer to copy here.", severity="warning")
            return
        self.app.copy_to_clipboard(reply.content)
        self.notify(f"Copied the answer of pane {pane.number} ({len(reply.content):,} characters).", timeout=3)

    # -- forks ----------------------------------------------------------------------------------------
    async def on_pane_fork_requested(self, event: Pane.ForkRequested) -> None:
        """A new pane beside the answer, continuing from the token chosen at its cursor, run at once
        with the same settings (and heat view) as the pane it came from; its thread is a branch
        of the parent's."""
        parent = event.pane
        reply = parent.reply
        index = parent.token_cursor
        if reply is None or index is None or self.refuse_in_battle(parent, "A fork"):
            return
        try:
            sampling = parent.effective_sampling(self.defaults())
        except ParamError as exc:
            self.notify(f"Cannot fork here: {exc}.", severity="warning")
            return
        target = parent.target or self.default_target
        shown = parent.shown_tokens
        in_thinking = shown.in_thinking(index)
        fork = fork_reply(reply, index if in_thinking else index - shown.thinking_count, event.choice,
                          await self._alternative_id(parent, event.choice), parent.number, sampling, target,
                          in_thinking=in_thinking)
        if isinstance(fork, str):
            self.notify(f"Cannot fork here: {fork}.", severity="warning")
            return
        parent.leave_token_cursor()
        # The fork's ids are its parent's model's tokens: it runs where its parent ran.
        state = fork_state(parent.state, reply, fork, self._take_number())
        state.target = target
        pane = await self.add_pane(state, after=parent)
        if pane is None:
            return
        self._do_refresh_titles()
        self.run_pane(pane)

    async def _alternative_id(self, pane: Pane, choice: int | None) -> int | None:
        """The chosen alternative's token id when the backend named it by text only (a server):
        asked of the backend (vLLM's /tokenize)."""
        index = pane.token_cursor
        backend = self.control.backend
        if choice is None or index is None or not backend.abilities.token_ids:
            return None
        top = pane.shown_tokens.token(index).top
        if not 1 <= choice <= len(top) or top[choice - 1].token_id is not None:
            return None
        return await backend.token_id_of(top[choice - 1].text, target=self.target_of(pane))

    # -- where two answers part -------------------------------------------------------------------------
    def action_part(self) -> None:
        """Where two answers part (f6 in one pane, then f6 in the other): the first differing
        token marked in both, the later differences underlined; f6 again clears the marks."""
        pane = self.focused_pane()
        if pane is None:
            return
        if self._parted is not None:
            self.clear_parting()
            return
        picked = self._picked
        if picked is None or picked is pane or not picked.is_attached:
            self._picked = pane
            self.notify(f"Pane {pane.number} picked: press f6 in the pane to compare it with.")
            return
        self._picked = None
        self.mark_parting(picked, pane)

    def action_part_with_next(self) -> None:
        """The palette's way: the focused pane and the one after it (or before the last)."""
        panes = self.panes()
        pane = self.focused_pane()
        if pane is None or len(panes) < 2:
            self.notify("Two panes are needed to compare.", severity="warning")
            return
        index = panes.index(pane)
        self.clear_parting()
        self.mark_parting(pane, panes[index + 1] if index + 1 < len(panes) else panes[index - 1])

    def clear_parting(self) -> None:
        if self._parted is not None:
            for pane in self._parted:
                if pane.is_attached:
                    pane.show_parting(None)
        self._parted = None

    def mark_parting(self, a: Pane, b: Pane) -> None:
        """Compare the two shown answers whole: a fork's answer with its given start, so that a fork
        and its origin part where the fork chose another token."""
        result = find_divergence(a.spans, a.answer, b.spans, b.answer)
        if result is None:
            self.notify(f"Panes {a.number} and {b.number} give the same answer.")
            return
        self._parted = (a, b)
        for pane, side, other, other_side in ((a, result.a, b, result.b), (b, result.b, a, result.a)):
            marks = [(*side.first, "part")] if side.first else []
            marks += [(start, end, "diff") for start, end in side.later]
            pane.output.set_marks(marks)
            pane.show_parting(parting_text(result, pane, side, other, other_side))
            if result.by_tokens and side.token is not None and other_side.token is not None:
                self.run_worker(self._score_other(result, pane, side, other, other_side), group="parting")
            if side.first:
                shown = pane.shown_tokens.thinking_count  # the view's tokens start with the thinking's, when shown
                lines = pane.output.lines_of(shown + side.token) if side.token is not None else []
                pane.output.scroll_to_line(lines[0] if lines else 0)

    async def _score_other(self, result: Divergence, pane: Pane, side: DivergenceMarks, other: Pane, other_side: DivergenceMarks) -> None:
        """Ask the engine how likely the other pane's token was here (one step with vLLM's
        logprob_token_ids), when it is not among this token's recorded alternatives."""
        reply = pane.reply
        mine, theirs = pane.spans.tokens[side.token], other.spans.tokens[other_side.token]
        backend = self.control.backend
        before = reply.reply.ids_before_answer if reply is not None else None
        if not backend.abilities.scoring or before is None or any(a.token_id == theirs.token_id for a in mine.top):
            return
        context = before + [t.token_id for t in pane.spans.tokens[:side.token]]
        try:
            found = await backend.next_token_logprobs(context, [theirs.token_id], target=self.target_of(pane))
        except Exception as exc:  # a scoring request is a nicety: say why it is missing, go on
            log.info("scoring the other pane's token failed: %s", exc)
            return
        if theirs.token_id in found and self._parted is not None and pane in self._parted:
            pane.show_parting(parting_text(result, pane, side, other, other_side,
                                           probability(found[theirs.token_id])))
