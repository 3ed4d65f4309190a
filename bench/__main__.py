"""The benchmark: what the workbench costs next to the raw engine, measured in one run.

    python -m bench [--quick] [--json] [--stock] [--only xray|heat|grid|lora]

All figures come from this run on this machine, on the demo model (float32, ignore_eos, fixed
seeds). Raw and app runs are interleaved and medians of the repeats are reported, because the raw
engine's throughput itself varies from run to run; `ratio_N` is the median of the ratios of each
app run to the raw run just before it. `render_path` says which drawing path the app ran on
(tui/render/); `--stock` measures Textual's stock path too (keys ending in `_stock`).

The engine X-ray's cost (`ratio_stats_8` and the `stat_logger_*` keys): raw runs without the app's
stat logger (taken out of the engine) and with it, and the app with the X-ray panel shown and
hidden, interleaved. `--only xray` measures just that. The heat view's (`ratio_lp_*`, `lag_lp_*`,
`delta_cost_us_lp_*`, `cursor_key_p99_ms`): raw consumers asking for 5 logprobs per token against
the app with the heat view on in every pane; `--only heat` measures just that. Many panes
(`ratio_16`, `lag_16_*`): 16 panes in a grid of 4 × 4, all in view at 200 × 50; `--only grid`. LoRA
(`ratio_lora_4`): 4 panes on 2 adapters against raw consumers with the same LoRARequests, on an
engine started with the adapters (`raw_tok_s_4_lora_engine_base` is the same engine without
adapters in the requests, `raw_tok_s_4` an engine without LoRA); `--only lora`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import signal
import statistics
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")

PROMPTS = ["The future of artificial intelligence is", "In a galaxy far, far away", "The key to happiness is"]
TARGETS = {
    "ratio_4": (">=", 0.95), "ratio_8": (">=", 0.92), "lag_p99_ms": ("<=", 50), "cancel_p99_ms": ("<=", 50),
    "key_p99_ms": ("<=", 50), "first_frame_s": ("<=", 0.5), "quit_s": ("<=", 3), "quit_max_s": ("<=", 3),
    "quit_sigterm_s": ("<=", 3), "quit_sigterm_max_s": ("<=", 3), "remote_quit_max_s": ("<=", 3),
    "remote_quit_sigterm_max_s": ("<=", 3), "orphans": ("<=", 0), "remote_orphans": ("<=", 0),
    "ratio_stats_8": (">=", 0.90),
    "ratio_lp_4": (">=", 0.93), "ratio_lp_8": (">=", 0.90), "lag_lp_p99_ms": ("<=", 50),
    "cursor_key_p99_ms": ("<=", 50),
    "ratio_16": (">=", 0.92), "lag_16_p99_ms": ("<=", 50), "ratio_lora_4": (">=", 0.93),
}


# The app has just been built: let its first layout and renders finish before the key press, as
# they would before a person types (start-up is measured on its own, in first_frame_s).
SETTLE_S = 0.3


@dataclass
class Plan:
    tokens: int = 256
    # Single paired ratios vary widely on a small machine, where this process shares the cores
    # with vLLM's busy-waiting worker (docs/performance.md): medians of many repeats.
    repeats: int = 21
    cancels: int = 50
    keys: int = 60
    long_answer: int = 4000
    cost_repeats: int = 9  # the per-delta cost is the median of this many runs at each length
    starts: int = 5  # starts of the real app (first frame, RSS, quit)
    stock: bool = False  # measure ratio_4/8 and lag on Textual's stock drawing path too

    @classmethod
    def quick(cls) -> Plan:
        return cls(tokens=128, repeats=1, cancels=12, keys=20, long_answer=1500, cost_repeats=1, starts=1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def workload(backend, tokens: int, index: int, logprobs: int = 0):
    from tui.engine.params import Sampling

    return Sampling(logprobs=logprobs).with_values(max_tokens=tokens, seed=1000 + index)


def with_ignore_eos(backend):
    """Same work for raw and app runs: every stream generates exactly `tokens` tokens.
    Returns a function that undoes it."""
    original = backend.sampling_params

    def params(sampling):
        p = original(sampling)
        p.ignore_eos = True
        return p

    backend.sampling_params = params
    return lambda: setattr(backend, "sampling_params", original)


# CPU time of this process (the app's, or the raw consumers') per token, by run: the engine's own
# processes share the two cores with it, so this is what the UI takes from them.
CPU_US_PER_TOKEN: dict[tuple[str, int], list[float]] = {}


# -- 1. raw engine -------------------------------------------------------------------------------
async def raw_run(backend, streams: int, tokens: int, logprobs: int = 0, loras: list | None = None) -> float:
    """Raw consumers; with `logprobs`, they ask for as many alternatives per token as the heat
    view does (the same work for the engine), and only count tokens. With `loras`, stream i asks
    for LoRARequest i modulo their number."""
    from tui.engine.protocol import Request

    engine = backend._engine  # noqa: SLF001 - the raw AsyncLLM, no layer of ours in between
    counts = [0] * streams

    async def consume(i: int) -> None:
        sampling = workload(backend, tokens, i, logprobs)
        params = backend.sampling_params(sampling)
        request = Request.of_prompt(PROMPTS[i % len(PROMPTS)], sampling, f"raw-render-{i}")
        engine_input = await backend._render(engine, request)  # noqa: SLF001 - the prompt the app's request gets
        lora = loras[i % len(loras)] if loras else None
        async for out in engine.generate(engine_input, params, f"raw-{time.monotonic_ns()}-{i}", lora_request=lora):
            counts[i] += len(out.outputs[0].token_ids)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(consume(i) for i in range(streams)))
    elapsed = time.perf_counter() - start
    assert all(c == tokens for c in counts), counts
    CPU_US_PER_TOKEN.setdefault(("raw", streams), []).append((time.process_time() - cpu) / sum(counts) * 1e6)
    return sum(counts) / elapsed


def settle_like_the_app() -> None:
    """In the real app, `gc.freeze()` runs once the engine is up, after the UI is mounted, so the
    widgets' objects are not walked by every full GC pass. Here each measurement mounts a new app
    (earlier ones stay referenced, e.g. from context variables), so without this the full passes
    grow over a run and show up as lag and key latency outliers that the real app does not have.
    Freeze the same way before each measurement."""
    gc.collect()
    gc.freeze()


# -- 2. through the app --------------------------------------------------------------------------
async def app_run(backend, streams: int, tokens: int, lags: list[float] | None = None,
                  visible_panes: list[int] | None = None, xray: bool = False, heat: bool = False,
                  targets: list | None = None) -> float:
    from tests.support.app import make_app, saved_pane, send_key, session_of, wait_until
    from tui import render

    received: dict[int, list[float]] = {}  # pane number -> receive time of each delta
    visible_panes = [] if visible_panes is None else visible_panes
    original_stream = backend.stream

    async def timed_stream(request):
        number = int(request.request_id.split("-")[0][4:])  # "pane<number>-<run>"
        times = received.setdefault(number, [])
        async for delta in original_stream(request):
            times.append(time.perf_counter())
            yield delta

    panes = [saved_pane(prompt=PROMPTS[i % len(PROMPTS)], overrides={"max_tokens": str(tokens),
                                                                    "seed": str(1000 + i)},
                        target=targets[i % len(targets)].record() if targets else None)
             for i in range(streams)]
    app = make_app(backend, session=session_of(panes), session_path=None, xray=xray)
    app.save_session_now = lambda: None  # the benchmark writes no session
    if lags is not None:  # only the lag run pays for the extra timing layer
        backend.stream = timed_stream
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await pilot.pause()
            for pane in app.workbench.panes():
                pane.heat = heat  # every pane's tokens coloured, 5 alternatives recorded per token
            await asyncio.sleep(SETTLE_S)
            settle_like_the_app()
            if lags is not None:
                # Display lag is measured on the panes in view (a grid too low for its rows
                # scrolls; panes out of view are drawn when they come into view).
                visible = render.on_screen(app.workbench)
                for pane in app.workbench.panes():
                    if pane.output in visible:
                        _probe_flush(app, pane, received, lags)
                        visible_panes.append(pane.number)
            all_panes = app.workbench.panes()  # looked up once: a DOM query per poll costs the app
            on_screen: dict[int, float] = {}
            for pane in all_panes:
                _probe_last_token(app, pane, on_screen)
            start, cpu = time.perf_counter(), time.process_time()
            send_key(app, "ctrl+r")
            await wait_until(lambda: len(on_screen) == streams, timeout=300, step=0.01)
            end = max(on_screen.values())
            total = sum(p.figures.tokens for p in all_panes)
            CPU_US_PER_TOKEN.setdefault(("tui", streams), []).append((time.process_time() - cpu) / total * 1e6)
            assert total == streams * tokens, total
            return total / (end - start)
    finally:
        backend.stream = original_stream


def after_next_frame(app) -> list:
    """Functions called with the time right after the screen writes its next frame, where Textual
    hands the update to the terminal. Anything marked for drawing before that call is in that
    frame. (Textual's `call_after_refresh` calls later: after a message round trip, and after the
    screen's next tick when something else is waiting to be drawn by then.)"""
    from tui.render import probes

    return probes.after_next_frame(app.workbench)


def _probe_last_token(app, pane, on_screen: dict[int, float]) -> None:
    """Record when the last token of this pane is on screen: the frame after the flush that took
    the rest of its text once its stream had ended. (Polling for it would add the poll's step and
    a refresh of its own to the measured time.)"""
    original = pane.flush
    taken = []

    def flush() -> bool:
        again = original()
        if pane.figures.state == "done" and not pane._pending and not taken:  # noqa: SLF001
            taken.append(True)
            after_next_frame(app).append(lambda now: on_screen.__setitem__(pane.number, now))
        return again

    pane.flush = flush


def _probe_flush(app, pane, received: dict[int, list[float]], lags: list[float]) -> None:
    """After each flush of this pane, wait for the next frame and record, for every delta that
    flush took, the time from its arrival to that frame."""
    original = pane.flush
    shown_upto = [0]

    def flush() -> bool:
        upto = len(received.get(pane.number, []))
        again = original()

        def on_frame(now: float) -> None:
            times = received.get(pane.number, [])
            lags.extend((now - t) * 1000 for t in times[shown_upto[0]:upto])
            shown_upto[0] = max(shown_upto[0], upto)

        after_next_frame(app).append(on_frame)
        return again

    pane.flush = flush


# -- 3. cancel latency ---------------------------------------------------------------------------
async def cancel_latencies(backend, count: int) -> list[float]:
    """f5 then escape, `count` times in one pane: the first f5 sends the prompt, the next ones
    regenerate its answer (the same request each time)."""
    from tests.support.app import make_app, saved_pane, send_key, session_of, wait_until

    engine = backend._engine  # noqa: SLF001
    app = make_app(backend, session=session_of([saved_pane(prompt=PROMPTS[0],
                                                                    overrides={"max_tokens": "1500"})]))
    app.save_session_now = lambda: None
    out = []
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        settle_like_the_app()
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        for _ in range(count):
            runs = pane.runs
            send_key(app, "f5")
            await wait_until(lambda: pane.runs == runs + 1 and pane.figures.tokens >= 5, step=0.002)
            assert engine.get_num_unfinished_requests() == 1
            start = time.perf_counter()
            send_key(app, "escape")
            while engine.get_num_unfinished_requests():
                await asyncio.sleep(0)
            out.append((time.perf_counter() - start) * 1000)
    return out


async def key_to_screen_ms(app, key: str, state) -> float:
    """ms from a key press to the end of the frame that shows its effect: `state()` changes when
    the app has handled the key; what that marked for drawing is in the next frame."""
    from tests.support.app import send_key

    before = state()
    start = time.perf_counter()
    send_key(app, key)
    while state() == before:
        await asyncio.sleep(0)
    shown = asyncio.get_running_loop().create_future()
    after_next_frame(app).append(lambda now: shown.done() or shown.set_result(now))
    return (await shown - start) * 1000


# -- 4. key -> screen while 8 panes stream -------------------------------------------------------
async def key_latencies(backend, count: int) -> list[float]:
    from tests.support.app import make_app, saved_pane, send_key, session_of, wait_until

    panes = [saved_pane(prompt=PROMPTS[i % 3], overrides={"max_tokens": "1900"}) for i in range(8)]
    app = make_app(backend, session=session_of(panes))
    app.save_session_now = lambda: None
    out = []
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        settle_like_the_app()
        all_panes = app.workbench.panes()
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.tokens_received > 5 for p in all_panes), step=0.005)
        editor = all_panes[0].editor
        editor.focus()
        await asyncio.sleep(0.05)
        for i in range(count):
            if not all(p.figures.state == "streaming" for p in all_panes):
                break
            out.append(await key_to_screen_ms(app, "x", lambda: editor.text))
            await asyncio.sleep(0.02)
        send_key(app, "ctrl+g")  # cancel all
        await wait_until(lambda: backend._engine.get_num_unfinished_requests() == 0)  # noqa: SLF001
    return out


# -- 5. per-delta UI cost at two answer lengths --------------------------------------------------
WINDOW = 50


async def delta_cost_us(length: int, heat: bool = False) -> float:
    """CPU per delta over the last 50 deltas of an answer `length` deltas long (a scripted stream
    at a steady 2 ms per delta, one paragraph with no newline: the worst case for re-wrapping)."""
    from tests.support.scripted import ScriptedBackend
    from tests.support.app import make_app, saved_pane, send_key, session_of, wait_until

    marks: dict[str, float] = {}

    def script(prompt, sampling):
        return [f"w{i % 97} " for i in range(length)]

    backend = ScriptedBackend(script, delay_s=0.002, max_model_len=1_000_000)
    original = backend.stream

    async def marked(request):
        index = 0
        async for delta in original(request):
            index += 1
            if index == length - WINDOW:
                marks["start"] = time.process_time()
            yield delta
        marks["end"] = time.process_time()

    backend.stream = marked
    app = make_app(backend, session=session_of([saved_pane(prompt="x",
                                                                    overrides={"max_tokens": str(length)})]))
    app.save_session_now = lambda: None
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        settle_like_the_app()
        pane = app.workbench.panes()[0]
        pane.heat = heat
        send_key(app, "ctrl+r")
        await wait_until(lambda: pane.figures.state == "done", timeout=120, step=0.01)
        await pilot.pause(0.1)
        assert pane.answer.count(" ") == length
    return (marks["end"] - marks["start"]) / WINDOW * 1e6


async def delta_costs(plan: Plan, heat: bool = False) -> dict[int, list[float]]:
    """The per-delta cost at 100 and at `plan.long_answer` deltas, `plan.cost_repeats` times each.
    A window of 50 deltas is 3 frames: one view jump more or less moves it by half. Runs at the
    two lengths alternate, and each figure is the median of its runs."""
    costs: dict[int, list[float]] = {100: [], plan.long_answer: []}
    for _ in range(plan.cost_repeats):
        for length in costs:
            costs[length].append(await delta_cost_us(length, heat))
    return costs


# -- 5b. the token cursor over a long answer ------------------------------------------------------
async def cursor_key_latencies(count: int, length: int) -> list[float]:
    """Key → screen for the token cursor's keys (right, down, left, up, in turn) over an answer of
    `length` recorded tokens with the heat view on."""
    from tests.support.app import make_app, saved_pane, send_key, session_of, wait_until
    from tests.support.scripted import ScriptedBackend

    backend = ScriptedBackend(lambda prompt, sampling: [f"w{i % 97} " for i in range(length)],
                              max_model_len=1_000_000)
    app = make_app(backend, session=session_of([saved_pane(prompt="x",
                                                                    overrides={"max_tokens": str(length)})]))
    app.save_session_now = lambda: None
    out = []
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        pane = app.workbench.panes()[0]
        pane.heat = True
        send_key(app, "f5")
        await wait_until(lambda: pane.figures.state == "done", timeout=120, step=0.01)
        await pilot.pause(0.1)
        assert len(pane.spans) == length
        pane.enter_token_cursor()
        pane.move_token_cursor(length // 2)
        await pilot.pause(0.1)
        settle_like_the_app()
        keys = ["right", "down", "right", "down", "left", "up"]
        for i in range(count):
            out.append(await key_to_screen_ms(app, keys[i % len(keys)], lambda: pane.token_cursor))
            await asyncio.sleep(0.02)
    return out


# -- 6. the real process in a pseudo-terminal ----------------------------------------------------
def real_process(starts: int) -> dict[str, float]:
    """`starts` starts of the real app on the in-process engine, quit with ctrl+q, and as many quit
    with SIGTERM: the median first frame and quit times (with the highest), the highest RSS, and
    every process left behind. One start's first frame says little: it varies with Python's start
    and imports."""
    runs = [one_real_process(["--demo", "--fresh"], "ctrl+q") for _ in range(starts)]
    killed = [one_real_process(["--demo", "--fresh"], signal.SIGTERM) for _ in range(starts)]
    frames = [r["first_frame_s"] for r in runs + killed]
    return {"first_frame_s": statistics.median(frames), "first_frame_max_s": max(frames),
            "app_rss_mb": max(r["app_rss_mb"] for r in runs + killed),
            **quit_figures("quit", runs), **quit_figures("quit_sigterm", killed),
            "orphans": sum(r["orphans"] for r in runs + killed)}


def remote_process(starts: int) -> dict[str, float]:
    """The real app on a remote server (the tests' loopback server), quit with ctrl+q and SIGTERM."""
    from tests.support.fault_server import FaultServer

    server = FaultServer().start()
    try:
        args = ["--base-url", server.url(), "--fresh"]
        runs = [one_real_process(args, "ctrl+q") for _ in range(starts)]
        killed = [one_real_process(args, signal.SIGTERM) for _ in range(starts)]
    finally:
        server.stop()
    return {**quit_figures("remote_quit", runs), **quit_figures("remote_quit_sigterm", killed),
            "remote_orphans": sum(r["orphans"] for r in runs + killed)}


def quit_figures(name: str, runs: list[dict[str, float]]) -> dict[str, float]:
    times = [r["quit_s"] for r in runs]
    return {f"{name}_s": statistics.median(times), f"{name}_max_s": max(times)}


def one_real_process(args: list[str], how) -> dict[str, float]:
    import psutil

    from tests.support.processes import PtyApp

    app = PtyApp(args)
    main = psutil.Process(app.pid)
    peak = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and not app.seen(b"ready", last=20000):
            peak = max(peak, main.memory_info().rss)
            time.sleep(0.05)
        app.run_prompt(b"The key to happiness is")  # so that the app has streamed before quitting
        for _ in range(20):
            peak = max(peak, main.memory_info().rss)
            time.sleep(0.05)
        try:
            quit_s = app.quit(how)
        except AssertionError:
            quit_s = float("nan")
        time.sleep(1)
        orphans = len(app.survivors())
    finally:
        app.close()
    return {"first_frame_s": app.first_output if app.first_output is not None else float("nan"),
            "app_rss_mb": peak / 2**20, "quit_s": quit_s, "orphans": orphans}


# -- the run ---------------------------------------------------------------------------------------
async def throughput(backend, plan: Plan, stream_counts: tuple[int, ...], log,
                     heat: bool = False, lag_at: int = 8) -> dict[str, float]:
    """Raw and app runs, interleaved, at each number of streams; display lag at `lag_at` streams.
    With `heat`, the heat view is on in every pane and the raw consumers ask for the same logprobs."""
    results: dict[str, float] = {}
    lags: list[float] = []
    visible: list[int] = []
    CPU_US_PER_TOKEN.clear()
    logprobs = 5 if heat else 0
    for streams in stream_counts:
        raws, tuis = [], []
        for _ in range(plan.repeats):
            raws.append(await raw_run(backend, streams, plan.tokens, logprobs))
            tuis.append(await app_run(backend, streams, plan.tokens, lags if streams == lag_at else None,
                                      visible if streams == lag_at else None, heat=heat))
            log(f"  {streams} stream(s), repeat {len(raws)}: raw {raws[-1]:.0f} tok/s, app {tuis[-1]:.0f} tok/s")
        results[f"raw_tok_s_{streams}"] = statistics.median(raws)
        results[f"tui_tok_s_{streams}"] = statistics.median(tuis)
        # Each app run is paired with the raw run just before it: the machine's speed drifts
        # by more than the difference measured.
        results[f"ratio_{streams}"] = statistics.median(t / r for r, t in zip(raws, tuis))
        for kind in ("raw", "tui"):
            results[f"{kind}_cpu_us_per_tok_{streams}"] = statistics.median(CPU_US_PER_TOKEN[(kind, streams)])
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


def without_the_stat_logger(backend):
    """Take the app's stat logger out of the engine, leaving vLLM's own: the raw engine as any
    other caller of AsyncLLM has it. Returns a function that puts it back."""
    manager = backend._engine.logger_manager  # noqa: SLF001 - the raw AsyncLLM
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
    log(f"X-ray: raw {results['raw_tok_s_8_no_stat_logger']:.0f} tok/s without the stat logger, "
        f"{results['raw_tok_s_8_stat_logger']:.0f} with it (ratio {results['stat_logger_ratio_8']:.3f}); "
        f"app ÷ raw without it: {results['ratio_stats_8']:.3f} with the panel, "
        f"{results['ratio_stats_hidden_8']:.3f} hidden; the logger's own cost "
        f"{results['stat_logger_us_per_step']:.1f} µs per engine step")
    return results


async def grid_cost(backend, plan: Plan, log) -> dict[str, float]:
    """16 panes in a 4 × 4 grid, every one in view at 200 × 50: ratio_16 and lag_16_*."""
    log("16 panes in a grid, all in view:")
    grid = await throughput(backend, plan, (16,), log, lag_at=16)
    return {key.replace("lag_", "lag_16_"): value for key, value in grid.items()
            if key.startswith(("ratio_", "lag_", "raw_tok_s", "tui_tok_s"))}


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
    loras = [await backend.lora_request(backend._engine, t.adapter) for t in targets]  # noqa: SLF001
    raws, tuis, bases = [], [], []
    for repeat in range(plan.repeats):
        bases.append(await raw_run(backend, 4, plan.tokens))
        raws.append(await raw_run(backend, 4, plan.tokens, loras=loras))
        tuis.append(await app_run(backend, 4, plan.tokens, targets=targets))
        log(f"  LoRA, repeat {repeat + 1}: raw without adapters {bases[-1]:.0f}, raw on 2 adapters {raws[-1]:.0f}, "
            f"app on 2 adapters {tuis[-1]:.0f} tok/s")
    results = {"raw_tok_s_4_lora_engine_base": statistics.median(bases),
               "raw_tok_s_4_lora": statistics.median(raws), "tui_tok_s_4_lora": statistics.median(tuis),
               "ratio_lora_4": statistics.median(t / r for r, t in zip(raws, tuis))}
    log(f"LoRA: raw {results['raw_tok_s_4_lora_engine_base']:.0f} tok/s without adapters, "
        f"{results['raw_tok_s_4_lora']:.0f} on 2 adapters; app {results['tui_tok_s_4_lora']:.0f}; "
        f"ratio_lora_4 {results['ratio_lora_4']:.3f}")
    return results


async def measure_part(part, plan: Plan, log) -> dict[str, float | str]:
    """One part of the benchmark (`--only`) on an engine of its own (with the adapters for lora)."""
    from tui import render
    from tui.demo_model import ensure_demo_model
    from tui.engine.vllm_backend import VLLMBackend

    results: dict[str, float | str] = {"render_path": render.current_path().name}
    adapters = adapters_for_the_bench() if part is lora_cost else None
    backend = VLLMBackend([], model=str(ensure_demo_model()), adapters=adapters)
    await backend.start()
    with_ignore_eos(backend)
    try:
        await raw_run(backend, 1, 16)  # warm-up
        results.update(await part(backend, plan, log))
    finally:
        await backend.shutdown()
    return results


async def heat_cost(backend, plan: Plan, log) -> dict[str, float]:
    """The heat view's cost: ratio_lp_4/8 and lag_lp_* (heat on in every pane, logprobs=5 for raw
    and app), the per-delta cost with heat at two lengths, the token cursor's key → screen."""
    log("the heat view on in every pane, 5 alternatives per token (raw consumers ask for them too):")
    lp = await throughput(backend, plan, (4, 8), log, heat=True)
    results = {key.replace("ratio_", "ratio_lp_").replace("lag_", "lag_lp_").replace("_tok_s_", "_tok_s_lp_"): value
               for key, value in lp.items() if key.startswith(("ratio_", "lag_", "raw_tok_s", "tui_tok_s"))}
    costs = await delta_costs(plan, heat=True)
    results["delta_cost_us_lp_100"] = statistics.median(costs[100])
    results["delta_cost_us_lp_4000"] = statistics.median(costs[plan.long_answer])
    keys = await cursor_key_latencies(plan.keys, plan.long_answer)
    results["cursor_key_p99_ms"] = percentile(keys, 99)
    log(f"heat: ratio_lp_4 {results['ratio_lp_4']:.3f}, ratio_lp_8 {results['ratio_lp_8']:.3f}, lag p99 "
        f"{results.get('lag_lp_p99_ms', float('nan')):.1f} ms; per-delta cost {results['delta_cost_us_lp_100']:.0f} µs "
        f"at 100, {results['delta_cost_us_lp_4000']:.0f} µs at {plan.long_answer}; token cursor key → screen "
        f"p50 {percentile(keys, 50):.1f} ms, p99 {results['cursor_key_p99_ms']:.1f} ms over {len(keys)}")
    return results


async def measure(plan: Plan, log) -> dict[str, float | str]:
    from tui import render
    from tui.demo_model import ensure_demo_model
    from tui.engine.vllm_backend import VLLMBackend

    results: dict[str, float | str] = {"render_path": render.current_path().name}
    log("building/loading the demo model and starting the engine…")
    backend = VLLMBackend([], model=str(ensure_demo_model()))
    await backend.start()
    with_ignore_eos(backend)
    try:
        await raw_run(backend, 1, 16)  # warm-up
        log(f"render path: {render.current_path().name} {render.current_path().why_stock}".rstrip())
        results.update(await throughput(backend, plan, (1, 4, 8), log))
        if plan.stock:
            previous = render.use_path(False)
            try:
                log("the same on Textual's stock drawing path (--stock):")
                stock = await throughput(backend, plan, (4, 8), log)
            finally:
                render.use_path(previous)
            results.update({f"{key}_stock": value for key, value in stock.items()
                            if key.startswith(("ratio_", "lag_", "tui_cpu"))})
        cancels = await cancel_latencies(backend, plan.cancels)
        results["cancel_p99_ms"] = percentile(cancels, 99)
        log(f"cancel: p50 {percentile(cancels, 50):.1f} ms, p99 {results['cancel_p99_ms']:.1f} ms "
            f"over {len(cancels)}")
        results.update(await xray_cost(backend, plan, log))
        results.update(await heat_cost(backend, plan, log))
        results.update(await grid_cost(backend, plan, log))
        keys = await key_latencies(backend, plan.keys)
        results["key_p99_ms"] = percentile(keys, 99)
        log(f"key -> screen under 8 streams: p50 {percentile(keys, 50):.1f} ms, p99 {results['key_p99_ms']:.1f} ms "
            f"over {len(keys)}")
    finally:
        await backend.shutdown()
    log("an engine with two LoRA adapters:")
    results.update(await measure_part(lora_cost, plan, log))
    costs = await delta_costs(plan)
    results["delta_cost_us_100"] = statistics.median(costs[100])
    results["delta_cost_us_4000"] = statistics.median(costs[plan.long_answer])
    log(f"per-delta UI cost (last {WINDOW} deltas, median of {plan.cost_repeats}): "
        f"{results['delta_cost_us_100']:.0f} µs at 100 {[round(c) for c in costs[100]]}, "
        f"{results['delta_cost_us_4000']:.0f} µs at {plan.long_answer} {[round(c) for c in costs[plan.long_answer]]}")
    log(f"starting the real app in a pseudo-terminal, {plan.starts} time(s) each quit with ctrl+q and SIGTERM…")
    results.update(real_process(plan.starts))
    log(f"first frame: median {results['first_frame_s']:.3f} s, highest {results['first_frame_max_s']:.3f} s; "
        f"quit: median {results['quit_s']:.2f} s, highest {results['quit_max_s']:.2f} s; SIGTERM: median "
        f"{results['quit_sigterm_s']:.2f} s, highest {results['quit_sigterm_max_s']:.2f} s")
    results.update(remote_process(plan.starts))
    log(f"remote: quit median {results['remote_quit_s']:.2f} s (highest {results['remote_quit_max_s']:.2f}), "
        f"SIGTERM median {results['remote_quit_sigterm_s']:.2f} s (highest {results['remote_quit_sigterm_max_s']:.2f})")
    return results


def table(results: dict[str, float | str]) -> str:
    lines = [f"{'figure':<28} {'value':>12}  target"]
    for key, value in results.items():
        if isinstance(value, str):
            lines.append(f"{key:<28} {value:>12}")
            continue
        target = TARGETS.get(key)
        if key in ("delta_cost_us_4000", "delta_cost_us_lp_4000"):
            target = ("<=", 1.5 * results[key.replace("4000", "100")])
        mark = ""
        if target:
            op, bound = target
            ok = value >= bound if op == ">=" else value <= bound
            mark = f"{op} {bound:g}  {'ok' if ok else 'MISSED'}"
        lines.append(f"{key:<28} {value:>12.3f}  {mark}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (under 2 minutes)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on stdout")
    parser.add_argument("--stock", action="store_true",
                        help="measure Textual's stock drawing path too (ratio_4/8 and lag, keys *_stock)")
    parser.add_argument("--only", choices=("xray", "heat", "grid", "lora"), default=None,
                        help="measure one part: xray (the engine X-ray's cost, ratio_stats_8), heat "
                        "(the heat view's: ratio_lp_4/8, lag_lp_*, cursor_key_p99_ms), grid (16 panes "
                        "in view: ratio_16, lag_16_*) or lora (4 panes on 2 adapters: ratio_lora_4)")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    plan.stock = args.stock
    from tui.terminal import divert_output_to_log
    from tui import locations

    term = divert_output_to_log(locations.log_dir() / "bench.log")  # vLLM's own output stays out

    def log(message: str) -> None:
        print(f"[bench] {message}", file=term.err, flush=True)

    log(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, plan {plan}")
    started = time.perf_counter()
    parts = {"xray": xray_cost, "heat": heat_cost, "grid": grid_cost, "lora": lora_cost}
    results = asyncio.run(measure_part(parts[args.only], plan, log) if args.only else measure(plan, log))
    log(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        print(json.dumps({k: v if isinstance(v, str) else round(v, 4) for k, v in results.items()}), file=term.out)
    else:
        print(table(results), file=term.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
