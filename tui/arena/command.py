"""`vllm-panes leaderboard`: the blind arena's ratings from the votes in the store, printed or
written as JSON or CSV, without starting the engine (nor importing vLLM or Textual).

    vllm-panes leaderboard [--json | --csv] [--rounds N] [--db FILE]
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import TextIO

from tui import exit_codes, locations
from tui.arena.board import board_json, board_lines, make_board
from tui.arena.rating import leaderboard_csv
from tui.storage import writable
from tui.store.command import open_for_command
from tui.store.votes import stored_votes
from tui.text import one_line


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vllm-panes leaderboard", description="The blind arena's leaderboard (f10 in the app "
                "starts battles): Bradley–Terry ratings with 95% bootstrap intervals, the pairwise win "
                "rates and how often the answer shown first won.")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="the leaderboard, pairwise rates and position as JSON")
    shape.add_argument("--csv", action="store_true", help="the leaderboard's rows as CSV")
    p.add_argument("--rounds", metavar="N", type=int, default=1000, help="bootstrap rounds (default 1000)")
    p.add_argument("--db", metavar="FILE", type=Path, default=None,
                   help=f"another database (e.g. one moved aside); default {locations.store_file()}")
    return p


def leaderboard_main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parser().parse_args(argv)
        if args.rounds < 1:
            raise UsageError("--rounds must be ≥ 1")
    except UsageError as exc:
        print(f"vllm-panes leaderboard: error: {one_line(exc, 500)}", file=err)
        return exit_codes.USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    path = args.db or locations.store_file()
    conn = open_for_command("leaderboard", args.db, f"No votes yet ({one_line(path)} does not exist): start a "
                            "blind battle with f10 in the app.", err)
    if isinstance(conn, int):
        return conn
    try:
        found = stored_votes(conn)
    except sqlite3.Error as exc:
        print(f"vllm-panes leaderboard: the database could not be read: {one_line(exc)}", file=err)
        return exit_codes.FAILED
    finally:
        conn.close()
    for problem in found.unreadable:
        print(f"vllm-panes leaderboard: left out a vote that does not read: {problem}", file=err)
    board = make_board(found.votes, rounds=args.rounds)
    if args.json:
        print(writable(board_json(board), "leaderboard"), end="", file=out)
    elif args.csv:
        print(writable(leaderboard_csv(board.rows), "leaderboard"), end="", file=out)
    else:
        for line in board_lines(board):
            print(line, file=out)
    return exit_codes.OK
