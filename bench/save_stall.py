"""How long saving blocks the event loop, and the first frame with a long history. No engine.

    python -m bench.save_stall [--quick] [--json] [--old-json] [--no-process]

1. `save_stall_*`: 32 panes stream at once with the heat view's alternatives (top 5) on the event
   loop — scripted tokens at the demo model's rate (`--rate`, default 3,200 tok/s across the
   panes, what the demo engine gives 16 to 32 streams here: docs/guide/performance.md) up to
   `--tokens` each (4,000) — while the store saves the session every second, as the app does
   (tui/app.py AUTOSAVE_S). A 1 ms ticker on the loop records how late it wakes. A save's stall is
   the ticker's worst lateness from the save's start on the loop until the writer thread has
   committed it (the walk on the loop, and the writer holding the GIL meanwhile);
   `save_stall_p99_ms` is the 99th percentile over a run's saves (target ≤ 16 ms), the median of
   `--repeats` runs (and `save_stall_p99_quietest_ms`: that of the repeat whose run without saving
   waited least, where the machine's other work disturbed least). Beside it, `no_save_window_*`: the same stretches of a run that feeds the same
   tokens and saves nothing (what the machine and the feed alone cost), and `save_walk_*`: the
   walk's own time on the loop, the only part of saving that runs there (`save_walk_cpu_*`: its
   CPU time, and `writer_cpu_per_save_*`: the writer thread's per save, which a loaded machine
   does not change). `--old-json` also times
   the old way: the whole session as JSON (`session_json_s`, on the loop every 10 s).
2. `first_frame_*`: the app (tests/support/app.py make_app, the scripted backend, Pilot) from
   opening the store to its first frame written, with a history of 1 GB (runs of 4,000 tokens with
   5 alternatives each; built once, kept in the cache directory) and with an empty one (target
   ≤ 0.5 s); and the real `vllm-panes` process in a pseudo-terminal on that history (against the
   tests' loopback server, so that no engine loads), start to first output.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PANES = 32
TARGETS = {"save_stall_p99_ms": ("<=", 16), "save_stall_p99_quietest_ms": ("<=", 16), "first_frame_1gb_s": ("<=", 0.5),
           "first_frame_1gb_process_s": ("<=", 0.5)}
HISTORY_MB = 1024
WORDS = ("the key to happiness is a quiet mind and a garden of patience where every morning brings "
         "light over the sea of stars in a galaxy far away that no one has seen before").split()


@dataclass
class Plan:
    tokens: int = 4000  # per pane
    rate: float = 3200.0  # tokens per second across the panes
    starts: int = 5  # first-frame measurements of each kind
    repeats: int = 3  # stall runs with saving and without, interleaved
    history_mb: int = HISTORY_MB

    @classmethod
    def quick(cls) -> Plan:
        return cls(tokens=600, starts=2, repeats=1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# -- 1. the save stall ------------------------------------------------------------------------------------
def streaming_session(count: int):
    """`count` panes, each a question and an answer streaming (an empty reply, as a run starts)."""
    from tui.core.conversation import ASSISTANT, USER
    from tui.core.pane_state import PaneState
    from tui.core.run import new_reply
    from tui.engine.params import Sampling
    from tui.figures import STREAMING
    from tui.session import SessionRecord

    panes = []
    sampling = Sampling(logprobs=5)
    for number in range(1, count + 1):
        state = PaneState(number, heat=True)
        question = state.conversation.add(None, USER, f"question {number}: tell me about the sea")
        state.conversation.add(question, ASSISTANT, reply=new_reply(sampling, None, STREAMING))
        panes.append(state)
    return SessionRecord(panes=panes, next_number=count + 1)


def scripted_tokens(count: int) -> list:
    """The pieces and their tokens (5 alternatives each), made before the clock starts."""
    from tests.support.scripted import scripted_logprob

    rng = random.Random(7)
    pieces = [rng.choice(WORDS) + (" " if i % 17 else ".\n") for i in range(count)]
    return [(piece, scripted_logprob(i, piece, 5)) for i, piece in enumerate(pieces)]


async def stream_and_save(plan: Plan, save: bool, log) -> Streamed:
    """Feed the panes on the loop for the whole answer; with `save`, the store saves every second.
    Returns the ticker's lateness samples, each save's stall and each walk's time on the loop."""
    from tui.app import AUTOSAVE_S
    from tui.core.run import Run
    from tui.engine.protocol import Delta, Request
    from tui.engine.params import Sampling
    from tui.store.store import Store

    record = streaming_session(PANES)
    tokens = scripted_tokens(plan.tokens)
    runs = [Run(state.conversation.last(), Request.of_prompt("q", Sampling(logprobs=5), f"bench-{state.number}"))
            for state in record.panes]
    folder = Path(tempfile.mkdtemp(prefix="bench-save-stall-"))
    store = Store.open(folder / "store.db") if save else None
    writer_cpu: list[float] = []  # the writer thread's CPU time per batch, ms (what it can hold the GIL for)
    if store is not None:
        write = store._writer._write  # noqa: SLF001 - timed where it runs, on its thread

        def timed_write(conn, batch) -> None:
            began = time.thread_time()
            write(conn, batch)
            writer_cpu.append((time.thread_time() - began) * 1000)

        store._writer._write = timed_write  # noqa: SLF001
    loop = asyncio.get_running_loop()
    lateness: list[tuple[float, float]] = []  # (when, ms late)
    saves: list[tuple[float, float]] = []  # (start, committed)
    walks: list[float] = []
    walks_cpu: list[float] = []  # the same in CPU time: what the walk costs, whatever the machine's load
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            expected = time.perf_counter() + 0.001
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            lateness.append((now, (now - expected) * 1000))

    async def feeder() -> None:
        per_pane = plan.rate / PANES  # tokens per second in each pane
        started = time.perf_counter()
        index = 0
        while index < plan.tokens:
            due = min(plan.tokens, int((time.perf_counter() - started) * per_pane) + 1)
            while index < due:  # every pane takes its tokens due by now (a delta each)
                piece, token = tokens[index]
                now = time.perf_counter()
                for run in runs:
                    run.take(Delta(piece, index + 1, 1, None, started, started + 0.05, now, logprobs=[token]))
                index += 1
                if index % 30 == 0:
                    for run in runs:
                        run.figures()  # a pane's flush brings the figures up to date
            await asyncio.sleep(0.01)
        done.set()

    async def saver() -> None:
        while not done.is_set():
            await asyncio.sleep(AUTOSAVE_S)
            start, cpu = time.perf_counter(), time.thread_time()
            store.save_session(record)
            walks.append((time.perf_counter() - start) * 1000)
            walks_cpu.append((time.thread_time() - cpu) * 1000)
            await asyncio.to_thread(store.flush)  # waits in a thread: the loop goes on
            saves.append((start, time.perf_counter()))

    pauses: list[tuple[float, float]] = []  # the garbage collector's passes: (start, ms)
    began: list[float] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            start = began.pop()
            pauses.append((start, (time.perf_counter() - start) * 1000))

    # As in the app, which freezes what it made at start once the engine is up (tui/engine/vllm_backend.py).
    gc.collect()
    gc.freeze()
    gc.callbacks.append(on_gc)
    tasks = [asyncio.ensure_future(ticker()), asyncio.ensure_future(feeder())]
    if save:
        tasks.append(asyncio.ensure_future(saver()))
    await done.wait()
    await asyncio.gather(*tasks, return_exceptions=True)
    gc.callbacks.remove(on_gc)
    gc.unfreeze()
    long_pauses = [ms for _, ms in pauses if ms > 5]
    if long_pauses:
        log(f"  garbage collector passes over 5 ms: {len(long_pauses)}, longest {max(long_pauses):.0f} ms")
    if store is not None:
        start = time.perf_counter()
        store.save_session(record)
        store.close(timeout=120)
        log(f"  the last save and close: {time.perf_counter() - start:.2f} s; the file: "
            f"{(folder / 'store.db').stat().st_size / 2**20:.1f} MB")
    shutil.rmtree(folder, ignore_errors=True)
    t0 = lateness[0][0]
    return Streamed([(when - t0, ms) for when, ms in lateness], [(a - t0, b - t0) for a, b in saves], walks,
                    lateness[-1][0] - t0, record, walks_cpu, writer_cpu)


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


def old_json_save_s(record) -> float:
    """The whole session as JSON, as the app saved it before the store (tui/session.py)."""
    start = time.perf_counter()
    text = record.to_json()
    elapsed = time.perf_counter() - start
    print(f"[bench]   the session as JSON: {len(text) / 2**20:.1f} MB in {elapsed:.2f} s", file=sys.stderr)
    return elapsed


# -- 2. the first frame with a long history ------------------------------------------------------------------
def history_database(plan: Plan, log) -> Path:
    """A store with `plan.history_mb` of history (kept in the cache directory between runs)."""
    from tui import locations
    from tui.store.db import connect
    from tui.store.history import RunEntry, new_comparison
    from tui.store.store import Store
    from tui.core.tokens import TokenSpans
    from tui.engine.protocol import LOCAL, Target
    from tui.figures import DONE, Figures
    from tui.store.upkeep import used_bytes

    path = locations.cache_dir() / "bench" / f"history-{plan.history_mb}mb.db"
    if path.exists():
        conn = connect(path)
        try:
            if used_bytes(conn) >= plan.history_mb * 2**20 * 0.98:
                return path
        finally:
            conn.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    log(f"building a history of {plan.history_mb} MB in {path} (once; it is kept)…")
    rng = random.Random(1)
    store = Store.open(path, max_mb=plan.history_mb * 4)
    spans = TokenSpans()
    for piece, token in scripted_tokens(4000):
        spans.add(piece, [token])
    target = Target(LOCAL, "/models/demo/weights")
    count = 0
    started = time.perf_counter()
    while True:
        if count % 100 == 0:
            assert store.flush(timeout=600)
            with store.reading() as conn:
                if used_bytes(conn) >= plan.history_mb * 2**20:
                    break
            if count:
                log(f"  {count} runs, {time.perf_counter() - started:.0f} s")
        comparison = new_comparison()
        answer = " ".join(rng.choice(WORDS) for _ in range(3000))
        store.record_run(RunEntry(comparison=comparison, kind="workbench",
                                  messages=[{"role": "user", "content": f"question {count} " + rng.choice(WORDS)}],
                                  answer=answer, figures=Figures(DONE, tokens=4000, ttft_ms=40.0, tok_s=200.0,
                                                                 finish_reason="length"),
                                  target=target, settings={"temperature": 0.8, "logprobs": 5}, pane=1 + count % 4,
                                  ended_at=time.time() - 86400 * 30 + count, tokens=list(spans.tokens),
                                  ends=list(spans.ends)))
        count += 1
    store.close(timeout=600)
    log(f"  {count} runs in {time.perf_counter() - started:.0f} s: {path.stat().st_size / 2**20:.0f} MB")
    return path


async def first_frame_pilot(store_path: Path) -> float:
    """Seconds from opening the store (as run_app does) to the app's first frame written."""
    from tests.support.app import make_app
    from tests.support.scripted import ScriptedBackend
    from tui.render import probes
    from tui.store.store import Store

    frames: list[float] = []
    with probes.updates_written(lambda app, screen, update: frames.append(time.perf_counter())):
        start = time.perf_counter()
        store = Store.open(store_path)
        session, _ = store.load_session()
        app = make_app(ScriptedBackend(), session=session, store=store)
        async with app.run_test(size=(200, 50)) as pilot:
            while not frames:
                await asyncio.sleep(0.001)
            await pilot.pause()
    return frames[0] - start


def first_frame_process(store_path: Path | None) -> float:
    """The real process on a data directory holding that store (None: an empty one): start to
    first output."""
    from tests.support.fault_server import FaultServer
    from tests.support.processes import PtyApp
    from tui import locations

    home = Path(tempfile.mkdtemp(prefix="bench-first-frame-"))
    data = home / "data" / "vllm-panes"
    data.mkdir(parents=True)
    if store_path is not None:
        os.link(store_path, data / locations.store_file().name)  # the same file, not a 1 GB copy
    server = FaultServer().start()
    app = PtyApp(["--base-url", server.url(), "--fresh"],
                 env={"XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
                      "XDG_STATE_HOME": str(home / "state")})
    try:
        deadline = time.monotonic() + 60
        while app.first_output is None and time.monotonic() < deadline:
            time.sleep(0.01)
        app.wait_for(b"ready", timeout=30)
        first = app.first_output
        app.quit("ctrl+q")
    finally:
        app.close()
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
    return float("nan") if first is None else first


# -- the run -------------------------------------------------------------------------------------------------
async def measure_stall(plan: Plan, old_json: bool, log) -> dict[str, float]:
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
    stalls = saved.worst_in(saved.saves)
    same_windows = alone.worst_in(saved.saves)  # the same stretches of the feed, nothing saved
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
    worst = sorted(range(len(stalls)), key=lambda i: -stalls[i])[:3]
    log(f"  save stall over {len(stalls)} saves: p50 {results['save_stall_p50_ms']:.1f} ms, p99 "
        f"{results['save_stall_p99_ms']:.1f} ms (the same stretches without saving: p50 "
        f"{results['no_save_window_p50_ms']:.1f} ms, p99 {results['no_save_window_p99_ms']:.1f} ms); committed "
        f"{results['save_commit_p50_ms']:.0f} ms after it starts (median); the walk on the loop p99 "
        f"{results['save_walk_p99_ms']:.2f} ms (CPU: p99 {results['save_walk_cpu_p99_ms']:.2f} ms); the writer's "
        f"CPU per save: median {results['writer_cpu_per_save_p50_ms']:.1f} ms, max "
        f"{results['writer_cpu_per_save_max_ms']:.1f} ms; the worst: "
        + ", ".join(f"#{i + 1} {stalls[i]:.1f} ms (its walk {saved.walks[i]:.1f} ms)" for i in worst))
    return results


async def measure_first_frame(plan: Plan, process: bool, log) -> dict[str, float]:
    from tui.store.store import Store

    results: dict[str, float] = {}
    history = history_database(plan, log)
    results["history_db_mb"] = history.stat().st_size / 2**20
    empty_dir = Path(tempfile.mkdtemp(prefix="bench-empty-store-"))
    Store.open(empty_dir / "store.db").close()
    await first_frame_pilot(empty_dir / "store.db")  # the first app of a process imports more: not counted
    with_history, without = [], []
    for _ in range(plan.starts):
        with_history.append(await first_frame_pilot(history))
        without.append(await first_frame_pilot(empty_dir / "store.db"))
    results["first_frame_1gb_s"] = statistics.median(with_history)
    results["first_frame_1gb_max_s"] = max(with_history)
    results["first_frame_empty_s"] = statistics.median(without)
    log(f"first frame (Pilot): {results['first_frame_1gb_s']:.3f} s with {results['history_db_mb']:.0f} MB of "
        f"history (highest {results['first_frame_1gb_max_s']:.3f}), {results['first_frame_empty_s']:.3f} s empty")
    if process:
        frames, empty = [], []
        for _ in range(plan.starts):  # interleaved: the machine's load drifts
            frames.append(first_frame_process(history))
            empty.append(first_frame_process(None))
        results["first_frame_1gb_process_s"] = statistics.median(frames)
        results["first_frame_1gb_process_max_s"] = max(frames)
        results["first_frame_empty_process_s"] = statistics.median(empty)
        log(f"first frame of the real process on that history: median "
            f"{results['first_frame_1gb_process_s']:.3f} s, highest {results['first_frame_1gb_process_max_s']:.3f} s; "
            f"on an empty data directory: median {results['first_frame_empty_process_s']:.3f} s")
    shutil.rmtree(empty_dir, ignore_errors=True)
    return results


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.save_stall", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 tokens per pane, 2 starts of each kind")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--tokens", type=int, default=None, help="tokens per pane (default 4000)")
    parser.add_argument("--rate", type=float, default=None, help="tokens per second across the panes (3200)")
    parser.add_argument("--repeats", type=int, default=None, help="stall runs of each kind (default 3)")
    parser.add_argument("--old-json", action="store_true", help="time the old whole-session JSON save too")
    parser.add_argument("--no-process", action="store_true", help="skip the real process's first frame")
    parser.add_argument("--only", choices=("stall", "first-frame"), default=None)
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    if args.tokens:
        plan.tokens = args.tokens
    if args.rate:
        plan.rate = args.rate
    if args.repeats:
        plan.repeats = args.repeats

    def log(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    async def run() -> dict[str, float]:
        results: dict[str, float] = {}
        if args.only in (None, "stall"):
            results.update(await measure_stall(plan, args.old_json, log))
        if args.only in (None, "first-frame"):
            results.update(await measure_first_frame(plan, not args.no_process, log))
        return results

    results = asyncio.run(run())
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in results.items()}))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
