"""What WorkbenchScreen does in the blind arena (f10): two panes on two contestants drawn at random,
titled only A and B, the same prompt from the message box, a vote with one key each (alt+v), the
names shown after it; the next prompt starts the next battle. alt+l shows the leaderboard.

Nothing names a contestant before the vote: the titles are A and B, the knobs (a preset's
settings) are hidden, the X-ray leaves out the servers' lines, and the actions that would show or
copy a target (ctrl+t, f7, f8, alt+n, a fork) are refused in a battle's pane.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from textual.screen import Screen

from tui.arena.battle import Arena, ArenaError, ArenaState, Battle, Contestant, parse_contestants
from tui.arena.votes import Vote
from tui.core.pane_state import PaneState
from tui.core.records import figures_record, openai_messages, reply_fields
from tui.figures import ENDED_STATES
from tui.screens.arena_screens import LeaderboardScreen, VoteDialog
from tui.screens.dialogs import AskScreen
from tui.targets import resolve

if TYPE_CHECKING:
    from tui.widgets.pane import Pane

log = logging.getLogger(__name__)

SIDES = ("A", "B")
_ARENA_OPTION = re.compile(r"^(turns|seed)\s*=\s*(\d+)$")


def parse_arena(text: str, known, resolve_target=resolve) -> tuple[list[Contestant], int, int | None]:
    """The arena's set-up line: contestants (see parse_contestants), and optionally `turns=N` (votes
    per battle, the pair kept) and `seed=N` (every battle's seed, instead of one drawn each time)."""
    turns, seed, rest = 1, None, []
    for entry in (part.strip() for part in (text.strip() or "*").split(";")):
        option = _ARENA_OPTION.match(entry)
        if option is None:
            rest.append(entry)
        elif option.group(1) == "turns":
            turns = int(option.group(2))
            if turns < 1:
                raise ArenaError("turns=N: one turn at least")
        else:
            seed = int(option.group(2))
    try:
        return parse_contestants(";".join(rest), known, resolve_target), turns, seed
    except ArenaError as exc:
        stray = re.search(r"\b(turns|seed)=\d+", text)
        if stray and "not knob=value" in str(exc):
            raise ArenaError(f"{exc}; an option is an entry of its own: …; {stray.group(0)}") from None
        raise


class ArenaActions(Screen):
    def init_arena(self) -> None:
        self.arena: Arena | None = None
        self.battle_panes: tuple[Pane, Pane] | None = None  # (A, B) of the current battle
        self._turns_sent = 0  # turns of the current battle sent to both panes
        self._arena_sending = False  # the arena is starting a battle's panes (others may not)
        self._opening = False  # a battle's panes are being opened
        self._end_asked = False  # f10 was pressed once while a battle waited for its vote
        self.votes: list[Vote] = []  # this session's, for the leaderboard without a database
        # The arena the session kept (the app quit while it was on), and the sides of the battle's
        # panes, blind from their first frame.
        self._resumed: ArenaState | None = self._session.arena
        self._resumed_sides: dict[int, str] = {}
        numbers = {state.number for state in self._session.panes}
        if self._resumed is not None and self._resumed.panes is not None and set(self._resumed.panes) <= numbers:
            self._resumed_sides = dict(zip(self._resumed.panes, SIDES))

    def resumed_side(self, number: int) -> str | None:
        """A pane's side in the battle the session kept, when it waits for its vote."""
        return self._resumed_sides.get(number)

    def resume_arena(self) -> None:
        """The arena the session kept goes on: its contestants and rules, and a battle that waited
        for its vote, with its panes still blind."""
        resumed, self._resumed = self._resumed, None
        if resumed is None:
            return
        self.arena = resumed.arena
        by_number = {pane.number: pane for pane in self.panes()}
        panes = [by_number.get(number) for number in self._resumed_sides]
        if len(panes) == 2 and all(p is not None and p.blind is not None for p in panes):
            self.battle_panes = (panes[0], panes[1])
            self._turns_sent = resumed.turns_sent
            waiting = " A battle waits for your vote (alt+v)." if self._vote_problem() is None else ""
        else:
            self.arena.current = None
            waiting = ""
        self._resumed_sides = {}
        self.show_address()
        names = ", ".join(c.name for c in self.arena.contestants)
        self.notify(f"The blind arena goes on: {len(self.arena.contestants)} contestants ({names}).{waiting} "
                    "f10 ends it.", timeout=10)

    def arena_state(self) -> ArenaState | None:
        """The arena as the session keeps it (None: off)."""
        if self.arena is None:
            return None
        battle, panes = self.arena.current, self.battle_panes
        waiting = battle is not None and not battle.revealed and panes is not None and all(
            p.blind is not None and p.is_attached for p in panes)
        if not waiting:
            return ArenaState(self.arena)
        return ArenaState(self.arena, (panes[0].number, panes[1].number), self._turns_sent)

    # -- set-up ---------------------------------------------------------------------------------------
    def action_arena(self) -> None:
        """Start the blind arena (who takes part), or end it."""
        if self.arena is not None:
            waiting = self._vote_problem() is None
            if waiting and not self._end_asked:
                self._end_asked = True
                self.notify("This battle waits for your vote: f10 again ends the arena without it "
                            "(the names are then shown); alt+v votes.", severity="warning", timeout=8)
                return
            self.end_arena(dropped=waiting)
            return
        self.refresh_targets()

        def check(text: str):
            try:
                return parse_arena(text, self._known)
            except ArenaError as exc:
                raise ValueError(str(exc)) from None

        async def chosen(setup) -> None:
            if setup is None:
                return
            contestants, turns, seed = setup
            self.start_arena(contestants, turns, seed)
            if await self.open_battle():
                names = ", ".join(c.name for c in contestants)
                rules = [f"{turns} votes a battle" if turns > 1 else "", f"seed {seed} every time" if seed is not None
                         else ""]
                extra = "".join(f"; {rule}" for rule in rules if rule)
                self.notify(f"Blind arena: {len(contestants)} contestants ({names}){extra}. Type a prompt in the "
                            "message box, ctrl+r sends it to A and B; alt+v votes; f10 ends the arena.",
                            timeout=12)

        self.app.push_screen(AskScreen(
            "Blind arena: who takes part (two are drawn for each battle, shown as A and B)",
            "* for every target, or names separated by ; · a preset: NAME = knob=value … [on TARGET], "
            "e.g. T0.2 = temperature=0.2; T1 = temperature=1 · turns=N votes per battle · seed=N fixes "
            "the seed · enter starts, esc cancels", check, value="*"), chosen)

    def start_arena(self, contestants: list[Contestant], turns: int = 1, fixed_seed: int | None = None,
                    seed: int | None = None) -> Arena:
        """The arena of these contestants (`seed`: its draws', for a reproducible picture); a preset
        on the default target is rated on the target it runs on now."""
        default = self.default_target or (self._known[0] if self._known else None)
        contestants = [replace(c, target=default) if c.target is None else c for c in contestants]
        self.arena = Arena(contestants, turns=turns, fixed_seed=fixed_seed, seed=seed)
        return self.arena

    def end_arena(self, dropped: bool = False) -> None:
        """Leave the arena: its panes stay, their names shown; `dropped`: a battle's answers were
        not voted on."""
        count = self.arena.votes if self.arena is not None else 0
        self.reveal_battle()
        self.arena = None
        self.battle_panes = None
        self._end_asked = False
        self.session_dirty = True
        self.show_address()
        unvoted = " The last battle was not voted on." if dropped else ""
        self.notify(f"Arena ended after {count} vote(s).{unvoted} alt+l shows the leaderboard.",
                    timeout=6)

    async def open_battle(self) -> bool:
        """The next battle's two panes, at the end, blind; the last battle's panes are closed (alt+u
        brings them back)."""
        assert self.arena is not None
        self._opening = True
        try:
            return await self._open_battle()
        finally:
            self._opening = False

    async def _open_battle(self) -> bool:
        await self._close_battle_panes()
        self.app.clear_notifications()  # the last battle's names: not beside the next one's answers
        battle = self.arena.next_battle()
        made = []
        for side, contestant in zip(SIDES, (battle.left, battle.right)):
            overrides = {} if battle.seed is None else {"seed": str(battle.seed)}
            overrides.update(contestant.knobs)  # a preset's own seed wins
            pane = await self.add_pane(PaneState(self._take_number(), overrides=overrides,
                                                 target=contestant.target), index=len(self.panes()),
                                       blind=side)
            if pane is None:
                break
            made.append(pane)
        if len(made) < 2:
            self.arena = None
            self.notify("The arena needs room for two panes: close some.", severity="warning")
            return False
        self.battle_panes = (made[0], made[1])
        self._turns_sent = 0
        self._end_asked = False
        self.session_dirty = True  # the arena and its battle are kept across a restart
        self.show_address()
        self._do_refresh_titles()
        self.set_focus(self.composer.editor)
        made[-1].scroll_visible(animate=False)  # both in sight, where many panes scroll
        return True

    async def _close_battle_panes(self, keep: bool = True) -> None:
        """Close the battle's panes; `keep`: alt+u can bring them back (not a battle given up
        before its vote: they would show who was who; its runs are in the history)."""
        from tui.screens.workbench import CLOSED_KEPT

        for pane in self.battle_panes or ():
            if pane.is_attached and not pane.closing:
                if keep:
                    self._closed_panes.append((self.panes().index(pane), pane.state))
                await self.remove_pane(pane)
        del self._closed_panes[:-CLOSED_KEPT]
        self.battle_panes = None

    async def abandon_battle(self) -> None:
        """A battle's pane closed before the vote: the battle is given up and both its panes closed;
        the next prompt starts a new one."""
        await self._close_battle_panes(keep=False)
        if self.arena is not None:
            self.arena.current = None
        self.session_dirty = True
        self.notify("Battle given up without a vote (its panes are not kept for alt+u): the next prompt "
                    "starts a new one.", timeout=6)

    def in_battle(self, pane: Pane | None) -> bool:
        """Whether `pane` is a battle's pane whose names are not shown yet."""
        return pane is not None and pane.blind is not None

    def refuse_in_battle(self, pane: Pane | None, what: str) -> bool:
        """True (and the person told) when `what` would show or copy a blind pane's target."""
        if not self.in_battle(pane):
            return False
        self.notify(f"{what}: not in a blind battle's pane before the vote (alt+v).", severity="warning")
        return True

    # -- a turn ------------------------------------------------------------------------------------------
    def arena_takes(self, message: str) -> bool:
        """ctrl+r in the arena: the message box's text goes to A and B (a new battle when the last
        one is over). True when the arena handled it (or said why not)."""
        if self.arena is None:
            return False
        if self._opening:
            self.notify("A and B are being opened.", severity="warning")
            return True
        if not message.strip():
            self.notify("Type the prompt in the message box (alt+a): ctrl+r sends it to A and B.")
            return True
        panes = self.battle_panes
        battle = self.arena.current
        if panes is None or battle is None or battle.revealed or not all(p.is_attached for p in panes):
            self._opening = True  # from now: a vote or another ctrl+r waits for the new pair
            self.run_worker(self._new_battle_with(message), group="arena")
            return True
        if any(p.running for p in panes):
            self.notify("A and B are still answering (esc cancels).", severity="warning")
            return True
        if self._turns_sent > len(battle.outcomes):
            self.notify("Vote on this turn first: alt+v.", severity="warning")
            return True
        self.send_turn(message)
        return True

    async def _new_battle_with(self, message: str) -> None:
        try:
            opened = self.arena is not None and await self.open_battle()
        finally:
            self._opening = False
        if opened:
            self.send_turn(message)

    def send_turn(self, message: str) -> None:
        assert self.battle_panes is not None
        self._arena_sending = True
        try:
            with self.started_together():
                started = [self.run_pane(pane, message) for pane in self.battle_panes]
        finally:
            self._arena_sending = False
        if all(started):
            self._turns_sent += 1
            self.session_dirty = True
            self.composer.clear_sent()
        else:  # both answer or neither: a vote compares two answers to one prompt
            for pane, ran in zip(self.battle_panes, started):
                if ran:
                    pane.cancel()
            self.notify("Not sent: see the reason in the pane.", severity="warning")

    def battle_run_ended(self, pane: Pane) -> None:
        """Both answers in: say how to vote."""
        panes = self.battle_panes
        if self.arena is None or panes is None or pane not in panes or self._vote_problem() is not None:
            return
        self.notify("Both answered: alt+v to vote (A, B, tie, both bad).", timeout=8)

    # -- the vote ---------------------------------------------------------------------------------------
    def _vote_problem(self) -> str | None:
        if self._opening:
            return "A and B are being asked: vote when both have answered."
        battle = self.arena.current if self.arena is not None else None
        if self.arena is not None and (battle is None or self.battle_panes is None):
            return "Nothing to vote on: type a prompt in the message box (ctrl+r sends it to A and B)."
        if battle is None or self.battle_panes is None:
            return "No blind battle: f10 starts the arena."
        if battle.revealed:
            return "This battle is voted: type the next prompt for the next one."
        if self._turns_sent <= len(battle.outcomes):
            return "Nothing to vote on yet: send a prompt to A and B (message box, ctrl+r)."
        replies = [pane.reply for pane in self.battle_panes]
        if any(pane.running for pane in self.battle_panes) or any(
                r is None or r.reply.state not in ENDED_STATES for r in replies):
            return "Wait for both answers (esc cancels one)."
        return None

    def action_vote(self) -> None:
        problem = self._vote_problem()
        if problem is not None:
            self.notify(problem, severity="warning")
            return
        battle = self.arena.current
        turn = len(battle.outcomes) + 1
        of = f" (turn {turn} of {battle.turns})" if battle.turns > 1 else ""
        self.app.push_screen(VoteDialog(f"Which answer is better{of}?"), self.record_vote)

    def record_vote(self, outcome: str | None) -> None:
        if outcome is None or self._vote_problem() is not None:
            return
        battle = self.arena.current
        a, b = self.battle_panes
        prompt = next((m.content for m in reversed(a.state.thread()) if m.role == "user"), None)
        vote = battle.vote(outcome, prompt)
        self.arena.votes += 1
        self.votes.append(vote)
        self.session_dirty = True
        if self.store is not None:
            try:
                self.store.record_vote(vote, self.compared(battle, a, b))
            except Exception:  # the vote is kept for this session; the log has why
                log.exception("recording a vote failed")
        if battle.revealed:
            self.reveal_battle()
            said = {"a": "A is better", "b": "B is better", "tie": "a tie", "both_bad": "both bad"}[outcome]
            self.notify(f"Voted {said}. A was {battle.left.name}, B was {battle.right.name}. The next prompt "
                        "starts the next battle (alt+l: leaderboard).", timeout=12)
        else:
            self.notify(f"Vote {len(battle.outcomes)} of {battle.turns} kept: the next prompt continues "
                        "this battle.", timeout=6)
        self.set_focus(self.composer.editor)

    def compared(self, battle: Battle, a: Pane, b: Pane) -> dict[str, Any]:
        """What the vote was about, kept with it: the thread, both answers with their targets,
        settings and figures, the positions and the seed."""
        sides = []
        for side, contestant, pane in zip(SIDES, (battle.left, battle.right), (a, b)):
            reply = pane.reply
            sides.append({"side": side, "contestant": contestant.name, "preset": contestant.knobs or None,
                          "answer": reply.content if reply else "", "reasoning": reply.reasoning if reply else "",
                          "reply": reply_fields(reply.reply) if reply else None,
                          "figures": figures_record(reply.reply.figures) if reply else None})
        thread = [m for m in a.state.thread() if m is not a.reply]
        return {"battle": battle.id, "turn": len(battle.outcomes), "seed": battle.seed,
                "messages": openai_messages(thread), "sides": sides}

    def reveal_battle(self) -> None:
        """The names in the titles: the side, then the contestant (a preset's name and knobs)."""
        battle = self.arena.current if self.arena is not None else None
        for side, pane in zip(SIDES, self.battle_panes or ()):
            if pane.blind is None:
                continue
            contestant = battle.left if side == "A" else battle.right
            preset = contestant.overrides != ()
            pane.state.label = f"{side} {contestant.name}" if preset else side
            pane.blind = None
        self._do_refresh_titles()

    # -- the leaderboard -----------------------------------------------------------------------------------
    def action_leaderboard(self) -> None:
        store = self.store
        session_votes = list(self.votes)

        def read_votes() -> tuple[list[Vote], list[str]]:
            if store is None:
                return session_votes, []
            store.flush(timeout=5)  # the vote just cast is in the database
            found = store.votes()
            return found.votes, found.unreadable

        self.app.push_screen(LeaderboardScreen(read_votes))
