"""A blind arena's battles: who takes part, which two answer each prompt (drawn at random, shown as
A and B in a random order), with which seed, and when the names are revealed.

A contestant is a target, or a named preset of settings on a target (`T0.2 = temperature=0.2`),
so the same model under two settings can be compared. A battle lasts `turns` turns (a
conversation, the pair kept): a vote after each, and the names are revealed after the last.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from tui import validate as V
from tui.arena.votes import OUTCOMES, Vote
from tui.engine.params import SPECS_BY_NAME, ParamError
from tui.engine.protocol import Target
from tui.targets import target_from_record

SEED_RANGE = 2**31


class ArenaError(ValueError):
    """What the arena's set-up line cannot be, in a few words."""


@dataclass(frozen=True)
class Contestant:
    name: str  # a target's label, or a preset's name (the titles show it after the vote)
    target: Target | None  # None: the workbench's default target
    overrides: tuple[tuple[str, str], ...] = ()  # a preset's knobs, as typed

    @property
    def knobs(self) -> dict[str, str]:
        return dict(self.overrides)

    @property
    def rated_as(self) -> str:
        """What its votes and the leaderboard call it: a target's label; a preset's name with what
        it is (`Hot [temperature=1.2 · demo+proverbs]`), so that two presets given one name in two
        arenas are not rated as one."""
        if not self.overrides:
            return self.name
        knobs = " ".join(f"{knob}={value}" for knob, value in self.overrides)
        return f"{self.name} [{knobs} · {self.target.label if self.target is not None else 'default target'}]"


def parse_contestants(text: str, known: list[Target], resolve) -> list[Contestant]:
    """The set-up line: entries separated by ";", each a target's name (`*`: every target) or a
    preset `NAME = knob=value … [on TARGET]`. `resolve(name, known)` finds a target by name (as
    --target does). ArenaError unless two contestants at least, with different names."""
    contestants: list[Contestant] = []
    for entry in (part.strip() for part in text.split(";")):
        if not entry:
            continue
        if entry == "*":
            contestants += [Contestant(t.label, t) for t in known]
        elif "=" in entry:  # a preset (no target's name has one)
            contestants.append(_preset(entry, known, resolve))
        else:
            try:
                target = resolve(entry, known)
            except ValueError as exc:
                raise ArenaError(str(exc)) from None
            contestants.append(Contestant(target.label, target))
    names = [c.name for c in contestants]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ArenaError(f"{', '.join(repeated)} named twice")
    if len(contestants) < 2:
        raise ArenaError("name two contestants at least: targets (* for every one) or presets "
                         "such as T0.2 = temperature=0.2")
    return contestants


def _preset(entry: str, known: list[Target], resolve) -> Contestant:
    name, _, rest = entry.partition("=")
    name = name.strip()
    if not name or " " in name:
        raise ArenaError(f"{entry!r}: a preset is NAME = knob=value …, its name one word")
    knobs_text, _, on = rest.partition(" on ")
    target = None
    if on.strip():
        try:
            target = resolve(on.strip(), known)
        except ValueError as exc:
            raise ArenaError(str(exc)) from None
    knobs = []
    for pair in knobs_text.split():
        knob, sep, value = pair.partition("=")
        if not sep or knob not in SPECS_BY_NAME:
            raise ArenaError(f"{name}: {pair!r} is not knob=value (knobs: {', '.join(SPECS_BY_NAME)})")
        spec = SPECS_BY_NAME[knob]
        try:
            if not spec.means_unset(value):
                spec.parse(value)
        except ParamError as exc:
            raise ArenaError(f"{name}: {exc}") from None
        knobs.append((knob, value))
    if not knobs:
        raise ArenaError(f"{name}: give its knobs, e.g. {name} = temperature=0.2")
    return Contestant(name, target, tuple(knobs))


@dataclass
class Battle:
    id: str
    left: Contestant  # shown as A, on the left
    right: Contestant  # shown as B
    seed: int | None  # both answer with this seed (None: unseeded)
    turns: int = 1  # votes before the names are revealed
    outcomes: list[str] = field(default_factory=list)  # one per turn voted

    @property
    def revealed(self) -> bool:
        return len(self.outcomes) >= self.turns

    def vote(self, outcome: str, prompt: str | None = None, when: float | None = None) -> Vote:
        """Record the vote for the turn just answered."""
        if outcome not in OUTCOMES:
            raise ValueError(f"a vote is one of {', '.join(OUTCOMES)}")
        if self.revealed:
            raise ValueError("this battle is over: its names are shown")
        self.outcomes.append(outcome)
        return Vote(battle=self.id, time=time.time() if when is None else when, left=self.left.rated_as,
                    right=self.right.rated_as, outcome=outcome, prompt=prompt)


class Arena:
    """The contestants and the battles drawn among them, with a random source of their own (seeded
    for tests); `fixed_seed`: every battle's answers use this seed instead of a drawn one."""

    def __init__(self, contestants: list[Contestant], *, turns: int = 1, fixed_seed: int | None = None,
                 seed: int | None = None) -> None:
        if len(contestants) < 2:
            raise ArenaError("an arena needs two contestants at least")
        if turns < 1:
            raise ArenaError("a battle lasts one turn at least")
        self.contestants = list(contestants)
        self.turns = turns
        self.fixed_seed = fixed_seed
        self._random = random.Random(seed)
        self.current: Battle | None = None
        self.count = 0  # battles drawn
        self.votes = 0  # votes cast in this arena, across restarts (the end message counts them)

    def next_battle(self) -> Battle:
        """Two contestants drawn at random, in a random order (A, B), with a drawn seed."""
        left, right = self._random.sample(self.contestants, 2)
        self.count += 1
        seed = self.fixed_seed if self.fixed_seed is not None else self._random.randrange(SEED_RANGE)
        self.current = Battle(f"{int(time.time())}-{self.count}-{self._random.randrange(16**6):06x}", left, right,
                              seed, self.turns)
        return self.current


# -- as a session keeps it ------------------------------------------------------------------------
@dataclass
class ArenaState:
    """The arena as a session keeps it across a restart: its contestants and rules, the battles
    drawn so far, and the battle under way with its panes (A's number, B's) and the turns sent to
    them (None: no battle waits for a vote)."""

    arena: Arena
    panes: tuple[int, int] | None = None
    turns_sent: int = 0

    def record(self) -> dict[str, Any]:
        arena, battle = self.arena, self.arena.current
        return {"contestants": [{"name": c.name, "target": None if c.target is None else c.target.record(),
                                 "overrides": [list(pair) for pair in c.overrides]} for c in arena.contestants],
                "turns": arena.turns, "fixed_seed": arena.fixed_seed, "count": arena.count, "votes": arena.votes,
                "battle": None if battle is None or self.panes is None else {
                    "id": battle.id, "left": battle.left.name, "right": battle.right.name, "seed": battle.seed,
                    "turns": battle.turns, "outcomes": list(battle.outcomes), "panes": list(self.panes),
                    "turns_sent": self.turns_sent}}

    @classmethod
    def from_record(cls, value: Any, field: str) -> ArenaState:
        """The inverse of `record`; FieldError names the first bad field (a hand-edited file)."""
        data = V.table(value, field)
        V.known_keys(data, field, {"contestants", "turns", "fixed_seed", "count", "votes", "battle"})
        contestants = V.list_of(data.get("contestants"), f"{field}.contestants", _contestant, limit=256)
        names = [c.name for c in contestants]
        if len(set(names)) != len(names) or len(names) < 2:
            raise V.FieldError(f"{field}.contestants", "must be two at least, each named once")
        fixed = data.get("fixed_seed")
        arena = Arena(contestants, turns=V.integer(data.get("turns", 1), f"{field}.turns", low=1),
                      fixed_seed=None if fixed is None else V.integer(fixed, f"{field}.fixed_seed", low=0))
        arena.count = V.integer(data.get("count", 0), f"{field}.count", low=0)
        arena.votes = V.integer(data.get("votes", 0), f"{field}.votes", low=0)  # older sessions: not counted
        state = cls(arena)
        if data.get("battle") is not None:
            state._battle_from(data["battle"], f"{field}.battle", dict(zip(names, contestants)))
        return state

    def _battle_from(self, value: Any, field: str, by_name: dict[str, Contestant]) -> None:
        data = V.table(value, field)
        V.known_keys(data, field, {"id", "left", "right", "seed", "turns", "outcomes", "panes", "turns_sent"})
        left, right = (by_name.get(V.string(data.get(side), f"{field}.{side}")) for side in ("left", "right"))
        if left is None or right is None or left is right:
            raise V.FieldError(field, "left and right must be two of the contestants")
        seed = data.get("seed")
        battle = Battle(V.string(data.get("id"), f"{field}.id", limit=200), left, right,
                        None if seed is None else V.integer(seed, f"{field}.seed", low=0),
                        V.integer(data.get("turns", 1), f"{field}.turns", low=1),
                        V.list_of(data.get("outcomes", []), f"{field}.outcomes",
                                  lambda item, where: V.one_of(item, where, OUTCOMES), limit=1000))
        panes = V.list_of(data.get("panes"), f"{field}.panes", lambda item, where: V.integer(item, where, low=1))
        if len(panes) != 2 or panes[0] == panes[1]:
            raise V.FieldError(f"{field}.panes", "must be two pane numbers, A's then B's")
        self.turns_sent = V.integer(data.get("turns_sent", 0), f"{field}.turns_sent", low=len(battle.outcomes),
                                    high=len(battle.outcomes) + 1)
        self.arena.current = battle
        self.panes = (panes[0], panes[1])


def _contestant(value: Any, field: str) -> Contestant:
    data = V.table(value, field)
    V.known_keys(data, field, {"name", "target", "overrides"})
    overrides = []
    for index, pair in enumerate(V.list_of(data.get("overrides", []), f"{field}.overrides",
                                           lambda item, where: item, limit=64)):
        where = f"{field}.overrides[{index}]"
        if not (isinstance(pair, list) and len(pair) == 2):
            raise V.FieldError(where, "must be [knob, value]")
        knob = V.one_of(pair[0], where, tuple(SPECS_BY_NAME))
        overrides.append((knob, V.string(pair[1], where, limit=200)))
    return Contestant(V.string(data.get("name"), f"{field}.name", limit=200),
                      target_from_record(data.get("target"), f"{field}.target"), tuple(overrides))
