"""What every measurement shares: the plan, the prompts, the targets, percentiles, the workload."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")

PROMPTS = ["The future of artificial intelligence is", "In a galaxy far, far away", "The key to happiness is"]
TARGETS = {
    "ratio_4": (">=", 0.95), "ratio_8": (">=", 0.92), "lag_p99_ms": ("<=", 50), "cancel_p99_ms": ("<=", 50),
    "key_p99_ms": ("<=", 50), "first_frame_s": ("<=", 0.5), "quit_s": ("<=", 3), "quit_max_s": ("<=", 3),
    "quit_sigterm_s": ("<=", 3), "quit_sigterm_max_s": ("<=", 3), "remote_quit_max_s": ("<=", 3),
    "remote_quit_sigterm_max_s": ("<=", 3), "orphans": ("<=", 0), "remote_orphans": ("<=", 0),
    "quit_sighup_max_s": ("<=", 3), "quit_terminal_closed_max_s": ("<=", 3), "quit_loading_max_s": ("<=", 3),
    "hang_up_orphans": ("<=", 0),
    "ratio_stats_8": (">=", 0.90),
    "ratio_lp_4": (">=", 0.93), "ratio_lp_8": (">=", 0.90), "lag_lp_p99_ms": ("<=", 50),
    "cursor_key_p99_ms": ("<=", 50),
    "ratio_16": (">=", 0.92), "lag_16_p99_ms": ("<=", 50), "ratio_lora_4": (">=", 0.93),
    "ratio_turns_8": (">=", 0.95), "key_turns_p99_ms": ("<=", 50), "cpu_ratio_8": ("<=", 1.5),
}
# Figures judged against another figure of the same run: (the one it is compared with, the factor).
RELATIVE_TARGETS = {"delta_cost_us_4000": ("delta_cost_us_100", 1.5),
                    "delta_cost_us_lp_4000": ("delta_cost_us_lp_100", 1.5),
                    "delta_cost_us_turn_20": ("delta_cost_us_turn_1", 1.2)}

# The app has just been built: let its first layout and renders finish before the key press, as
# they would before a person types (start-up is measured on its own, in first_frame_s).
SETTLE_S = 0.3


@dataclass
class Plan:
    tokens: int = 256
    # Single paired ratios vary widely on a small machine, where this process shares the cores
    # with vLLM's busy-waiting worker (docs/guide/performance.md): medians of many repeats.
    repeats: int = 21
    cancels: int = 50
    keys: int = 60
    long_answer: int = 4000
    cost_repeats: int = 9  # the per-delta cost is the median of this many runs at each length
    starts: int = 5  # starts of the real app (first frame, RSS, quit)
    stock: bool = False  # measure ratio_4/8 and lag on Textual's stock drawing path too

    @classmethod
    def quick(cls) -> Plan:
        return cls(tokens=128, repeats=1, cancels=12, keys=20, long_answer=1500, cost_repeats=1, starts=1)


@dataclass
class SavePlan:
    """The save-stall measurement's plan (python -m bench.save_stall, no engine)."""

    tokens: int = 4000  # per pane
    rate: float = 3200.0  # tokens per second across the panes
    starts: int = 5  # first-frame measurements of each kind
    repeats: int = 3  # stall runs with saving and without, interleaved
    history_mb: int = 1024

    @classmethod
    def quick(cls) -> SavePlan:
        return cls(tokens=600, starts=2, repeats=1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def workload(tokens: int, index: int, logprobs: int = 0):
    from tui.engine.params import Sampling

    return Sampling(logprobs=logprobs).with_values(max_tokens=tokens, seed=1000 + index)


def settle_like_the_app() -> None:
    """In the real app, `gc.freeze()` runs once the engine is up, after the UI is mounted, so the
    widgets' objects are not walked by every full GC pass. Here each measurement mounts a new app
    (earlier ones stay referenced, e.g. from context variables), so without this the full passes
    grow over a run and show up as lag and key latency outliers that the real app does not have.
    Freeze the same way before each measurement."""
    gc.collect()
    gc.freeze()


# CPU time of this process (the app's, or the raw consumers') per token, by run: the engine's own
# processes share the two cores with it, so this is what the UI takes from them.
CPU_US_PER_TOKEN: dict[tuple[str, int], list[float]] = {}
