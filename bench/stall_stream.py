"""One run of the save stall: the panes fed scripted tokens on the event loop for a whole answer,
saving the session every second as the app does (or, for comparison, saving nothing), while a
1 ms ticker records how late the loop wakes. What each save costs is observed through public
hooks: the walk is timed around `Store.save_session` on the loop, the writer thread through a
`StoreObserver` (tui/instrument.py)."""

from __future__ import annotations

import asyncio
import gc
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import SavePlan
from bench.stall_session import ALTERNATIVES, PANES, scripted_tokens, streaming_session
from tui.instrument import StoreObserver
from tui.store.writer import SESSION

FIGURES_EVERY = 30  # tokens: a pane's flush brings its figures up to date about this often
LONG_PAUSE_MS = 5  # a garbage collector pass longer than this is said


@dataclass
class Streamed:
    lateness: list[tuple[float, float]]  # the ticker's: (seconds from its start, ms late)
    saves: list[tuple[float, float]]  # each save: from its start on the loop to its commit (seconds)
    walks: list[float]  # each save's walk on the loop, ms
    seconds: float
    record: object  # the session at the end
    walks_cpu: list[float] = field(default_factory=list)  # each walk's CPU time, ms
    writer_cpu: list[float] = field(default_factory=list)  # each batch's CPU time on the writer thread, ms

    def worst_in(self, windows: list[tuple[float, float]]) -> list[float]:
        """The worst lateness in each window (ms)."""
        return [max([ms for when, ms in self.lateness if start <= when <= end] or [0.0]) for start, end in windows]

    @property
    def late(self) -> list[float]:
        return [ms for _, ms in self.lateness]


class WriterCpu(StoreObserver):
    """The writer thread's CPU time per session batch, ms: what it can hold the GIL for, which a
    loaded machine does not change."""

    def __init__(self) -> None:
        self.per_batch: list[float] = []

    def batch_done(self, kind: str, cpu_s: float) -> None:
        if kind == SESSION:
            self.per_batch.append(cpu_s * 1000)  # list.append is atomic: safe from the writer thread


@dataclass
class SaveTimes:
    saves: list[tuple[float, float]] = field(default_factory=list)  # (start, committed), perf_counter
    walks: list[float] = field(default_factory=list)  # the walk on the loop, ms
    walks_cpu: list[float] = field(default_factory=list)  # the same in CPU time, whatever the machine's load


async def tick(done: asyncio.Event, lateness: list[tuple[float, float]]) -> None:
    """Wake every millisecond; note when and how late (ms)."""
    while not done.is_set():
        expected = time.perf_counter() + 0.001
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        lateness.append((now, (now - expected) * 1000))


async def feed(plan: SavePlan, runs: list, tokens: list, done: asyncio.Event) -> None:
    """Every pane takes the tokens due by now at `plan.rate` across the panes (a delta each), until
    the whole answer is in; then `done` is set."""
    from tui.engine.protocol import Delta

    per_pane = plan.rate / PANES  # tokens per second in each pane
    started = time.perf_counter()
    index = 0
    while index < plan.tokens:
        due = min(plan.tokens, int((time.perf_counter() - started) * per_pane) + 1)
        while index < due:
            piece, token = tokens[index]
            now = time.perf_counter()
            for run in runs:
                run.take(Delta(piece, index + 1, 1, None, started, started + 0.05, now, logprobs=[token]))
            index += 1
            if index % FIGURES_EVERY == 0:
                for run in runs:
                    run.figures()
        await asyncio.sleep(0.01)
    done.set()


async def save_every_interval(store, record, done: asyncio.Event, times: SaveTimes) -> None:
    """As the app does (tui/app.py AUTOSAVE_S): the walk on the loop, then wait in a thread (the
    loop goes on) until the writer has committed it."""
    from tui.app import AUTOSAVE_S

    while not done.is_set():
        await asyncio.sleep(AUTOSAVE_S)
        start, cpu = time.perf_counter(), time.thread_time()
        store.save_session(record)
        times.walks.append((time.perf_counter() - start) * 1000)
        times.walks_cpu.append((time.thread_time() - cpu) * 1000)
        await asyncio.to_thread(store.flush)
        times.saves.append((start, time.perf_counter()))


@contextmanager
def frozen_start_and_collector_pauses(log) -> Iterator[None]:
    """As in the app, which freezes what it made at start once the engine is up
    (tui/engine/vllm_backend.py); the collector's passes over LONG_PAUSE_MS are said."""
    pauses: list[float] = []
    began: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            pauses.append((time.perf_counter() - began.pop()) * 1000)

    gc.collect()
    gc.freeze()
    gc.callbacks.append(on_gc)
    try:
        yield
    finally:
        gc.callbacks.remove(on_gc)
        gc.unfreeze()
    long_pauses = [ms for ms in pauses if ms > LONG_PAUSE_MS]
    if long_pauses:
        log(f"  garbage collector passes over {LONG_PAUSE_MS} ms: {len(long_pauses)}, "
            f"longest {max(long_pauses):.0f} ms")


def runs_of(record) -> list:
    """A run taking deltas into each pane's streaming answer."""
    from tui.core.run import Run
    from tui.engine.params import Sampling
    from tui.engine.protocol import Request

    return [Run(state.conversation.last(),
                Request.of_prompt("q", Sampling(logprobs=ALTERNATIVES), f"bench-{state.number}"))
            for state in record.panes]


def close_store(store, record, folder: Path, log) -> None:
    """The last save and the close, as the app's way out does; how long it took, how big the file is."""
    start = time.perf_counter()
    store.save_session(record)
    store.close(timeout=120)
    log(f"  the last save and close: {time.perf_counter() - start:.2f} s; the file: "
        f"{(folder / 'store.db').stat().st_size / 2**20:.1f} MB")


async def stream_and_save(plan: SavePlan, save: bool, log) -> Streamed:
    """Feed the panes on the loop for the whole answer; with `save`, the store saves every second.
    The ticker's lateness samples, each save's stall and each walk's time on the loop."""
    from tui.store.store import Store

    record = streaming_session(PANES)
    tokens = scripted_tokens(plan.tokens)
    runs = runs_of(record)
    folder = Path(tempfile.mkdtemp(prefix="bench-save-stall-"))
    writer_cpu = WriterCpu()
    store = Store.open(folder / "store.db", observer=writer_cpu) if save else None
    lateness: list[tuple[float, float]] = []
    times = SaveTimes()
    done = asyncio.Event()
    with frozen_start_and_collector_pauses(log):
        tasks = [asyncio.ensure_future(tick(done, lateness)), asyncio.ensure_future(feed(plan, runs, tokens, done))]
        if store is not None:
            tasks.append(asyncio.ensure_future(save_every_interval(store, record, done, times)))
        await done.wait()
        await asyncio.gather(*tasks, return_exceptions=True)
    if store is not None:
        close_store(store, record, folder, log)
    shutil.rmtree(folder, ignore_errors=True)
    t0 = lateness[0][0]
    return Streamed([(when - t0, ms) for when, ms in lateness], [(a - t0, b - t0) for a, b in times.saves],
                    times.walks, lateness[-1][0] - t0, record, times.walks_cpu, writer_cpu.per_batch)
