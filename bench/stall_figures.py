"""The save stall's figures: runs with saving and without, interleaved, each run's stalls and the
same stretches of the feed when nothing is saved; the medians over the repeats and the repeat
the machine disturbed least. Optionally the old way of saving, the whole session as JSON."""

from __future__ import annotations

import statistics
import sys
import time

from bench.common import SavePlan, percentile
from bench.stall_session import PANES
from bench.stall_stream import Streamed, stream_and_save


async def measure_stall(plan: SavePlan, old_json: bool, log) -> dict[str, float]:
    """`plan.repeats` runs with saving and as many without, interleaved (the machine's load drifts:
    on a shared one a single run's tail says more about its neighbours than about the app); each
    figure is the median over the repeats of that run's figure."""
    runs: list[dict[str, float]] = []
    last = None
    for repeat in range(plan.repeats):
        log(f"{PANES} panes × {plan.tokens} tokens (5 alternatives each) at {plan.rate:.0f} tok/s, saving every "
            f"second (repeat {repeat + 1} of {plan.repeats})…")
        saved = await stream_and_save(plan, True, log)
        log("the same without saving…")
        alone = await stream_and_save(plan, False, log)
        runs.append(stall_figures(saved, alone, log))
        last = saved
    results = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    results["save_stall_p99_worst_ms"] = max(run["save_stall_p99_ms"] for run in runs)
    # The repeat the machine disturbed least (its run without saving waited least): there the
    # stall is the app's own, not its neighbours'.
    quietest = min(runs, key=lambda run: run["no_save_window_p99_ms"])
    results["save_stall_p99_quietest_ms"] = quietest["save_stall_p99_ms"]
    results["no_save_window_p99_quietest_ms"] = quietest["no_save_window_p99_ms"]
    log(f"over {plan.repeats} repeats (medians): save stall p99 {results['save_stall_p99_ms']:.1f} ms (the worst "
        f"repeat's {results['save_stall_p99_worst_ms']:.1f}), the same stretches without saving p99 "
        f"{results['no_save_window_p99_ms']:.1f} ms; the walk on the loop p99 {results['save_walk_p99_ms']:.2f} ms")
    if old_json:
        results["session_json_s"] = old_json_save_s(last.record)
    return results


def stall_figures(saved: Streamed, alone: Streamed, log) -> dict[str, float]:
    """One repeat's figures: a save's stall is the ticker's worst lateness from its start to its
    commit; beside it, the same stretches of the run that saved nothing."""
    stalls = saved.worst_in(saved.saves)
    same_windows = alone.worst_in(saved.saves)
    results = {
        "save_stall_p99_ms": percentile(stalls, 99), "save_stall_p50_ms": percentile(stalls, 50),
        "save_stall_max_ms": max(stalls),
        "no_save_window_p99_ms": percentile(same_windows, 99), "no_save_window_p50_ms": percentile(same_windows, 50),
        "saves": len(stalls),
        "save_commit_p50_ms": percentile([(b - a) * 1000 for a, b in saved.saves], 50),
        "save_walk_p99_ms": percentile(saved.walks, 99), "save_walk_max_ms": max(saved.walks),
        "save_walk_cpu_p99_ms": percentile(saved.walks_cpu, 99), "save_walk_cpu_max_ms": max(saved.walks_cpu),
        "writer_cpu_per_save_p50_ms": percentile(saved.writer_cpu, 50),
        "writer_cpu_per_save_max_ms": max(saved.writer_cpu),
        "loop_lateness_p99_ms": percentile(saved.late, 99), "loop_lateness_p99_no_save_ms": percentile(alone.late, 99),
        "stream_s": saved.seconds,
    }
    log_repeat(results, stalls, saved.walks, log)
    return results


def log_repeat(results: dict[str, float], stalls: list[float], walks: list[float], log) -> None:
    worst = sorted(range(len(stalls)), key=lambda i: -stalls[i])[:3]
    log(f"  save stall over {len(stalls)} saves: p50 {results['save_stall_p50_ms']:.1f} ms, p99 "
        f"{results['save_stall_p99_ms']:.1f} ms (the same stretches without saving: p50 "
        f"{results['no_save_window_p50_ms']:.1f} ms, p99 {results['no_save_window_p99_ms']:.1f} ms); committed "
        f"{results['save_commit_p50_ms']:.0f} ms after it starts (median); the walk on the loop p99 "
        f"{results['save_walk_p99_ms']:.2f} ms (CPU: p99 {results['save_walk_cpu_p99_ms']:.2f} ms); the writer's "
        f"CPU per save: median {results['writer_cpu_per_save_p50_ms']:.1f} ms, max "
        f"{results['writer_cpu_per_save_max_ms']:.1f} ms; the worst: "
        + ", ".join(f"#{i + 1} {stalls[i]:.1f} ms (its walk {walks[i]:.1f} ms)" for i in worst))


def old_json_save_s(record) -> float:
    """The whole session as JSON, as the app saved it before the store (tui/session.py)."""
    start = time.perf_counter()
    text = record.to_json()
    elapsed = time.perf_counter() - start
    print(f"[bench]   the session as JSON: {len(text) / 2**20:.1f} MB in {elapsed:.2f} s", file=sys.stderr)
    return elapsed
