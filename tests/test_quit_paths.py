"""Every way out of the real app ends it with nothing left: a terminal that vanishes without a
hang-up (its input just ends), a quit while the engine is still loading, and a benchmark that is
stopped. How long each takes is the benchmark's business (quit_*_s); here: that each one ends, with
its exit code, before a generous bound, and leaves no process."""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest

from tests.support.fault_server import FaultServer
from tests.support.processes import PtyApp, session_members
from tui.engine.protocol import EngineState
from tui.engine.vllm_backend import VLLMBackend
from tui.terminal import HangUpWatch

ENDS_WITHIN_S = 30  # a bound that says "it ends", not how fast
LOADS_WITHIN_S = 240  # the demo engine loads in about a minute on a busy 2-core machine
HANG_UP_EXIT = 128 + signal.SIGHUP


def home(tmp_path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"), "VLLM_CPU_KVCACHE_SPACE": "1"}


def close_terminal_without_hang_up(app: PtyApp) -> None:
    """The process holding the terminal is gone (its master side is closed) and no SIGHUP comes:
    the app is in a session of its own, so the terminal is not its controlling one."""
    app.close_terminal()


def assert_ends_leaving_nothing(app: PtyApp, code: int) -> None:
    assert app.wait_gone(timeout=ENDS_WITHIN_S) is not None, f"still running: {app.survivors()}"
    assert app.proc.wait(5) == code
    assert not app.seen(b"Traceback")


def names_until_gone(app: PtyApp) -> set[str]:
    """The names of the app's processes, watched until none is left (AssertionError if some are
    still there after ENDS_WITHIN_S)."""
    names = set()
    deadline = time.monotonic() + ENDS_WITHIN_S
    while members := app.survivors():
        assert time.monotonic() < deadline, f"still running: {members}"
        for pid in members:
            try:
                names.add(psutil.Process(pid).name())
            except psutil.Error:
                pass
        time.sleep(0.02)
    return names


# -- the watch on the terminal ---------------------------------------------------------------------
def test_the_hang_up_watch_tells_when_the_terminal_goes_and_not_before():
    master, slave = pty.openpty()
    gone = threading.Event()
    watch = HangUpWatch(slave, gone.set)
    watch.start()
    try:
        assert not gone.wait(0.3)  # a live terminal with nothing typed is no hang-up
        os.close(master)
        assert gone.wait(ENDS_WITHIN_S)
    finally:
        watch.stop()
        os.close(slave)


def test_a_stopped_hang_up_watch_ends_without_telling():
    master, slave = pty.openpty()
    told = threading.Event()
    watch = HangUpWatch(slave, told.set)
    watch.start()
    watch.stop()
    assert watch.ended(ENDS_WITHIN_S)
    os.close(master)
    assert not told.is_set()
    os.close(slave)


# -- the real app on a remote server (quick) -------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    srv = FaultServer().start()
    yield srv
    srv.stop()


@pytest.mark.subprocess
@pytest.mark.remote
def test_a_terminal_gone_without_a_hang_up_ends_the_app_as_a_hang_up_would(server, tmp_path):
    app = PtyApp(["--base-url", server.url(), "--fresh"], env=home(tmp_path))
    try:
        assert app.wait_for(b"ready", timeout=60), bytes(app.screen[-2000:])
        close_terminal_without_hang_up(app)
        assert_ends_leaving_nothing(app, HANG_UP_EXIT)
    finally:
        app.close()


# -- the benchmark, stopped --------------------------------------------------------------------------
BENCH_LIKE = textwrap.dedent("""
    import sys, time
    from bench.processes import PtyApp, end_started_processes_when_stopped

    end_started_processes_when_stopped()
    app = PtyApp(["--base-url", sys.argv[1], "--fresh"])
    assert app.wait_for(b"ready", timeout=60), bytes(app.screen[-2000:])
    print(app.pid, flush=True)
    time.sleep(600)
""")


@pytest.mark.subprocess
@pytest.mark.remote
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_benchmark_ends_every_process_it_started(server, tmp_path, signum):
    bench = subprocess.Popen([sys.executable, "-c", BENCH_LIKE, server.url()], stdout=subprocess.PIPE,
                             text=True, start_new_session=True, env={**os.environ, **home(tmp_path)})
    app_pid = None
    try:
        app_pid = int(bench.stdout.readline())
        assert session_members(app_pid)  # its app runs, in a session of its own
        bench.send_signal(signum)
        assert bench.wait(ENDS_WITHIN_S) == -signum  # it dies of the signal, as it would have
        # By the time it has, what it started is gone too (not left to notice its terminal went).
        assert session_members(app_pid) == []
    finally:
        if bench.poll() is None:
            bench.kill()
        for pid in session_members(app_pid) if app_pid else []:
            os.kill(pid, signal.SIGKILL)


# -- the real app on the demo model -------------------------------------------------------------------
def start_demo(tmp_path) -> PtyApp:
    return PtyApp(["--demo", "--fresh", "--max-tokens", "1900", "--min-tokens", "1900"], env=home(tmp_path))


def stream(app: PtyApp) -> None:
    assert app.wait_for(b"ready", timeout=LOADS_WITHIN_S), bytes(app.screen[-2000:])
    app.run_prompt(b"Tell me about the sea")
    assert app.wait_for(b"streaming", timeout=30)


@pytest.mark.engine
@pytest.mark.subprocess
def test_a_terminal_gone_without_a_hang_up_mid_stream_ends_the_app_and_its_engine(demo_model, tmp_path):
    app = start_demo(tmp_path)
    try:
        stream(app)
        close_terminal_without_hang_up(app)
        assert_ends_leaving_nothing(app, HANG_UP_EXIT)
    finally:
        app.close()


@pytest.mark.engine
@pytest.mark.subprocess
@pytest.mark.parametrize("how", ["ctrl+q", signal.SIGTERM, "terminal gone"])
def test_quitting_while_the_engine_loads_ends_the_app_and_starts_no_engine(demo_model, tmp_path, how):
    """Quit while vLLM is being imported: the build is given up, and no EngineCore is started
    afterwards by a build left running (the app used to wait for it, or leave it behind)."""
    app = start_demo(tmp_path)
    try:
        assert app.wait_for(b"loading", timeout=60), bytes(app.screen[-2000:])
        assert not app.seen(b"ready", last=10**7)
        if how == "ctrl+q":
            app.write(b"\x11")
            expected = 0
        elif how == "terminal gone":
            close_terminal_without_hang_up(app)
            expected = HANG_UP_EXIT
        else:
            os.kill(app.pid, how)
            expected = 128 + how
        names = names_until_gone(app)
        assert not [name for name in names if "EngineCor" in name]  # VLLM::EngineCore, cut to 15 letters
        assert app.proc.wait(5) == expected
    finally:
        app.close()


def engine_processes(known: set[int]) -> list[int]:
    """This process's descendants started since `known` was taken, but for resource trackers."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid not in known and proc.status() != psutil.STATUS_ZOMBIE \
                    and not any("resource_tracker" in part for part in proc.cmdline()):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.engine
async def test_an_engine_stopped_while_its_processes_start_leaves_none(demo_model):
    """Stopped once its build has begun starting EngineCore (vLLM already imported, as in this
    process): its processes are stopped as they appear, the build fails, nothing is left."""
    known = {p.pid for p in psutil.Process().children(recursive=True)}
    backend = VLLMBackend([], model=str(demo_model))
    start = asyncio.ensure_future(backend.start())
    try:
        for _ in range(LOADS_WITHIN_S * 20):
            if engine_processes(known) or start.done():
                break
            await asyncio.sleep(0.05)
        assert engine_processes(known) and not start.done(), "EngineCore was never seen starting"
        start.cancel()
        await asyncio.wait_for(backend.shutdown(), ENDS_WITHIN_S)
        assert backend.state is EngineState.STOPPED
        assert engine_processes(known) == [] and backend.child_pids() == []
    finally:
        if not start.done():
            start.cancel()
        await backend.shutdown()
