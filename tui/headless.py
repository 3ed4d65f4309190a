"""`vllm-panes --headless`: stream prompts to the terminal, like vLLM's async_llm_streaming example."""

from __future__ import annotations

import sys

from tui import exit_codes
from tui.engine.params import Sampling
from tui.engine.protocol import Backend, BackendError, EngineDead, RequestRejected
from tui.figures import Figures, snapshot_line
from tui.lifecycle import run_with_backend
from tui.terminal import Terminal
from tui.text import one_line, printable

REFERENCE_PROMPTS = (
    "The future of artificial intelligence is",
    "In a galaxy far, far away",
    "The key to happiness is",
)


async def run_headless(
    backend: Backend, prompts: list[str], sampling: Sampling, term: Terminal, stats: bool = False
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
            except EngineDead as exc:
                print(f"\nvllm-panes: {one_line(exc)}", file=err)
                return exit_codes.FAILED
            except BackendError as exc:  # this request failed; the others may not
                failures += 1
                label = "Rejected" if isinstance(exc, RequestRejected) else "Failed"
                print(f"\n{label}: {one_line(exc)}", file=out)
                continue
            if last is not None:
                print(f"\nGeneration complete: {Figures.of(last).line(with_state=False)}", file=out)
                if stats:
                    print(f"In the engine: {engine_line(Figures.of(last))}", file=out)
        print("\nAll streaming examples completed.", file=out, flush=True)
        if stats:
            print(await engine_summary(backend), file=out, flush=True)
        return exit_codes.FAILED if failures else exit_codes.OK

    return await run_with_backend(backend, term, body)


def engine_line(figures: Figures) -> str:
    return " · ".join(figures.engine_parts()) or "not reported by this backend"


async def engine_summary(backend: Backend) -> str:
    """The engine's totals at the end of a run (--stats), as one line."""
    source = getattr(backend, "stats", None)
    if source is None:
        return "engine · no figures from this backend"
    return one_line(snapshot_line(await source.snapshot(), totals=True), 400)


if __name__ == "__main__":  # pragma: no cover - use `vllm-panes --headless`
    sys.exit("use: vllm-panes --headless")
