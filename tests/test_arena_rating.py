"""The arena's leaderboard: the Bradley–Terry fit against scipy's optimizer on the same likelihood,
what a fit must not depend on (the votes' order, the sides), recovery of known strengths, the
bootstrap intervals, the counts, the renderings, and the vote records."""

from __future__ import annotations

import csv
import io
import json
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from tui.arena.rating import (COLUMNS, Matchup, PositionBias, bootstrap_intervals, bootstrap_ratings,
                              bradley_terry, leaderboard, leaderboard_csv, leaderboard_json, position_bias,
                              win_matrix)
from tui.arena.votes import OUTCOMES, Vote
from tui.validate import FieldError

ELO = 400 / math.log(10)


def vote(left: str, right: str, outcome: str, battle: str = "b") -> Vote:
    return Vote(battle=battle, time=1_700_000_000.0, left=left, right=right, outcome=outcome)


def drawn_votes(strengths: dict[str, float], count: int, seed: int, tie_rate: float = 0.1) -> list[Vote]:
    """`count` votes between random pairs on random sides, the winner drawn from the true
    Bradley–Terry odds (natural-log strengths); some ties and both-bad votes mixed in."""
    rng = random.Random(seed)
    names = sorted(strengths)
    votes = []
    for number in range(count):
        left, right = rng.sample(names, 2)
        left_wins = 1 / (1 + math.exp(strengths[right] - strengths[left]))
        if rng.random() < tie_rate:
            outcome = rng.choice(["tie", "both_bad"])
        else:
            outcome = "a" if rng.random() < left_wins else "b"
        votes.append(vote(left, right, outcome, battle=str(number)))
    return votes


def scipy_ratings(votes: list[Vote]) -> dict[str, float]:
    """The same penalised likelihood, written vote by vote: a win scores 1, a tie or both-bad ½,
    and each target draws one virtual game against a target of strength 0; minimised by scipy's
    trust-region Newton-CG (BFGS stops 1e-5 points short on lopsided votes), shown with the mean
    at 1000."""
    names = sorted({name for v in votes for name in (v.left, v.right)})
    index = {name: number for number, name in enumerate(names)}
    n = len(names)
    # The virtual target is index n, its strength pinned at 0 by appending it to each guess.
    first = np.array([index[v.left] for v in votes] + list(range(n)))
    second = np.array([index[v.right] for v in votes] + [n] * n)
    score = np.array([{"a": 1.0, "b": 0.0}.get(v.outcome, 0.5) for v in votes] + [0.5] * n)

    def left_wins(theta):
        full = np.append(theta, 0.0)
        return 1 / (1 + np.exp(full[second] - full[first]))

    def loss_and_gradient(theta):
        p = left_wins(theta)
        loss = -np.sum(score * np.log(p) + (1 - score) * np.log(1 - p))
        gradient = np.zeros(n + 1)
        np.add.at(gradient, first, p - score)
        np.add.at(gradient, second, score - p)
        return loss, gradient[:n]

    def hessian(theta):
        p = left_wins(theta)
        spread, matrix = p * (1 - p), np.zeros((n + 1, n + 1))
        for rows, columns, sign in ((first, first, 1), (second, second, 1),
                                    (first, second, -1), (second, first, -1)):
            np.add.at(matrix, (rows, columns), sign * spread)
        return matrix[:n, :n]

    result = minimize(loss_and_gradient, np.zeros(n), jac=True, hess=hessian, method="trust-ncg",
                      options={"gtol": 1e-12})
    assert np.max(np.abs(result.jac)) < 1e-8  # at the minimum, whatever scipy's message says
    theta = result.x
    return {name: 1000 + ELO * (t - theta.mean()) for name, t in zip(names, theta)}


# -- the fit -----------------------------------------------------------------------------------------
def test_ratings_match_scipys_fit_of_the_same_likelihood():
    votes = drawn_votes({"alpha": 0.0, "beta": 0.6, "gamma": -0.4, "delta": 1.1, "eps": -1.0}, 600, seed=3)
    # A target that never lost and one that never won: their strengths are finite by the prior alone.
    votes += [vote("champ", "alpha", "b"), vote("beta", "champ", "b"), vote("champ", "eps", "tie")]
    votes += [vote("dud", "gamma", "b"), vote("delta", "dud", "a"), vote("dud", "eps", "both_bad")]
    ours, reference = bradley_terry(votes), scipy_ratings(votes)
    assert set(ours) == set(reference) == {"alpha", "beta", "gamma", "delta", "eps", "champ", "dud"}
    assert max(abs(ours[name] - reference[name]) for name in ours) < 1e-6
    assert np.mean(list(ours.values())) == pytest.approx(1000, abs=1e-9)
    assert all(map(math.isfinite, ours.values())) and ours["champ"] > 1000 > ours["dud"]


def test_lopsided_votes_where_a_full_newton_step_overshoots():
    """Every pair one-sided, thousands of votes (found by a random search): Newton's full step
    leaves the curvature underflowing to a singular matrix; the halved steps reach the maximum."""
    votes = ([vote("t2", "t1", "a")] * 6059 + [vote("t1", "t3", "a")] * 4492
             + [vote("t0", "t3", "a")] * 2997 + [vote("t0", "t2", "a")] * 6)
    ours, reference = bradley_terry(votes), scipy_ratings(votes)
    assert max(abs(ours[name] - reference[name]) for name in ours) < 1e-6
    assert sorted(ours, key=ours.get) == ["t3", "t1", "t2", "t0"]


def test_an_anchor_target_sits_at_1000_and_the_gaps_stay():
    votes = drawn_votes({"x": 0.0, "y": 1.0, "z": -0.5}, 200, seed=1)
    by_mean, by_anchor = bradley_terry(votes), bradley_terry(votes, anchor="y")
    assert by_anchor["y"] == 1000
    assert by_anchor["x"] - by_anchor["z"] == pytest.approx(by_mean["x"] - by_mean["z"], abs=1e-9)
    with pytest.raises(ValueError, match="'nobody' is not among"):
        bradley_terry(votes, anchor="nobody")


def test_a_target_that_only_ever_won_rates_finitely_and_the_prior_weighs_one_drawn_game():
    """Two targets, x beating y n times: by symmetry θx = −θy = t, and the fit's equation is
    n·(1 − σ(2t)) = σ(t) − ½ (the data's pull against the virtual draw's)."""
    for n, gap in ((1, 263), (10, 581), (100, 943)):  # the gaps the module's docstring quotes
        ratings = bradley_terry([vote("x", "y", "a")] * n)
        assert round(ratings["x"] - ratings["y"]) == gap
        t = (ratings["x"] - 1000) / ELO
        sigma = lambda u: 1 / (1 + math.exp(-u))  # noqa: E731
        assert math.isfinite(t) and t > 0
        assert n * (1 - sigma(2 * t)) == pytest.approx(sigma(t) - 0.5, abs=1e-9)


def test_no_votes_and_targets_without_votes():
    assert bradley_terry([]) == {} and bootstrap_intervals([]) == {} and leaderboard([]) == []
    assert bradley_terry([], targets=["only"]) == {"only": 1000.0}
    assert bootstrap_intervals([], rounds=3, targets=["only"]) == {"only": (1000.0, 1000.0)}
    (row,) = leaderboard([], targets=["only"], rounds=3)
    assert (row.name, row.rating, row.battles, row.win_rate) == ("only", 1000.0, 0, None)
    ratings = bradley_terry([vote("x", "y", "a")], targets=["newcomer"])
    assert ratings["x"] > ratings["newcomer"] > ratings["y"]


names = st.sampled_from(["m1", "m2", "m3", "m4"])
votes_strategy = st.lists(
    st.tuples(names, names, st.sampled_from(OUTCOMES)).filter(lambda t: t[0] != t[1])
    .map(lambda t: vote(*t)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(votes_strategy, st.randoms(use_true_random=False))
def test_the_votes_order_does_not_change_the_fit(votes, rng):
    shuffled = list(votes)
    rng.shuffle(shuffled)
    assert bradley_terry(shuffled) == bradley_terry(votes)
    assert bootstrap_intervals(shuffled, rounds=20) == bootstrap_intervals(votes, rounds=20)


@settings(max_examples=60, deadline=None)
@given(votes_strategy)
def test_swapping_the_sides_of_every_vote_changes_nothing(votes):
    mirrored = [vote(v.right, v.left, {"a": "b", "b": "a"}.get(v.outcome, v.outcome)) for v in votes]
    assert bradley_terry(mirrored) == bradley_terry(votes)


def test_known_strengths_come_out_in_their_order():
    truth = {"weak": -1.0, "fair": -0.3, "good": 0.3, "best": 1.0}
    ratings = bradley_terry(drawn_votes(truth, 3000, seed=7))
    assert sorted(ratings, key=ratings.get) == ["weak", "fair", "good", "best"]
    # Ties drawn at random pull the gaps in a little; the scale is still the true one, roughly.
    assert 0.6 * ELO * 2.0 < ratings["best"] - ratings["weak"] < 1.1 * ELO * 2.0


def test_bootstrap_intervals_hold_the_fit_and_narrow_with_more_votes():
    truth = {"weak": -0.8, "mid": 0.0, "strong": 0.8}
    widths = []
    for count in (150, 2400):
        votes = drawn_votes(truth, count, seed=11)
        ratings, intervals = bradley_terry(votes), bootstrap_intervals(votes, rounds=300, seed=5)
        for name, (low, high) in intervals.items():
            assert low < ratings[name] < high
        widths.append({name: high - low for name, (low, high) in intervals.items()})
    few, many = widths
    # 16 times the votes: intervals about a quarter as wide.
    assert all(0.15 < many[name] / few[name] < 0.45 for name in truth)


def test_bootstrap_is_reproducible_by_seed_and_checks_its_arguments():
    votes = drawn_votes({"x": 0.0, "y": 0.5, "z": 1.0}, 100, seed=2)
    assert bootstrap_intervals(votes, rounds=50, seed=4) == bootstrap_intervals(votes, rounds=50, seed=4)
    assert bootstrap_intervals(votes, rounds=50, seed=4) != bootstrap_intervals(votes, rounds=50, seed=5)
    narrow, wide = bootstrap_intervals(votes, 200, level=0.5), bootstrap_intervals(votes, 200, level=0.99)
    assert all(wide[n][0] < narrow[n][0] < narrow[n][1] < wide[n][1] for n in narrow)
    for bad, message in (({"rounds": 0}, "need rounds ≥ 1"), ({"level": 1.0}, "need 0 < level < 1"),
                         ({"level": 0}, "need 0 < level < 1")):
        with pytest.raises(ValueError, match=message):
            bootstrap_intervals(votes, **bad)


def test_the_intervals_are_the_middle_of_the_bootstrap_ratings():
    votes = drawn_votes({"x": 0.0, "y": 0.5, "z": 1.0}, 300, seed=8)
    samples, intervals = bootstrap_ratings(votes, 200, seed=1), bootstrap_intervals(votes, 200, seed=1, level=0.9)
    assert all(len(ratings) == 200 for ratings in samples.values())
    for name, (low, high) in intervals.items():
        assert low == pytest.approx(np.percentile(samples[name], 5), abs=1e-9)
        assert high == pytest.approx(np.percentile(samples[name], 95), abs=1e-9)


def test_the_bootstrap_spread_is_the_one_the_likelihoods_curvature_predicts():
    """For many votes the fit's sampling spread is the inverse of the Fisher information (the
    likelihood's curvature, here without the prior's one game): the resampling must be of as
    many votes as there are, drawn by their frequencies, to give it."""
    truth = {"a": -0.6, "b": 0.0, "c": 0.4, "d": 0.9}
    votes = drawn_votes(truth, 2000, seed=21)
    ratings, samples = bradley_terry(votes), bootstrap_ratings(votes, 400, seed=2)
    names = sorted(truth)
    theta = np.array([(ratings[name] - 1000) / ELO for name in names])
    information = np.zeros((4, 4))
    for v in votes:
        i, j = names.index(v.left), names.index(v.right)
        spread = 1 / (1 + math.exp(theta[j] - theta[i])) / (1 + math.exp(theta[i] - theta[j]))
        information[[i, j], [i, j]] += spread
        information[[i, j], [j, i]] -= spread
    centring = np.eye(4) - 1 / 4  # ratings are shown with their mean at 1000
    expected = ELO * np.sqrt(np.diag(centring @ np.linalg.pinv(information) @ centring))
    measured = np.array([np.std(samples[name]) for name in names])
    assert np.all(np.abs(measured / expected - 1) < 0.15), (measured, expected)


# -- the counts --------------------------------------------------------------------------------------
SMALL = [vote("x", "y", "a"), vote("y", "x", "a"), vote("y", "x", "tie"), vote("x", "y", "both_bad"),
         vote("x", "z", "a"), vote("z", "x", "b"), vote("y", "z", "b")]


def test_win_matrix_counts_ties_as_halves_in_both_orders():
    matrix = win_matrix(SMALL)
    assert matrix == {("x", "y"): Matchup(4, 2.0), ("x", "z"): Matchup(2, 2.0), ("y", "x"): Matchup(4, 2.0),
                      ("y", "z"): Matchup(1, 0.0), ("z", "x"): Matchup(2, 0.0), ("z", "y"): Matchup(1, 1.0)}
    assert matrix["x", "z"].win_rate == 1.0 and matrix["x", "y"].win_rate == 0.5
    assert win_matrix([]) == {}


def test_position_bias_counts_the_left_answers_wins_among_decisive_votes():
    assert position_bias(SMALL) == PositionBias(left_wins=3, decisive=5)
    assert position_bias(SMALL).left_rate == 0.6
    assert position_bias([vote("x", "y", "tie")]).left_rate is None


def test_leaderboard_rows_counts_and_order():
    rows, ratings = leaderboard(SMALL, rounds=50), bradley_terry(SMALL)
    assert [row.name for row in rows] == sorted(ratings, key=ratings.get, reverse=True)
    by_name = {row.name: row for row in rows}
    x = by_name["x"]
    assert (x.battles, x.wins, x.losses, x.ties, x.both_bad) == (6, 3, 1, 1, 1)
    assert x.win_rate == pytest.approx(4 / 6)
    assert x.rating == ratings["x"] and (x.low, x.high) == bootstrap_intervals(SMALL, 50)["x"]
    assert sum(row.wins for row in rows) == sum(row.losses for row in rows) == 5
    # Equal ratings: by name.
    even = [vote("zed", "amy", "a"), vote("amy", "zed", "a")]
    assert [row.name for row in leaderboard(even, rounds=5)] == ["amy", "zed"]


def test_csv_and_json_say_the_same_and_keep_names_harmless():
    votes = SMALL + [vote("=HYPERLINK(\"http://x\")", "x", "b"), vote("esc\x1b[2Jname", "y", "a")]
    rows = leaderboard(votes, rounds=50)
    table = list(csv.DictReader(io.StringIO(leaderboard_csv(rows))))
    records = json.loads(leaderboard_json(rows))
    assert tuple(table[0]) == COLUMNS and [r["name"] for r in records] == [
        row.name.replace("\x1b", "\u241b") for row in rows]
    for line, record, row in zip(table, records, rows):
        assert float(line["rating"]) == record["rating"] == round(row.rating, 1)
        assert (float(line["low"]), float(line["high"])) == (record["low"], record["high"])
        assert int(line["battles"]) == record["battles"] == row.battles
        assert float(line["win_rate"]) == record["win_rate"] == round(row.win_rate, 4)
    names = {line["name"] for line in table}
    assert "'=HYPERLINK(\"http://x\")" in names  # text to a spreadsheet, not a formula
    assert "esc\u241b[2Jname" in names and not any("\x1b" in name for name in names)
    assert leaderboard_csv([]) == ",".join(COLUMNS) + "\n" and leaderboard_json([]) == "[]\n"


# -- the records -------------------------------------------------------------------------------------
target_names = st.text(min_size=1, max_size=200)


@settings(max_examples=100)
@given(target_names, target_names, st.sampled_from(OUTCOMES), st.none() | st.text(),
       st.floats(min_value=0, max_value=4e9))
def test_a_vote_survives_its_json_record(left, right, outcome, prompt, when):
    if left == right:
        right += "'"
    original = Vote(battle="battle-1", time=when, left=left, right=right, outcome=outcome, prompt=prompt)
    assert Vote.from_record(json.loads(json.dumps(original.to_record()))) == original


GOOD = {"battle": "b1", "time": 1.5, "left": "x", "right": "y", "outcome": "a", "prompt": None}


@pytest.mark.parametrize("change, field, reason", [
    ({"outcome": "left"}, "outcome", "must be one of a, b, tie, both_bad"),
    ({"time": "yesterday"}, "time", "must be a number"),
    ({"time": -1}, "time", "must be ≥ 0"),
    ({"time": float("nan")}, "time", "must be a number"),
    ({"left": 3}, "left", "must be a string"),
    ({"right": "x"}, "right", "must differ from left"),
    ({"left": ""}, "left", "must name a target"),
    ({"right": "y" * 201}, "right", "longer than 200"),
    ({"prompt": ["hi"]}, "prompt", "must be a string"),
    ({"winner": "x"}, "winner", "is not a setting here"),
    ({"battle": None}, "battle", "must be a string"),
])
def test_a_bad_record_names_its_field(change, field, reason):
    with pytest.raises(FieldError, match=reason) as caught:
        Vote.from_record({**GOOD, **change})
    assert caught.value.field == field
    with pytest.raises(FieldError) as nested:
        Vote.from_record({**GOOD, **change}, field="votes[4]")
    assert nested.value.field == f"votes[4].{field}"


def test_a_record_missing_a_field_or_not_a_table():
    for missing in ("battle", "time", "left", "right", "outcome"):
        with pytest.raises(FieldError, match="is missing") as caught:
            Vote.from_record({key: value for key, value in GOOD.items() if key != missing})
        assert caught.value.field == missing
    assert Vote.from_record({key: value for key, value in GOOD.items() if key != "prompt"}).prompt is None
    with pytest.raises(FieldError, match="must be a table"):
        Vote.from_record(["x", "y", "a"])


def test_a_vote_made_in_code_is_checked_too():
    with pytest.raises(FieldError, match="outcome: must be one of"):
        vote("x", "y", "A")
    with pytest.raises(FieldError, match="right: must differ"):
        vote("x", "x", "tie")
    assert vote("x", "y", "b").winner == "y" and vote("x", "y", "both_bad").winner is None
