"""The fault server's streams that think: a reasoning model behind `vllm serve --reasoning-parser`
streams its thinking in `delta.reasoning` (older servers: `delta.reasoning_content`) before the
answer in `delta.content`. Prompts `fault:NAME` with NAME in `THINKING` pick one (chat only: a
completion has no reasoning channel, so these stream a plain answer there). Self-contained, so
that bench/fault_server.py can take them in without importing back.
"""

from __future__ import annotations

import asyncio
import json

THOUGHTS = 4  # thinking pieces before the answer starts
ANSWERS = 5  # answer pieces (the first comes in the chunk with the last thinking piece)


def thought(index: int) -> str:
    return f"thought{index} "


def answer(index: int) -> str:
    return f"word{index} "


def _chunk(kind: str, delta: dict, index: int, finish: str | None = None) -> bytes:
    """One event; `delta` as a chat chunk's (a completion's text is its content)."""
    choice: dict = {"index": 0, "finish_reason": finish}
    if kind == "chat":
        choice["delta"] = delta
    else:
        choice["text"] = delta.get("content") or ""
    payload = {"id": "cmpl-think", "object": "chat.completion.chunk", "created": 0, "model": "fault-model",
               "choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": index,
                                              "total_tokens": 3 + index}}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def _send(response, kind: str, deltas: list[dict], finish: str = "stop") -> None:
    """Each delta as one chunk (one token each, as vLLM's usage counts them), then the finish."""
    for index, delta in enumerate(deltas, 1):
        await response.write(_chunk(kind, delta, index))
        await asyncio.sleep(0.005)
    await response.write(_chunk(kind, {}, len(deltas), finish))
    await response.write(b"data: [DONE]\n\n")


def _thinking(field: str, answer_pieces: int = ANSWERS) -> list[dict]:
    """THOUGHTS thinking pieces, the last with the first answer piece, then the rest of the answer."""
    deltas: list[dict] = [{field: thought(i)} for i in range(1, THOUGHTS)]
    if answer_pieces:
        deltas.append({field: thought(THOUGHTS), "content": answer(1)})
        deltas += [{"content": answer(i)} for i in range(2, answer_pieces + 1)]
    else:
        deltas.append({field: thought(THOUGHTS)})
    return deltas


async def _think(response, kind):
    await _send(response, kind, _thinking("reasoning"))


async def _think_old(response, kind):  # servers before vLLM 0.10's rename
    await _send(response, kind, _thinking("reasoning_content"))


async def _think_only(response, kind):  # the length ran out while it thought
    await _send(response, kind, _thinking("reasoning", answer_pieces=0), finish="length")


async def _no_thinking(response, kind):  # a reasoning server's answer that did not think: null
    await _send(response, kind, [{"reasoning": None, "content": answer(i)} for i in range(1, ANSWERS + 1)])


async def _think_number(response, kind):  # thinking that is not text
    await _send(response, kind, [{"reasoning": thought(1)}, {"reasoning": 12345}])


THINKING = {"think": _think, "think_old": _think_old, "think_only": _think_only, "no_thinking": _no_thinking,
            "think_number": _think_number}
