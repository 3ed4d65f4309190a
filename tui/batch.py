"""`vllm-panes --headless --batch FILE`: prompts × settings, run through the backend, JSONL out.

A batch file names prompts and, for any sampling knob, one value or a list of values; every
combination is run for every prompt. TOML (one grid for all its prompts):

```toml
prompts = ["The key to happiness is", "In a galaxy far, far away"]
temperature = [0.0, 0.8]
seed = [42, 7]
max_tokens = 40
```

JSONL: one object per line, each its own grid, with "prompt" (or "prompts") and the same keys.
`chat_template` (true/false), `system_prompt` and `logprobs` (alternatives per token, 0 to 20) may
be given too. Where requests go is a dimension of the grid too, with one of: `target` (any name
`--target` takes), `lora` (an adapter of the in-process engine; "" for the base model) or `model`
(a model id, of the engine or of a server). Results are written in the file's order, one JSON
object per line: prompt, params, text, tokens, ttft_ms, tok_s, finish_reason, error, target (server,
model, adapter: where it ran); with logprobs, also token_logprobs (per token: text, id, logprob,
rank, top alternatives), mean_logprob and perplexity. Requests run concurrently
(vLLM batches them); seeded ones give the same text as when run alone.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

from tui import exit_codes
from tui.engine.logprobs import TokenLogprob, mean_logprob, perplexity, token_record
from tui.engine.params import PARAM_SPECS, SPECS_BY_NAME, ParamError, Sampling
from tui.engine.protocol import Backend, BackendError, EngineDead, Target
from tui.figures import Figures
from tui.headless import engine_summary
from tui.lifecycle import run_with_backend
from tui.terminal import Terminal
from tui.storage import writable
from tui.targets import TargetError, resolve_names
from tui.text import one_line
from tui.validate import describe

MAX_JOBS = 100_000
_EXTRA_KEYS = ("chat_template", "system_prompt", "logprobs")
_TARGET_KEYS = ("target", "lora", "model")  # where requests go: one of them per grid


class BatchError(ValueError):
    """A batch file that cannot be run; the message names the file (and line) and the reason."""


@dataclass(frozen=True)
class Job:
    index: int
    prompt: str
    sampling: Sampling
    target: Target | str | None = None  # a name until resolved (run_batch); None: the backend's model


def load_batch(path: Path, base: Sampling | None = None) -> list[Job]:
    base = base or Sampling()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{path}: cannot read it ({exc})") from None
    grids: list[tuple[str, dict[str, Any]]] = []
    if path.suffix.lower() == ".toml":
        try:
            grids.append((str(path), tomllib.loads(text)))
        except tomllib.TOMLDecodeError as exc:
            raise BatchError(f"{path}: not valid TOML ({exc})") from None
    elif path.suffix.lower() in (".jsonl", ".json"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                grids.append((f"{path}:{number}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise BatchError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise BatchError(f"{path}:{number}: nested too deeply") from None
    else:
        raise BatchError(f"{path}: a batch file is .toml or .jsonl")
    jobs: list[Job] = []
    for where, grid in grids:
        for prompt, sampling, target in _expand(where, grid, base):
            jobs.append(Job(len(jobs), prompt, sampling, target))
            if len(jobs) > MAX_JOBS:
                raise BatchError(f"{where}: more than {MAX_JOBS} requests")
    if not jobs:
        raise BatchError(f"{path}: no prompts")
    return jobs


def _expand(where: str, grid: Any, base: Sampling):
    if not isinstance(grid, dict):
        raise BatchError(f"{where}: expected a table/object of prompts and settings")
    grid = dict(grid)
    prompts = grid.pop("prompts", [])
    if not isinstance(prompts, list):
        raise BatchError(f"{where}: 'prompts' must be a non-empty list of strings, not {describe(prompts)}")
    if "prompt" in grid:
        prompts = [grid.pop("prompt"), *prompts]
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise BatchError(f"{where}: 'prompts' must be a non-empty list of strings (or give one 'prompt')")
    unknown = sorted(set(grid) - set(SPECS_BY_NAME) - set(_EXTRA_KEYS) - set(_TARGET_KEYS))
    if unknown:
        known = ", ".join([s.name for s in PARAM_SPECS] + list(_EXTRA_KEYS) + list(_TARGET_KEYS))
        raise BatchError(f"{where}: unknown setting(s) {', '.join(unknown)} (known: {known})")
    axes = {name: value if isinstance(value, list) else [value] for name, value in grid.items()}
    for name, values in axes.items():
        if not values:
            raise BatchError(f"{where}: {name} is an empty list")
    names = list(axes)
    for prompt in prompts:
        for combo in itertools.product(*(axes[n] for n in names)):
            chosen = dict(zip(names, combo))
            chat = chosen.pop("chat_template", base.chat_template)
            system = chosen.pop("system_prompt", base.system_prompt)
            logprobs = chosen.pop("logprobs", base.logprobs)
            target = _target_name(where, chosen)
            if not isinstance(chat, bool):
                raise BatchError(f"{where}: chat_template must be true or false, not {describe(chat)}")
            if not isinstance(system, str):
                raise BatchError(f"{where}: system_prompt must be a string, not {describe(system)}")
            try:
                sampling = Sampling({**base.values, **chosen}, chat_template=chat, system_prompt=system,
                                    logprobs=logprobs)
            except ParamError as exc:
                raise BatchError(f"{where}: {exc}") from None
            yield prompt, sampling, target


def _target_name(where: str, chosen: dict[str, Any]) -> str | None:
    """The target a combination names (a name, resolved once the servers are known), or None."""
    given = [key for key in _TARGET_KEYS if key in chosen]
    if len(given) > 1:
        raise BatchError(f"{where}: give one of {', '.join(_TARGET_KEYS)}, not {' and '.join(given)}")
    if not given:
        return None
    value = chosen.pop(given[0])
    if not isinstance(value, str) or (given[0] != "lora" and not value.strip()):
        raise BatchError(f"{where}: {given[0]} must be a name (a string), not {describe(value)}")
    return value.strip() or "base"


def record(job: Job, text: str, last: Any, error: str | None, stats: bool = False,
           tokens: list[TokenLogprob] | None = None) -> dict[str, Any]:
    result = {
        "index": job.index,
        "prompt": job.prompt,
        "params": {**job.sampling.values, "chat_template": job.sampling.chat_template,
                   "system_prompt": job.sampling.system_prompt, "logprobs": job.sampling.logprobs},
        "text": text,
        **Figures.of(last).record(engine=stats),
        "error": error,
        "target": job.target.record() if isinstance(job.target, Target) else None,
    }
    if job.sampling.logprobs:
        mean = mean_logprob(tokens or [])
        result["token_logprobs"] = [token_record(t) for t in tokens or []]
        result["mean_logprob"] = None if mean is None else round(mean, 6)
        result["perplexity"] = None if mean is None else round(perplexity(mean), 6)
    return result


async def run_jobs(backend: Backend, jobs: list[Job], write, concurrency: int = 8, on_done=None,
                   stats: bool = False) -> int:
    """Run every job (at most `concurrency` at once); `write(record)` in the jobs' order, each as
    soon as the jobs before it are done. When the run ends early (a signal, a dead engine, a
    crash), the finished records still waiting for an earlier job are written too, in order, so
    that every finished line is kept. Returns the number of failed jobs; a dead engine stops the
    batch (EngineDead propagates)."""
    limit = asyncio.Semaphore(concurrency)
    results: dict[int, dict[str, Any]] = {}
    next_out = 0
    failed = 0

    async def one(job: Job) -> None:
        nonlocal next_out, failed
        async with limit:
            pieces: list[str] = []
            tokens: list[TokenLogprob] = []
            last = None
            error = None
            try:
                on = {} if job.target is None else {"target": job.target}
                async for delta in backend.stream(job.prompt, job.sampling, f"batch-{job.index}", **on):
                    pieces.append(delta.text)
                    if delta.logprobs:
                        tokens.extend(delta.logprobs)
                    last = delta
            except EngineDead:
                raise
            except BackendError as exc:
                error = one_line(exc)
                failed += 1
        results[job.index] = record(job, "".join(pieces), last, error, stats, tokens)
        if on_done is not None:
            on_done()
        while next_out in results:
            write(results.pop(next_out))
            next_out += 1

    tasks = [asyncio.ensure_future(one(job)) for job in jobs]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for index in sorted(results):  # finished, but after one that did not finish
            write(results.pop(index))
    return failed


async def run_batch(backend: Backend, path: Path, sampling: Sampling, term: Terminal, *,
                    output: Path | None = None, concurrency: int = 8, stats: bool = False,
                    targets: list[Target] | None = None) -> int:
    """The batch file's jobs; with `targets` (--target), each job that names none runs on each."""
    if output is not None and _same_file(output, path):
        print(f"vllm-panes: --output {one_line(output)} is the batch file itself", file=term.err)
        return exit_codes.USAGE
    try:
        jobs = load_batch(path, sampling)
    except BatchError as exc:
        print(f"vllm-panes: {one_line(exc, 2000)}", file=term.err)
        return exit_codes.USAGE
    if output is not None:  # before the engine loads: a bad path is a usage error, not a failed batch
        problem = _unwritable(output)
        if problem:
            print(f"vllm-panes: cannot write {one_line(output)}: {one_line(problem)}", file=term.err)
            return exit_codes.USAGE
    try:
        jobs = await _resolved(backend, jobs, targets or [])
    except TargetError as exc:
        print(f"vllm-panes: {path}: {one_line(exc, 2000)}", file=term.err)
        await backend.shutdown()  # the servers reached to resolve the names
        return exit_codes.USAGE

    async def body() -> int:
        # Opened (and so emptied) only now that the engine is ready: a batch that cannot start
        # leaves the file of an earlier run as it was.
        try:
            sink: TextIO = term.out if output is None else open(output, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            print(f"vllm-panes: cannot write {one_line(output)}: {one_line(exc.strerror or exc)}", file=term.err)
            return exit_codes.FAILED

        def write(rec: dict[str, Any]) -> None:
            sink.write(writable(json.dumps(rec, ensure_ascii=False), "batch output") + "\n")
            sink.flush()

        progress = _Progress(term.err, len(jobs))
        try:
            failed = await run_jobs(backend, jobs, write, concurrency, on_done=progress.advance, stats=stats)
        except EngineDead as exc:
            print(f"vllm-panes: {one_line(exc)}", file=term.err)
            return exit_codes.FAILED
        finally:
            progress.stop()
            if sink is not term.out:
                sink.close()
        where = output if output is not None else "stdout"
        note = f", {failed} failed (see their 'error')" if failed else ""
        print(f"{len(jobs)} results written to {one_line(where)}{note}", file=term.err)
        if stats:
            print(await engine_summary(backend), file=term.err)
        return exit_codes.FAILED if failed else exit_codes.OK

    return await run_with_backend(backend, term, body)


async def _resolved(backend: Backend, jobs: list[Job], targets: list[Target]) -> list[Job]:
    """Jobs with their targets resolved (the servers reached, not the engine loaded: an unknown
    name is a usage error before anything heavy starts); jobs without one run on each --target."""
    if targets:
        jobs = [replace(job, target=target) for job in jobs for target in
                ([job.target] if job.target is not None else targets)]
    names = sorted({job.target for job in jobs if isinstance(job.target, str)})
    found = dict(zip(names, await resolve_names(backend, names)))
    return [replace(job, index=index, target=found.get(job.target, job.target)) for index, job in enumerate(jobs)]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _unwritable(path: Path) -> str | None:
    """Why `path` cannot be written, checked without touching an existing file; None if it can."""
    import os

    if path.is_dir():
        return "it is a directory"
    if path.exists():
        return None if os.access(path, os.W_OK) else "permission denied"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"no such directory: {parent}"
    return None if os.access(parent, os.W_OK) else f"permission denied in {parent}"


class _Progress:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, err: TextIO, total: int) -> None:
        self._bar = None
        if err.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
            )

            self._bar = Progress("batch", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=Console(file=err), transient=True)
            self._task = self._bar.add_task("batch", total=total)
            self._bar.start()

    def advance(self) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


if __name__ == "__main__":  # pragma: no cover - use `vllm-panes --headless --batch FILE`
    sys.exit("use: vllm-panes --headless --batch FILE")
