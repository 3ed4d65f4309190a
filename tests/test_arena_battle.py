"""The arena's battles: contestants from the set-up line, pairs drawn at random in a random order,
a seed per battle, a vote per turn and the names revealed after the last."""

from __future__ import annotations

from collections import Counter

import pytest

from tui.arena.battle import Arena, ArenaError, Contestant, parse_contestants
from tui.engine.protocol import LOCAL, Target
from tui.targets import resolve

BASE = Target(LOCAL, "demo")
PROVERBS = Target(LOCAL, "demo", "proverbs")
KNOWN = [BASE, PROVERBS]


def test_every_target_or_named_ones_or_presets():
    assert [c.name for c in parse_contestants("*", KNOWN, resolve)] == ["demo", "demo+proverbs"]
    assert [c.target for c in parse_contestants("base; proverbs", KNOWN, resolve)] == [BASE, PROVERBS]
    presets = parse_contestants("T0.2 = temperature=0.2; T1.0 = temperature=1.0 top_p=0.9 on proverbs", KNOWN,
                                resolve)
    assert presets == [Contestant("T0.2", None, (("temperature", "0.2"),)),
                       Contestant("T1.0", PROVERBS, (("temperature", "1.0"), ("top_p", "0.9")))]
    # rated as what they are: one name given to two presets in two arenas is two contestants
    assert [c.rated_as for c in presets] == ["T0.2 [temperature=0.2 · default target]",
                                             "T1.0 [temperature=1.0 top_p=0.9 · demo+proverbs]"]
    again = parse_contestants("T0.2 = temperature=0.3; base", KNOWN, resolve)
    assert again[0].rated_as != presets[0].rated_as and again[1].rated_as == "demo"


@pytest.mark.parametrize("text, reason", [
    ("base", "two contestants"), ("base; base", "named twice"), ("nothing; base", "unknown target"),
    ("T = temperature=9", "temperature must be in"), ("T = heat=1; base", "not knob=value"),
    ("T =; base", "give its knobs"),
])
def test_a_bad_set_up_line_says_why(text, reason):
    with pytest.raises(ArenaError, match=reason):
        parse_contestants(text, KNOWN, resolve)


def test_pairs_and_sides_are_drawn_at_random_and_seeds_per_battle():
    contestants = [Contestant(name, BASE) for name in "abcd"]
    arena = Arena(contestants, seed=1)
    battles = [arena.next_battle() for _ in range(600)]
    assert all(b.left != b.right for b in battles)
    left = Counter(b.left.name for b in battles)
    assert all(120 < left[name] < 180 for name in "abcd")  # each on the left about a quarter of the time
    assert len({b.seed for b in battles}) > 590 and len({b.id for b in battles}) == 600
    fixed = Arena(contestants, fixed_seed=42, seed=1)
    assert {fixed.next_battle().seed for _ in range(5)} == {42}
    assert [b.left.name for b in battles[:20]] == [b.left.name for b in
                                                   (lambda a: [a.next_battle() for _ in range(20)])(Arena(contestants, seed=1))]


def test_a_battle_of_two_turns_reveals_after_the_second_vote():
    arena = Arena([Contestant("x", BASE), Contestant("y", PROVERBS)], turns=2, seed=3)
    battle = arena.next_battle()
    vote = battle.vote("a", prompt="q1", when=10.0)
    assert (vote.left, vote.right, vote.outcome, vote.winner) == (battle.left.name, battle.right.name, "a",
                                                                   battle.left.name)
    assert not battle.revealed
    battle.vote("tie")
    assert battle.revealed
    with pytest.raises(ValueError):
        battle.vote("b")
