"""Tokens per second of the workbench ÷ the raw engine's, measured in one run: plain panes, the
heat view, the X-ray, a grid of 16, panes on LoRA adapters, and panes deep in conversations."""

from __future__ import annotations

import statistics

from bench.common import CPU_US_PER_TOKEN, Plan, percentile
from bench.runs import app_run, raw_run


async def throughput(backend, plan: Plan, stream_counts: tuple[int, ...], log,
                     heat: bool = False, lag_at: int = 8, turns: int = 0) -> dict[str, float]:
    """Raw and app runs, interleaved, at each number of streams; display lag at `lag_at` streams.
    With `heat`, the heat view is on in every pane and the raw consumers ask for the same logprobs;
    with `turns`, every pane continues a conversation of that many turns."""
    results: dict[str, float] = {}
    lags: list[float] = []
    visible: list[int] = []
    CPU_US_PER_TOKEN.clear()
    logprobs = 5 if heat else 0
    for streams in stream_counts:
        raws, tuis = [], []
        for _ in range(plan.repeats):
            raws.append(await raw_run(backend, streams, plan.tokens, logprobs, turns=turns))
            tuis.append(await app_run(backend, streams, plan.tokens, lags if streams == lag_at else None,
                                      visible if streams == lag_at else None, heat=heat, turns=turns))
            log(f"  {streams} stream(s), repeat {len(raws)}: raw {raws[-1]:.0f} tok/s, app {tuis[-1]:.0f} tok/s")
        results[f"raw_tok_s_{streams}"] = statistics.median(raws)
        results[f"tui_tok_s_{streams}"] = statistics.median(tuis)
        # Each app run is paired with the raw run just before it: the machine's speed drifts
        # by more than the difference measured.
        results[f"ratio_{streams}"] = statistics.median(t / r for r, t in zip(raws, tuis))
        for kind in ("raw", "tui"):
            results[f"{kind}_cpu_us_per_tok_{streams}"] = statistics.median(CPU_US_PER_TOKEN[(kind, streams)])
        results[f"cpu_ratio_{streams}"] = results[f"tui_cpu_us_per_tok_{streams}"] / results[f"raw_cpu_us_per_tok_{streams}"]
        log(f"{streams} stream(s): raw {results[f'raw_tok_s_{streams}']:.0f} tok/s, "
            f"app {results[f'tui_tok_s_{streams}']:.0f} tok/s, ratio {results[f'ratio_{streams}']:.3f}; "
            f"this process's CPU per token: raw {results[f'raw_cpu_us_per_tok_{streams}']:.0f} µs, "
            f"app {results[f'tui_cpu_us_per_tok_{streams}']:.0f} µs")
    if lags:
        results["lag_p50_ms"] = percentile(lags, 50)
        results["lag_p99_ms"] = percentile(lags, 99)
        log(f"display lag over {len(lags)} deltas of the {len(set(visible))} panes in view (of {lag_at}): "
            f"p50 {results['lag_p50_ms']:.1f} ms, p99 {results['lag_p99_ms']:.1f} ms")
    return results


def renamed(results: dict[str, float], prefix: str, keep: tuple[str, ...]) -> dict[str, float]:
    """`ratio_8` → `ratio_{prefix}8`-style keys of one variant's figures (lag_ → lag_{prefix})."""
    return {key.replace("ratio_", f"ratio_{prefix}").replace("lag_", f"lag_{prefix}")
            .replace("_tok_s_", f"_tok_s_{prefix}"): value
            for key, value in results.items() if key.startswith(keep)}


async def grid_cost(backend, plan: Plan, log) -> dict[str, float]:
    """16 panes in a 4 × 4 grid, every one in view at 200 × 50: ratio_16 and lag_16_*."""
    log("16 panes in a grid, all in view:")
    grid = await throughput(backend, plan, (16,), log, lag_at=16)
    return {key.replace("lag_", "lag_16_"): value for key, value in grid.items()
            if key.startswith(("ratio_", "lag_", "raw_tok_s", "tui_tok_s"))}


async def turns_cost(backend, plan: Plan, log) -> dict[str, float]:
    """8 panes each on the 10th turn of a conversation ÷ raw consumers on the same rendered
    conversations (ratio_turns_8): the prefix cache serves the earlier turns to both."""
    log("8 panes on the 10th turn of their conversations:")
    turns = await throughput(backend, plan, (8,), log, turns=9, lag_at=0)
    return {key.replace("ratio_8", "ratio_turns_8").replace("_tok_s_8", "_tok_s_turns_8"): value
            for key, value in turns.items() if key.startswith(("ratio_", "raw_tok_s", "tui_tok_s"))}


async def heat_cost(backend, plan: Plan, log) -> dict[str, float]:
    """ratio_lp_4/8 and lag_lp_*: the heat view on in every pane, logprobs=5 for raw and app."""
    log("the heat view on in every pane, 5 alternatives per token (raw consumers ask for them too):")
    return renamed(await throughput(backend, plan, (4, 8), log, heat=True), "lp_",
                   ("ratio_", "lag_", "raw_tok_s", "tui_tok_s"))


def without_the_stat_logger(backend):
    """Take the app's stat logger out of the engine, leaving vLLM's own: the raw engine as any
    other caller of AsyncLLM has it. Returns a function that puts it back."""
    manager = backend.engine.logger_manager
    ours = [adapter for adapter in manager.stat_loggers
            if any(type(logger).__name__ == "PanelStatLogger"
                   for logger in getattr(adapter, "per_engine_stat_loggers", {}).values())]
    assert len(ours) == 1, manager.stat_loggers
    manager.stat_loggers.remove(ours[0])
    return lambda: manager.stat_loggers.append(ours[0])


async def xray_cost(backend, plan: Plan, log) -> dict[str, float]:
    """8 streams: raw without and with the stat logger, the app with the X-ray shown and hidden."""
    runs: dict[str, list[float]] = {"raw_off": [], "raw_on": [], "app_xray": [], "app_hidden": []}
    recorder = backend.recorder
    cost_ns, records = recorder.cost_ns, recorder.records
    for repeat in range(plan.repeats):
        put_back = without_the_stat_logger(backend)
        try:
            runs["raw_off"].append(await raw_run(backend, 8, plan.tokens))
        finally:
            put_back()
        runs["raw_on"].append(await raw_run(backend, 8, plan.tokens))
        runs["app_xray"].append(await app_run(backend, 8, plan.tokens, xray=True))
        runs["app_hidden"].append(await app_run(backend, 8, plan.tokens))
        log(f"  X-ray, repeat {repeat + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in runs.items()) + " tok/s")
    off = runs["raw_off"]
    results = {
        "raw_tok_s_8_no_stat_logger": statistics.median(off),
        "raw_tok_s_8_stat_logger": statistics.median(runs["raw_on"]),
        "stat_logger_ratio_8": statistics.median(on / r for r, on in zip(off, runs["raw_on"])),
        "ratio_stats_8": statistics.median(a / r for r, a in zip(off, runs["app_xray"])),
        "ratio_stats_hidden_8": statistics.median(a / r for r, a in zip(off, runs["app_hidden"])),
        "stat_logger_us_per_step": (recorder.cost_ns - cost_ns) / max(1, recorder.records - records) / 1000,
    }
    log(f"X-ray: ratio_stats_8 {results['ratio_stats_8']:.3f} (hidden {results['ratio_stats_hidden_8']:.3f}); "
        f"the logger's own cost {results['stat_logger_us_per_step']:.1f} µs per engine step")
    return results


def adapters_for_the_bench() -> dict[str, str]:
    """Two adapters: the demo's, and a copy of it under another name (vLLM loads it as another)."""
    import shutil
    import tempfile
    from pathlib import Path

    from tui.demo_model import demo_adapter_path

    copy = Path(tempfile.mkdtemp(prefix="bench-adapter-")) / "second"
    shutil.copytree(demo_adapter_path(), copy)
    return {"proverbs": str(demo_adapter_path()), "second": str(copy)}


async def lora_cost(backend, plan: Plan, log) -> dict[str, float]:
    """4 panes on 2 adapters ÷ 4 raw consumers with the same LoRARequests (ratio_lora_4), on an
    engine started with them; raw tok/s with and without adapters in the requests."""
    from tui.engine.protocol import LOCAL, Target

    targets = [Target(LOCAL, backend.model, name) for name in backend.adapters]
    loras = [await backend.lora_request(backend.engine, t.adapter) for t in targets]
    raws, tuis, bases = [], [], []
    for repeat in range(plan.repeats):
        bases.append(await raw_run(backend, 4, plan.tokens))
        raws.append(await raw_run(backend, 4, plan.tokens, loras=loras))
        tuis.append(await app_run(backend, 4, plan.tokens, targets=targets))
        log(f"  LoRA, repeat {repeat + 1}: raw {bases[-1]:.0f}, raw on 2 adapters {raws[-1]:.0f}, "
            f"app on 2 adapters {tuis[-1]:.0f} tok/s")
    results = {"raw_tok_s_4_lora_engine_base": statistics.median(bases),
               "raw_tok_s_4_lora": statistics.median(raws), "tui_tok_s_4_lora": statistics.median(tuis),
               "ratio_lora_4": statistics.median(t / r for r, t in zip(raws, tuis))}
    log(f"LoRA: ratio_lora_4 {results['ratio_lora_4']:.3f}")
    return results
