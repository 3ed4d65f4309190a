"""Driving the app from tests and the benchmark: build it on a backend, send keys, wait."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui.app import WorkbenchApp, open_store_or_say_why
from tui.config import Config
from tui.core.pane_state import PaneState
from tui.session import SessionRecord
from tui.store.store import Store

from tests.support.scripted import ScriptedBackend


def make_app(backend=None, *, session: SessionRecord | None = None, session_path: Path | None = None,
             theme: str | None = None, xray: bool = False, autosave_s: float | None = None,
             store: Store | None = None) -> WorkbenchApp:
    """The app on `backend` (a scripted one by default); it never writes the person's config.
    `session_path`: where it keeps its session and history (an SQLite store; a name ending in
    .json is given .db instead; opened as the app's start opens it: one that cannot be opened is
    said in a notice, and the app runs without it), None for nowhere; or an open `store`.
    `autosave_s`: save the session this often (tests make timers fire in the middle of things)."""
    extra = {} if autosave_s is None else {"autosave_s": autosave_s}
    config = Config(theme=theme)
    if store is None and session_path is not None:
        store = open_store_or_say_why(store_path(session_path), config.history_max_mb, config.notices)
    return WorkbenchApp(backend or ScriptedBackend(), config=config, session=session,
                        store=store, save_config=False, xray=xray, **extra)


def stored_session(path: Path) -> SessionRecord | None:
    """The session the store at `path` holds, read as the next start reads it."""
    store = Store.open(path)
    try:
        record, notice = store.load_session()
        assert notice is None and store.notices == [], (notice, store.notices)
        return record
    finally:
        store.close()


def store_path(session_path: Path) -> Path:
    """The store make_app opens for `session_path`."""
    return session_path.with_suffix(".db") if session_path.suffix == ".json" else session_path


def still(app: WorkbenchApp) -> None:
    """No blinking cursors in snapshots."""
    for widget in app.screen.query("TextArea, Input"):
        widget.cursor_blink = False  # its watcher shows a steady cursor where there is focus


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


def send_terminal(app, *reads: str) -> None:
    """What a terminal sends, read by Textual's own parser (alt+c arrives as ESC c: the key alt+c
    with the character `c`), posted to the app in one burst as its driver posts it."""
    from tui.render.probes import key_events_read_from

    for event in key_events_read_from(*reads):
        app.post_message(event)


def send_key(app, key: str) -> None:
    """A key press, without Pilot's wait for an idle app (which, while answers stream, only
    comes when they have finished)."""
    app.simulate_key(key)


async def run_with_heat(app, timeout: float = 60.0) -> list:
    """Every pane with the heat view on, run (ctrl+r) until all are done; returns the panes."""
    panes = app.workbench.panes()
    for pane in panes:
        pane.heat = True
    send_key(app, "ctrl+r")
    await wait_until(lambda: all(pane.figures.state == "done" for pane in panes), timeout=timeout)
    return panes


async def mark_parting(app, pilot, a, b) -> None:
    """f6 in pane `a`, then in pane `b`: where their answers part is marked in both."""
    a.editor.focus()
    send_key(app, "f6")
    b.editor.focus()
    await pilot.pause()
    send_key(app, "f6")
    await pilot.pause()


def saved_pane(prompt: str = "", *, overrides: dict[str, str] | None = None, output: str = "", state: str = "idle",
         target=None, label: str = "", heat: bool = False, message: str = "", number: int = 0) -> PaneState:
    """A pane's state as tests make it: a draft (`prompt`) when nothing ran, else a one-turn
    conversation (the prompt, then `output` in `state`). `target`: a Target or its record."""
    from tui.core.conversation import ASSISTANT, USER, Reply
    from tui.figures import Figures
    from tui.targets import target_from_record

    if isinstance(target, dict):
        target = target_from_record(target, "target")
    made = PaneState(number, overrides=dict(overrides or {}), target=target, label=label, heat=heat)
    if state == "idle" and not output:
        made.draft = prompt
        return made
    question = made.conversation.add(None, USER, prompt)
    made.conversation.add(question, ASSISTANT, output, Reply(figures=Figures(state, message=message), target=target))
    return made


def session_of(panes: list[PaneState], **settings) -> SessionRecord:
    """A session of these panes, numbered 1, 2, … where they have no number."""
    for number, state in enumerate(panes, 1):
        if not state.number:
            state.number = number
    return SessionRecord(panes=panes, **settings)
