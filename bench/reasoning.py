"""What showing a reasoning model's thinking costs the workbench next to the raw engine, in one run:

    python -m bench.reasoning [--quick] [--json] [--repeats N] [--tokens N]

`ratio_reasoning_8`: 8 panes on the demo's thinking adapter with its reasoning parser on (each
answer's thinking set apart, drawn above it, then folded) ÷ 8 raw `AsyncLLM.generate()` consumers
of the same requests that run the same parser over every delta (`tui.engine.reasoning.ThinkingSplit`,
as vLLM's server does) and keep nothing else: what the app adds is drawing, figures and the thread,
not the split itself. Interleaved, medians of the repeats, each app run paired with the raw run just
before it. Every stream writes exactly `--tokens` tokens (ignore_eos, as the main benchmark), so an
answer thinks, closes its thinking and answers on, as the adapter writes them.
`raw_parser_cost_8` is what the parser costs raw consumers: with it ÷ without it (no split).

All figures come from this run on this machine, on the demo model (float32, fixed seeds).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from bench.common import workload
from bench.module_main import Module, module_main
from bench.runs import app_run, thread

STREAMS = 8
TARGET = 0.93  # ratio_reasoning_8 ≥ this


def think_target(backend):
    from tui.demo_model import THINK_ADAPTER_NAME

    return next(t for t in backend.targets() if t.adapter == THINK_ADAPTER_NAME)


async def raw_run(backend, tokens: int, split: bool = True, streams: int = STREAMS) -> tuple[float, int]:
    """Raw consumers of the engine on the thinking adapter, with the requests the app sends;
    `split`: each delta through the reasoning parser the engine names, as the app's backend and
    vLLM's server feed it. Returns tokens per second and how many characters were thinking."""
    from tui.engine.protocol import Request

    engine = backend.engine
    counts, thought = [0] * streams, [0] * streams
    lora = await backend.lora_request(engine, think_target(backend).adapter)

    async def consume(i: int) -> None:
        sampling = workload(tokens, i)
        params = backend.sampling_params(sampling)
        request = Request.of(thread(0, i), sampling, f"raw-think-{time.monotonic_ns()}-{i}")
        engine_input = await backend.engine_input(request)
        splitter = backend.thinking_split(sampling) if split else None  # the app's own, a new one per stream
        async for out in engine.generate(engine_input, params, request.request_id, lora_request=lora):
            completion = out.outputs[0]
            counts[i] += len(completion.token_ids)
            if splitter is not None:
                splitter.after_prompt(out.prompt_token_ids)
                thinking, _ = splitter.feed(completion.text, completion.token_ids)
                thought[i] += len(thinking)

    start = time.perf_counter()
    await asyncio.gather(*(consume(i) for i in range(streams)))
    elapsed = time.perf_counter() - start
    assert all(c == tokens for c in counts), counts
    return sum(counts) / elapsed, sum(thought)


async def measure(backend, repeats: int, tokens: int, log) -> dict[str, float]:
    """Interleaved, `repeats` times: raw consumers without the parser, with it, and the app."""
    target = think_target(backend)
    runs: dict[str, list[float]] = {"raw_plain": [], "raw": [], "app": []}
    backend.fixed_length = True  # every stream writes exactly `tokens`, as in the main benchmark
    try:
        for repeat in range(repeats):
            runs["raw_plain"].append((await raw_run(backend, tokens, split=False))[0])
            speed, thought = await raw_run(backend, tokens)
            assert thought > 0, "the adapter did not think: the parser set nothing apart"
            runs["raw"].append(speed)
            runs["app"].append(await app_run(backend, STREAMS, tokens, targets=[target]))
            log(f"  repeat {repeat + 1}: " + ", ".join(f"{name} {values[-1]:.0f}" for name, values in runs.items())
                + " tok/s")
    finally:
        backend.fixed_length = False
    results = {
        "raw_tok_s_reasoning_8": statistics.median(runs["raw"]),
        "tui_tok_s_reasoning_8": statistics.median(runs["app"]),
        "ratio_reasoning_8": statistics.median(a / r for r, a in zip(runs["raw"], runs["app"])),
        "raw_parser_cost_8": statistics.median(r / p for p, r in zip(runs["raw_plain"], runs["raw"])),
    }
    log(f"ratio_reasoning_8 {results['ratio_reasoning_8']:.3f} (target ≥ {TARGET}); the parser's cost to raw "
        f"consumers: {results['raw_parser_cost_8']:.3f} of their throughput without it")
    return results


async def thinking_backend():
    """The engine as `--demo` starts it: the thinking adapter and its reasoning parser."""
    from tui.demo_model import THINK_ADAPTER_NAME, ensure_demo_model, think_adapter_path, think_parser_flags
    from tui.engine.lora import lora_flags
    from tui.engine.vllm_backend import VLLMBackend

    adapters = {THINK_ADAPTER_NAME: str(think_adapter_path())}
    flags = think_parser_flags()
    backend = VLLMBackend(flags + lora_flags(adapters, flags), model=str(ensure_demo_model()), adapters=adapters)
    await backend.start()
    return backend


async def run(repeats: int, tokens: int, log) -> dict[str, float | str]:
    from tui import render

    results: dict[str, float | str] = {"render_path": render.current_path().name}
    log("starting the engine on the demo model, with the thinking adapter and its parser…")
    backend = await thinking_backend()
    try:
        await raw_run(backend, 8, streams=1)  # the adapter loaded, as a pane's first run does
        results.update(await measure(backend, repeats, tokens, log))
    finally:
        await backend.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    module = Module("reasoning", __doc__.splitlines()[0], STREAMS, repeats=15, judged="ratio_reasoning_8", target=TARGET)
    return module_main(module, run, argv)


if __name__ == "__main__":
    sys.exit(main())
