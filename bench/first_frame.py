"""The first frame with a long history: the app under Pilot from opening the store (as run_app
does) to its first frame written, and the real `vllm-panes` process in a pseudo-terminal on that
history (against the loopback server, so that no engine loads) from start to first output; each
beside the same on an empty store."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import SavePlan
from bench.long_history import history_database


async def first_frame_pilot(store_path: Path) -> float:
    """Seconds from opening the store (as run_app does) to the app's first frame written."""
    from tui.app import WorkbenchApp
    from tui.config import Config
    from tui.engine.scripted import ScriptedBackend
    from tui.render import probes
    from tui.store.store import Store

    frames: list[float] = []
    with probes.updates_written(lambda app, screen, update: frames.append(time.perf_counter())):
        start = time.perf_counter()
        store = Store.open(store_path)
        session, _ = store.load_session()
        app = WorkbenchApp(ScriptedBackend(), config=Config(), session=session, store=store, save_config=False)
        async with app.run_test(size=(200, 50)) as pilot:
            while not frames:
                await asyncio.sleep(0.001)
            await pilot.pause()
    return frames[0] - start


def first_frame_process(store_path: Path | None) -> float:
    """The real process on a data directory holding that store (None: an empty one): start to
    first output."""
    from bench.fault_server import FaultServer
    from bench.processes import PtyApp
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


async def measure_first_frame(plan: SavePlan, process: bool, log) -> dict[str, float]:
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
        results.update(process_first_frames(history, plan.starts, log))
    shutil.rmtree(empty_dir, ignore_errors=True)
    return results


def process_first_frames(history: Path, starts: int, log) -> dict[str, float]:
    frames, empty = [], []
    for _ in range(starts):  # interleaved: the machine's load drifts
        frames.append(first_frame_process(history))
        empty.append(first_frame_process(None))
    results = {"first_frame_1gb_process_s": statistics.median(frames), "first_frame_1gb_process_max_s": max(frames),
               "first_frame_empty_process_s": statistics.median(empty)}
    log(f"first frame of the real process on that history: median "
        f"{results['first_frame_1gb_process_s']:.3f} s, highest {results['first_frame_1gb_process_max_s']:.3f} s; "
        f"on an empty data directory: median {results['first_frame_empty_process_s']:.3f} s")
    return results
