"""The workbench's CPU per delta (the scripted backend, no engine): at two answer lengths, with and
without the heat view, and on the first and the 20th turn of a conversation."""

from __future__ import annotations

import statistics
import time

from bench.common import Plan, settle_like_the_app
from bench.runs import pane_states, until, workbench
from tui.instrument import Observer

WINDOW = 50


class CostWindow(Observer):
    """CPU time over the last WINDOW deltas of an answer `length` deltas long."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.seen = 0
        self.start: float | None = None
        self.end: float | None = None

    def delta_received(self, pane: int, delta) -> None:
        self.seen += 1
        if self.seen == self.length - WINDOW:
            self.start = time.process_time()
        elif self.seen == self.length:
            self.end = time.process_time()


async def delta_cost_us(length: int, heat: bool = False, turns: int = 0) -> float:
    """CPU per delta over the last 50 deltas of an answer `length` deltas long (a scripted stream
    at a steady 2 ms per delta, one paragraph with no newline: the worst case for re-wrapping),
    in a pane whose conversation had `turns` turns before."""
    from tui.engine.scripted import ScriptedBackend

    backend = ScriptedBackend(lambda prompt, sampling: [f"w{i % 97} " for i in range(length)], delay_s=0.002,
                              max_model_len=10_000_000)
    window = CostWindow(length)
    app = workbench(backend, pane_states(1, length, turns=turns), window)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        settle_like_the_app()
        pane = app.workbench.panes()[0]
        pane.heat = heat
        app.simulate_key("ctrl+r")
        await until(lambda: pane.figures.state == "done" and window.end is not None, timeout=120)
        await pilot.pause(0.1)
        assert pane.answer.count(" ") == length
    return (window.end - window.start) / WINDOW * 1e6


async def delta_costs(plan: Plan, heat: bool = False) -> dict[int, list[float]]:
    """The per-delta cost at 100 and at `plan.long_answer` deltas, `plan.cost_repeats` times each.
    A window of 50 deltas is 3 frames: one view jump more or less moves it by half. Runs at the
    two lengths alternate, and each figure is the median of its runs."""
    costs: dict[int, list[float]] = {100: [], plan.long_answer: []}
    for _ in range(plan.cost_repeats):
        for length in costs:
            costs[length].append(await delta_cost_us(length, heat))
    return costs


async def turn_costs(plan: Plan) -> dict[str, float]:
    """The per-delta cost of a 300-delta answer on the first turn and on the 20th: the thread above
    it must not make each delta dearer (delta_cost_us_turn_20 ≤ 1.2 × delta_cost_us_turn_1)."""
    costs: dict[int, list[float]] = {0: [], 19: []}
    for _ in range(plan.cost_repeats):
        for turns in costs:
            costs[turns].append(await delta_cost_us(300, turns=turns))
    return {"delta_cost_us_turn_1": statistics.median(costs[0]),
            "delta_cost_us_turn_20": statistics.median(costs[19])}
