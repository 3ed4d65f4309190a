"""The arena's leaderboard: Bradley–Terry ratings fitted by maximum likelihood on lmarena's Elo
scale, bootstrap intervals, and the plain counts a reader checks them against (pairwise win rates,
the lean towards the answer shown first), rendered as CSV and JSON.

The model: target i has a strength θᵢ and beats j with probability
σ(θᵢ − θⱼ) = 1 / (1 + e^(θⱼ − θᵢ)). A vote scores 1 for the winner and 0 for the loser. A tie scores ½ to each side, and so does
"both bad": it says both answers failed, not that one was better, and it is evidence that the two
are close; lmarena counts its "tie (bothbad)" as a tie too. The log-likelihood of the votes is
Σ s·log σ(θᵢ − θⱼ) + (1 − s)·log σ(θⱼ − θᵢ), s being i's score, as in lmarena's fit.

The prior: each target also plays one virtual game against a virtual target of strength 0, drawn.
Without it a target that never lost (or never won) has no finite maximum (its θ runs to ±∞), and
groups of targets that never met have no common zero. With it the log-likelihood is strictly
concave, so its maximum exists, is unique and Newton's method finds it; one game weighs little
once a target has a few dozen real ones (a target that won all of 1, 10 or 100 votes against
another rates 263, 581 or 943 points above it, where the bare maximum is infinitely far).
Ratings are then shown as
R = 1000 + 400·(θ − θ̄)/ln 10 (400 points: odds of 10 to 1), θ̄ being the mean strength, or the
anchor target's, which then sits at 1000.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from tui.arena.votes import Vote
from tui.text import printable

BASE_RATING = 1000.0
SCALE = 400 / math.log(10)  # Elo points per unit of natural-log strength
PRIOR_GAMES = 1.0  # the weight of each target's virtual drawn game (see the module's docstring)
TOLERANCE = 1e-10  # the fit stops when no strength moves by more than this (natural-log units)
MAX_NEWTON_STEPS = 100  # a strictly concave fit converges in a handful; more means a bug
LEFT_SCORE = {"a": 1.0, "b": 0.0, "tie": 0.5, "both_bad": 0.5}  # the left (A) target's score


@dataclass(frozen=True)
class _Games:
    """The votes as the fit sees them: each distinct (pair, score) once, with how many votes had it.
    Each pair is put in name order (the sides do not enter the model), so the same votes in any
    order, or with their sides swapped, give the same arrays and the same fit, to the last bit."""

    names: tuple[str, ...]
    first: np.ndarray  # the pair's first target, an index into names
    second: np.ndarray
    score: np.ndarray  # the first target's score: 1, ½ or 0
    count: np.ndarray


def _games(votes: Iterable[Vote], targets: Iterable[str]) -> _Games:
    votes = list(votes)
    names = tuple(sorted({name for vote in votes for name in (vote.left, vote.right)} | set(targets)))
    index = {name: number for number, name in enumerate(names)}
    rows = []
    for vote in votes:
        left, right, score = index[vote.left], index[vote.right], LEFT_SCORE[vote.outcome]
        rows.append((left, right, score) if left < right else (right, left, 1.0 - score))
    cells, count = np.unique(np.array(rows, dtype=float).reshape(-1, 3), axis=0, return_counts=True)
    return _Games(names, cells[:, 0].astype(int), cells[:, 1].astype(int), cells[:, 2], count.astype(float))


def _log_likelihood(theta, first, second, score, weight) -> float:
    gap = theta[first] - theta[second]
    # log σ(x) = −log(1 + e^(−x)), written with logaddexp so that large gaps do not overflow
    return -float(np.sum(weight * (score * np.logaddexp(0, -gap) + (1 - score) * np.logaddexp(0, gap))))


def _gradient_and_curvature(theta, first, second, score, weight) -> tuple[np.ndarray, np.ndarray]:
    """The log-likelihood's gradient, and its Hessian negated (positive definite with the prior)."""
    size = len(theta)
    won = 0.5 * (1 + np.tanh((theta[first] - theta[second]) / 2))  # σ(gap), without overflow
    surprise = weight * (score - won)
    gradient = np.bincount(first, surprise, size) - np.bincount(second, surprise, size)
    spread = weight * won * (1 - won)
    cells = np.concatenate([first * size + first, second * size + second,
                            first * size + second, second * size + first])
    curvature = np.bincount(cells, np.concatenate([spread, spread, -spread, -spread]), size * size)
    return gradient, curvature.reshape(size, size)


def _strengths(games: _Games, count: np.ndarray) -> np.ndarray:
    """The strengths θ (natural-log scale) that maximise the likelihood of `count` votes of each of
    the games' cells, with the prior, by Newton's method with step halving."""
    n = len(games.names)
    # The prior's virtual target is one more index, n, held at 0: its games are ordinary terms.
    first = np.concatenate([games.first, np.arange(n)])
    second = np.concatenate([games.second, np.full(n, n)])
    score = np.concatenate([games.score, np.full(n, 0.5)])
    weight = np.concatenate([count, np.full(n, PRIOR_GAMES)])
    theta = np.zeros(n + 1)
    for _ in range(MAX_NEWTON_STEPS):
        gradient, curvature = _gradient_and_curvature(theta, first, second, score, weight)
        step = np.append(np.linalg.solve(curvature[:n, :n], gradient[:n]), 0.0)
        # A full Newton step can overshoot far from the maximum: halve it until it climbs.
        here, length = _log_likelihood(theta, first, second, score, weight), 1.0
        while length > TOLERANCE and _log_likelihood(theta + length * step, first, second, score, weight) < here:
            length /= 2
        theta += length * step
        if np.max(np.abs(length * step), initial=0.0) < TOLERANCE:
            return theta[:n]
    raise ArithmeticError(f"the Bradley–Terry fit did not converge in {MAX_NEWTON_STEPS} steps")


def _on_scale(theta: np.ndarray, names: Sequence[str], anchor: str | None) -> np.ndarray:
    """Strengths (one row per fit) as ratings: the mean at 1000, or the anchor target there."""
    if anchor is not None and anchor not in names:
        raise ValueError(f"the anchor {anchor!r} is not among the rated targets")
    zero = theta.mean(axis=-1, keepdims=True) if anchor is None else theta[..., [names.index(anchor)]]
    return BASE_RATING + SCALE * (theta - zero)


def bradley_terry(votes: Iterable[Vote], *, anchor: str | None = None,
                  targets: Iterable[str] = ()) -> dict[str, float]:
    """Each target's maximum-likelihood rating (see the module's docstring), by name. `targets`
    adds targets with no votes yet: they sit at the prior's zero, near the mean, which is all
    that is known of them."""
    games = _games(votes, targets)
    if not games.names:
        return {}
    ratings = _on_scale(_strengths(games, games.count), games.names, anchor)
    return dict(zip(games.names, ratings.tolist()))


def bootstrap_ratings(votes: Iterable[Vote], rounds: int = 1000, seed: int = 0, *, anchor: str | None = None,
                      targets: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Each target's ratings refitted on `rounds` resamplings of the votes (as many votes, drawn
    with replacement), reproducible for a given seed."""
    if rounds < 1:
        raise ValueError(f"need rounds ≥ 1, not {rounds}")
    games = _games(votes, targets)
    if not games.names:
        return {}
    total = int(games.count.sum())
    # Drawing n votes with replacement is drawing how often each distinct cell comes up: a
    # multinomial over the cells, which is cheap however many votes there are.
    draws = (np.random.default_rng(seed).multinomial(total, games.count / total, size=rounds) if total
             else np.zeros((rounds, 0)))
    fits = np.array([_strengths(games, draw.astype(float)) for draw in draws])
    return dict(zip(games.names, _on_scale(fits, games.names, anchor).T))


def bootstrap_intervals(votes: Iterable[Vote], rounds: int = 1000, seed: int = 0, level: float = 0.95, *,
                        anchor: str | None = None, targets: Iterable[str] = ()) -> dict[str, tuple[float, float]]:
    """Each target's percentile interval of its bootstrap ratings: the middle `level` of them."""
    if not 0 < level < 1:
        raise ValueError(f"need 0 < level < 1, not {level}")
    samples = bootstrap_ratings(votes, rounds, seed, anchor=anchor, targets=targets)
    return {name: tuple(np.quantile(ratings, [(1 - level) / 2, (1 + level) / 2]).tolist())
            for name, ratings in samples.items()}


@dataclass(frozen=True)
class Matchup:
    """One target (the row) against another (the column)."""

    battles: int
    score: float  # the row target's wins, plus half its ties and both-bad votes

    @property
    def win_rate(self) -> float:
        return self.score / self.battles


def win_matrix(votes: Iterable[Vote]) -> dict[tuple[str, str], Matchup]:
    """(row, column) → how the row target fared against the column one, for every pair that met
    (both orders: the two rates add up to 1)."""
    battles: Counter[tuple[str, str]] = Counter()
    score: Counter[tuple[str, str]] = Counter()
    for vote in votes:
        left_score = LEFT_SCORE[vote.outcome]
        for pair, mine in (((vote.left, vote.right), left_score), ((vote.right, vote.left), 1 - left_score)):
            battles[pair] += 1
            score[pair] += mine
    return {pair: Matchup(battles[pair], score[pair]) for pair in sorted(battles)}


@dataclass(frozen=True)
class PositionBias:
    """How often the answer shown on the left (A, shown first) won, among votes with a winner."""

    left_wins: int
    decisive: int  # votes with a winner: ties and both-bad say nothing about a side

    @property
    def left_rate(self) -> float | None:
        return self.left_wins / self.decisive if self.decisive else None


def position_bias(votes: Iterable[Vote]) -> PositionBias:
    outcomes = Counter(vote.outcome for vote in votes)
    return PositionBias(left_wins=outcomes["a"], decisive=outcomes["a"] + outcomes["b"])


@dataclass(frozen=True)
class Row:
    """One target's line of the leaderboard."""

    name: str
    rating: float
    low: float  # the bootstrap interval
    high: float
    battles: int
    wins: int
    losses: int
    ties: int
    both_bad: int
    win_rate: float | None  # ties and both-bad as half a win; None before any battle


def _tally(votes: Iterable[Vote]) -> Counter[tuple[str, str]]:
    """(target, "wins" | "losses" | "ties" | "both_bad") → how many."""
    tally: Counter[tuple[str, str]] = Counter()
    for vote in votes:
        for name in (vote.left, vote.right):
            kind = {"tie": "ties", "both_bad": "both_bad"}.get(vote.outcome)
            tally[name, kind or ("wins" if name == vote.winner else "losses")] += 1
    return tally


def leaderboard(votes: Iterable[Vote], *, anchor: str | None = None, targets: Iterable[str] = (),
                rounds: int = 1000, seed: int = 0, level: float = 0.95) -> list[Row]:
    """One row per target, the best rated first (by name among equals)."""
    votes, targets = list(votes), list(targets)
    ratings = bradley_terry(votes, anchor=anchor, targets=targets)
    intervals = bootstrap_intervals(votes, rounds, seed, level, anchor=anchor, targets=targets)
    tally = _tally(votes)
    rows = []
    for name, rating in ratings.items():
        wins, losses, ties, both_bad = (tally[name, kind] for kind in ("wins", "losses", "ties", "both_bad"))
        battles = wins + losses + ties + both_bad
        rows.append(Row(name, rating, *intervals[name], battles, wins, losses, ties, both_bad,
                        (wins + (ties + both_bad) / 2) / battles if battles else None))
    return sorted(rows, key=lambda row: (-row.rating, row.name))


COLUMNS = tuple(Row.__dataclass_fields__)


def shown_row(row: Row) -> dict[str, object]:
    """A row as both renderings write it: ratings to a tenth of a point (far finer than any
    interval), win rates to four places, names safe to write anywhere."""
    shown = asdict(row)
    shown["name"] = printable(row.name)
    for key in ("rating", "low", "high"):
        shown[key] = round(shown[key], 1)
    shown["win_rate"] = None if row.win_rate is None else round(row.win_rate, 4)
    return shown


def _csv_cell(value: object) -> object:
    # A cell starting with = + - @ is a formula to a spreadsheet: a target's name (a server's
    # model id, say) is text, so it is quoted as text.
    if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
        return "'" + value
    return "" if value is None else value


def leaderboard_csv(rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_csv_cell(value) for value in shown_row(row).values())
    return out.getvalue()


def leaderboard_json(rows: Iterable[Row]) -> str:
    return json.dumps([shown_row(row) for row in rows], ensure_ascii=False, indent=1) + "\n"
