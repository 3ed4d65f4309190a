"""A store holding a long history for the first-frame measurement: runs of 4,000 tokens with 5
alternatives each until the database holds the size asked for. Built once and kept in the cache
directory, since building 1 GB takes minutes."""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.common import SavePlan
from bench.stall_session import WORDS, scripted_tokens

RUN_TOKENS = 4000
CHECK_EVERY = 100  # runs: how often the database's size is looked at while it is built


def history_database(plan: SavePlan, log) -> Path:
    """A store with `plan.history_mb` of history (kept in the cache directory between runs)."""
    from tui import locations

    path = locations.cache_dir() / "bench" / f"history-{plan.history_mb}mb.db"
    if path.exists() and holds_enough(path, plan.history_mb * 2**20 * 0.98):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    build_history(path, plan.history_mb, log)
    return path


def holds_enough(path: Path, size: float) -> bool:
    from tui.store.db import connect
    from tui.store.upkeep import used_bytes

    conn = connect(path)
    try:
        return used_bytes(conn) >= size
    finally:
        conn.close()


def build_history(path: Path, history_mb: int, log) -> None:
    """Record runs into a new store at `path` until it holds `history_mb` (read, as the app reads
    it, through the store's reading connection)."""
    from tui.store.store import Store
    from tui.store.upkeep import used_bytes

    log(f"building a history of {history_mb} MB in {path} (once; it is kept)…")
    rng = random.Random(1)
    store = Store.open(path, max_mb=history_mb * 4)
    tokens, ends = answer_tokens()
    count = 0
    started = time.perf_counter()
    while True:
        if count % CHECK_EVERY == 0:
            assert store.flush(timeout=600)
            with store.reading() as conn:
                if used_bytes(conn) >= history_mb * 2**20:
                    break
            if count:
                log(f"  {count} runs, {time.perf_counter() - started:.0f} s")
        store.record_run(history_run(count, rng, tokens, ends))
        count += 1
    store.close(timeout=600)
    log(f"  {count} runs in {time.perf_counter() - started:.0f} s: {path.stat().st_size / 2**20:.0f} MB")


def answer_tokens() -> tuple[list, list]:
    """The tokens of every run's answer and where each ends."""
    from tui.core.tokens import TokenSpans

    spans = TokenSpans()
    for piece, token in scripted_tokens(RUN_TOKENS):
        spans.add(piece, [token])
    return list(spans.tokens), list(spans.ends)


def history_run(count: int, rng: random.Random, tokens: list, ends: list):
    """Run number `count` of the history: a month old, one of four panes, an answer of 3,000 words."""
    from tui.engine.protocol import LOCAL, Target
    from tui.figures import DONE, Figures
    from tui.store.history import RunEntry, new_comparison

    answer = " ".join(rng.choice(WORDS) for _ in range(3000))
    return RunEntry(comparison=new_comparison(), kind="workbench",
                    messages=[{"role": "user", "content": f"question {count} " + rng.choice(WORDS)}],
                    answer=answer, figures=Figures(DONE, tokens=RUN_TOKENS, ttft_ms=40.0, tok_s=200.0,
                                                   finish_reason="length"),
                    target=Target(LOCAL, "/models/demo/weights"), settings={"temperature": 0.8, "logprobs": 5},
                    pane=1 + count % 4, ended_at=time.time() - 86400 * 30 + count, tokens=list(tokens),
                    ends=list(ends))
