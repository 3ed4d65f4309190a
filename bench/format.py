"""What an output format costs the workbench next to the raw engine, measured in one run:

    python -m bench.format [--quick] [--json] [--repeats N] [--tokens N]

`ratio_format_8`: 8 panes whose answers must be JSON valid against a schema ÷ 8 raw
`AsyncLLM.generate()` consumers asking for the same structured outputs (the same
`StructuredOutputsParams`), interleaved, medians of the repeats, each app run paired with the raw
run just before it (as bench/__main__.py measures its ratios). The schema asks for more items than
`--tokens` can hold, so the grammar never lets a stream end early: every stream writes exactly
that many tokens, without ignore_eos (which a grammar that has ended does not take).
The answers are compact JSON (vLLM's disable_any_whitespace, as the guide advises): with free
whitespace the demo model writes a newline for nearly every token (251 of 256, measured), which
measures drawing 8 panes of one-token lines, not the format. That case is measured too, as
`ratio_format_ws_8` (with `raw_tok_s_format_ws_8`, `tui_tok_s_format_ws_8`).
`ratio_free_8` is the same app on free text against raw consumers of free text (ignore_eos), in
the same run: what is the format's cost and what the app's.
`raw_format_cost_8` is what the constraint costs the engine itself: raw consumers with it ÷ raw
consumers without it. The app's time ends when the frame after the flush that took a pane's last
token has been written; it includes judging each answer against the schema at its end.

All figures come from this run on this machine, on the demo model (float32, fixed seeds).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from bench.common import PROMPTS, SETTLE_S, settle_like_the_app
from bench.module_main import Module, module_main

STREAMS = 8
TARGET = 0.93  # ratio_format_8 ≥ this
# Every item is at least two tokens ('"",'): 300 items cannot be written in 256 tokens.
SCHEMA = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 60},
                                           "verses": {"type": "array", "items": {"type": "string"}, "minItems": 300}},
          "required": ["title", "verses"]}


COMPACT, WHITESPACE, FREE = "compact", "whitespace", "free"  # the workloads: JSON two ways, free text


def output_format(kind: str = COMPACT):
    from tui.core.output_format import FREE_FORMAT, JSON_SCHEMA, OutputFormat

    if kind == FREE:
        return FREE_FORMAT
    return OutputFormat(JSON_SCHEMA, schema=SCHEMA, disable_any_whitespace=kind == COMPACT)


def sampling(tokens: int, index: int, kind: str = COMPACT):
    from tui.engine.params import Sampling

    return Sampling(output_format=output_format(kind)).with_values(max_tokens=tokens, seed=1000 + index)


async def raw_run(backend, tokens: int, kind: str = COMPACT, streams: int = STREAMS) -> float:
    """Raw consumers of the engine, with the same SamplingParams the app sends (the format's
    StructuredOutputsParams with it; without the format, ignore_eos, for as many tokens); they only
    count tokens. Returns tokens per second."""
    from tui.engine.protocol import Request

    engine = backend.engine  # the raw AsyncLLM, no layer of ours in between
    counts = [0] * streams

    async def consume(i: int) -> None:
        request = Request.of_prompt(PROMPTS[i % len(PROMPTS)], sampling(tokens, i, kind),
                                    f"raw-{time.monotonic_ns()}-{i}")
        params = backend.sampling_params(request.sampling)
        params.ignore_eos = kind == FREE  # free text would end early; the schema cannot
        engine_input = await backend.engine_input(request)  # the prompt as the app renders it
        async for out in engine.generate(engine_input, params, request.request_id):
            counts[i] += len(out.outputs[0].token_ids)

    start = time.perf_counter()
    await asyncio.gather(*(consume(i) for i in range(streams)))
    elapsed = time.perf_counter() - start
    assert all(c == tokens for c in counts), counts
    return sum(counts) / elapsed


async def app_run(backend, tokens: int, kind: str = COMPACT, streams: int = STREAMS) -> float:
    """The real app, `streams` panes with the schema as their format (`kind`; FREE: free text to as
    many tokens), run at once (ctrl+r), until every pane's last token is on screen. Returns tokens
    per second."""
    from bench.runs import Timing, pane_states, until, workbench

    states = pane_states(streams, tokens, overrides={"min_tokens": str(tokens)} if kind == FREE else None)
    if kind != FREE:  # free text would end early; the schema cannot
        for state in states:
            state.output_format = output_format(kind)
    timing = Timing()
    app = workbench(backend, states, timing)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await asyncio.sleep(SETTLE_S)
        settle_like_the_app()
        shown = app.workbench.panes()
        start = time.perf_counter()
        app.simulate_key("ctrl+r")
        await until(lambda: len(timing.on_screen) == streams, timeout=600)
        end = max(timing.on_screen.values())
        total = sum(p.figures.tokens for p in shown)
        assert total == streams * tokens, total
        if kind != FREE:
            judged = [p.reply.reply.verdict for p in shown]
            assert all(v is not None and v.valid is False for v in judged), judged  # cut off: judged, not valid
        return total / (end - start)


async def measure(backend, repeats: int, tokens: int, log) -> dict[str, float]:
    """Interleaved, `repeats` times: raw and the app without a format (free text); with compact
    JSON; with JSON of free whitespace."""
    runs: dict[str, list[float]] = {"raw_free": [], "app_free": [], "raw": [], "app": [], "raw_ws": [], "app_ws": []}
    for repeat in range(repeats):
        runs["raw_free"].append(await raw_run(backend, tokens, FREE))
        runs["app_free"].append(await app_run(backend, tokens, FREE))
        runs["raw"].append(await raw_run(backend, tokens, COMPACT))
        runs["app"].append(await app_run(backend, tokens, COMPACT))
        runs["raw_ws"].append(await raw_run(backend, tokens, WHITESPACE))
        runs["app_ws"].append(await app_run(backend, tokens, WHITESPACE))
        log(f"  repeat {repeat + 1}: " + ", ".join(f"{name} {values[-1]:.0f}" for name, values in runs.items())
            + " tok/s")
    # Each app run is paired with the raw run just before it: the machine's speed drifts.
    results = {
        "raw_tok_s_8": statistics.median(runs["raw_free"]),
        "tui_tok_s_8": statistics.median(runs["app_free"]),
        # the same app without a format, in the same run: what is the format's and what the app's
        "ratio_free_8": statistics.median(a / r for r, a in zip(runs["raw_free"], runs["app_free"])),
        "raw_tok_s_format_8": statistics.median(runs["raw"]),
        "tui_tok_s_format_8": statistics.median(runs["app"]),
        "ratio_format_8": statistics.median(a / r for r, a in zip(runs["raw"], runs["app"])),
        "raw_format_cost_8": statistics.median(r / f for f, r in zip(runs["raw_free"], runs["raw"])),
        "raw_tok_s_format_ws_8": statistics.median(runs["raw_ws"]),
        "tui_tok_s_format_ws_8": statistics.median(runs["app_ws"]),
        "ratio_format_ws_8": statistics.median(a / r for r, a in zip(runs["raw_ws"], runs["app_ws"])),
    }
    log(f"ratio_format_8 {results['ratio_format_8']:.3f} (target ≥ {TARGET}), compact JSON; the same app on free "
        f"text {results['ratio_free_8']:.3f}; with free whitespace "
        f"(a newline a token) {results['ratio_format_ws_8']:.3f}; the constraint's cost to the raw engine: "
        f"{results['raw_format_cost_8']:.3f} of its free-text throughput")
    return results


async def run(repeats: int, tokens: int, log) -> dict[str, float | str]:
    from tui import render
    from tui.demo_model import ensure_demo_model
    from tui.engine.vllm_backend import VLLMBackend

    results: dict[str, float | str] = {"render_path": render.current_path().name}
    log("starting the engine on the demo model…")
    backend = VLLMBackend([], model=str(ensure_demo_model()))
    await backend.start()
    try:
        started = time.perf_counter()
        for kind in (COMPACT, WHITESPACE):  # each grammar compiled once, as a pane's first run does
            await raw_run(backend, 16, kind, streams=1)
        log(f"the schemas' first requests (their grammars compiled): {time.perf_counter() - started:.2f} s")
        results.update(await measure(backend, repeats, tokens, log))
    finally:
        await backend.shutdown()
    return results


def main(argv: list[str] | None = None) -> int:
    module = Module("format", __doc__.splitlines()[0], STREAMS, repeats=21, judged="ratio_format_8", target=TARGET)
    return module_main(module, run, argv)


if __name__ == "__main__":
    sys.exit(main())
