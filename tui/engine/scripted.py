"""A backend that plays a script: for the snapshot tests, the benchmark's measurements of the
workbench alone, and UI work without an engine (a documented entry point, see
docs/guide/performance.md).

Its figures come from a fake clock (first token at 50 ms, then one token every 10 ms), so what the
UI shows is the same on every run. `stall_after=N` stops each stream after N pieces, mid-stream,
until it is cancelled. Its answers end as the engine's do: for "length" at max_tokens or when the
context is full (one prompt token per character of the conversation, `max_model_len` of them at
most), else with "stop".
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from tui.engine.params import Sampling
from tui.engine.logprobs import Alternative, TokenLogprob
from tui.engine.protocol import (
    LOCAL,
    Abilities,
    BackendBase,
    Delta,
    EngineState,
    ProgressCallback,
    Request,
    RequestRejected,
    Target,
)
from tui.engine.stats import EngineSnapshot

Script = Callable[[str, Sampling], list[str]]


def echo_script(prompt: str, sampling: Sampling) -> list[str]:
    words = f"You asked: {prompt}. With seed {sampling['seed']} the answer is".split(" ")
    pieces = [w + " " for w in words] + [f"word{i} " for i in range(sampling["max_tokens"])]
    return pieces[: sampling["max_tokens"]]


# The scripted tokens' probabilities go round these, so that every band of the heat view shows.
SCRIPTED_PROBABILITIES = (0.95, 0.7, 0.3, 0.1, 0.02)


def scripted_token_id(piece: str) -> int:
    """A piece's token id: the same piece, the same id (as a tokenizer does)."""
    return 1_000_000 + zlib.crc32(piece.encode()) % 1_000_000


def scripted_logprob(index: int, piece: str, k: int) -> TokenLogprob:
    """Token `index`: the piece, with a probability from SCRIPTED_PROBABILITIES and `k`
    alternatives; it is the most likely one unless its probability is below 0.3."""
    p = SCRIPTED_PROBABILITIES[index % len(SCRIPTED_PROBABILITIES)]
    others = [Alternative(index * 100 + j, f"alt{j} ", math.log(max(1e-6, (1 - p) / (j + 1.5))))
              for j in range(k)]
    own = Alternative(scripted_token_id(piece), piece, math.log(p))
    top = sorted(others + [own], key=lambda a: -a.logprob)[:k]
    rank = sorted(others + [own], key=lambda a: -a.logprob).index(own) + 1
    return TokenLogprob(own.token_id, piece, math.log(p), rank, tuple(top))


class ScriptedBackend(BackendBase):
    """Answers with `script(prompt, sampling)`, where the prompt is the conversation's last user
    message (all of it in raw mode); `sent` keeps every request."""

    name = "scripted"
    abilities = Abilities(metrics=True)

    def __init__(self, script: Script = echo_script, *, model: str = "scripted-model",
                 stall_after: int | None = None, delay_s: float = 0.0, ready: bool = True,
                 max_model_len: int = 2048, stats: Any = None, adapters: tuple[str, ...] = ()) -> None:
        """`adapters`: names served as targets; an adapter's answers start with its name."""
        self.model = model
        self.adapters = list(adapters)
        self.sent_targets: list[Target | None] = []  # each request's target
        self.stats = stats  # a StatsSource, or None (no engine figures)
        self.logprobs_mode = "raw_logprobs"
        self.script = script
        self.stall_after = stall_after
        self.delay_s = delay_s
        self.state = EngineState.READY if ready else EngineState.STOPPED
        self.error: str | None = None
        self._max_model_len = max_model_len
        self.aborted: list[str] = []
        self.running: set[str] = set()
        self.sent_ids: list[list[int] | None] = []  # each request's prompt_ids (None: a text prompt)
        self.sent: list[Request] = []  # every request, as it came

    @property
    def max_model_len(self) -> int | None:
        return self._max_model_len

    async def start(self, on_progress: ProgressCallback | None = None) -> None:
        self.state = EngineState.READY
        if on_progress:
            on_progress(EngineState.READY, "ready")

    async def restart(self, on_progress: ProgressCallback | None = None) -> None:
        await self.start(on_progress)

    def targets(self) -> list[Target]:
        return [Target(LOCAL, self.model), *(Target(LOCAL, self.model, name) for name in self.adapters)]

    async def stream(self, request: Request) -> AsyncIterator[Delta]:
        sampling, target, prompt_ids = request.sampling, request.target, request.prompt_ids
        self.sent.append(request)
        text = request.text()
        questions = [m["content"] for m in request.messages if m["role"] == "user"]
        prompt = text if not request.chat else (questions[-1] if questions else "")
        if len(text) > self._max_model_len:
            raise RequestRejected(f"prompt too long for this model ({len(text)} > {self._max_model_len})")
        self.sent_targets.append(target)
        if target is not None and target.adapter is not None and target.adapter not in self.adapters:
            raise RequestRejected(f"adapter {target.adapter} did not load: it is not there")
        pieces = self.script(prompt, sampling)
        if target is not None and target.adapter is not None:
            pieces = [f"[{target.adapter}] ", *pieces][: len(pieces)]
        self.sent_ids.append(prompt_ids)
        # The prompt's "tokens": one per character of the conversation, or the ids sent (a fork).
        ids = list(prompt_ids) if prompt_ids is not None else [ord(c) for c in text]
        # As the engine ends it: for length at max_tokens or when the context is full (the prompt's
        # tokens and the answer's fill max_model_len), else with a stop.
        room = max(1, self._max_model_len - len(ids))
        cut = len(pieces) >= min(sampling["max_tokens"], room)
        pieces = pieces[:room]
        self.running.add(request.request_id)
        try:
            for index, piece in enumerate(pieces):
                if self.stall_after is not None and index >= self.stall_after:
                    await asyncio.Event().wait()  # until cancelled
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                else:
                    await asyncio.sleep(0)
                last = index == len(pieces) - 1
                yield Delta(piece, index + 1, 1, ("length" if cut else "stop") if last else None, started=0.0,
                            first_token=0.05, now=0.05 + 0.01 * index,
                            logprobs=[scripted_logprob(index, piece, sampling.logprobs)] if sampling.logprobs else None,
                            prompt_ids=ids if index == 0 else None)
        except (asyncio.CancelledError, GeneratorExit):
            self.aborted.append(request.request_id)
            raise
        finally:
            self.running.discard(request.request_id)

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    async def shutdown(self) -> None:
        self.state = EngineState.STOPPED


class ScriptedSource:
    """Engine figures for the X-ray panel: `current` is what every read returns."""

    def __init__(self, snapshot: EngineSnapshot) -> None:
        self.current = snapshot
        self.asked = 0

    async def snapshot(self) -> EngineSnapshot:
        self.asked += 1
        return self.current
