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
from typing import Any

from tui import __version__, locations
from tui.engine.params import PARAM_SPECS, ParamError, Sampling

EXIT_USAGE = 2


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
    for spec in PARAM_SPECS:
        blank = f", blank for {spec.blank_means}" if spec.blank_means else ""
        ours.add_argument(f"--{spec.name.replace('_', '-')}", dest=spec.name, metavar="V", default=None,
                          help=f"{spec.help or spec.name} (default {spec.format(spec.default) or spec.blank_means}"
                          f"{blank}; {spec.bounds_text()})".replace("; )", ")"))
    ours.add_argument("--no-chat-template", action="store_true",
                      help="send prompts as raw completion text instead of through the chat template")
    ours.add_argument("--system-prompt", default="", metavar="TEXT", help="system message (chat template only)")
    ours.add_argument("--fresh", action="store_true", help="start with an empty workbench (ignore the saved session)")
    ours.add_argument("--log-to-terminal", action="store_true",
                      help="debugging: let vLLM's output reach the terminal instead of the log file")
    if headless_positionals:
        ours.add_argument("prompts", nargs="*", metavar="PROMPT", help="prompts (--headless)")
    return parser


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
    from tui.engine.engine_args import engine_flag_parser  # imports vLLM

    parser = engine_flag_parser()
    parser._search_keyword = keyword  # vLLM's own --help=all / --help=GROUP / --help=flag search
    engine_help = parser.format_help()
    engine_help = engine_help.split("\n\n", 1)[-1]  # drop vLLM's usage line
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
    and their threads, measured at ~4 s on 2 cores; os._exit skips it.
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
        print(f"vllm-panes: crashed: {type(exc).__name__}: {exc}{where}", file=term.err)
        return 1


def _main(argv: list[str], term) -> int:
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")
    def usage(message: str) -> int:
        print(f"vllm-panes: error: {message}\n(see vllm-panes --help)", file=term.err)
        return EXIT_USAGE

    for arg in argv:
        if arg in ("-h", "--help") or arg.startswith("--help="):
            keyword = arg.split("=", 1)[1] if "=" in arg else None
            print(_full_help(keyword), file=term.out)
            return 0
    if "--version" in argv:
        print(f"vllm-panes {__version__}", file=term.out)
        return 0
    headless = "--headless" in argv
    from tui.config import load_config

    config = load_config()
    try:
        ns, engine_argv = _own_parser(headless_positionals=False).parse_known_args(argv)
        sampling = sampling_from_args(ns, base=config.sampling)
    except UsageError as exc:
        return usage(str(exc))
    engine_argv = list(config.engine_flags) + engine_argv  # later flags win in argparse

    model = config.model
    if ns.demo:
        from tui.demo_model import ensure_demo_model

        model = str(ensure_demo_model())
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    prompts: list[str] = []
    engine_args = None
    if headless:
        # Check engine flags now (exit 2 before loading anything); the positionals are prompts.
        from tui.engine.engine_args import EngineArgsError, engine_args_from_namespace, engine_flag_parser

        parser = engine_flag_parser(with_prompts=True)
        if model is not None:
            parser.set_defaults(model=model)
        try:
            engine_ns = parser.parse_args(engine_argv)
            prompts = list(engine_ns.prompts)
            engine_args = engine_args_from_namespace(engine_ns)
        except EngineArgsError as exc:
            return usage(str(exc))

    from tui.engine.vllm_backend import VLLMBackend

    backend = VLLMBackend(engine_argv, model=model, engine_args=engine_args)
    if headless:
        from tui.headless import run_headless

        return asyncio.run(run_headless(backend, prompts, sampling, term))

    from tui.app import run_app  # Textual; never imported by the headless path

    given = any(getattr(ns, spec.name) is not None for spec in PARAM_SPECS) or ns.no_chat_template
    return run_app(backend, sampling, term, fresh=ns.fresh, config=config, cli_sampling_given=given)
