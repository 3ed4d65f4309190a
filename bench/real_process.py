"""The real `vllm-panes` in a pseudo-terminal, as a person starts and quits it: the first frame,
the memory it takes, how long each way of quitting takes (mid-answer, and while the engine loads),
and whether any process is left."""

from __future__ import annotations

import signal
import statistics
import time

from bench.processes import TERMINAL_CLOSED, PtyApp


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


def hang_ups_and_loading(starts: int) -> dict[str, float]:
    """The real app on the in-process engine, its terminal closed mid-answer (then SIGHUP, as when a
    window is closed; or no signal at all, as when the process holding it is killed), and quit with
    ctrl+q while the engine loads: `starts` times each."""
    args = ["--demo", "--fresh"]
    hung_up = [one_real_process(args, signal.SIGHUP) for _ in range(starts)]
    closed = [one_real_process(args, TERMINAL_CLOSED) for _ in range(starts)]
    loading = [one_real_process(args, "ctrl+q", while_loading=True) for _ in range(starts)]
    every = hung_up + closed + loading
    return {**quit_figures("quit_sighup", hung_up), **quit_figures("quit_terminal_closed", closed),
            **quit_figures("quit_loading", loading), "hang_up_orphans": sum(r["orphans"] for r in every)}


def remote_process(starts: int) -> dict[str, float]:
    """The real app on a remote server (an OpenAI-compatible one on loopback), quit with ctrl+q and
    SIGTERM."""
    from bench.fault_server import FaultServer

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


def one_real_process(args: list[str], how, while_loading: bool = False) -> dict[str, float]:
    """One start, quit `how` once it has streamed for a second (or `while_loading`: once it says
    it is loading the engine, which is then being imported)."""
    import psutil

    app = PtyApp(args)
    main = psutil.Process(app.pid)
    peak = 0
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and not app.seen(b"loading" if while_loading else b"ready", last=20000):
            peak = max(peak, main.memory_info().rss)
            time.sleep(0.05)
        if not while_loading:
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
