"""The exit codes of `vllm-panes`, in one place."""

from __future__ import annotations

OK = 0
FAILED = 1  # a request failed, the engine died, or the app crashed
USAGE = 2  # a bad flag, value or file: nothing was started
SIGNALLED = 128  # + the signal's number, as shells report a process a signal stopped


def for_signal(signum: int) -> int:
    return SIGNALLED + int(signum)
