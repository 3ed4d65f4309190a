"""A small run of the benchmark's measurements on the shared engine: that they work, not the targets."""

from __future__ import annotations

import math

import pytest

from bench import common, delta_cost, latency, report, runs, throughput

pytestmark = pytest.mark.engine


@pytest.fixture
def fixed_length(engine):
    engine.fixed_length = True  # every request writes exactly its max_tokens, as in the benchmark
    yield engine
    engine.fixed_length = False


@pytest.mark.draws  # the benchmark measures frames on both render paths (--stock): when they reach the terminal
async def test_benchmark_measurements_run(fixed_length, render_path):
    engine = fixed_length
    raw = await runs.raw_run(engine, 2, 24)
    lags: list[float] = []
    tui = await runs.app_run(engine, 2, 24, lags)
    cancels = await latency.cancel_latencies(engine, 2)
    assert raw > 0 and tui > 0
    assert common.CPU_US_PER_TOKEN[("raw", 2)][-1] > 0 and common.CPU_US_PER_TOKEN[("tui", 2)][-1] > 0
    assert len(lags) >= 2 * 24 // 4 and all(lag >= 0 for lag in lags)
    assert len(cancels) == 2 and all(0 <= c < 5000 for c in cancels)
    assert engine.running_requests() == 0


async def test_conversation_measurements_run(fixed_length):
    engine = fixed_length
    raw = await runs.raw_run(engine, 2, 16, turns=9)
    tui = await runs.app_run(engine, 2, 16, turns=9)
    keys = await latency.key_latencies(engine, 3, turns=19, panes=4)  # the test engine runs 4 at once
    assert raw > 0 and tui > 0 and len(keys) >= 1 and all(0 <= k < 5000 for k in keys)
    turned = await throughput.turns_cost(engine, common.Plan(tokens=12, repeats=1), log=lambda message: None)
    assert turned["ratio_turns_8"] > 0
    assert engine.running_requests() == 0


async def test_xray_cost_measurement_runs(fixed_length):
    engine = fixed_length
    results = await throughput.xray_cost(engine, common.Plan(tokens=24, repeats=1), log=lambda message: None)
    assert all(results[key] > 0 for key in ("raw_tok_s_8_no_stat_logger", "raw_tok_s_8_stat_logger",
                                             "ratio_stats_8", "ratio_stats_hidden_8", "stat_logger_us_per_step"))
    manager = engine.engine.logger_manager
    ours = [adapter for adapter in manager.stat_loggers
            if any(type(logger).__name__ == "PanelStatLogger"
                   for logger in getattr(adapter, "per_engine_stat_loggers", {}).values())]
    assert len(ours) == 1  # put back


async def test_per_delta_cost_measurements_run():
    assert math.isfinite(await delta_cost.delta_cost_us(120)) and await delta_cost.delta_cost_us(120) > 0
    costs = await delta_cost.turn_costs(common.Plan(cost_repeats=1))
    assert costs["delta_cost_us_turn_1"] > 0 and costs["delta_cost_us_turn_20"] > 0


def test_table_marks_missed_targets():
    text = report.table({"render_path": "fast", "ratio_4": 0.9, "ratio_8": 0.95, "delta_cost_us_100": 10.0,
                         "delta_cost_us_4000": 20.0, "delta_cost_us_turn_1": 10.0, "delta_cost_us_turn_20": 11.0})
    assert "ratio_4" in text and "MISSED" in text and "ok" in text and "fast" in text
    assert "delta_cost_us_turn_20" in text and "<= 12  ok" in text


@pytest.mark.ui
async def test_heat_measurements_run(fixed_length, render_path):
    engine = fixed_length
    raw = await runs.raw_run(engine, 2, 16, logprobs=5)
    tui = await runs.app_run(engine, 2, 16, heat=True)
    assert raw > 0 and tui > 0
    assert engine.running_requests() == 0
    keys = await latency.cursor_key_latencies(6, 300)
    assert len(keys) == 6 and all(0 <= k < 5000 for k in keys)
    cost = await delta_cost.delta_cost_us(120, heat=True)
    assert math.isfinite(cost) and cost > 0


async def test_grid_and_lora_measurements_run(fixed_length):
    engine = fixed_length
    plan = common.Plan(tokens=12, repeats=1)
    grid = await throughput.grid_cost(engine, plan, log=lambda message: None)
    lora = await throughput.lora_cost(engine, plan, log=lambda message: None)
    assert grid["ratio_16"] > 0 and grid["lag_16_p99_ms"] >= 0
    assert all(lora[key] > 0 for key in ("raw_tok_s_4_lora_engine_base", "raw_tok_s_4_lora", "ratio_lora_4"))
    assert engine.running_requests() == 0
