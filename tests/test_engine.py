"""The AsyncLLM backend against the real engine (demo model): DELTA streaming, seeds, cancel, errors."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tui.engine.params import ParamError, Sampling
from tui.engine.protocol import Request, RequestRejected

pytestmark = pytest.mark.engine
_ids = itertools.count()
REFERENCE = Sampling()  # temperature 0.8, top_p 0.95, seed 42, max_tokens 100


async def collect(engine, prompt: str, sampling: Sampling = REFERENCE):
    deltas = [d async for d in engine.stream(Request.of_prompt(prompt, sampling, f"t{next(_ids)}"))]
    return "".join(d.text for d in deltas), deltas


async def test_reference_parameters_stream_deltas(engine):
    assert REFERENCE.values["temperature"] == 0.8 and REFERENCE.values["max_tokens"] == 100
    text, deltas = await collect(engine, "The future of artificial intelligence is")
    assert len(deltas) > 10, "DELTA mode yields many small outputs, not one"
    assert sum(d.new_tokens for d in deltas) == deltas[-1].tokens
    assert max(d.new_tokens for d in deltas) <= 4, "each output carries only the new tokens"
    assert deltas[-1].finished and deltas[-1].finish_reason in ("length", "stop")
    assert all(not d.finished for d in deltas[:-1])
    assert deltas[-1].tokens <= 100 and text
    assert deltas[-1].ttft is not None and deltas[-1].ttft > 0
    assert deltas[-1].tok_per_s is not None and deltas[-1].tok_per_s > 0


async def test_seed_42_twice_gives_identical_text(engine):
    first, _ = await collect(engine, "The key to happiness is")
    second, _ = await collect(engine, "The key to happiness is")
    assert first == second and len(first) > 20


async def test_seed_is_reproducible_when_run_concurrently(engine):
    alone, _ = await collect(engine, "In a galaxy far, far away")
    unseeded = REFERENCE.with_values(seed=None)
    results = await asyncio.gather(
        collect(engine, "In a galaxy far, far away"),
        collect(engine, "In a galaxy far, far away", unseeded),
        collect(engine, "In a galaxy far, far away"),
        collect(engine, "The key to happiness is", unseeded),
    )
    assert results[0][0] == alone and results[2][0] == alone


async def test_seed_is_reproducible_when_joining_a_running_batch(engine):
    alone, _ = await collect(engine, "In a galaxy far, far away")
    long_unseeded = REFERENCE.with_values(seed=None, max_tokens=400, min_tokens=400)

    async def late_joiner():
        await asyncio.sleep(0.15)  # the long requests are decoding by now
        return await collect(engine, "In a galaxy far, far away")

    _, _, (joined, _) = await asyncio.gather(
        collect(engine, "The key to happiness is", long_unseeded),
        collect(engine, "The future of artificial intelligence is", long_unseeded),
        late_joiner(),
    )
    assert joined == alone


async def test_other_seed_gives_other_text(engine):
    a, _ = await collect(engine, "The key to happiness is")
    b, _ = await collect(engine, "The key to happiness is", REFERENCE.with_values(seed=7))
    assert a != b


async def test_cancel_aborts_in_engine_and_engine_serves_next(engine):
    seen = []

    async def consume():
        long = REFERENCE.with_values(max_tokens=1000, min_tokens=1000)
        async for delta in engine.stream(Request.of_prompt("The key to happiness is", long, "cancel-me")):
            seen.append(delta)

    task = asyncio.create_task(consume())
    while len(seen) < 5:
        await asyncio.sleep(0.005)
    assert engine.running_requests() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(100):  # the abort reaches the engine within milliseconds
        if engine.running_requests() == 0:
            break
        await asyncio.sleep(0.01)
    assert engine.running_requests() == 0
    assert seen[-1].tokens < 1000
    text, deltas = await collect(engine, "The key to happiness is", REFERENCE.with_values(max_tokens=10, min_tokens=10))
    assert deltas[-1].tokens == 10 and text


async def test_explicit_abort(engine):
    stream = engine.stream(Request.of_prompt("In a galaxy far, far away",
                                             REFERENCE.with_values(max_tokens=1000, min_tokens=1000), "abort-me"))
    first = await stream.__anext__()
    assert first.tokens >= 1
    await engine.abort("abort-me")
    rest = [d async for d in stream]
    assert (rest[-1].tokens if rest else first.tokens) < 1000
    assert engine.running_requests() == 0


TOO_LONG = r"the conversation is {} tokens and the answer needs room too, but the model's context is 2,048 tokens \(--max-model-len\)"


async def test_over_long_prompt_is_rejected_clearly(engine):
    """vLLM says it three ways (its renderer counting tokens, or characters, and its input
    processor); each becomes one message with the numbers, and the engine serves on."""
    assert engine.max_model_len == 2048
    raw = REFERENCE.with_values(max_tokens=5)
    raw = Sampling(raw.values, chat_template=False)
    conversation = [("user", "word " * 700), ("assistant", "word " * 700), ("user", "word " * 700)]
    tokenizer = engine._engine.get_tokenizer()  # noqa: SLF001 - counted as the chat template has it
    ids = tokenizer.apply_chat_template(list(Request.of(conversation, REFERENCE, "x").messages),
                                        add_generation_prompt=True, tokenize=True)
    needed = len(ids["input_ids"] if hasattr(ids, "keys") else ids)
    assert needed > 2048
    cases = [
        (Request.of(conversation, REFERENCE, f"t{next(_ids)}"), f"{needed:,}"),  # counted, a chat
        (Request.of_prompt("word " * 5000, raw, f"t{next(_ids)}"), "at least 2,049"),  # counted until past the limit
        (Request.of_prompt("word " * 6000, raw, f"t{next(_ids)}"), "more than 2,048"),  # too many characters to count
        (Request.of([("user", "")], REFERENCE, f"t{next(_ids)}", prompt_ids=[7] * 2048), "2,048"),  # no room to answer
    ]
    for request, count in cases:
        with pytest.raises(RequestRejected, match=TOO_LONG.format(count)):
            [d async for d in engine.stream(request)]
    text, _ = await collect(engine, "The key to happiness is", REFERENCE.with_values(max_tokens=5))
    assert text  # the engine is fine afterwards


async def test_max_tokens_beyond_context_is_rejected(engine):
    with pytest.raises(RequestRejected, match="context length"):
        await collect(engine, "hi", REFERENCE.with_values(max_tokens=4096))


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"temperature": -1.0}, "temperature must be in \\[0, 2\\]"),
        ({"top_p": 0.0}, "top_p must be in \\(0, 1\\]"),
        ({"top_p": 1.5}, "top_p must be in \\(0, 1\\]"),
        ({"max_tokens": 0}, "max_tokens must be ≥ 1"),
        ({"seed": 2**64}, "seed must be in"),
    ],
)
async def test_bad_sampling_values_are_refused_before_the_engine(engine, changes, reason):
    with pytest.raises(ParamError, match=reason):
        REFERENCE.with_values(**changes)


async def test_vllm_validation_errors_become_clear_messages(engine):
    """Bypass our own checks: what vLLM itself refuses still comes back as a RequestRejected."""
    original = engine.sampling_params

    def bad_params(sampling):
        params = original(sampling)
        return type(params)(temperature=-1.0)  # what vLLM's own constructor refuses

    engine.sampling_params = bad_params
    try:
        with pytest.raises(RequestRejected, match="temperature"):
            await collect(engine, "hi")
    finally:
        engine.sampling_params = original


async def test_chat_template_and_raw_completion_differ(engine):
    chat, _ = await collect(engine, "The key to happiness is", REFERENCE.with_values(max_tokens=20))
    raw_sampling = Sampling(REFERENCE.with_values(max_tokens=20).values, chat_template=False)
    raw, _ = await collect(engine, "The key to happiness is", raw_sampling)
    assert engine.has_chat_template
    assert chat != raw
