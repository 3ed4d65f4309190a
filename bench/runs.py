"""Runs of the same work two ways: raw AsyncLLM consumers, and the real workbench (Pilot) on the
same engine; each reports tokens per second, and the CPU this process spent per token.

The workbench is measured through its public hooks (tui/instrument.py): when a delta arrives,
when a flush takes it into a view, when a frame reaches the terminal.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import CPU_US_PER_TOKEN, PROMPTS, SETTLE_S, settle_like_the_app, workload
from tui.instrument import Observer

ANSWER = ("And the LORD spake unto Moses, saying, Speak unto the children of Israel, that they bring "
          "me an offering of every man that giveth it willingly with his heart.")


def thread(turns: int, index: int) -> list[tuple[str, str]]:
    """A conversation of `turns` finished turns, then the question of the next one (as messages)."""
    messages: list[tuple[str, str]] = []
    for turn in range(turns):
        messages += [("user", f"{PROMPTS[(index + turn) % len(PROMPTS)]} (turn {turn + 1})"), ("assistant", ANSWER)]
    return messages + [("user", PROMPTS[(index + turns) % len(PROMPTS)])]


# -- raw consumers ----------------------------------------------------------------------------------
async def raw_run(backend, streams: int, tokens: int, logprobs: int = 0, loras: list | None = None,
                  turns: int = 0) -> float:
    """Raw consumers of the engine, with the app's prompts rendered as the app renders them; with
    `logprobs`, asking for as many alternatives per token as the heat view does (they only count
    tokens); with `loras`, stream i asks for LoRARequest i modulo their number; with `turns`,
    each continues a conversation of that many turns."""
    from tui.engine.protocol import Request

    engine = backend.engine
    counts = [0] * streams

    async def consume(i: int) -> None:
        sampling = workload(tokens, i, logprobs)
        params = backend.sampling_params(sampling)
        request = Request.of(thread(turns, i), sampling, f"raw-{time.monotonic_ns()}-{i}")
        engine_input = await backend.engine_input(request)
        lora = loras[i % len(loras)] if loras else None
        async for out in engine.generate(engine_input, params, request.request_id, lora_request=lora):
            counts[i] += len(out.outputs[0].token_ids)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(consume(i) for i in range(streams)))
    elapsed = time.perf_counter() - start
    assert all(c == tokens for c in counts), counts
    CPU_US_PER_TOKEN.setdefault(("raw", streams), []).append((time.process_time() - cpu) / sum(counts) * 1e6)
    return sum(counts) / elapsed


# -- the workbench ------------------------------------------------------------------------------------
class Timing(Observer):
    """When each pane's last token reached the screen; with `lag_panes`, the display lag of
    every delta of those panes (its arrival to the frame after the flush that took it)."""

    def __init__(self, lag_panes: set[int] | None = None) -> None:
        self.lag_panes = lag_panes
        self.received: dict[int, list[float]] = {}
        self.lags: list[float] = []
        self.on_screen: dict[int, float] = {}
        self._taken: dict[int, int] = {}
        self._shown: dict[int, int] = {}
        self._finished: set[int] = set()

    def delta_received(self, pane: int, delta) -> None:
        if self.lag_panes is not None and pane in self.lag_panes:
            self.received.setdefault(pane, []).append(time.perf_counter())

    def pane_flushed(self, pane: int, finished: bool) -> None:
        if pane in self.received:
            self._taken[pane] = len(self.received[pane])
        if finished and pane not in self.on_screen:
            self._finished.add(pane)

    def frame_written(self, now: float) -> None:
        for pane, upto in self._taken.items():
            start = self._shown.get(pane, 0)
            self.lags.extend((now - t) * 1000 for t in self.received[pane][start:upto])
            self._shown[pane] = max(start, upto)
        self._taken.clear()
        for pane in self._finished:
            self.on_screen[pane] = now
        self._finished.clear()


def pane_states(streams: int, tokens: int, targets: list | None = None, turns: int = 0,
                overrides: dict[str, str] | None = None) -> list:
    """The panes of a run: pane i writes `tokens` tokens (seed 1000 + i), after a conversation of
    `turns` finished turns when asked."""
    from tui.core.conversation import ASSISTANT, USER, Reply
    from tui.core.pane_state import PaneState
    from tui.figures import DONE, Figures

    states = []
    for i in range(streams):
        state = PaneState(i + 1, overrides={"max_tokens": str(tokens), "seed": str(1000 + i), **(overrides or {})},
                          target=targets[i % len(targets)] if targets else None)
        parent = None
        *before, (_, question) = thread(turns, i)
        for role, content in before:
            reply = Reply(figures=Figures(DONE)) if role == ASSISTANT else None
            parent = state.conversation.add(parent, USER if role == USER else ASSISTANT, content, reply)
        state.draft = question
        states.append(state)
    return states


def workbench(backend, states: list, observer: Observer | None = None, xray: bool = False):
    """The real app on `backend` showing `states`; it saves no session (no store) and writes no config."""
    from tui.app import WorkbenchApp
    from tui.config import Config
    from tui.session import SessionRecord

    return WorkbenchApp(backend, config=Config(), session=SessionRecord(panes=states), store=None,
                        save_config=False, xray=xray, observer=observer)


async def until(predicate, timeout: float = 300.0, step: float = 0.01) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("the run did not finish in time")
        await asyncio.sleep(step)


async def app_run(backend, streams: int, tokens: int, lags: list[float] | None = None,
                  visible_panes: list[int] | None = None, xray: bool = False, heat: bool = False,
                  targets: list | None = None, turns: int = 0) -> float:
    """The same work through the workbench: tokens per second from ctrl+r to the frame that shows
    the last token; `lags` gets the display lag of every delta of the panes in view."""
    from tui import render

    timing = Timing(set() if lags is not None else None)
    app = workbench(backend, pane_states(streams, tokens, targets, turns), timing, xray)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        all_panes = app.workbench.panes()  # looked up once: a DOM query per poll costs the app
        for pane in all_panes:
            pane.heat = heat  # every pane's tokens coloured, 5 alternatives recorded per token
        await asyncio.sleep(SETTLE_S)
        settle_like_the_app()
        if lags is not None:  # a grid too low for its rows scrolls: lag is measured on the panes in view
            visible = render.on_screen(app.workbench)
            timing.lag_panes.update(p.number for p in all_panes if p.output in visible)
            if visible_panes is not None:
                visible_panes.extend(timing.lag_panes)
        start, cpu = time.perf_counter(), time.process_time()
        app.simulate_key("ctrl+r")
        await until(lambda: len(timing.on_screen) == streams)
        end = max(timing.on_screen.values())
        total = sum(p.figures.tokens for p in all_panes)
        CPU_US_PER_TOKEN.setdefault(("tui", streams), []).append((time.process_time() - cpu) / total * 1e6)
        assert total == streams * tokens, total
    if lags is not None:
        lags.extend(timing.lags)
    return total / (end - start)
