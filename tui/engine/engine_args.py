"""Engine flags through vLLM's own parser, so every flag vLLM knows works from our command line.

Imports vLLM: keep it out of anything that must be fast to import.
"""

from __future__ import annotations

import argparse

from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.utils.argparse_utils import FlexibleArgumentParser

from tui.engine.protocol import BackendError

DEFAULT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"


class EngineArgsError(BackendError):
    """An engine flag vLLM's parser refused."""


class _EngineFlagParser(FlexibleArgumentParser):
    def error(self, message: str):  # argparse would print and exit; we say it where the user looks
        raise EngineArgsError(f"engine flags: {message}")


def add_engine_flags(parser: argparse.ArgumentParser) -> None:
    """Add vLLM's engine flags (as a group of their own in --help) with our defaults."""
    AsyncEngineArgs.add_cli_args(parser)
    parser.set_defaults(model=DEFAULT_MODEL, enforce_eager=True)


def engine_flag_parser(with_prompts: bool = False) -> FlexibleArgumentParser:
    parser = _EngineFlagParser(prog="vllm-panes", add_help=False, add_json_tip=False)
    add_engine_flags(parser)
    if with_prompts:
        parser.add_argument("prompts", nargs="*", metavar="PROMPT")
    return parser


def engine_flags_help(keyword: str | None) -> str:
    """vLLM's help for its engine flags, without its usage line; `keyword` is vLLM's own search
    (--help=all, --help=GROUP, --help=WORD)."""
    parser = engine_flag_parser()
    parser._search_keyword = keyword  # noqa: SLF001 - how vLLM's FlexibleArgumentParser takes it
    return parser.format_help().split("\n\n", 1)[-1]


def build_engine_args(argv: list[str], model: str | None = None) -> AsyncEngineArgs:
    """Parse engine flags. `model` is the fallback when argv does not name one (e.g. --demo)."""
    parser = engine_flag_parser()
    if model is not None:
        parser.set_defaults(model=model)
    namespace = parser.parse_args(list(argv))
    return engine_args_from_namespace(namespace)


def engine_args_from_namespace(namespace: argparse.Namespace) -> AsyncEngineArgs:
    if _on_cpu():
        if getattr(namespace, "dtype", "auto") == "auto":
            # bf16 weights crash the CPU worker with SIGILL on CPUs without AVX512-BF16.
            namespace.dtype = "float32"
        if getattr(namespace, "enable_chunked_prefill", None) is None:
            # vLLM 0.32 on CPU: a seeded request whose prompt is prefilled in chunks kills the
            # engine ("CPU Generator does not use offset": the model runner rewinds the request's
            # generator after a partial prefill, and a CPU generator has no offset). Conversations
            # make long prompts, and several at once are split. Whole prefills keep seeds working.
            namespace.enable_chunked_prefill = False
    try:
        return AsyncEngineArgs.from_cli_args(namespace)
    except (TypeError, ValueError) as exc:
        raise EngineArgsError(f"engine flags: {exc}") from exc


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()
