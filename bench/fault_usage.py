"""The fault server's streams that close with what the request used: vLLM's server, asked to
include usage, ends a stream with a chunk of no choice carrying the counts and their details; a
server may add fields of its own, which a client should keep too. Prompts `fault:NAME` with NAME in
`CLOSING` pick one. Self-contained, so that bench/fault_server.py can take them in without
importing back.
"""

from __future__ import annotations

import asyncio
import json

WORDS = 12  # answer pieces before the end
CLOSING_USAGE = {"prompt_tokens": 3, "completion_tokens": WORDS, "total_tokens": 3 + WORDS,
                 "prompt_tokens_details": {"cached_tokens": 2},
                 "completion_tokens_details": {"reasoning_tokens": 0, "accepted_prediction_tokens": 0},
                 "fault_server_timings": {"queue_ms": 1.5, "steps": [1, 2, 3]}}
# The usage the last answer chunk carries (vLLM's continuous usage stats: running counts).
RUNNING_USAGE = {"prompt_tokens": 3, "completion_tokens": WORDS, "total_tokens": 3 + WORDS,
                 "prompt_tokens_details": {"cached_tokens": 2}}


def _event(kind: str, text: str | None, finish: str | None = None, usage: dict | None = None) -> bytes:
    choices = []
    if text is not None:
        choice: dict = {"index": 0, "finish_reason": finish}
        if kind == "chat":
            choice["delta"] = {"content": text} if text else {}
        else:
            choice["text"] = text
        choices.append(choice)
    payload = {"id": "cmpl-fault", "object": "chat.completion.chunk", "created": 0, "model": "fault-model",
               "choices": choices, **({"usage": usage} if usage is not None else {})}
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


async def _closing(response, kind: str, usage: dict) -> None:
    for index in range(1, WORDS + 1):
        await response.write(_event(kind, f"word{index} "))
        await asyncio.sleep(0.005)
    await response.write(_event(kind, "", "stop", RUNNING_USAGE))
    await response.write(_event(kind, None, usage=usage))  # no choice: the request's usage
    await response.write(b"data: [DONE]\n\n")


async def _closing_usage(response, kind):
    await _closing(response, kind, CLOSING_USAGE)


async def _huge_usage(response, kind):
    """A usage of 20 KB: too large to keep (a client names it in its log)."""
    await _closing(response, kind, {**CLOSING_USAGE, "padding": "x" * 20000})


CLOSING = {"closing_usage": _closing_usage, "huge_usage": _huge_usage}
