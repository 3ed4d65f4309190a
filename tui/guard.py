"""Nothing a timer or a callback raises ends the app: the error is logged with its traceback and
said once in a notification, and the app goes on (what the person made is still there to save)."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from tui.text import one_line

log = logging.getLogger(__name__)


def guarded(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap a method of a Textual node (app, screen, widget) run by a timer or a callback: an
    exception is logged and shown as an error notification ('… failed while {what}') instead of
    reaching Textual, which would end the app."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(method):
            @functools.wraps(method)
            async def run_async(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await method(self, *args, **kwargs)
                except Exception as exc:
                    _report(self, what, exc)
            return run_async

        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                _report(self, what, exc)
        return run

    return wrap


_said: set[str] = set()


def _report(node: Any, what: str, exc: Exception) -> None:
    log.exception("failed while %s", what)
    key = f"{what}:{type(exc).__name__}"
    if key in _said:  # a timer that fails every time says so once
        return
    _said.add(key)
    try:
        node.notify(f"Something failed while {what} ({one_line(f'{type(exc).__name__}: {exc}', 200)}); "
                    "the app goes on. Details are in the log.", severity="error", timeout=10)
    except Exception:  # the node is going away: the log has it
        log.debug("could not say so", exc_info=True)
