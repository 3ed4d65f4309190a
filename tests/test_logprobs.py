"""Token probabilities: vLLM's and a server's shapes become TokenLogprobs; the real engine streams
the same logprobs as a run without streaming; headless and batch print and write them; the
headless replay of the reference example is the reference's, byte for byte."""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.processes import run_cli
from tui.batch import Job, run_jobs
from tui.engine.logprobs import (
    from_openai_chat,
    from_openai_completion,
    from_vllm,
    mean_logprob,
    mode_label,
    perplexity,
    token_record,
)
from tui.engine.params import ParamError, Sampling
from tui.engine.protocol import Request
from tui.headless import REFERENCE_PROMPTS
from tui.text import token_text


def lp(logprob, rank, text):
    return SimpleNamespace(logprob=logprob, rank=rank, decoded_token=text)


# -- shapes -----------------------------------------------------------------------------------------
def test_vllm_positions_sampled_token_among_the_top():
    # vLLM lists the sampled token once, first, with its rank, then the top-k without it
    position = {7: lp(-0.5, 2, " the"), 3: lp(-0.2, 1, " a"), 9: lp(-3.0, 3, " his")}
    (token,) = from_vllm([7], [position], k=3)
    assert (token.token_id, token.text, token.logprob, token.rank) == (7, " the", -0.5, 2)
    assert [(a.token_id, a.text) for a in token.top] == [(3, " a"), (7, " the"), (9, " his")]
    assert token.probability == pytest.approx(math.exp(-0.5))


def test_vllm_positions_sampled_token_outside_the_top():
    position = {42: lp(-6.0, 57, "zz"), 3: lp(-0.2, 1, " a"), 9: lp(-3.0, 2, " his")}
    (token,) = from_vllm([42], [position], k=2)
    assert token.rank == 57 and [a.token_id for a in token.top] == [3, 9]


def test_openai_completion_shape():
    tokens = from_openai_completion({"tokens": [" the", "\n"], "token_logprobs": [-0.5, -1.0],
                                     "top_logprobs": [{" a": -0.2, " the": -0.5}, {"\n": -1.0, ".": -0.9}]})
    assert [t.text for t in tokens] == [" the", "\n"]
    assert [t.rank for t in tokens] == [2, 2]
    assert [a.text for a in tokens[0].top] == [" a", " the"]
    assert tokens[0].token_id is None


def test_openai_chat_shape():
    tokens = from_openai_chat({"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105],
                                            "top_logprobs": [{"token": "Hi", "logprob": -0.1},
                                                             {"token": "Hello", "logprob": -2.5}]}]})
    assert [(t.text, t.rank, len(t.top)) for t in tokens] == [("Hi", 1, 2)]


@pytest.mark.parametrize("bad", [
    {"tokens": ["a"], "token_logprobs": ["-1"]},
    {"tokens": ["a"], "token_logprobs": [float("nan")]},
    {"tokens": ["a"], "token_logprobs": [3.0]},  # a probability above 1
    {"tokens": ["a", "b"], "token_logprobs": [-1.0]},
    {"tokens": ["a"], "token_logprobs": [-1.0], "top_logprobs": [{"a": True}]},
    {"tokens": "ab", "token_logprobs": [-1.0, -1.0]},
])
def test_malformed_completion_logprobs_are_dropped(bad):
    assert from_openai_completion(bad) is None


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(
                        st.sampled_from(["tokens", "token_logprobs", "top_logprobs", "content", "token",
                                         "logprob", "a"]), children, max_size=4), max_leaves=20))
def test_any_server_logprobs_give_tokens_or_none(value):
    for parse in (from_openai_completion, from_openai_chat):
        result = parse(value)
        assert result is None or all(t.logprob <= 1e-6 for t in result)


def test_summary_and_json_record():
    tokens = from_vllm([1, 2], [{1: lp(-1.0, 1, "a")}, {2: lp(-math.inf, 9, "b")}], k=1)
    assert mean_logprob(tokens) == -1.0 and perplexity(-1.0) == pytest.approx(math.e)
    record = token_record(tokens[1])
    assert record == {"text": "b", "id": 2, "logprob": None, "rank": 9, "top": []}
    json.dumps(record, allow_nan=False)


def test_tokens_read_as_a_person_reads_them():
    assert token_text(" the") == "␣the"
    assert token_text("\n\n") == "↵↵"
    assert token_text("\x1b[31m") == "␛[31m"
    assert token_text("") == "∅"


def test_labels_say_which_distribution():
    assert "before temperature" in mode_label("raw_logprobs")
    assert "after temperature" in mode_label("processed_logprobs")
    assert "server" in mode_label(None)


def test_logprobs_bounds():
    with pytest.raises(ParamError):
        Sampling(logprobs=21)
    with pytest.raises(ParamError):
        Sampling(logprobs=True)
    assert Sampling(logprobs=5).logprobs == 5


# -- the real engine --------------------------------------------------------------------------------
@pytest.mark.engine
async def test_streamed_logprobs_equal_a_run_without_streaming(engine):
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    sampling = Sampling(logprobs=5, chat_template=False).with_values(max_tokens=40, seed=3)
    streamed = []
    async for delta in engine.stream(Request.of_prompt(REFERENCE_PROMPTS[0], sampling, f"lp-{uuid.uuid4().hex}")):
        streamed.extend(delta.logprobs or [])
    raw = engine._engine  # noqa: SLF001 - the raw AsyncLLM, asked once for the whole answer
    params = SamplingParams(**sampling.request_values, logprobs=5, output_kind=RequestOutputKind.FINAL_ONLY)
    final = None
    async for output in raw.generate(REFERENCE_PROMPTS[0], params, f"lp-final-{uuid.uuid4().hex}"):
        final = output.outputs[0]
    expected = from_vllm(final.token_ids, final.logprobs, 5)
    assert len(streamed) == len(expected) == len(final.token_ids) > 0
    assert [t.token_id for t in streamed] == list(final.token_ids)
    for ours, theirs in zip(streamed, expected):
        assert ours.logprob == pytest.approx(theirs.logprob, abs=1e-5)
        assert ours.rank == theirs.rank
        assert [a.token_id for a in ours.top] == [a.token_id for a in theirs.top]
        assert len(ours.top) == 5
    assert "".join(t.text for t in streamed)  # decoded pieces


@pytest.mark.engine
async def test_batch_writes_token_logprobs(engine):
    jobs = [Job(0, REFERENCE_PROMPTS[2], Sampling(logprobs=2).with_values(max_tokens=10, seed=1)),
            Job(1, REFERENCE_PROMPTS[2], Sampling().with_values(max_tokens=10, seed=1))]
    records: list[dict] = []
    assert await run_jobs(engine, jobs, records.append) == 0
    with_lp, without = records
    assert len(with_lp["token_logprobs"]) == with_lp["tokens"] == 10
    assert all(len(t["top"]) == 2 and t["id"] is not None for t in with_lp["token_logprobs"])
    assert with_lp["perplexity"] == pytest.approx(math.exp(-with_lp["mean_logprob"]), rel=1e-4)
    assert "token_logprobs" not in without
    assert with_lp["text"] == without["text"]  # asking for logprobs does not change the answer
    json.dumps(records, allow_nan=False)


# -- headless, the real command -----------------------------------------------------------------------
async def reference_answers(engine) -> list[str]:
    """The reference example's answers on this engine, made as it makes them: the prompt string
    to `AsyncLLM.generate`, its SamplingParams, DELTA output."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    answers = []
    for i, prompt in enumerate(REFERENCE_PROMPTS, 1):
        params = SamplingParams(max_tokens=100, temperature=0.8, top_p=0.95, seed=42,
                                output_kind=RequestOutputKind.DELTA)
        pieces = []
        async for output in engine._engine.generate(request_id=f"stream-example-{i}-{uuid.uuid4().hex}",  # noqa: SLF001
                                                     prompt=prompt, sampling_params=params):
            pieces.extend(c.text for c in output.outputs)
        answers.append("".join(pieces))
    return answers


@pytest.mark.engine
@pytest.mark.subprocess
async def test_headless_replays_the_reference_byte_for_byte(engine):
    result, left = await asyncio.to_thread(run_cli, ["--headless", "--demo"])
    assert result.returncode == 0, result.stderr
    assert left == []
    shown = re.findall(r"Response: (.*?)\nGeneration complete:", result.stdout, flags=re.S)
    assert shown == await reference_answers(engine)
    assert "raw prompts (no chat template)" in result.stdout


@pytest.mark.engine
@pytest.mark.subprocess
def test_headless_logprobs(demo_model):
    result, left = run_cli(["--headless", "--demo", "--logprobs", "3", "--max-tokens", "6", "--seed", "1",
                            "--no-chat-template", "The key to happiness is"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Logprobs: top 3 per token, the model's distribution before temperature" in out
    summary = re.search(r"Logprobs: 6 tokens · mean logprob (-?\d+\.\d+) · perplexity (\d+\.\d+)", out)
    assert summary and float(summary.group(2)) == pytest.approx(math.exp(-float(summary.group(1))), rel=1e-2)
    rows = re.findall(r"^\s+\d+  \S+\s+p \d\.\d{3}  \(-?\d+\.\d{3}\)  rank \d+\s*│ (.*)$", out, flags=re.M)
    assert len(rows) == 6 and all(len(row.split("  ")) == 3 for row in rows)
    assert left == []


def test_logprobs_flag_needs_headless():
    result, _ = run_cli(["--logprobs", "3"])
    assert result.returncode == 2 and "--logprobs goes with --headless" in result.stderr
    result, _ = run_cli(["--headless", "--logprobs", "30", "hi"])
    assert result.returncode == 2 and "logprobs must be a whole number in [0, 20]" in result.stderr


@pytest.mark.engine
@pytest.mark.ui
async def test_a_fork_sends_exactly_its_tokens_to_the_real_engine(engine):
    """Read back from the engine: RequestOutput.prompt_token_ids of the fork's request. A fork's
    answer starts with the tokens it was given (its parent's, up to the chosen one), then the
    engine's continuation; a fork of the fork at one of those new tokens sends all of them."""
    from tests.support.app import make_app, run_with_heat, send_key, wait_until, saved_pane, session_of
    from tui.figures import DONE
    from tui.thread_text import shown

    record = saved_pane(prompt=REFERENCE_PROMPTS[2], overrides={"max_tokens": "12", "seed": "5"})
    app = make_app(engine, session=session_of([record]))
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        (first,) = await run_with_heat(app)
        question = first.reply.reply.prompt_ids  # the chat-templated question, as the engine got it
        assert question and len(first.spans) == first.figures.tokens == 12
        first.enter_token_cursor()
        first.move_token_cursor(4)
        await pilot.pause()
        chosen = first.spans.tokens[4].top[0]  # the most likely token there
        send_key(app, "1")
        await wait_until(lambda: len(bench.panes()) == 2 and bench.panes()[1].figures.state == DONE, timeout=60)
        fork = bench.panes()[1]
        given = [t.token_id for t in first.spans.tokens[:4]] + [chosen.token_id]
        assert fork.reply.reply.prompt_ids == question + given  # as the engine got it
        assert fork.reply.reply.given_ids == question + given and fork.reply.reply.forced == 5
        # the fork's answer: the given tokens (text included), then the ones it sampled
        assert [t.token_id for t in fork.spans.tokens[:5]] == given
        assert len(fork.spans) == 5 + fork.figures.tokens and fork.figures.tokens > 3
        assert fork.answer.startswith(first.answer[:first.spans.ends[3]] + shown(chosen.text))
        assert "fork of 1 @ 5" in str(fork.border_title)
        fork.enter_token_cursor()
        fork.move_token_cursor(7)  # one of the fork's own tokens, past the given ones
        send_key(app, "enter")  # a fork of the fork, with the token itself
        await wait_until(lambda: len(bench.panes()) == 3 and bench.panes()[2].figures.state == DONE, timeout=60)
        again = bench.panes()[2]
        assert again.reply.reply.prompt_ids == question + [t.token_id for t in fork.spans.tokens[:8]]
        assert [t.token_id for t in again.spans.tokens[:8]] == [t.token_id for t in fork.spans.tokens[:8]]


@pytest.mark.engine
@pytest.mark.ui
async def test_the_parting_mark_lands_on_the_first_differing_token_of_two_seeded_panes(engine):
    from tests.support.app import make_app, mark_parting, run_with_heat, saved_pane, session_of, wait_until
    from tui.thread_text import shown

    panes = [saved_pane(prompt=REFERENCE_PROMPTS[0], overrides={"max_tokens": "40", "seed": str(seed),
                                                                 "temperature": "1.2"}) for seed in (11, 12)]
    app = make_app(engine, session=session_of(panes))
    async with app.run_test(size=(200, 40)) as pilot:
        a, b = await run_with_heat(app)
        ids_a = [t.token_id for t in a.spans.tokens]
        ids_b = [t.token_id for t in b.spans.tokens]
        assert ids_a != ids_b  # two seeds at temperature 1.2 part somewhere in 40 tokens
        first = next(i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y)
        await mark_parting(app, pilot, a, b)
        for pane in (a, b):  # marks are offsets in the view's text: the answer starts at its base
            start, end = (pane.output.base + offset for offset in pane.spans.span(first))
            assert (start, end, "part") in pane.output.marks
            assert pane.output.text[start:end] == shown(pane.spans.tokens[first].text)
        assert f"at token {first + 1}: here" in str(a.query_one(".pane-parting").render())
        # how likely each pane found the other's token there: from its alternatives, or asked of
        # the engine (logprob_token_ids) when it is not among them
        await wait_until(lambda: all(" here" in str(p.query_one(".pane-parting").render()).split(", ")[-1]
                                     and "not in the top" not in str(p.query_one(".pane-parting").render())
                                     for p in (a, b)), timeout=30)
        context = a.reply.reply.prompt_ids + ids_a[:first]
        scored = await engine.next_token_logprobs(context, [ids_b[first]])
        line = str(a.query_one(".pane-parting").render())
        assert line.endswith(f"p {math.exp(scored[ids_b[first]]):.3f} here")


def test_flat_logprobs_read_as_the_dicts():
    from vllm.logprobs import FlatLogprobs, Logprob

    positions = [{7: Logprob(-0.5, 2, " the"), 3: Logprob(-0.2, 1, " a"), 9: Logprob(-3.0, 3, " his")},
                 {42: Logprob(-6.0, 57, "zz"), 3: Logprob(-0.2, 1, " a"), 9: Logprob(-3.0, 2, " his")}]
    flat = FlatLogprobs()
    for position in positions:
        # as vLLM fills it: the sampled token first, then the top k, the sampled one again if there
        first, *_ = position.items()
        top = sorted((lp.rank, tid, lp) for tid, lp in position.items() if lp.rank <= 3)
        flat.append_fast([first[0]] + [tid for _, tid, _ in top], [first[1].logprob] + [lp.logprob for *_, lp in top],
                         iter([first[1].rank] + [r for r, _, _ in top]),
                         [first[1].decoded_token] + [lp.decoded_token for *_, lp in top])
    assert from_vllm([7, 42], flat, k=2) == from_vllm([7, 42], positions, k=2)
    assert [t.rank for t in from_vllm([7, 42], flat, k=2)] == [2, 57]
