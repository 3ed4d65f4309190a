"""The backend's life cycle: the targets named on the command line, checked before anything loads;
and, for the commands without a UI (headless, batch), start, run, stop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

from tui import exit_codes
from tui.engine.protocol import LOCAL, Backend, BackendError, EngineState, Target
from tui.signals import QUIT_SIGNALS, quit_signals_ignored
from tui.terminal import Terminal
from tui.text import one_line


async def named_targets(backend: Backend, names: list[Target | str], term: Terminal) -> list[Target] | None:
    """The targets --target names, servers reached first when a name needs them (the engine is not
    loaded); None once a name that is no target has been reported (the command exits 2)."""
    from tui.targets import TargetError, resolve_names

    try:
        return await resolve_names(backend, names)
    except TargetError as exc:
        print(f"vllm-panes: error: --target: {one_line(exc, 2000)}", file=term.err)
        await backend.shutdown()
        return None


async def run_with_backend(backend: Backend, term: Terminal, body: Callable[[], Awaitable[int]]) -> int:
    """Start the backend, run `body`, and always shut the backend down.

    SIGTERM, SIGHUP and SIGINT cancel the body; the engine is stopped (quit signals are ignored
    while that happens) and the exit code is 128 + the signal's number. Output whose reader has
    gone ends the run the same way, as SIGPIPE.
    """
    err = term.err
    stopped_by: list[int] = []
    main_task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        stopped_by.append(signum)
        if main_task is not None:
            main_task.cancel()

    for signum in QUIT_SIGNALS:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        def progress(state: EngineState, text: str) -> None:
            print(f"[engine] {one_line(text)}", file=err, flush=True)

        try:
            await backend.start(progress)
        except BackendError as exc:
            print(f"vllm-panes: {one_line(exc)}", file=err)
            return exit_codes.FAILED
        return await body()
    except BrokenPipeError:
        # Whoever read the output has gone (`| head`): stop quietly, as commands in a pipeline do.
        return exit_codes.for_signal(signal.SIGPIPE)
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        print(f"\nInterrupted ({signal.Signals(stopped_by[0]).name}); shutting down.", file=err)
        return exit_codes.for_signal(stopped_by[0])
    finally:
        for signum in QUIT_SIGNALS:
            loop.remove_signal_handler(signum)
        with quit_signals_ignored():
            await asyncio.shield(backend.shutdown())
        if term.log_path is not None:
            whose = "vLLM's log" if backend.source == LOCAL else "the log"  # no vLLM here with a server
            print(f"({whose}: {one_line(term.log_path)})", file=err)
        try:
            term.out.flush()
        except OSError:  # the terminal may be gone (SIGHUP)
            pass
