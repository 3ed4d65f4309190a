"""The benchmark: what the workbench costs next to the raw engine, measured in one run.

    python -m bench [--quick] [--json] [--stock] [--only xray|heat|grid|lora|turns]

All figures come from this run on this machine, on the demo model (float32, every request writing
exactly its max_tokens, fixed seeds). Raw and app runs are interleaved and medians of the repeats
are reported, because the raw engine's throughput itself varies from run to run; `ratio_N` is the
median of the ratios of each app run to the raw run just before it. The app is measured through
its public hooks (tui/instrument.py) and the scripted backend (tui/engine/scripted.py); one module
per measurement: runs.py (raw and app runs), throughput.py (ratios: plain, heat, X-ray, grid,
LoRA, conversations), latency.py (cancel, keys), delta_cost.py (CPU per delta), real_process.py
(the real command in a pseudo-terminal), report.py (the table). Method and history:
docs/guide/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time

from bench.common import Plan, percentile
from bench.delta_cost import WINDOW, delta_costs, turn_costs
from bench.latency import cancel_latencies, cursor_key_latencies, key_latencies
from bench.processes import end_started_processes_when_stopped
from bench.real_process import hang_ups_and_loading, real_process, remote_process
from bench.report import table
from bench.runs import raw_run
from bench.throughput import grid_cost, heat_cost, lora_cost, throughput, turns_cost, xray_cost


async def with_engine(measurements, plan: Plan, log, adapters: dict[str, str] | None = None) -> dict[str, float]:
    """Start the demo engine (each request writing exactly its max_tokens), run the measurements
    on it, stop it."""
    from tui.demo_model import ensure_demo_model
    from tui.engine.vllm_backend import VLLMBackend

    backend = VLLMBackend([], model=str(ensure_demo_model()), adapters=adapters)
    backend.fixed_length = True
    await backend.start()
    results: dict[str, float] = {}
    try:
        await raw_run(backend, 1, 16)  # warm-up
        for measurement in measurements:
            results.update(await measurement(backend, plan, log))
    finally:
        await backend.shutdown()
    return results


async def plain_throughput(backend, plan: Plan, log) -> dict[str, float]:
    from tui import render

    log(f"render path: {render.current_path().name} {render.current_path().why_stock}".rstrip())
    results = await throughput(backend, plan, (1, 4, 8), log)
    if plan.stock:
        previous = render.use_path(False)
        try:
            log("the same on Textual's stock drawing path (--stock):")
            stock = await throughput(backend, plan, (4, 8), log)
        finally:
            render.use_path(previous)
        results.update({f"{key}_stock": value for key, value in stock.items()
                        if key.startswith(("ratio_", "lag_", "tui_cpu"))})
    return results


async def latencies(backend, plan: Plan, log) -> dict[str, float]:
    cancels = await cancel_latencies(backend, plan.cancels)
    keys = await key_latencies(backend, plan.keys)
    deep = await key_latencies(backend, plan.keys, turns=19)
    results = {"cancel_p99_ms": percentile(cancels, 99), "key_p99_ms": percentile(keys, 99),
               "key_turns_p99_ms": percentile(deep, 99)}
    log(f"cancel p99 {results['cancel_p99_ms']:.1f} ms; key → screen under 8 streams p99 {results['key_p99_ms']:.1f} "
        f"ms, on the 20th turn {results['key_turns_p99_ms']:.1f} ms")
    return results


async def ui_alone(plan: Plan, log) -> dict[str, float]:
    """What needs no engine: the per-delta costs and the token cursor's keys."""
    results: dict[str, float] = {}
    for heat, suffix in ((False, ""), (True, "_lp")):
        costs = await delta_costs(plan, heat)
        results[f"delta_cost_us{suffix}_100"] = statistics.median(costs[100])
        results[f"delta_cost_us{suffix}_4000"] = statistics.median(costs[plan.long_answer])
    results.update(await turn_costs(plan))
    keys = await cursor_key_latencies(plan.keys, plan.long_answer)
    results["cursor_key_p99_ms"] = percentile(keys, 99)
    log(f"per-delta cost (last {WINDOW} deltas): " + ", ".join(
        f"{k} {v:.0f} µs" for k, v in results.items() if k.startswith("delta_cost")) +
        f"; token cursor key → screen p99 {results['cursor_key_p99_ms']:.1f} ms")
    return results


PARTS = {"xray": [xray_cost], "heat": [heat_cost], "grid": [grid_cost], "lora": [lora_cost],
         "turns": [turns_cost]}


async def measure(plan: Plan, log, only: str | None) -> dict[str, float | str]:
    from tui import render
    from bench.throughput import adapters_for_the_bench

    results: dict[str, float | str] = {"render_path": render.current_path().name}
    if only is not None:
        adapters = adapters_for_the_bench() if only == "lora" else None
        results.update(await with_engine(PARTS[only], plan, log, adapters))
        return results
    log("starting the engine on the demo model…")
    results.update(await with_engine([plain_throughput, latencies, xray_cost, heat_cost, grid_cost, turns_cost],
                                     plan, log))
    log("an engine with two LoRA adapters:")
    results.update(await with_engine([lora_cost], plan, log, adapters_for_the_bench()))
    results.update(await ui_alone(plan, log))
    log(f"the real app in a pseudo-terminal, {plan.starts} start(s) each quit with ctrl+q and SIGTERM…")
    results.update(real_process(plan.starts))
    results.update(remote_process(plan.starts))
    log("…its terminal closed mid-answer (with SIGHUP, and without), and quit while the engine loads…")
    results.update(hang_ups_and_loading(plan.starts))
    log(f"first frame median {results['first_frame_s']:.3f} s; quit median {results['quit_s']:.2f} s, "
        f"SIGTERM {results['quit_sigterm_s']:.2f} s; remote quit {results['remote_quit_s']:.2f} s; "
        f"SIGHUP {results['quit_sighup_s']:.2f} s, terminal closed {results['quit_terminal_closed_s']:.2f} s, "
        f"while loading {results['quit_loading_s']:.2f} s")
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on stdout")
    parser.add_argument("--stock", action="store_true",
                        help="measure Textual's stock drawing path too (ratio_4/8 and lag, keys *_stock)")
    parser.add_argument("--only", choices=tuple(PARTS), default=None,
                        help="one part: xray (ratio_stats_8), heat (ratio_lp_4/8, lag_lp_*), grid (ratio_16, "
                        "lag_16_*), lora (ratio_lora_4) or turns (ratio_turns_8)")
    args = parser.parse_args(argv)
    end_started_processes_when_stopped()
    plan = Plan.quick() if args.quick else Plan()
    plan.stock = args.stock
    from tui import locations
    from tui.terminal import divert_output_to_log

    term = divert_output_to_log(locations.log_dir() / "bench.log")  # vLLM's own output stays out

    def log(message: str) -> None:
        print(f"[bench] {message}", file=term.err, flush=True)

    log(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, plan {plan}")
    started = time.perf_counter()
    results = asyncio.run(measure(plan, log, args.only))
    log(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        print(json.dumps({k: v if isinstance(v, str) else round(v, 4) for k, v in results.items()}), file=term.out)
    else:
        print(table(results), file=term.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
