"""What the engine is doing: the figures of the X-ray panel, and per-request timings.

The in-process engine reports through a stat logger (`stat_logger_factory`), which vLLM calls once
per engine step in this process's event loop; it only adds numbers to a `StepRecorder`, and the UI
reads a `EngineSnapshot` from it when it draws. A remote server's figures come from its `/metrics`
(tui/engine/remote_metrics.py) as the same snapshot. A figure the source does not report is None,
never 0: the panel leaves it out.

vLLM marks `SchedulerStats` and `IterationStats` as unstable: they are read here and nowhere else.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

RATE_WINDOW_S = 2.0  # token and step rates are averaged over this much of the recent past
HISTORY = 120  # points of each rate's history kept for the panel's sparklines


@dataclass
class EngineSnapshot:
    """The engine's state at one moment, and its rates over the last `RATE_WINDOW_S`."""

    running: int | None = None
    waiting: int | None = None
    kv_usage: float | None = None  # 0..1 of the KV cache in use
    kv_blocks: int | None = None  # the KV cache's size in blocks
    prefix_hit_rate: float | None = None  # of the prompt tokens looked up since the start
    preemptions: int | None = None  # since the start
    prompt_tok_s: float | None = None
    gen_tok_s: float | None = None
    steps_s: float | None = None
    spec_acceptance: float | None = None  # accepted ÷ drafted tokens, when the engine drafts
    prompt_tokens: int | None = None  # totals since the start
    gen_tokens: int | None = None
    gen_history: list[float] = field(default_factory=list)  # gen tok/s, oldest first
    prompt_history: list[float] = field(default_factory=list)
    unavailable: str = ""  # why there are no figures at all (e.g. a server without /metrics)

    @property
    def saturated(self) -> bool:
        """Requests wait for a place in the running batch."""
        return bool(self.waiting)


class StatsSource(Protocol):
    """Where a backend's engine figures come from."""

    async def snapshot(self) -> EngineSnapshot: ...


@dataclass
class RequestTiming:
    """Where one request's time went in the engine (seconds), and its prompt's cached tokens."""

    queued_s: float | None = None
    prefill_s: float | None = None
    decode_s: float | None = None
    prompt_tokens: int | None = None
    cached_tokens: int | None = None


def request_timing(output: Any) -> RequestTiming | None:
    """The timings of a vLLM `RequestOutput` so far, measured as vLLM's `FinishedRequestStats`
    measures them (queued: QUEUED → SCHEDULED; prefill: → first token; decode: → last token)."""
    stats = getattr(output, "metrics", None)
    if stats is None or not hasattr(stats, "queued_ts"):
        return None
    timing = RequestTiming(prompt_tokens=len(output.prompt_token_ids or ()),
                           cached_tokens=output.num_cached_tokens)
    if stats.scheduled_ts and stats.queued_ts:
        timing.queued_s = max(0.0, stats.scheduled_ts - stats.queued_ts)
    if stats.first_token_ts and stats.scheduled_ts:
        timing.prefill_s = max(0.0, stats.first_token_ts - stats.scheduled_ts)
    if stats.last_token_ts and stats.first_token_ts:
        timing.decode_s = max(0.0, stats.last_token_ts - stats.first_token_ts)
    return timing


class Rates:
    """Rates of counters over a sliding window, and a history of them for sparklines."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._points: deque[tuple[float, tuple[float, ...]]] = deque()
        self.history: dict[int, deque[float]] = {}

    def add(self, now: float, totals: tuple[float, ...]) -> None:
        """Counter totals at `now` (monotonic seconds)."""
        self._points.append((now, totals))

    def rates(self, now: float) -> tuple[float, ...] | None:
        """Each counter's increase per second over the window up to the last point; None until
        two points are known."""
        points = self._points
        while len(points) > 2 and points[1][0] <= now - self.window_s:
            points.popleft()
        if len(points) < 2:
            return None
        (t0, first), (t1, last) = points[0], points[-1]
        span = max(t1 - t0, 1e-9)
        values = tuple((b - a) / span for a, b in zip(first, last))
        for index, value in enumerate(values):
            self.history.setdefault(index, deque(maxlen=HISTORY)).append(value)
        return values


class StepRecorder:
    """Totals and latest state of the engine, updated once per engine step by the stat logger.

    `record_step` must stay cheap: it runs in the event loop between the engine's outputs and the
    streams that wait for them. `cost_ns` counts the time it takes (the benchmark reports it).
    """

    def __init__(self) -> None:
        self.running: int | None = None
        self.waiting: int | None = None
        self.kv_usage: float | None = None
        self.kv_blocks: int | None = None
        self.prefix_caching = True
        self.prefix_queries = 0
        self.prefix_hits = 0
        self.preemptions = 0
        self.prompt_tokens = 0
        self.gen_tokens = 0
        self.steps = 0
        self.spec_drafted = 0
        self.spec_accepted = 0
        self.drafts = False
        self.records = 0
        self.cost_ns = 0
        self._rates = Rates()
        self._last_snapshot_at = 0.0

    def record(self, scheduler_stats: Any, iteration_stats: Any) -> None:
        """One call of vLLM's stat logger: the scheduler's state after a step and the step's work."""
        started = time.perf_counter_ns()
        if scheduler_stats is not None:
            self.running = scheduler_stats.num_running_reqs
            self.waiting = scheduler_stats.num_waiting_reqs + scheduler_stats.num_skipped_waiting_reqs
            self.kv_usage = scheduler_stats.kv_cache_usage
            prefix = scheduler_stats.prefix_cache_stats
            if prefix is not None:
                self.prefix_queries += prefix.queries
                self.prefix_hits += prefix.hits
            spec = scheduler_stats.spec_decoding_stats
            if spec is not None:
                self.drafts = True
                self.spec_drafted += spec.num_draft_tokens
                self.spec_accepted += spec.num_accepted_tokens
        if iteration_stats is not None:
            self.steps += 1
            self.prompt_tokens += iteration_stats.num_prompt_tokens
            self.gen_tokens += iteration_stats.num_generation_tokens
            self.preemptions += iteration_stats.num_preempted_reqs
        self.records += 1
        self.cost_ns += time.perf_counter_ns() - started

    @property
    def cost_us_per_step(self) -> float | None:
        return self.cost_ns / self.records / 1000 if self.records else None

    def snapshot(self, now: float | None = None) -> EngineSnapshot:
        now = time.monotonic() if now is None else now
        self._rates.add(now, (self.prompt_tokens, self.gen_tokens, self.steps))
        rates = self._rates.rates(now)
        prompt_rate, gen_rate, step_rate = rates if rates is not None else (None, None, None)
        history = self._rates.history
        return EngineSnapshot(
            running=self.running, waiting=self.waiting, kv_usage=self.kv_usage, kv_blocks=self.kv_blocks,
            prefix_hit_rate=(self.prefix_hits / self.prefix_queries
                             if self.prefix_caching and self.prefix_queries else None),
            preemptions=self.preemptions if self.records else None,
            prompt_tok_s=prompt_rate, gen_tok_s=gen_rate, steps_s=step_rate,
            spec_acceptance=(self.spec_accepted / self.spec_drafted
                             if self.drafts and self.spec_drafted else None),
            prompt_tokens=self.prompt_tokens if self.records else None,
            gen_tokens=self.gen_tokens if self.records else None,
            gen_history=list(history.get(1, ())), prompt_history=list(history.get(0, ())))


class RecorderSource:
    """The in-process engine's figures, as a `StatsSource`.

    The stat logger hears of the engine only when a step has outputs: after the last request is
    aborted no step follows, and the last count of running requests would stand. `unfinished`
    (the engine's own count of requests it still serves) settles that.
    """

    def __init__(self, recorder: StepRecorder, unfinished: Callable[[], int]) -> None:
        self.recorder = recorder
        self.unfinished = unfinished

    async def snapshot(self) -> EngineSnapshot:
        snapshot = self.recorder.snapshot()
        if snapshot.running is not None and self.unfinished() == 0:
            snapshot.running = snapshot.waiting = 0
        return snapshot


def stat_logger_factory(recorder: StepRecorder) -> Any:
    """A per-engine stat logger factory for `AsyncLLM.from_engine_args(stat_loggers=[…])`."""
    from vllm.v1.metrics.loggers import StatLoggerBase

    class PanelStatLogger(StatLoggerBase):
        def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
            self.vllm_config = vllm_config
            recorder.prefix_caching = bool(vllm_config.cache_config.enable_prefix_caching)

        def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None,
                   engine_idx: int = 0) -> None:
            recorder.record(scheduler_stats, iteration_stats)

        def log_engine_initialized(self) -> None:
            # Known once the engine has measured its memory: vLLM calls this after that.
            blocks = self.vllm_config.cache_config.num_gpu_blocks
            recorder.kv_blocks = int(blocks) if blocks else None

    return PanelStatLogger
