"""A small run of bench/format.py's measurements on the shared engine: that they work, not the target."""

from __future__ import annotations

import pytest

import bench.format as bench_format

pytestmark = pytest.mark.engine


async def test_the_format_benchmark_measures_raw_and_app_runs_with_the_same_constraint(engine):
    logged: list[str] = []
    results = await bench_format.measure(engine, repeats=1, tokens=24, log=logged.append)
    assert all(results[key] > 0 for key in ("raw_tok_s_8", "raw_tok_s_format_8", "tui_tok_s_format_8",
                                             "raw_format_cost_8", "ratio_format_8", "ratio_format_ws_8"))
    assert any("ratio_format_8" in line for line in logged)
    assert engine.running_requests() == 0


def test_the_schema_cannot_end_before_the_tokens_do():
    """Else a stream would end early and the runs would not compare the same work."""
    fmt = bench_format.output_format()
    assert fmt.problem() is None and fmt.disable_any_whitespace
    assert fmt.schema["properties"]["verses"]["minItems"] * 2 > 256
