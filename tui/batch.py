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
An output format (vLLM's structured outputs) is one of: `choice` (a list of strings), `regex`,
`json_schema` (a table/object, JSON text, or a file), `grammar` (a file, or the grammar itself),
`json_object` (true), or `format` (a word or a list of words, a dimension of the grid: free, json,
choice:A|B, regex:…, schema:FILE, grammar:FILE); with `disable_any_whitespace` and
`disable_additional_properties` (true/false) for JSON. Files are read relative to the batch file.
`chat_template` (true/false), `system_prompt` and `logprobs` (alternatives per token, 0 to 20) may
be given too. Instead of prompts, a job may continue a conversation: "messages" (an OpenAI message
list; the model writes the next assistant message) or "turns" (user messages sent one after
another, each after the answer to the one before); each result line then carries the whole
thread as "messages", and with several turns each answer's figures under "replies". Where requests go is a dimension of the grid too, with one of: `target` (any name
`--target` takes), `lora` (an adapter of the in-process engine; "" for the base model) or `model`
(a model id, of the engine or of a server). Results are written in the file's order, one JSON
object per line: prompt, params, text, reasoning (the thinking a server sent apart from the answer;
"" when none), tokens, ttft_ms, tok_s, finish_reason, thought_ms and answered_ms (when the first
thinking and answer pieces came), thought_tokens, error, target (server,
model, adapter: where it ran), format (its record; kind "free" without one), valid (whether the
answer took it; null for free text or a failed request), validation_error and usage (what a server
said the request used, as it sent it: token counts and their details; null in process); with logprobs, also
token_logprobs (per token: text, id, logprob, rank, top alternatives), mean_logprob and
perplexity. Requests run concurrently (vLLM batches them); seeded ones give the same text as when
run alone.
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
from tui.core.conversation import ASSISTANT, USER, Conversation, Message
from tui.core.output_format import (
    CHOICE,
    FREE_FORMAT,
    GRAMMAR,
    JSON_KINDS,
    JSON_OBJECT,
    JSON_SCHEMA,
    REGEX,
    WORDS_HELP,
    FormatError,
    OutputFormat,
    grammar_from_file,
    parse_word,
    schema_from_text,
)
from tui.core.pane_state import request_for
from tui.core.records import openai_messages
from tui.core.run import Run, new_reply
from tui.engine.logprobs import mean_logprob, perplexity, token_record
from tui.engine.params import PARAM_SPECS, SPECS_BY_NAME, ParamError, Sampling
from tui.engine.protocol import Backend, BackendError, EngineDead, Target
from tui.figures import DONE, STREAMING
from tui.headless import engine_summary
from tui.lifecycle import run_with_backend
from tui.terminal import Terminal
from tui.storage import writable
from tui.targets import TargetError, resolve_names
from tui.text import one_line
from tui.validate import describe

MAX_JOBS = 100_000
_EXTRA_KEYS = ("chat_template", "system_prompt", "logprobs")
_THREAD_KEYS = ("messages", "turns")  # a conversation to continue, instead of prompts
_MESSAGE_ROLES = ("system", "user", "assistant")
_TARGET_KEYS = ("target", "lora", "model")  # where requests go: one of them per grid
_FORMAT_KEYS = ("choice", "regex", "json_schema", "grammar", "json_object", "format")  # one per grid
_FORMAT_OPTIONS = ("disable_any_whitespace", "disable_additional_properties")


class BatchError(ValueError):
    """A batch file that cannot be run; the message names the file (and line) and the reason."""


@dataclass(frozen=True)
class Job:
    index: int
    prompt: str  # the first message the model answers
    sampling: Sampling
    target: Target | str | None = None  # a name until resolved (run_batch); None: the backend's model
    before: tuple[tuple[str, str], ...] = ()  # (role, content) of the conversation before `prompt`
    then: tuple[str, ...] = ()  # user messages sent after, each after the answer to the one before

    def conversation(self) -> tuple[Conversation, Message]:
        """The job's conversation so far, and the message the model answers first."""
        conversation = Conversation()
        parent = None
        for role, content in self.before:
            parent = conversation.add(parent, role, content)
        return conversation, conversation.add(parent, USER, self.prompt)


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
        for job in _expand(where, grid, base, path.parent):
            jobs.append(replace(job, index=len(jobs)))
            if len(jobs) > MAX_JOBS:
                raise BatchError(f"{where}: more than {MAX_JOBS} requests")
    if not jobs:
        raise BatchError(f"{path}: no prompts")
    return jobs


def _expand(where: str, grid: Any, base: Sampling, folder: Path):
    if not isinstance(grid, dict):
        raise BatchError(f"{where}: expected a table/object of prompts and settings")
    grid = dict(grid)
    threads = _threads(where, grid)
    formats = _formats(where, grid, base.output_format, folder)
    unknown = sorted(set(grid) - set(SPECS_BY_NAME) - set(_EXTRA_KEYS) - set(_TARGET_KEYS))
    if unknown:
        known = ", ".join([s.name for s in PARAM_SPECS] + list(_EXTRA_KEYS) + list(_TARGET_KEYS) + list(_THREAD_KEYS)
                          + list(_FORMAT_KEYS) + list(_FORMAT_OPTIONS))
        raise BatchError(f"{where}: unknown setting(s) {', '.join(unknown)} (known: {known})")
    axes = {name: value if isinstance(value, list) else [value] for name, value in grid.items()}
    for name, values in axes.items():
        if not values:
            raise BatchError(f"{where}: {name} is an empty list")
    names = list(axes)
    for before, prompt, then, system_given in threads:
        for output_format, combo in itertools.product(formats, itertools.product(*(axes[n] for n in names))):
            chosen = dict(zip(names, combo))
            chat = chosen.pop("chat_template", base.chat_template)
            system = chosen.pop("system_prompt", base.system_prompt if system_given is None else system_given)
            logprobs = chosen.pop("logprobs", base.logprobs)
            target = _target_name(where, chosen)
            if not isinstance(chat, bool):
                raise BatchError(f"{where}: chat_template must be true or false, not {describe(chat)}")
            if not isinstance(system, str):
                raise BatchError(f"{where}: system_prompt must be a string, not {describe(system)}")
            try:
                sampling = Sampling({**base.values, **chosen}, chat_template=chat, system_prompt=system,
                                    logprobs=logprobs, output_format=output_format)
            except ParamError as exc:
                raise BatchError(f"{where}: {exc}") from None
            yield Job(0, prompt, sampling, target, before, then)


def _threads(where: str, grid: dict[str, Any]) -> list[tuple[tuple[tuple[str, str], ...], str, tuple[str, ...], str | None]]:
    """What a grid's jobs say first: (messages before, the message answered first, the user messages
    after, the system message a message list gives) for each prompt, or the one conversation that
    "messages" or "turns" give."""
    given = [key for key in ("prompt", "prompts", *_THREAD_KEYS) if key in grid]
    thread_keys = [key for key in given if key in _THREAD_KEYS]
    if thread_keys and len(given) > 1:
        raise BatchError(f"{where}: give prompts, messages or turns, not {' and '.join(given)}")
    if "turns" in grid:
        turns = grid.pop("turns")
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise BatchError(f"{where}: 'turns' must be a non-empty list of messages (strings), not {describe(turns)}")
        return [((), turns[0], tuple(turns[1:]), None)]
    if "messages" in grid:
        return [_messages(where, grid.pop("messages"))]
    prompts = grid.pop("prompts", [])
    if not isinstance(prompts, list):
        raise BatchError(f"{where}: 'prompts' must be a non-empty list of strings, not {describe(prompts)}")
    if "prompt" in grid:
        prompts = [grid.pop("prompt"), *prompts]
    if not prompts or not all(isinstance(p, str) for p in prompts):
        raise BatchError(f"{where}: 'prompts' must be a non-empty list of strings (or give one 'prompt')")
    return [((), prompt, (), None) for prompt in prompts]


def _messages(where: str, value: Any) -> tuple[tuple[tuple[str, str], ...], str, tuple[str, ...], str | None]:
    """An OpenAI message list to continue: a system message (first, at most one), then user and
    assistant messages ending with the user's (the model writes the next answer)."""
    if not isinstance(value, list) or not value:
        raise BatchError(f"{where}: 'messages' must be a non-empty list of messages, not {describe(value)}")
    turns: list[tuple[str, str]] = []
    system = None
    for index, item in enumerate(value):
        place = f"{where}: messages[{index}]"
        if not isinstance(item, dict) or set(item) - {"role", "content", "name"} or "role" not in item:
            raise BatchError(f"{place} must be {{\"role\": …, \"content\": …}}")
        role, content = item.get("role"), item.get("content")
        if role not in _MESSAGE_ROLES:
            raise BatchError(f"{place}.role must be one of {', '.join(_MESSAGE_ROLES)}, not {describe(role)}")
        if not isinstance(content, str):
            raise BatchError(f"{place}.content must be a string (text), not {describe(content)}")
        if role == "system":
            if index:
                raise BatchError(f"{place}: a system message comes first")
            system = content
        else:
            turns.append((role, content))
    if not turns or turns[-1][0] != USER:
        raise BatchError(f"{where}: 'messages' must end with a user message (the model answers it)")
    return tuple(turns[:-1]), turns[-1][1], (), system


def _formats(where: str, grid: dict[str, Any], default: OutputFormat, folder: Path) -> list[OutputFormat]:
    """The grid's output formats (taken out of it): the one its format key gives, or those of its
    `format` words (a dimension), or `default` (the command line's); each checked before anything
    starts, xgrammar's reading included (a bad schema, regex or grammar is exit 2)."""
    given = [key for key in _FORMAT_KEYS if key in grid]
    if len(given) > 1:
        raise BatchError(f"{where}: give one output format, not {' and '.join(given)}")
    options = {name: grid.pop(name) for name in _FORMAT_OPTIONS if name in grid}
    for name, value in options.items():
        if not isinstance(value, bool):
            raise BatchError(f"{where}: {name} must be true or false, not {describe(value)}")
    key = given[0] if given else None
    try:
        formats = [default] if key is None else _formats_of(key, grid.pop(key), folder)
    except FormatError as exc:
        raise BatchError(f"{where}: {key}: {exc}") from None
    for name, kinds in (("disable_any_whitespace", JSON_KINDS), ("disable_additional_properties", (JSON_SCHEMA,))):
        if name in options and any(fmt.kind not in kinds for fmt in formats):
            raise BatchError(f"{where}: {name} goes with {' or '.join(kinds)}")
    formats = [replace(fmt, **options) for fmt in formats]
    for fmt in formats:
        problem = fmt.problem(thorough=True)
        if problem is not None:
            source = f" {fmt.source}" if fmt.source else ""
            raise BatchError(f"{where}: {key or 'output format'}{source}: {problem}")
    return formats


def _formats_of(key: str, value: Any, folder: Path) -> list[OutputFormat]:
    """What a format key's value says (FormatError: why it cannot be read)."""
    if key == "format":
        words = value if isinstance(value, list) else [value]
        if not words or not all(isinstance(w, str) for w in words):
            raise FormatError(f"a word or a list of words ({WORDS_HELP})")
        return [parse_word(word, base=folder) for word in words]
    if key == "choice":
        if not isinstance(value, list) or not value or not all(isinstance(c, str) and c for c in value):
            raise FormatError(f"a non-empty list of non-empty strings, not {describe(value)}")
        return [OutputFormat(CHOICE, tuple(value))]
    if key == "json_object":
        if not isinstance(value, bool):
            raise FormatError(f"true or false, not {describe(value)}")
        return [OutputFormat(JSON_OBJECT) if value else FREE_FORMAT]
    if not isinstance(value, (str, dict)) or (key != "json_schema" and not isinstance(value, str)):
        raise FormatError(f"{'a table/object or ' if key == 'json_schema' else ''}a string, not {describe(value)}")
    if key == "regex":
        return [OutputFormat(REGEX, pattern=value)]
    if key == "json_schema":
        if isinstance(value, dict):
            return [OutputFormat(JSON_SCHEMA, schema=dict(value))]
        schema, source = schema_from_text(value, folder)
        return [OutputFormat(JSON_SCHEMA, schema=schema, source=source)]
    if "\n" in value or "::=" in value:  # the grammar itself; else the file that holds it
        return [OutputFormat(GRAMMAR, grammar=value)]
    return [grammar_from_file(value, folder)]


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


def batch_record(job: Job, conversation: Conversation, answers: list[Message], error: str | None,
                 stats: bool = False) -> dict[str, Any]:
    """A job's result line: its last answer's text and figures, the whole thread as OpenAI
    messages, and with several turns each answer's figures too."""
    last = answers[-1].reply
    sampling = job.sampling
    thread = conversation.thread_to(answers[-1])
    result = {
        "index": job.index,
        "prompt": job.prompt,
        "params": {**sampling.values, "chat_template": sampling.chat_template,
                   "system_prompt": sampling.system_prompt, "logprobs": sampling.logprobs},
        "text": answers[-1].content,
        "reasoning": answers[-1].reasoning,
        **last.figures.record(engine=stats),
        "error": error,
        "target": job.target.record() if isinstance(job.target, Target) else None,
        "format": sampling.output_format.record(),
        "valid": None if last.verdict is None else last.verdict.valid,
        "validation_error": None if last.verdict is None else last.verdict.reason,
        "usage": last.usage,  # the server's, as it sent it (None in process)
    }
    if job.before or job.then:
        result["messages"] = openai_messages(thread, sampling.system_prompt if sampling.chat_template else "")
    if job.then:
        result["replies"] = [{"text": m.content, "reasoning": m.reasoning, **m.reply.figures.record(engine=stats),
                              "valid": None if m.reply.verdict is None else m.reply.verdict.valid,
                              "usage": m.reply.usage} for m in answers]
    if sampling.logprobs:
        tokens = last.tokens.tokens
        mean = mean_logprob(tokens)
        result["token_logprobs"] = [token_record(t) for t in tokens]
        result["mean_logprob"] = None if mean is None else round(mean, 6)
        result["perplexity"] = None if mean is None else round(perplexity(mean), 6)
    return result


async def run_job(backend: Backend, job: Job) -> tuple[Conversation, list[Message], str | None]:
    """A job's turns, each after the answer to the one before: the conversation, its answers, and
    why it stopped early (a failed request), if it did. EngineDead propagates."""
    conversation, question = job.conversation()
    target = job.target if isinstance(job.target, Target) else None
    answers: list[Message] = []
    for turn, message in enumerate((None, *job.then)):
        if message is not None:
            question = conversation.add(answers[-1], USER, message)
        answer = conversation.add(question, ASSISTANT, reply=new_reply(job.sampling, target, STREAMING))
        answers.append(answer)
        run = Run(answer, request_for(conversation, answer, job.sampling, f"batch-{job.index}-{turn}", target))
        try:
            async for delta in backend.stream(run.request):
                run.take(delta)
        except EngineDead:
            raise
        except BackendError as exc:
            run.fail(exc)
            return conversation, answers, one_line(exc)
        run.end(DONE)
    return conversation, answers, None


async def run_jobs(backend: Backend, jobs: list[Job], write, concurrency: int = 8, on_done=None,
                   stats: bool = False, history: Any = None) -> int:
    """Run every job (at most `concurrency` at once); `write(record)` in the jobs' order, each as
    soon as the jobs before it are done. When the run ends early (a signal, a dead engine, a
    crash), the finished records still waiting for an earlier job are written too, in order, so
    that every finished line is kept. Returns the number of failed jobs; a dead engine stops the
    batch (EngineDead propagates). `history`: a store each answer is recorded in (the jobs of one
    prompt, across the grid's settings and targets, are one comparison)."""
    limit = asyncio.Semaphore(concurrency)
    record = _recorder(history, backend)
    results: dict[int, dict[str, Any]] = {}
    next_out = 0
    failed = 0

    async def one(job: Job) -> None:
        nonlocal next_out, failed
        async with limit:
            conversation, answers, error = await run_job(backend, job)
        record(job, conversation, answers)
        failed += error is not None
        results[job.index] = batch_record(job, conversation, answers, error, stats)
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


def _recorder(history: Any, backend: Backend):
    """record(job, conversation, answers): each answer into the history, if there is one."""
    if history is None:
        return lambda job, conversation, answers: None
    from tui.store.history import BATCH, new_comparison, run_entry

    fallback = next(iter(backend.targets()), None)
    comparisons: dict[Any, str] = {}

    def record(job: Job, conversation: Conversation, answers: list[Message]) -> None:
        comparison = comparisons.setdefault((job.before, job.prompt, job.then), new_comparison())
        for answer in answers:
            history.record_run(run_entry(conversation, answer, comparison=comparison, kind=BATCH,
                                         target=job.target if isinstance(job.target, Target) else fallback))

    return record


async def run_batch(backend: Backend, path: Path, sampling: Sampling, term: Terminal, *,
                    output: Path | None = None, concurrency: int = 8, stats: bool = False,
                    targets: list[Target] | None = None, history: Any = None) -> int:
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
            failed = await run_jobs(backend, jobs, write, concurrency, on_done=progress.advance, stats=stats,
                                    history=history)
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
