"""`vllm-panes history`: the runs of the history, printed, exported or compacted without starting
the engine (nor importing vLLM or Textual).

    vllm-panes history [WORDS] [--target NAME] [--model NAME] [--since DATE] [--until DATE]
                       [--limit N] [--json] [--export FILE] [--vacuum] [--db FILE]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from tui import exit_codes, locations
from tui import validate as V
from tui.storage import writable
from tui.store import codec
from tui.store.db import StoreUnavailable, open_database
from tui.store.history import stored_runs
from tui.store.search import HistoryQuery, QueryError, parse_query, parse_time, search
from tui.store.upkeep import export_jsonl, vacuum
from tui.text import one_line

PRINTED = 20  # runs printed when no --limit is given


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise QueryError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="vllm-panes history", add_help=True,
                description="Search the history of every run (the app, --headless and --batch record them): "
                "the newest matches, printed oldest to newest (the newest last, next to your prompt; "
                "--json lists them newest first).")
    p.add_argument("words", nargs="*", metavar="WORDS",
                   help="words in prompts and answers (each matches the start of a word); target:NAME, "
                   "model:NAME, since:DATE and until:DATE may be written among them too")
    p.add_argument("--target", metavar="NAME", help="runs on a target whose label (or adapter) holds NAME")
    p.add_argument("--model", metavar="NAME", help="runs of a model whose id holds NAME")
    p.add_argument("--since", metavar="DATE", help="runs that ended on or after DATE (2026-05-01, or 7d, 12h ago)")
    p.add_argument("--until", metavar="DATE", help="runs that ended before the end of DATE")
    p.add_argument("--limit", metavar="N", type=int, default=None,
                   help=f"the newest N matching runs (default {PRINTED} printed; every match exported)")
    p.add_argument("--json", action="store_true", help="print the runs as a JSON list")
    p.add_argument("--export", metavar="FILE", type=Path, default=None,
                   help="write the matching runs, whole (conversation, answer, figures, tokens), as JSONL")
    p.add_argument("--vacuum", action="store_true",
                   help="drop the oldest runs beyond history_max_mb (config), then compact the file")
    p.add_argument("--db", metavar="FILE", type=Path, default=None,
                   help=f"another database (e.g. one moved aside); default {locations.store_file()}")
    return p


def history_main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = parser().parse_args(argv)
        query = _query(args)
    except QueryError as exc:
        print(f"vllm-panes history: error: {one_line(exc, 500)}", file=err)
        return exit_codes.USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    conn = open_for_command("history", args.db, f"No history yet ({one_line(args.db or locations.store_file())}).",
                            err)
    if isinstance(conn, int):
        return conn
    try:
        if args.vacuum:
            return _vacuum(conn, err)
        if args.export is not None:
            return _export(conn, query, args.export, err)
        rows = search(conn, query, whole=args.json)
        if args.json:
            print(writable(json.dumps([row.record() for row in rows], ensure_ascii=False, indent=1), "history"),
                  file=out)
        else:
            _print(rows, out)
            if not rows:
                print("No run matches." if query.words or query.target or query.model or query.since or query.until
                      else "No run recorded yet.", file=err)
        return exit_codes.OK
    except sqlite3.Error as exc:
        print(f"vllm-panes history: the database could not be read: {one_line(exc)}", file=err)
        return exit_codes.FAILED
    finally:
        conn.close()


def open_for_command(command: str, given: Path | None, nothing_yet: str, err: TextIO) -> sqlite3.Connection | int:
    """The database a command reads (`given` with --db, else the app's), or the exit code when
    there is none (said: `nothing_yet`) or it cannot be opened; its notices (a file moved aside)
    are said as `vllm-panes COMMAND: …`."""
    path = given or locations.store_file()
    if not path.exists():
        print(nothing_yet, file=err)
        return exit_codes.OK if given is None else exit_codes.USAGE
    try:
        conn, notices = open_database(path)
    except StoreUnavailable as exc:
        print(f"vllm-panes {command}: cannot open {one_line(path)}: {one_line(exc)}", file=err)
        return exit_codes.FAILED
    for notice in notices:
        print(f"vllm-panes {command}: {notice}", file=err)
    return conn


def _query(args: argparse.Namespace) -> HistoryQuery:
    if args.limit is not None and args.limit < 1:
        raise QueryError("--limit must be ≥ 1")
    exporting = args.export is not None
    limit = args.limit if args.limit is not None else (2**62 if exporting else PRINTED)
    query = parse_query(" ".join(args.words), limit)
    changes = {}
    if args.target:
        changes["target"] = args.target
    if args.model:
        changes["model"] = args.model
    if args.since:
        changes["since"] = parse_time(args.since, "--since")
    if args.until:
        changes["until"] = parse_time(args.until, "--until", end=True)
    return replace(query, **changes)


def _print(rows, out: TextIO) -> None:
    for row in reversed(rows):  # the newest last, next to the prompt
        figures = " · ".join([row.figures.state, *row.figures.parts()])
        together = f" · {row.together} together" if row.together > 1 else ""
        where = one_line(row.target_label or row.model or "?", 80)
        print(f"#{row.id}  {row.when()}  {where}  {figures}{together}  ({row.kind})", file=out)
        print(f"  › {one_line(row.prompt, 200)}", file=out)
        print(f"  {one_line(row.answer, 200) or '∅'}", file=out)


def _export(conn: sqlite3.Connection, query: HistoryQuery, path: Path, err: TextIO) -> int:
    ids = sorted(row.id for row in search(conn, query))
    try:
        with open(path, "w", encoding="utf-8") as handle:
            count = export_jsonl(stored_runs(conn, ids), handle)
    except OSError as exc:
        print(f"vllm-panes history: cannot write {one_line(path)}: {one_line(exc.strerror or exc)}", file=err)
        return exit_codes.USAGE
    except (V.FieldError, codec.CodecError) as exc:
        print(f"vllm-panes history: a run could not be read ({one_line(exc)}); {path} holds those before it",
              file=err)
        return exit_codes.FAILED
    print(f"{count} run(s) written to {one_line(path)}", file=err)
    return exit_codes.OK


def _vacuum(conn: sqlite3.Connection, err: TextIO) -> int:
    from tui.config import load_config

    config = load_config()
    for notice in config.notices:
        print(f"vllm-panes history: {notice}", file=err)
    before, after = vacuum(conn, int(config.history_max_mb * 2**20))
    print(f"Compacted: {before / 2**20:.1f} MB → {after / 2**20:.1f} MB "
          f"(limit {config.history_max_mb:g} MB, history_max_mb in the config)", file=err)
    return exit_codes.OK
