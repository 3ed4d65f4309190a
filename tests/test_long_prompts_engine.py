"""Long conversations at once on the real engine: vLLM 0.32 on CPU killed the engine when a seeded
request's prompt was prefilled in chunks ("CPU Generator does not use offset"); the CPU engine
now prefills prompts whole (tui/engine/engine_args.py)."""

from __future__ import annotations

import asyncio

import pytest

from bench.runs import thread
from tui.engine.params import Sampling
from tui.engine.protocol import Request

pytestmark = pytest.mark.engine


async def answer(engine, turns: list[tuple[str, str]], sampling: Sampling, request_id: str) -> str:
    request = Request.of(turns, sampling, request_id)
    return "".join([d.text async for d in engine.stream(request)])


async def test_several_long_seeded_conversations_at_once_keep_the_engine_alive(engine):
    assert engine.engine.vllm_config.scheduler_config.enable_chunked_prefill is False
    sampling = Sampling().with_values(max_tokens=8, seed=7)
    conversations = [thread(19, i) for i in range(6)]  # about 1,300 tokens each: more than a step takes
    texts = await asyncio.gather(*(answer(engine, turns, sampling, f"long-{i}")
                                   for i, turns in enumerate(conversations)))
    assert all(texts) and engine.engine.errored is False
    alone = await answer(engine, conversations[3], sampling, "long-alone")
    assert alone == texts[3]  # seeded: the same text beside the others as alone
