"""The command line: our own flags, plus every engine flag of vLLM's own parser.

The interactive app must draw its first frame fast, so vLLM (seconds to import) is not imported
here for it: unknown flags are handed to the engine, whose parser reads them while the app shows
the loading indicator. `--help` and `--headless` do import it, to list and check engine flags.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tui import __version__, exit_codes, locations
from tui.config import Remote
from tui.demo_model.build import DEMO_ADAPTER_NAME, THINK_ADAPTER_NAME, think_parser_flags
from tui.engine.fleet import Fleet
from tui.core.output_format import (
    CHOICE,
    GRAMMAR,
    JSON_KINDS,
    JSON_OBJECT,
    JSON_SCHEMA,
    REGEX,
    FormatError,
    OutputFormat,
    grammar_from_file,
    schema_from_text,
)
from tui.engine.params import PARAM_SPECS, ParamError, Sampling
from tui.engine.protocol import LOCAL
from tui.text import one_line



class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


def _own_parser(*, headless_positionals: bool) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vllm-panes",
        description="Stream vLLM answers side by side in the terminal (AsyncLLM, V1 engine).",
        epilog="Engine flags are vLLM's own (see `vllm-panes --help`), e.g. --dtype, --max-model-len, "
        "--tensor-parallel-size. The log of vLLM's processes goes to "
        f"{locations.log_file()}.",
        add_help=False,
    )
    ours = parser.add_argument_group("vllm-panes")
    ours.add_argument("-h", "--help", action="store_true",
                      help="show this help with vLLM's engine flags (--help=all, --help=GROUP, --help=WORD)")
    ours.add_argument("--version", action="store_true", help="print the version and exit")
    ours.add_argument("--demo", action="store_true",
                      help="use the project's own small demo model (built locally; works offline)")
    ours.add_argument("--headless", action="store_true",
                      help="no UI: stream PROMPTs (default: the reference example's three) to stdout")
    ours.add_argument("--then", metavar="TEXT", action="append", default=None,
                      help="with --headless: a message sent after each prompt's answer, continuing its "
                      "conversation; repeat it for more turns")
    ours.add_argument("--batch", metavar="FILE", type=Path, default=None,
                      help="with --headless: run prompts × settings from a TOML or JSONL file and write "
                      "JSONL results (see scripts/batch-example.toml)")
    ours.add_argument("--output", metavar="FILE", type=Path, default=None,
                      help="with --batch: write the JSONL results here instead of stdout")
    ours.add_argument("--concurrency", metavar="N", type=int, default=8,
                      help="with --batch: requests in flight at once (default 8)")
    ours.add_argument("--backend", choices=("vllm", "openai"), default=None,
                      help="vllm: AsyncLLM in this process (default); openai: a remote OpenAI-compatible "
                      "server such as `vllm serve` (needs --base-url)")
    ours.add_argument("--base-url", metavar="URL", action="append", default=None,
                      help="a remote server's API root, e.g. http://127.0.0.1:8000/v1; repeat it for more "
                      "servers. Alone it implies --backend openai (the first is the main one); with "
                      "--backend vllm or --demo the servers' models are targets beside the engine's")
    ours.add_argument("--lora", metavar="NAME=PATH", action="append", default=None,
                      help="a LoRA adapter (a PEFT folder) for the in-process engine, a target of its own; "
                      "repeatable. Turns on vLLM's --enable-lora, --max-loras and --max-lora-rank "
                      "(fitted to the adapters) unless given")
    ours.add_argument("--target", metavar="NAME", action="append", default=None,
                      help="where prompts go: 'base', an adapter's name, a model or a label as the picker "
                      "shows it. The app: the default target. --headless: every prompt runs on each "
                      "--target given")
    ours.add_argument("--api-key", metavar="KEY", default=None,
                      help="API key for the remote server (default: $OPENAI_API_KEY, else none)")
    ours.add_argument("--read-timeout", metavar="S", type=float, default=None,
                      help="remote server: a stream that sends nothing for S seconds fails as 'went quiet' "
                      "(default 120)")
    for spec in PARAM_SPECS:
        blank = f", blank for {spec.blank_means}" if spec.blank_means else ""
        ours.add_argument(f"--{spec.name.replace('_', '-')}", dest=spec.name, metavar="V", default=None,
                          help=f"{spec.help or spec.name} (default {spec.format(spec.default) or spec.blank_means}"
                          f"{blank}; {spec.bounds_text()})".replace("; )", ")"))
    ours.add_argument("--no-chat-template", action="store_true",
                      help="send prompts as raw completion text instead of through the chat template")
    ours.add_argument("--system-prompt", default="", metavar="TEXT", help="system message (chat template only)")
    ours.add_argument("--logprobs", metavar="K", type=int, default=None,
                      help="with --headless: each token's probability and its K most likely alternatives "
                      "(K ≤ 20); in a --batch file, the key 'logprobs'")
    _format_flags(parser)
    ours.add_argument("--stats", action="store_true",
                      help="the engine's figures: the app opens with the X-ray panel shown (f2); --headless "
                      "prints where each request's time went and a summary at the end; --batch adds "
                      "them to each JSONL line")
    ours.add_argument("--fresh", action="store_true", help="start with an empty workbench (ignore the saved session)")
    ours.add_argument("--no-history", action="store_true",
                      help="with --headless: do not record the runs in the history (`vllm-panes history` "
                      "searches it; the app records every run)")
    ours.add_argument("--log-to-terminal", action="store_true",
                      help="debugging: let vLLM's output reach the terminal instead of the log file")
    if headless_positionals:
        ours.add_argument("prompts", nargs="*", metavar="PROMPT", help="prompts (--headless)")
    return parser


def _format_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("output format (vLLM's structured outputs; one of the first five)")
    group.add_argument("--choice", metavar="TEXT", action="append", default=None,
                       help="the answer is one of these texts: repeat it for each choice")
    group.add_argument("--regex", metavar="PATTERN", default=None,
                       help="the whole answer matches this regular expression")
    group.add_argument("--json-schema", metavar="FILE_OR_JSON", default=None,
                       help="the answer is JSON valid against this JSON Schema (a file, or the JSON itself)")
    group.add_argument("--grammar", metavar="FILE", default=None,
                       help="the answer follows the grammar in FILE (vLLM's EBNF, or Lark)")
    group.add_argument("--json-object", action="store_true", help="the answer is any JSON object")
    group.add_argument("--disable-any-whitespace", action="store_true",
                       help="with --json-schema or --json-object: compact JSON, no free whitespace")
    group.add_argument("--disable-additional-properties", action="store_true",
                       help="with --json-schema: objects have only the properties the schema names")


def output_format_from_args(ns: argparse.Namespace) -> OutputFormat | None:
    """The format the flags give (None: none given); UsageError names the flag and the reason.
    Whether it can be sent is checked by `check_output_format`."""
    given = [flag for flag, value in (("--choice", ns.choice), ("--regex", ns.regex), ("--json-schema", ns.json_schema),
                                      ("--grammar", ns.grammar), ("--json-object", ns.json_object)) if value]
    if len(given) > 1:
        raise UsageError(f"give one output format, not {' and '.join(given)}")
    try:
        if ns.choice:
            fmt = OutputFormat(CHOICE, tuple(ns.choice))
        elif ns.regex is not None:
            fmt = OutputFormat(REGEX, pattern=ns.regex)
        elif ns.json_schema is not None:
            schema, source = schema_from_text(ns.json_schema)
            fmt = OutputFormat(JSON_SCHEMA, schema=schema, source=source)
        elif ns.grammar is not None:
            fmt = grammar_from_file(ns.grammar)
        elif ns.json_object:
            fmt = OutputFormat(JSON_OBJECT)
        else:
            fmt = None
    except FormatError as exc:
        raise UsageError(f"{given[0]}: {exc}") from None
    if ns.disable_any_whitespace and (fmt is None or fmt.kind not in JSON_KINDS):
        raise UsageError("--disable-any-whitespace goes with --json-schema or --json-object")
    if ns.disable_additional_properties and (fmt is None or fmt.kind != JSON_SCHEMA):
        raise UsageError("--disable-additional-properties goes with --json-schema")
    if fmt is not None:
        fmt = replace(fmt, disable_any_whitespace=ns.disable_any_whitespace,
                      disable_additional_properties=ns.disable_additional_properties)
    return fmt


def check_output_format(fmt: OutputFormat, thorough: bool) -> None:
    """UsageError (exit 2, before the engine loads) when the format cannot be sent: the flag, the
    file and the reason. `thorough`: xgrammar reads the regex or the grammar as vLLM will."""
    problem = fmt.problem(thorough=thorough)
    if problem is not None:
        flag = {CHOICE: "--choice", REGEX: "--regex", JSON_SCHEMA: "--json-schema", GRAMMAR: "--grammar",
                JSON_OBJECT: "--json-object"}[fmt.kind]
        raise UsageError(f"{flag}{' ' + fmt.source if fmt.source else ''}: {problem}")


def sampling_from_args(ns: argparse.Namespace, base: Sampling | None = None) -> Sampling:
    base = base or Sampling()
    values: dict[str, Any] = {}
    for spec in PARAM_SPECS:
        raw = getattr(ns, spec.name, None)
        if raw is not None:
            try:
                values[spec.name] = spec.parse(raw)
            except ParamError as exc:
                raise UsageError(f"--{spec.name.replace('_', '-')}: {exc}") from None
    chat = base.chat_template and not ns.no_chat_template
    return Sampling({**base.values, **values}, chat_template=chat,
                    system_prompt=ns.system_prompt or base.system_prompt)


def _full_help(keyword: str | None) -> str:
    from tui.engine.engine_args import engine_flags_help  # imports vLLM

    engine_help = engine_flags_help(keyword)
    return (
        _own_parser(headless_positionals=True).format_help()
        + "\nEngine flags (vLLM's own AsyncEngineArgs parser; any of them works here).\n"
        "Note: --seed above is the per-request sampling seed; vLLM's engine-wide --seed is not used.\n"
        "Use --help=all for every engine flag, --help=GROUP (e.g. ModelConfig) or --help=WORD to search.\n\n"
        + engine_help
    )


def run() -> None:
    """Console-script entry: main(), then a fast exit.

    By the time main() returns the engine is stopped, its processes are gone, the session is saved
    and our streams are flushed. What is left is the interpreter's teardown of torch, vLLM, ZeroMQ
    and their threads, which takes seconds; os._exit skips it.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass
    logging.shutdown()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["history"]:  # a subcommand of its own: no engine, no UI, the terminal as it is
        from tui.store.command import history_main

        return history_main(argv[1:])
    if argv[:1] == ["leaderboard"]:  # the arena's ratings: no engine, no UI either
        from tui.arena.command import leaderboard_main

        return leaderboard_main(argv[1:])
    from tui.terminal import divert_output_to_log, keep_terminal

    # Before anything imports vLLM: its children inherit fds 1 and 2, and it prints at import.
    to_terminal = "--log-to-terminal" in argv
    term = keep_terminal() if to_terminal else divert_output_to_log(locations.log_file())
    try:
        code = _main(argv, term)
        logging.getLogger("tui").info("exiting with %s", code)
        return code
    except Exception as exc:  # a readable line where the person looks; the traceback in the log
        import traceback

        traceback.print_exc()  # sys.stderr is the log file unless --log-to-terminal
        where = f"; details in {term.log_path}" if term.log_path else ""
        print(f"vllm-panes: crashed: {one_line(f'{type(exc).__name__}: {exc}')}{one_line(where)}", file=term.err)
        return exit_codes.FAILED


def _main(argv: list[str], term) -> int:
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")
    def usage(message: str) -> int:
        print(f"vllm-panes: error: {one_line(message, 2000)}\n(see vllm-panes --help)", file=term.err)
        return exit_codes.USAGE

    for arg in argv:
        if arg in ("-h", "--help") or arg.startswith("--help="):
            keyword = arg.split("=", 1)[1] if "=" in arg else None
            print(_full_help(keyword), file=term.out)
            return exit_codes.OK
    if "--version" in argv:
        print(f"vllm-panes {__version__}", file=term.out)
        return exit_codes.OK
    from tui.config import load_config

    try:
        plan = make_plan(argv, load_config(), term.log_path)
    except UsageError as exc:
        return usage(str(exc))
    if plan.headless:
        return asyncio.run(_run_headless(plan, term))

    from tui.app import run_app  # Textual; never imported by the headless path

    return run_app(plan.backend, plan.sampling, term, fresh=plan.fresh, config=plan.config,
                   cli_sampling_given=plan.cli_sampling_given, xray=plan.stats, targets=plan.targets,
                   first_start_panes=plan.first_start_panes)


async def _run_headless(plan: Plan, term) -> int:
    """--headless and --batch, once the targets named by a server's model are checked: a name no
    target has is a usage error (exit 2) before the engine loads."""
    from tui.lifecycle import named_targets

    targets = await named_targets(plan.backend, plan.targets, term)
    if targets is None:
        return exit_codes.USAGE
    history = None if plan.no_history else _open_history(plan.config, term)
    try:
        if plan.batch is not None:
            from tui.batch import run_batch

            return await run_batch(plan.backend, plan.batch, plan.sampling, term, output=plan.output,
                                   concurrency=plan.concurrency, stats=plan.stats, targets=targets, history=history)
        from tui.headless import run_headless

        return await run_headless(plan.backend, plan.prompts, plan.sampling, term, stats=plan.stats,
                                  targets=targets, then=plan.then, history=history)
    finally:
        if history is not None:
            history.close()


def _open_history(config: Any, term) -> Any:
    """The store the runs are recorded in (--headless, --batch), or None when it cannot be opened
    (said on stderr: the runs go on)."""
    from tui.store.db import StoreUnavailable
    from tui.store.store import Store

    try:
        store = Store.open(locations.store_file(), max_mb=config.history_max_mb)
    except StoreUnavailable as exc:
        print(f"vllm-panes: the history cannot be opened ({one_line(exc)}): these runs are not recorded",
              file=term.err)
        return None
    for notice in store.notices:
        print(f"vllm-panes: {one_line(notice, 600)}", file=term.err)
    return store


@dataclass
class Plan:
    """What a command line asks for, checked; nothing is started yet."""

    backend: Any
    sampling: Sampling
    config: Any
    headless: bool = False
    prompts: list[str] = field(default_factory=list)
    batch: Path | None = None
    output: Path | None = None
    concurrency: int = 8
    fresh: bool = False
    cli_sampling_given: bool = False
    stats: bool = False
    targets: list[Any] = field(default_factory=list)  # Targets named with --target, resolved
    first_start_panes: list[Any] = field(default_factory=list)  # targets of the first start's panes
    then: list[str] = field(default_factory=list)  # --then: messages after each prompt's answer
    no_history: bool = False  # --no-history: headless runs are not recorded


def make_plan(argv: list[str], config: Any, log_path: Path | None = None) -> Plan:
    """Parse our flags and the engine's; raise UsageError with a short message. `log_path`: where
    vLLM's processes log (None: to the terminal).

    The interactive app leaves vLLM's engine flags to the engine's loader (the first frame must
    not wait for the vLLM import); headless runs check them here, before anything loads.
    """
    headless = "--headless" in argv
    ns, rest = _own_parser(headless_positionals=False).parse_known_args(argv)
    sampling = sampling_from_args(ns, base=config.sampling)
    if (ns.batch or ns.output) and not headless:
        raise UsageError("--batch and --output go with --headless")
    if ns.output and not ns.batch:
        raise UsageError("--output goes with --batch")
    if ns.then and not headless:
        raise UsageError("--then goes with --headless (in the app, type the next message in the pane)")
    if ns.then and ns.batch:
        raise UsageError("--then goes with prompts; in a --batch file, give 'turns'")
    if ns.concurrency < 1:
        raise UsageError("--concurrency must be ≥ 1")
    if ns.no_history and not headless:
        raise UsageError("--no-history goes with --headless (the app records every run; f9 shows them)")
    if ns.logprobs is not None:
        if not headless:
            raise UsageError("--logprobs goes with --headless")
        try:
            sampling = replace(sampling, logprobs=ns.logprobs)
        except ParamError as exc:
            raise UsageError(f"--logprobs: {exc}") from None
    output_format = output_format_from_args(ns)
    if output_format is not None:
        sampling = replace(sampling, output_format=output_format)
    given = any(getattr(ns, spec.name) is not None for spec in PARAM_SPECS) or ns.no_chat_template \
        or output_format is not None
    plan = Plan(backend=None, sampling=sampling, config=config, headless=headless, batch=ns.batch,
                output=ns.output, concurrency=ns.concurrency, fresh=ns.fresh, cli_sampling_given=given,
                stats=ns.stats, then=list(ns.then or []), no_history=ns.no_history)

    urls = [Remote(url) for url in ns.base_url or []]
    backend = ns.backend or ("vllm" if ns.demo else "openai" if urls else config.backend)
    if backend != "openai" and ns.read_timeout is not None and not urls:
        raise UsageError("--read-timeout goes with a remote server (--base-url)")
    adapters = _adapters(ns, config)
    if backend == "openai":
        if ns.lora:
            raise UsageError("--lora names adapters for the in-process engine; a server serves its own "
                             "(`vllm serve --enable-lora --lora-modules NAME=PATH`)")
        primary, plan.prompts = _remote_backend(ns, rest, config, headless, urls[0] if urls else None)
        others = _servers(ns, urls[1:] + config.remotes, config)
    else:
        primary = _engine_backend(ns, rest, config, headless, adapters, plan, log_path)
        others = _servers(ns, urls + config.remotes, config)
    # After the engine's flags: a headless run has imported vLLM by now, so xgrammar's reading of a
    # regex or a grammar costs little (the app's first frame does not wait for it: the engine checks).
    check_output_format(sampling.output_format, thorough=headless and backend != "openai")
    try:
        plan.backend = primary if not others else Fleet(primary, others)
    except ValueError as exc:
        raise UsageError(f"--base-url: {exc}") from None
    plan.targets = _named_targets(ns.target or [], plan.backend)
    if ns.demo and not ns.target and DEMO_ADAPTER_NAME in adapters:
        shown = (None, DEMO_ADAPTER_NAME, THINK_ADAPTER_NAME)
        plan.first_start_panes = [t for t in primary.targets() if t.adapter in shown]
    return plan


def _adapters(ns: argparse.Namespace, config: Any) -> dict[str, str]:
    """The config's adapters, then --lora's (a name given on the command line wins), then the demo's."""
    from tui.engine.lora import LoraSpecError, parse_lora_spec

    adapters = dict(config.adapters)
    named: set[str] = set()
    for spec in ns.lora or []:
        try:
            name, path = parse_lora_spec(spec)
        except LoraSpecError as exc:
            raise UsageError(f"--lora: {exc}") from None
        if name in named:
            raise UsageError(f"--lora: {name!r} is named twice")
        named.add(name)
        adapters[name] = str(Path(path).expanduser())
    if ns.demo:
        from tui.demo_model import demo_adapter_path, think_adapter_path

        for name, shipped in ((DEMO_ADAPTER_NAME, demo_adapter_path()), (THINK_ADAPTER_NAME, think_adapter_path())):
            if shipped is not None:
                adapters.setdefault(name, str(shipped))
    return adapters


def _demo_thinking_flags(engine_argv: list[str], adapters: dict[str, str]) -> list[str]:
    """--demo's thinking adapter comes with the parser that sets its thinking apart (the base
    model's answers, which never open `<think>`, stay whole), unless the flags name a parser."""
    from tui.demo_model import think_adapter_path

    given = {arg.split("=", 1)[0] for arg in engine_argv if arg.startswith("--")}
    shipped = think_adapter_path()
    if "--reasoning-parser" in given or shipped is None or adapters.get(THINK_ADAPTER_NAME) != str(shipped):
        return []
    return think_parser_flags()


def _engine_backend(ns: argparse.Namespace, rest: list[str], config: Any, headless: bool,
                    adapters: dict[str, str], plan: Plan, log_path: Path | None) -> Any:
    from tui.engine.lora import lora_flags

    engine_argv = list(config.engine_flags) + rest  # later flags win in argparse
    engine_argv += lora_flags(adapters, engine_argv)
    model = config.model
    if ns.demo:
        from tui.demo_model import ensure_demo_model

        model = str(ensure_demo_model())
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        engine_argv += _demo_thinking_flags(engine_argv, adapters)
    engine_args = None
    if headless:
        # Check engine flags now (exit 2 before loading anything); the positionals are prompts.
        from tui.engine.engine_args import (
            EngineArgsError,
            engine_args_from_namespace,
            engine_flag_parser,
        )

        parser = engine_flag_parser(with_prompts=True)
        if model is not None:
            parser.set_defaults(model=model)
        try:
            engine_ns = parser.parse_args(engine_argv)
            plan.prompts = list(engine_ns.prompts)
            engine_args = engine_args_from_namespace(engine_ns)
        except EngineArgsError as exc:
            raise UsageError(str(exc)) from None
        if plan.batch is not None and plan.prompts:
            raise UsageError("give prompts in the --batch file, not on the command line")
        model = str(engine_args.model)

    from tui.engine.vllm_backend import VLLMBackend

    return VLLMBackend(engine_argv, model=model, engine_args=engine_args, adapters=adapters, log_path=log_path)


def _servers(ns: argparse.Namespace, remotes: list[Remote], config: Any) -> list[Any]:
    """The other servers (beside the main backend): connected in the background at start."""
    from tui.engine.openai_backend import OpenAIBackend

    servers = []
    for remote in remotes:
        key = os.environ.get(remote.api_key_env) if remote.api_key_env else ns.api_key
        timeout = ns.read_timeout if ns.read_timeout is not None else config.read_timeout
        servers.append(OpenAIBackend(remote.url, api_key=key or os.environ.get("OPENAI_API_KEY"),
                                     models=remote.models,
                                     **({"read_timeout": timeout} if timeout is not None else {})))
    return servers


def _named_targets(specs: list[str], backend: Any) -> list[Any]:
    """The targets --target names. A name no target of the engine has may be a server's model,
    known once the server is reached: those are checked then (tui.targets.resolve_names)."""
    from tui.targets import TargetError, resolve

    known = backend.targets()
    servers = isinstance(backend, Fleet) or backend.source != LOCAL
    resolved = []
    for spec in specs:
        try:
            resolved.append(resolve(spec, known))
        except TargetError as exc:
            if not servers:
                raise UsageError(f"--target: {exc}") from None
            resolved.append(spec)
    return resolved


def _remote_backend(ns: argparse.Namespace, rest: list[str], config: Any, headless: bool,
                    first: Remote | None):
    from tui.engine.openai_backend import OpenAIBackend

    base_url = first.url if first is not None else config.remote_url
    if not base_url:
        raise UsageError("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
    if ns.demo:
        raise UsageError("--demo runs the demo model in this process, not with --backend openai")
    parser = _Parser(prog="vllm-panes", add_help=False)
    parser.add_argument("--model", default=config.remote_model)
    if headless:
        parser.add_argument("prompts", nargs="*")
    remote_ns, unknown = parser.parse_known_args(rest)
    if unknown:
        flags = " ".join(arg for arg in unknown if arg.startswith("-")) or " ".join(unknown)
        raise UsageError(f"{flags}: engine flags apply to the in-process engine, not to --backend openai "
                         "(give them to `vllm serve`)")
    prompts = list(getattr(remote_ns, "prompts", []))
    if ns.batch is not None and prompts:
        raise UsageError("give prompts in the --batch file, not on the command line")
    api_key = ns.api_key or os.environ.get("OPENAI_API_KEY")
    read_timeout = ns.read_timeout if ns.read_timeout is not None else config.read_timeout
    if read_timeout is not None and not (0 < read_timeout < float("inf")):
        raise UsageError("--read-timeout must be a number of seconds above 0")
    backend = OpenAIBackend(base_url, model=remote_ns.model, api_key=api_key,
                            **({"read_timeout": read_timeout} if read_timeout is not None else {}))
    return backend, prompts
