"""The leaderboard as a person reads it (the app's screen and `vllm-panes leaderboard` print the
same lines) and as a program reads it (JSON: the rows, the pairwise matrix, the position bias)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tui.arena.rating import (Matchup, PositionBias, Row, shown_row, leaderboard, position_bias,
                              win_matrix)
from tui.arena.votes import Vote
from tui.text import printable

FEW_VOTES = 10  # below this, a contestant's interval is flagged: resampling few votes says little
NAME_WIDTH = 40  # a name is cut to this in the printed table (the JSON and CSV keep it whole)


@dataclass(frozen=True)
class Board:
    rows: list[Row]
    matrix: dict[tuple[str, str], Matchup]
    bias: PositionBias
    votes: int


def make_board(votes: list[Vote], rounds: int = 1000) -> Board:
    """The fit and its bootstrap: milliseconds for hundreds of votes, yet run off the event loop."""
    return Board(leaderboard(votes, rounds=rounds), win_matrix(votes), position_bias(votes), len(votes))


def _name(name: str) -> str:
    name = printable(name)
    return name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 1] + "…"


def board_lines(board: Board) -> list[str]:
    """The table, the pairwise win rates and the lean towards A, as plain lines."""
    if not board.votes:
        return ["No votes yet: start a blind battle with f10 in the app."]
    lines = [f"{'#':>2}  {'contestant':<{NAME_WIDTH}}  {'rating':>6}  {'95% interval':>13}  {'votes':>5}  "
             f"{'win rate':>8}  {'W/L/T/bad':>11}"]
    few = False
    for place, row in enumerate(board.rows, 1):
        rate = "–" if row.win_rate is None else f"{row.win_rate:.0%}"
        record = f"{row.wins}/{row.losses}/{row.ties}/{row.both_bad}"
        mark = "*" if row.battles < FEW_VOTES else " "
        few = few or row.battles < FEW_VOTES
        lines.append(f"{place:>2}  {_name(row.name):<{NAME_WIDTH}}  {row.rating:>6.0f}  "
                     f"{f'{row.low:.0f}–{row.high:.0f}':>13}{mark} {row.battles:>5}  {rate:>8}  {record:>11}")
    if few:
        lines.append(f" * fewer than {FEW_VOTES} votes: the interval is a resampling of too few votes to say much "
                     "(a narrow one is not a sure one)")
    names = [row.name for row in board.rows]
    lines += ["", "Pairwise: how often #row beat #column (ties as half), votes in brackets"]
    width = 10
    lines.append(" " * 4 + "".join(f"{f'#{n}':>{width}}" for n in range(1, len(names) + 1)))
    for place, mine in enumerate(names, 1):
        cells = []
        for theirs in names:
            matchup = board.matrix.get((mine, theirs))
            cells.append("·" if matchup is None else f"{matchup.win_rate:.0%} ({matchup.battles})")
        lines.append(f"{f'#{place}':>2}  " + "".join(f"{cell:>{width}}" for cell in cells))
    bias = board.bias
    lean = ("no vote with a winner yet" if bias.left_rate is None else
            f"A won {bias.left_wins} of {bias.decisive} votes with a winner ({bias.left_rate:.0%}; "
            "near 50% means your votes do not lean towards the answer shown first)")
    lines += ["", f"Position: {lean}.", f"{board.votes} vote(s)."]
    return lines


def board_json(board: Board) -> str:
    return json.dumps({
        "votes": board.votes,
        "leaderboard": [shown_row(row) for row in board.rows],
        "pairwise": [{"row": printable(a), "column": printable(b), "battles": m.battles, "score": m.score,
                      "win_rate": round(m.win_rate, 4)} for (a, b), m in board.matrix.items()],
        "position": {"left_wins": board.bias.left_wins, "decisive": board.bias.decisive,
                     "left_rate": None if board.bias.left_rate is None else round(board.bias.left_rate, 4)},
    }, ensure_ascii=False, indent=1) + "\n"
