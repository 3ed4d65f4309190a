"""`vllm-panes --headless`: stream prompts to the terminal, like vLLM's async_llm_streaming example."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable

from tui.engine.params import Sampling
from tui.engine.protocol import Backend, BackendError, EngineDead, EngineState, RequestRejected
from tui.signals import QUIT_SIGNALS, quit_signals_ignored
from tui.terminal import Terminal
from tui.text import printable

REFERENCE_PROMPTS = (
    "The future of artificial intelligence is",
    "In a galaxy far, far away",
    "The key to happiness is",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_SIGNAL = 128


async def run_with_backend(backend: Backend, term: Terminal, body: Callable[[], Awaitable[int]]) -> int:
    """Start the backend, run `body`, and always shut the backend down.

    SIGTERM, SIGHUP and SIGINT cancel the body; the engine is stopped (quit signals are ignored
    while that happens) and the exit code is 128 + the signal's number.
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
            print(f"[engine] {text}", file=err, flush=True)

        try:
            await backend.start(progress)
        except BackendError as exc:
            print(f"vllm-panes: {exc}", file=err)
            return EXIT_FAILED
        return await body()
    except asyncio.CancelledError:
        if not stopped_by:
            raise
        print(f"\nInterrupted ({signal.Signals(stopped_by[0]).name}); shutting down.", file=err)
        return EXIT_SIGNAL + stopped_by[0]
    finally:
        for signum in QUIT_SIGNALS:
            loop.remove_signal_handler(signum)
        with quit_signals_ignored():
            await asyncio.shield(backend.shutdown())
        if term.log_path is not None:
            print(f"(vLLM's log: {term.log_path})", file=err)
        try:
            term.out.flush()
        except OSError:  # the terminal may be gone (SIGHUP)
            pass


async def run_headless(
    backend: Backend, prompts: list[str], sampling: Sampling, term: Terminal
) -> int:
    out, err = term.out, term.err
    prompts = list(prompts) or list(REFERENCE_PROMPTS)

    async def body() -> int:
        failures = 0
        print(f"Running {len(prompts)} streaming example(s) with {sampling.summary()}", file=out)
        for index, prompt in enumerate(prompts, 1):
            print(f"\n{'=' * 60}\nExample {index}/{len(prompts)}\n{'=' * 60}", file=out)
            print(f"Prompt: {printable(prompt)!r}", file=out)
            print("Response: ", end="", file=out, flush=True)
            last = None
            try:
                async for delta in backend.stream(prompt, sampling, f"headless-{index}"):
                    if delta.text:
                        out.write(printable(delta.text))
                        out.flush()
                    last = delta
            except RequestRejected as exc:
                failures += 1
                print(f"\nRejected: {exc}", file=out)
                continue
            except EngineDead as exc:
                print(f"\nvllm-panes: {exc}", file=err)
                return EXIT_FAILED
            if last is not None:
                print(f"\nGeneration complete: {_figures(last)}", file=out)
        print("\nAll streaming examples completed.", file=out, flush=True)
        return EXIT_FAILED if failures else EXIT_OK

    return await run_with_backend(backend, term, body)


def _figures(delta) -> str:
    parts = [f"{delta.tokens} tokens", f"finish {delta.finish_reason}"]
    if delta.ttft is not None:
        parts.append(f"TTFT {delta.ttft * 1000:.0f} ms")
    if delta.tok_per_s is not None:
        parts.append(f"{delta.tok_per_s:.0f} tok/s")
    return ", ".join(parts)


if __name__ == "__main__":  # pragma: no cover - use `vllm-panes --headless`
    sys.exit("use: vllm-panes --headless")
