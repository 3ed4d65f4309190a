"""The command line a benchmark module of its own shares (`python -m bench.format`,
`python -m bench.reasoning`): repeats and tokens, vLLM's output to the log, one figure judged."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Module:
    name: str  # "format": python -m bench.format, and its log lines' tag
    description: str
    streams: int
    repeats: int  # by default (--quick: 3)
    judged: str  # the figure held against `target` (≥)
    target: float


def module_main(module: Module, run: Callable[[int, int, Callable[[str], None]], Awaitable[dict]],
                argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m bench.{module.name}", description=module.description)
    parser.add_argument("--quick", action="store_true", help="3 repeats of 128 tokens (about a minute)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object on stdout")
    parser.add_argument("--repeats", type=int, default=None, help=f"paired runs (default {module.repeats})")
    parser.add_argument("--tokens", type=int, default=None, help="tokens per stream (default 256)")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else module.repeats)
    tokens = args.tokens or (128 if args.quick else 256)
    from tui import locations
    from tui.terminal import divert_output_to_log

    term = divert_output_to_log(locations.log_dir() / "bench.log")  # vLLM's own output stays out

    def log(message: str) -> None:
        print(f"[bench.{module.name}] {message}", file=term.err, flush=True)

    log(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{repeats} repeats of {module.streams} streams × {tokens} tokens")
    started = time.perf_counter()
    results = asyncio.run(run(repeats, tokens, log))
    log(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        print(json.dumps({k: v if isinstance(v, str) else round(v, 4) for k, v in results.items()}), file=term.out)
        return 0
    for key, value in results.items():
        met = "ok" if key == module.judged and value >= module.target else "MISSED"
        mark = f"  ≥ {module.target}  {met}" if key == module.judged else ""
        shown = value if isinstance(value, str) else f"{value:.3f}"
        print(f"{key:<24} {shown:>10}{mark}", file=term.out)
    return 0
