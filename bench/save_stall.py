"""How long saving blocks the event loop, and the first frame with a long history. No engine.

    python -m bench.save_stall [--quick] [--json] [--old-json] [--no-process] [--history-mb N]

1. `save_stall_*`: 32 panes stream at once with the heat view's alternatives (top 5) on the event
   loop — scripted tokens at the demo model's rate (`--rate`, default 3,200 tok/s across the
   panes, what the demo engine gives 16 to 32 streams here: docs/guide/performance.md) up to
   `--tokens` each (4,000) — while the store saves the session every second, as the app does
   (tui/app.py AUTOSAVE_S). A 1 ms ticker on the loop records how late it wakes. A save's stall is
   the ticker's worst lateness from the save's start on the loop until the writer thread has
   committed it (the walk on the loop, and the writer holding the GIL meanwhile);
   `save_stall_p99_ms` is the 99th percentile over a run's saves (target ≤ 16 ms), the median of
   `--repeats` runs (and `save_stall_p99_quietest_ms`: that of the repeat whose run without saving
   waited least, where the machine's other work disturbed least). Beside it, `no_save_window_*`:
   the same stretches of a run that feeds the same tokens and saves nothing (what the machine and
   the feed alone cost), and `save_walk_*`: the walk's own time on the loop, the only part of
   saving that runs there (`save_walk_cpu_*`: its CPU time, and `writer_cpu_per_save_*`: the
   writer thread's per save, heard through the store's public hook `StoreObserver`, which a loaded
   machine does not change). `--old-json` also times the old way: the whole session as JSON
   (`session_json_s`, on the loop every 10 s).
2. `first_frame_*`: the app (the scripted backend, Pilot) from opening the store to its first frame
   written, with a history of 1 GB (runs of 4,000 tokens with 5 alternatives each; built once,
   kept in the cache directory) and with an empty one (target ≤ 0.5 s); and the real `vllm-panes`
   process in a pseudo-terminal on that history (against the loopback fault server, so that no
   engine loads), start to first output.

One module per concern: stall_session.py (the session streamed and its tokens), stall_stream.py
(one run, saving or not), stall_figures.py (the repeats and their figures), long_history.py (the
1 GB store), first_frame.py (the first frames); this one reads the options and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bench.common import SavePlan
from bench.processes import end_started_processes_when_stopped

TARGETS = {"save_stall_p99_ms": ("<=", 16), "save_stall_p99_quietest_ms": ("<=", 16), "first_frame_1gb_s": ("<=", 0.5),
           "first_frame_1gb_process_s": ("<=", 0.5)}


def table(results: dict[str, float]) -> str:
    lines = [f"{'figure':<32} {'value':>12}  target"]
    for key, value in results.items():
        mark = ""
        if key in TARGETS:
            op, bound = TARGETS[key]
            ok = value >= bound if op == ">=" else value <= bound
            mark = f"{op} {bound:g}  {'ok' if ok else 'MISSED'}"
        lines.append(f"{key:<32} {value:>12.3f}  {mark}")
    return "\n".join(lines)


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.save_stall", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 tokens per pane, 2 starts of each kind")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--tokens", type=int, default=None, help="tokens per pane (default 4000)")
    parser.add_argument("--rate", type=float, default=None, help="tokens per second across the panes (3200)")
    parser.add_argument("--repeats", type=int, default=None, help="stall runs of each kind (default 3)")
    parser.add_argument("--history-mb", type=int, default=None, help="the long history's size (default 1024)")
    parser.add_argument("--old-json", action="store_true", help="time the old whole-session JSON save too")
    parser.add_argument("--no-process", action="store_true", help="skip the real process's first frame")
    parser.add_argument("--only", choices=("stall", "first-frame"), default=None)
    return parser.parse_args(argv)


def plan_of(args: argparse.Namespace) -> SavePlan:
    plan = SavePlan.quick() if args.quick else SavePlan()
    if args.tokens:
        plan.tokens = args.tokens
    if args.rate:
        plan.rate = args.rate
    if args.repeats:
        plan.repeats = args.repeats
    if args.history_mb:
        plan.history_mb = args.history_mb
    return plan


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


async def measure(plan: SavePlan, args: argparse.Namespace) -> dict[str, float]:
    from bench.first_frame import measure_first_frame
    from bench.stall_figures import measure_stall

    results: dict[str, float] = {}
    if args.only in (None, "stall"):
        results.update(await measure_stall(plan, args.old_json, log))
    if args.only in (None, "first-frame"):
        results.update(await measure_first_frame(plan, not args.no_process, log))
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_options(argv)
    end_started_processes_when_stopped()  # a stopped run leaves no app or server behind
    results = asyncio.run(measure(plan_of(args), args))
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in results.items()}))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
