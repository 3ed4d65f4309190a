"""The engine X-ray on the real engine: the scheduler's queue, the prefix cache, per-request
timings, and agreement with vLLM's own metrics (its Prometheus registry, read in this process)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.app import make_app, send_key, wait_until, saved_pane, session_of
from tui.batch import Job, run_jobs
from tui.engine.params import Sampling
from tui.engine.protocol import Request
from tui.figures import DONE

pytestmark = pytest.mark.engine

PROMPTS = ["The future of artificial intelligence is", "In a galaxy far, far away", "The key to happiness is"]


def max_num_seqs(engine) -> int:
    return engine._engine.vllm_config.scheduler_config.max_num_seqs  # noqa: SLF001 - the engine's own setting


def long_prompt() -> str:
    """About 500 tokens, new to the prefix cache (a fresh word first)."""
    return f"{uuid.uuid4().hex} " + "The quick brown fox jumps over the lazy dog and runs into the forest. " * 20


@pytest.mark.ui
async def test_more_panes_than_seqs_show_running_and_waiting(engine):
    seqs = max_num_seqs(engine)
    assert seqs == 4  # the session's engine runs with --max-num-seqs 4 (conftest.py)
    count = 2 * seqs
    panes = [saved_pane(prompt=PROMPTS[i % 3], overrides={"max_tokens": "400", "min_tokens": "400", "seed": str(i)})
             for i in range(count)]
    app = make_app(engine, session=session_of(panes), xray=True)
    seen: set[tuple[int | None, int | None]] = set()
    lines: set[str] = set()
    async with app.run_test(size=(200, 50)):
        bench = app.workbench
        send_key(app, "ctrl+r")

        def sample() -> bool:
            seen.add((bench.xray.snapshot.running, bench.xray.snapshot.waiting))
            lines.add(str(bench.engine_line.render()))
            return all(p.figures.state == DONE for p in bench.panes())

        await wait_until(sample, timeout=240, step=0.05)
        assert (seqs, seqs) in seen, seen  # 4 running and 4 waiting at some point
        assert any(f"{seqs} running · {seqs} waiting: the engine is full" in line for line in lines)
        queued = [p.figures.queued_ms for p in bench.panes()]
        assert all(q is not None for q in queued)
        # The last four waited for the first four to finish 400 tokens each.
        assert sorted(queued)[-1] > 10 * max(sorted(queued)[0], 1.0), queued
        await wait_until(lambda: bench.xray.snapshot.running == 0, timeout=5)  # idle again


@pytest.mark.ui
async def test_a_second_pane_with_the_same_long_prompt_is_served_from_the_prefix_cache(engine):
    """A duplicated pane regenerates the same question's answer (f5 with nothing typed): the
    question is in the prefix cache; a second turn finds the first turn's prompt there too."""
    prompt = long_prompt()
    block = engine._engine.vllm_config.cache_config.block_size  # noqa: SLF001 - the cache's unit
    app = make_app(engine, session=session_of([saved_pane(prompt=prompt, overrides={"max_tokens": "8"})]),
                   xray=True)
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        first = bench.panes()[0]
        send_key(app, "f5")
        await wait_until(lambda: first.figures.state == DONE, timeout=60)
        first_figures = first.figures
        assert first_figures.cached_tokens == 0 and first_figures.prompt_tokens > 400
        await bench.action_duplicate_pane()
        second = bench.panes()[1]
        assert second.state.conversation.last().content == first.answer  # the same thread
        assert second.figures.state == DONE  # the copied answer, until f5 regenerates it
        send_key(app, "f5")
        await wait_until(lambda: second.state.conversation.siblings(second.reply) == (2, 2)  # regenerated
                         and second.figures.state == DONE, timeout=60)
        await pilot.pause()
        assert second.figures.prompt_tokens == first_figures.prompt_tokens
        assert 0 < second.figures.cached_tokens <= second.figures.prompt_tokens
        status = str(second.query_one(".pane-engine").text)
        assert f"cached {second.figures.cached_tokens}/{second.figures.prompt_tokens}" in status
        await wait_until(lambda: (bench.xray.snapshot.prefix_hit_rate or 0) > 0, timeout=5)
        # A follow-up question in the first pane: the conversation so far is a prefix of its prompt.
        first.editor.focus()
        first.set_draft("And then?")
        send_key(app, "f5")
        await wait_until(lambda: len(first.state.thread()) == 4 and first.figures.state == DONE, timeout=60)
        follow_up = first.figures
        assert follow_up.prompt_tokens > first_figures.prompt_tokens
        assert follow_up.cached_tokens >= first_figures.prompt_tokens // block * block > 0


@pytest.mark.ui
async def test_request_timings_fit_inside_what_the_app_measured(engine):
    record = saved_pane(prompt=PROMPTS[0], overrides={"max_tokens": "60", "min_tokens": "60"})
    app = make_app(engine, session=session_of([record]))
    async with app.run_test(size=(160, 40)):
        pane = app.workbench.panes()[0]
        send_key(app, "f5")
        await wait_until(lambda: pane.figures.state == DONE, timeout=60)
        f = pane.figures
        assert None not in (f.queued_ms, f.prefill_ms, f.decode_ms, f.ttft_ms)
        assert f.queued_ms >= 0 and f.prefill_ms > 0 and f.decode_ms > 0
        # The engine received the request after the app sent it, and the first token reached the
        # app after the engine made it: the engine's part of TTFT is inside the app's.
        assert f.queued_ms + f.prefill_ms <= f.ttft_ms
        assert f.cached_tokens is not None and f.prompt_tokens and f.prompt_tokens > 0


def vllm_figures() -> dict[str, float]:
    from vllm.v1.metrics.reader import Counter, Gauge, get_metrics_snapshot

    figures: dict[str, float] = {}
    for metric in get_metrics_snapshot():
        if isinstance(metric, (Counter, Gauge)):
            figures[metric.name] = figures.get(metric.name, 0) + metric.value
    return figures


async def test_the_recorder_agrees_with_vllms_own_metrics(engine):
    """Read between engine steps (in the event loop that records them), both are of the same step.
    Counters are compared by how much they grew in this test: other tests share the engine (the
    benchmark's smoke test takes the stat logger out for a run)."""
    recorder = engine.recorder

    def ours() -> dict[str, float]:
        return {"vllm:num_requests_running": recorder.running, "vllm:num_requests_waiting": recorder.waiting,
                "vllm:kv_cache_usage_perc": recorder.kv_usage, "vllm:prompt_tokens": recorder.prompt_tokens,
                "vllm:generation_tokens": recorder.gen_tokens, "vllm:prefix_cache_queries": recorder.prefix_queries,
                "vllm:prefix_cache_hits": recorder.prefix_hits, "vllm:num_preemptions": recorder.preemptions}

    counters = ("vllm:prompt_tokens", "vllm:generation_tokens", "vllm:prefix_cache_queries",
                "vllm:prefix_cache_hits", "vllm:num_preemptions")
    before_ours, before_theirs = ours(), vllm_figures()
    comparisons = 0
    mismatches: list[tuple] = []

    async def consume(index: int, check: bool) -> None:
        nonlocal comparisons
        sampling = Sampling().with_values(max_tokens=80, min_tokens=80, seed=index)
        async for _ in engine.stream(Request.of_prompt(PROMPTS[index % 3], sampling, f"agree-{uuid.uuid4().hex}-{index}")):
            if not check:
                continue
            theirs, mine = vllm_figures(), ours()
            for name in counters:
                theirs[name] -= before_theirs[name]
                mine[name] -= before_ours[name]
            for name, value in mine.items():
                if theirs.get(name) != pytest.approx(value):
                    mismatches.append((name, value, theirs.get(name)))
            comparisons += 1

    await asyncio.gather(*(consume(i, check=i == 0) for i in range(6)))  # 6 on 4 seqs: some wait
    assert comparisons >= 40
    assert mismatches == []
    assert ours()["vllm:generation_tokens"] - before_ours["vllm:generation_tokens"] == 6 * 80
    assert recorder.kv_blocks and recorder.kv_blocks > 0  # known once the engine measured its memory


async def test_batch_with_stats_adds_the_engine_fields(engine):
    jobs = [Job(i, PROMPTS[i], Sampling().with_values(max_tokens=12, seed=i)) for i in range(3)]
    records: list[dict] = []
    assert await run_jobs(engine, jobs, records.append, stats=True) == 0
    for record in records:
        assert {"queued_ms", "prefill_ms", "decode_ms", "prompt_tokens", "cached_tokens"} <= set(record)
        assert record["prefill_ms"] is not None and record["prompt_tokens"] > 0
