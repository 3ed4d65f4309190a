"""Helpers to drive the app from tests and the benchmark: build it, send keys, wait, stop blinking."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import Input, TextArea

from tui.app import WorkbenchApp
from tui.engine.scripted import ScriptedBackend
from tui.session import SessionRecord


def make_app(backend=None, *, session: SessionRecord | None = None, session_path: Path | None = None,
             theme: str | None = None) -> WorkbenchApp:
    from tui.config import Config

    app = WorkbenchApp(backend or ScriptedBackend(), config=Config(theme=theme), session=session,
                       session_path=session_path, save_config=False)
    return app


def still(app: WorkbenchApp) -> None:
    """No blinking cursors in snapshots."""
    for widget in app.screen.query("TextArea, Input"):
        widget.cursor_blink = False
        if isinstance(widget, (TextArea, Input)):
            widget._pause_blink(visible=widget.has_focus)  # noqa: SLF001 - show a steady cursor


async def type_prompt(pilot, pane, text: str) -> None:
    pane.editor.focus()
    pane.editor.text = text
    await pilot.pause()


async def wait_until(predicate, timeout: float = 30.0, step: float = 0.02) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


def send_key(app, key: str) -> None:
    """A key press as the terminal would deliver it, without Pilot's wait for an idle app
    (which, while answers stream, only comes when they have finished)."""
    from textual import events

    event = events.Key(key, None)
    event.set_sender(app)
    app._driver.send_message(event)  # noqa: SLF001 - the same path Pilot.press uses
