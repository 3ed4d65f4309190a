"""How long a person waits: a cancel to the engine's abort, a key to the screen while panes
stream (plain, and deep in conversations), the token cursor's keys over a long answer."""

from __future__ import annotations

import asyncio
import time

from bench.common import SETTLE_S, settle_like_the_app
from bench.runs import pane_states, until, workbench


async def key_to_screen_ms(app, key: str, state) -> float:
    """ms from a key press to the end of the frame that shows its effect: `state()` changes when
    the app has handled the key; what that marked for drawing is in the next frame."""
    from tui.render.probes import after_next_frame

    before = state()
    start = time.perf_counter()
    app.simulate_key(key)
    while state() == before:
        await asyncio.sleep(0)
    shown = asyncio.get_running_loop().create_future()
    after_next_frame(app.workbench).append(lambda now: shown.done() or shown.set_result(now))
    return (await shown - start) * 1000


async def cancel_latencies(backend, count: int) -> list[float]:
    """esc in a streaming pane → the engine has no request left: ms, `count` times."""
    engine = backend.engine
    app = workbench(backend, pane_states(1, 1500))
    out = []
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        settle_like_the_app()
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        for _ in range(count):
            runs = pane.runs
            app.simulate_key("f5")
            await until(lambda: pane.runs == runs + 1 and pane.figures.tokens >= 5, step=0.002)
            assert engine.get_num_unfinished_requests() == 1
            start = time.perf_counter()
            app.simulate_key("escape")
            while engine.get_num_unfinished_requests():
                await asyncio.sleep(0)
            out.append((time.perf_counter() - start) * 1000)
    return out


async def key_latencies(backend, count: int, turns: int = 0, panes: int = 8) -> list[float]:
    """A key typed in a pane's box → on screen, while `panes` panes stream (each after `turns`
    turns of its conversation)."""
    app = workbench(backend, pane_states(panes, 1900, turns=turns))
    out = []
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        settle_like_the_app()
        all_panes = app.workbench.panes()
        app.simulate_key("ctrl+r")
        await until(lambda: all(p.tokens_received > 5 for p in all_panes), step=0.005)
        editor = all_panes[0].editor
        editor.focus()
        await asyncio.sleep(0.05)
        for _ in range(count):
            if not all(p.figures.state == "streaming" for p in all_panes):
                break
            out.append(await key_to_screen_ms(app, "x", lambda: editor.text))
            await asyncio.sleep(0.02)
        app.simulate_key("ctrl+g")
        await until(lambda: backend.engine.get_num_unfinished_requests() == 0)
    return out


async def cursor_key_latencies(count: int, length: int) -> list[float]:
    """Key → screen for the token cursor's keys (right, down, left, up, in turn) over an answer of
    `length` recorded tokens with the heat view on (the scripted backend: no engine)."""
    from tui.engine.scripted import ScriptedBackend

    backend = ScriptedBackend(lambda prompt, sampling: [f"w{i % 97} " for i in range(length)],
                              max_model_len=1_000_000)
    app = workbench(backend, pane_states(1, length))
    out = []
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        pane = app.workbench.panes()[0]
        pane.heat = True
        app.simulate_key("f5")
        await until(lambda: pane.figures.state == "done", timeout=120)
        await pilot.pause(0.1)
        assert len(pane.spans) == length
        pane.enter_token_cursor()
        pane.move_token_cursor(length // 2)
        await asyncio.sleep(SETTLE_S)
        settle_like_the_app()
        keys = ["right", "down", "right", "down", "left", "up"]
        for i in range(count):
            out.append(await key_to_screen_ms(app, keys[i % len(keys)], lambda: pane.token_cursor))
            await asyncio.sleep(0.02)
    return out
