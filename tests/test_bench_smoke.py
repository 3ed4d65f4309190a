"""A small run of the benchmark's measurements on the shared engine: that they work, not the targets."""

from __future__ import annotations

import math

import pytest

import bench.__main__ as bench

pytestmark = pytest.mark.engine


@pytest.mark.ui  # the app's runs on both render paths
async def test_benchmark_measurements_run(engine, render_path):
    undo = bench.with_ignore_eos(engine)
    try:
        raw = await bench.raw_run(engine, 2, 24)
        lags: list[float] = []
        tui = await bench.app_run(engine, 2, 24, lags)
        cancels = await bench.cancel_latencies(engine, 2)
    finally:
        undo()
    assert raw > 0 and tui > 0
    assert bench.CPU_US_PER_TOKEN[("raw", 2)][-1] > 0 and bench.CPU_US_PER_TOKEN[("tui", 2)][-1] > 0
    assert len(lags) >= 2 * 24 // 4 and all(lag >= 0 for lag in lags)
    assert len(cancels) == 2 and all(0 <= c < 5000 for c in cancels)
    assert engine.running_requests() == 0


async def test_xray_cost_measurement_runs(engine):
    undo = bench.with_ignore_eos(engine)
    try:
        results = await bench.xray_cost(engine, bench.Plan(tokens=24, repeats=1), log=lambda message: None)
    finally:
        undo()
    assert all(results[key] > 0 for key in ("raw_tok_s_8_no_stat_logger", "raw_tok_s_8_stat_logger",
                                             "ratio_stats_8", "ratio_stats_hidden_8", "stat_logger_us_per_step"))
    manager = engine._engine.logger_manager  # noqa: SLF001
    ours = [adapter for adapter in manager.stat_loggers
            if any(type(logger).__name__ == "PanelStatLogger"
                   for logger in getattr(adapter, "per_engine_stat_loggers", {}).values())]
    assert len(ours) == 1  # put back


async def test_per_delta_cost_measurement_runs():
    cost = await bench.delta_cost_us(120)
    assert math.isfinite(cost) and cost > 0


def test_table_marks_missed_targets():
    text = bench.table({"render_path": "fast", "ratio_4": 0.9, "ratio_8": 0.95, "delta_cost_us_100": 10.0,
                        "delta_cost_us_4000": 20.0})
    assert "ratio_4" in text and "MISSED" in text and "ok" in text and "fast" in text


@pytest.mark.ui
async def test_heat_measurements_run(engine, render_path):
    undo = bench.with_ignore_eos(engine)
    try:
        raw = await bench.raw_run(engine, 2, 16, logprobs=5)
        tui = await bench.app_run(engine, 2, 16, heat=True)
    finally:
        undo()
    assert raw > 0 and tui > 0
    assert engine.running_requests() == 0
    keys = await bench.cursor_key_latencies(6, 300)
    assert len(keys) == 6 and all(0 <= k < 5000 for k in keys)
    cost = await bench.delta_cost_us(120, heat=True)
    assert math.isfinite(cost) and cost > 0


async def test_grid_and_lora_measurements_run(engine):
    undo = bench.with_ignore_eos(engine)
    plan = bench.Plan(tokens=12, repeats=1)
    try:
        grid = await bench.grid_cost(engine, plan, log=lambda message: None)
        lora = await bench.lora_cost(engine, plan, log=lambda message: None)
    finally:
        undo()
    assert grid["ratio_16"] > 0 and grid["lag_16_p99_ms"] >= 0
    assert all(lora[key] > 0 for key in ("raw_tok_s_4_lora_engine_base", "raw_tok_s_4_lora", "ratio_lora_4"))
    assert engine.running_requests() == 0
