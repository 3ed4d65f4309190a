"""The fault matrix rows that need no process of their own (the others are in test_faults.py)."""

from __future__ import annotations

import asyncio
import random
import unicodedata
from itertools import zip_longest

import pytest
from textual import events

from tui.engine.params import Sampling
from tui.engine.protocol import EngineState, Request
from tui.keymap import ACTIONS
from tests.support.scripted import ScriptedBackend, echo_script
from tests.support.app import (make_app, send_key, type_prompt, wait_until, saved_pane, session_of, store_path,
                               stored_session)
from tests.support.views import answer_problem, drawn_rows
from tui.figures import CANCELLED, DONE, ERROR, STREAMING
from tui.thread_text import shown

# Every key the workbench binds (tui/keymap.py, the one list), the palette, editing keys (ctrl+w,
# ctrl+k, ctrl+d are the editor's again) and text; not ctrl+q (quits) or ctrl+c.
BOUND = sorted({key for action in ACTIONS for key in action.key_list})
KEYS = BOUND + ["ctrl+p", "a", "z", "1", "-", ".", "space", "enter", "tab", "shift+tab", "backspace", "delete",
                "ctrl+w", "ctrl+k", "ctrl+d", "ctrl+u", "up", "down", "left", "right", "home", "end", "pageup",
                "pagedown"]


def test_the_storm_presses_every_key_the_workbench_binds():
    assert "ctrl+q" not in KEYS and "ctrl+c" not in KEYS
    assert {"alt+r", "alt+e", "alt+up", "alt+pageup", "alt+a", "alt+m", "alt+w", "alt+u", "ctrl+g", "f4", "f6"} <= set(KEYS)


STORM_SEED = 20261204  # seeded: the same storm on every run (VLLM_PANES_STORM_SEED picks another)
# Bursts a person makes: a sweep typed in, and duplicates one after another without a pause, so
# that panes are being mounted while the session saves and frames are drawn.
BURSTS = (["f8", *"temperature=0,1 seed=1,2", "enter"], ["alt+n"] * 6, ["ctrl+n", "alt+w", "alt+u"] * 2)


def key_storm(count: int, seed: int | None = None) -> list[list[str]]:
    """`count` batches of 1 to 10 keys drawn at random from KEYS, and now and then a burst.
    (Not Hypothesis: with one example and derandomize it draws its simplest, "a" every time.)"""
    import os

    rng = random.Random(int(os.environ.get("VLLM_PANES_STORM_SEED", STORM_SEED)) if seed is None else seed)
    return [list(rng.choice(BURSTS)) if rng.random() < 0.03 else rng.choices(KEYS, k=rng.randint(1, 10))
            for _ in range(count)]


def test_the_storm_is_random():
    batches = key_storm(1000)
    pressed = [key for batch in batches for key in batch]
    assert set(BOUND) <= set(pressed) and len(set(pressed)) > len(KEYS) * 0.9
    assert any(batch in [list(b) for b in BURSTS] for batch in batches)


def resize_storm(count: int, seed: int = 0) -> list[tuple[int, int] | None]:
    """After each of `count` batches of keys, a terminal size to change to (one batch in twenty),
    or None: random sizes, down to those that leave an answer one row or none. Seeded, the same
    on every run. (Not Hypothesis: with one example it draws its simplest, one size every time.)"""
    rng = random.Random(seed)
    return [(rng.randint(20, 240), rng.randint(8, 60)) if rng.random() < 0.05 else None for _ in range(count)]


def key_event(key: str) -> events.Key:
    """A key as the terminal's driver reports it: a character's key is named as Textual names it
    (`=` is `equals_sign`), and printable keys carry their character."""
    if len(key) == 1:
        name = key if key.isalnum() else unicodedata.name(key).lower().replace("-", "_").replace(" ", "_")
        return events.Key(name, key)
    return events.Key(key, " " if key == "space" else None)


async def run_keys(app, pilot, batches, sizes=()) -> None:
    """Send each batch of keys at once, as a terminal's burst is read (Pilot's `press` waits for an
    idle app after every key: 40 ms or more a key); after a batch with a size in `sizes`, resize
    the terminal to it and check that every pane still draws its answer as before (`answers_kept`)."""
    for keys, size in zip_longest(batches, sizes):
        for key in keys:
            app.post_message(key_event(key))
        await pilot.pause()
        if len(app.screen_stack) > 2:  # a modal (help, palette) left open: close it as a person would
            await pilot.press("escape")
        if size is not None:
            before = reading_places(app)
            await pilot.resize_terminal(*size)
            await answers_kept(app, before)


def reading_places(app) -> dict:
    """Each answer's view: None while it follows the end of its answer, else the word at its
    reading place (where the person scrolled up to read: kept through resizes while they do not
    scroll, so that it may be a word into the top row, which then starts earlier)."""
    places = {}
    for pane in app.workbench.panes():
        if not pane.drawable:
            continue  # a pane of the last burst still being mounted: not yet read
        view = pane.output
        words = view.text[view.reading_place():].split() if view.text else []
        places[view] = None if view.following else (words[0] if words else "")
    return places


async def answers_kept(app, before: dict | None = None) -> None:
    """Each pane draws its answer (lines of it, and its end while it follows it: views.py); and a
    resize kept the answers `before` it as they were: following their end, or still showing the
    word the person was reading."""
    def problems() -> list[str]:
        panes = app.workbench.panes()
        found = [f"pane {pane.number} is not drawn yet" for pane in panes if not pane.drawable]
        found += [problem for problem in map(answer_problem, (pane.output for pane in panes if pane.drawable))
                  if problem]
        for view, word in (before or {}).items():
            if not view.text.strip() or not view.size.height:
                continue  # nothing to show, or no room to show it
            if view.cursor is not None:  # the token cursor's token stays in sight instead (on_resize)
                lines, top = view.lines_of(view.cursor), round(view.scroll_y)
                if lines and not top <= lines[0] < top + view.size.height:
                    found.append(f"{view.text[:20]!r}... lost its token cursor's line {lines[0]} from sight")
                continue
            if word is None and not view.following:
                found.append(f"{view.text[:20]!r}... stopped following its end")
            elif word and word not in " ".join(drawn_rows(view)).split():
                found.append(f"{view.text[:20]!r}... lost {word!r}, where it was scrolled to")
        return found

    try:
        await wait_until(lambda: not problems(), timeout=5)  # once the views have had the new size
    except AssertionError:
        pass
    assert problems() == [], app.size


# A pane closed before its stream's worker started left a coroutine never awaited (a warning).
@pytest.mark.filterwarnings("error::RuntimeWarning", "error::pytest.PytestUnraisableExceptionWarning")
def test_random_key_sequences_on_a_scripted_backend(key_storm_size, tmp_path):
    """200 random key sequences (`--key-storm N` to change; `make test-fast` runs 50) with bursts
    of new panes, the session saved every 10 ms in the middle of it all, and random resizes after
    which every answer is still drawn (answers of 92, 71, 22 and 400 tokens to begin with: a person
    found theirs gone after resizes)."""
    batches = key_storm(key_storm_size)
    sizes = resize_storm(key_storm_size)
    answered = [saved_pane(prompt=f"{n}", output="".join(echo_script(f"{n}", {"seed": 42, "max_tokens": n})),
                           state=DONE) for n in (92, 71, 22, 400)]
    path = tmp_path / "s.json"

    async def main():
        app = make_app(ScriptedBackend(delay_s=0.001, adapters=("a",)),
                       session=session_of([saved_pane(prompt="p"), *answered]), session_path=path, autosave_s=0.01)
        async with app.run_test(size=(160, 40)) as pilot:
            await run_keys(app, pilot, batches, sizes)
            await pilot.pause()
            assert app.workbench.panes()  # never zero panes
            await answers_kept(app)
            numbers = [p.number for p in app.workbench.panes()]
            app.save_session_now()
        # run_test re-raises anything the app raised: reaching here means no unhandled exception
        assert [state.number for state in stored_session(store_path(path)).panes] == numbers

    asyncio.run(main())


@pytest.mark.parametrize("burst", [["ctrl+p", "pageup"], ["ctrl+p", "pagedown"], ["ctrl+p", "escape", "enter"],
                                   ["ctrl+p", "a", "escape", "enter", "enter"], ["ctrl+p", "down", "enter", "enter"],
                                   ["ctrl+p", "down", "enter", "escape"], ["ctrl+p", "a", "down", "enter", "enter"],
                                   ["ctrl+p", "down", "down", "enter", "down", "enter"], ["ctrl+p", "enter", "enter"], ["ctrl+p", "end", "enter", "enter"]])
def test_palette_keys_read_in_one_burst_leave_the_app_running(burst):
    """Found by the key storm once it sent keys in bursts: a page key before the palette was first
    drawn raised KeyError in Textual's option list, and a key after the one that chose a command
    dismissed the palette again, taking the workbench's screen with it: both ended the app."""
    async def main():
        app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="keep")]))
        app.save_session_now = lambda: None
        async with app.run_test(size=(120, 30)) as pilot:
            workbench = app.workbench
            for key in burst:
                app.post_message(key_event(key))
            await pilot.pause()
            await pilot.pause(0.2)
            for _ in range(3):  # a command chosen may have opened its screen: close it as a person would
                if app.screen is not workbench:
                    await pilot.press("escape")
            assert app.screen is workbench and [p.draft for p in workbench.panes()] == ["keep"]
        # run_test re-raises anything the app raised: reaching here means it lived
        assert app.return_code in (None, 0)

    asyncio.run(main())


def test_a_command_chosen_with_enters_in_one_burst_runs_once():
    """A new user's burst: the enter after the one that chose a command chose it again while the
    palette was still leaving, and the command ran twice (two leaderboards, one under the other)."""
    async def main():
        app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="keep")]))
        app.save_session_now = lambda: None
        async with app.run_test(size=(120, 30)) as pilot:
            workbench = app.workbench
            for key in ["ctrl+p", *"new pane", "down", "enter", "enter", "enter", "enter"]:
                app.post_message(key_event(key))
            await pilot.pause()
            await pilot.pause(0.3)
            assert app.screen is workbench and len(workbench.panes()) == 2
        assert app.return_code in (None, 0)

    asyncio.run(main())


@pytest.mark.ui
def test_resize_to_20x10_and_back_while_streaming():
    async def main():
        app = make_app(ScriptedBackend(delay_s=0.002),
                       session=session_of([saved_pane(prompt=f"p{i}") for i in range(3)]))
        app.save_session_now = lambda: None
        async with app.run_test(size=(160, 40)) as pilot:
            panes = app.workbench.panes()
            send_key(app, "ctrl+r")
            await wait_until(lambda: all(p.tokens_received > 5 for p in panes))
            await pilot.resize_terminal(20, 10)
            await pilot.pause(0.2)
            await pilot.resize_terminal(160, 40)
            await wait_until(lambda: all(p.figures.state == DONE for p in panes))
            await pilot.pause(0.1)
            assert sum(p.region.width for p in panes) == 160  # the layout came back
            defaults = app.workbench.defaults()
            for number, pane in enumerate(panes):  # every answer is whole, and wrapped to its new width
                answer = "".join(echo_script(f"p{number}", defaults))
                assert pane.answer == answer and pane.output.text == f"› p{number}\n\n{answer}"
                assert pane.draft == ""  # the draft was sent
                assert max(len(line) for line in pane.output._text.lines) <= pane.output._text.width

    asyncio.run(main())


@pytest.mark.ui
def test_control_characters_empty_prompt_and_a_1_mb_paste():
    async def main():
        backend = ScriptedBackend(lambda prompt, s: ["ok "] * 5, max_model_len=4096)
        app = make_app(backend, session=session_of([saved_pane() for _ in range(3)]))
        app.save_session_now = lambda: None
        async with app.run_test(size=(160, 40)) as pilot:
            empty, binary, huge = app.workbench.panes()
            odd = "bell\x07 esc\x1b[2J nul\x00 del\x7f \ud7ff\u200b end"
            await type_prompt(pilot, binary, odd)
            await type_prompt(pilot, huge, "x" * 1_000_000)
            send_key(app, "ctrl+r")
            await wait_until(lambda: binary.figures.state == DONE and huge.figures.state == ERROR)
            await pilot.pause(0.1)
            assert "the prompt is empty" in str(empty.query_one(".pane-error").render())
            assert not empty.state.conversation  # nothing was added to it
            assert "prompt too long" in huge.figures.message
            assert huge.state.conversation.path()[0].content == "x" * 1_000_000  # the message is kept
            assert binary.answer == "ok " * 5 and backend.sent[0].messages[-1]["content"] == odd  # sent as typed
            # The question is shown through the gate: its control characters as symbols.
            assert binary.output.text == f"› {shown(odd)}\n\n" + "ok " * 5
            assert not set(binary.output.text) & {"\x07", "\x1b", "\x00", "\x7f"}

    asyncio.run(main())


@pytest.mark.ui
def test_unwritable_data_dir_is_reported_and_nothing_else_breaks(tmp_path):
    """The store is opened as the app's start opens it (tests/support/app.py): where it cannot
    be, the person is told that nothing will be saved, and runs, saving and quitting go on."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data dir should be")

    async def main():
        app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="keep")]),
                       session_path=blocker / "session.json")
        notices = []
        original = app.notify  # before the start: its notices are said when it mounts
        app.notify = lambda message, **kw: (notices.append(message), original(message, **kw))
        async with app.run_test(size=(160, 40)) as pilot:
            send_key(app, "f5")
            await wait_until(lambda: app.workbench.panes()[0].figures.state == DONE)
            app.save_session_now()  # nowhere to save it: nothing happens, nothing breaks
            await pilot.pause()
            pane = app.workbench.panes()[0]
            assert pane.state.conversation.path()[0].content == "keep" and pane.answer  # all still there
            await pilot.press("ctrl+q")
        return app, notices

    app, notices = asyncio.run(main())
    assert app.return_code == 0
    assert [n for n in notices if "cannot be opened" in n and "nothing will be saved" in n
            and str(blocker) in n], notices
    assert blocker.read_text() == "a file where the data dir should be"


@pytest.mark.draws
@pytest.mark.ui
async def test_a_run_of_one_pane_repaints_no_other_pane():
    """Every run's end refreshes all panes' titles (an answer may be stale now): one whose title
    did not change is not repainted, else a storm of runs repaints every pane on every run."""
    app = make_app(ScriptedBackend(lambda prompt, s: ["ok "] * 3),
                   session=session_of([saved_pane(prompt=f"p{i}") for i in range(3)]))
    app.save_session_now = lambda: None
    async with app.run_test(size=(160, 40)) as pilot:
        first, *others = app.workbench.panes()
        await pilot.pause()
        repaints = {pane.number: 0 for pane in others}
        for pane in others:
            def counting(*regions, _pane=pane, _refresh=pane.refresh, **kw):
                if not regions:  # the whole pane
                    repaints[_pane.number] += 1
                return _refresh(*regions, **kw)

            pane.refresh = counting
        for runs in range(1, 6):
            app.workbench.run_pane(first)
            await wait_until(lambda: first.runs == runs and first.figures.state == DONE)
            await pilot.pause()
        assert len(first.state.conversation.path()[0].children) == 5  # five answers ran
        assert repaints == {pane.number: 0 for pane in others}


@pytest.mark.engine
async def test_engine_that_fails_to_start_says_why_and_the_app_stays_usable(tmp_path):
    from tui.engine.vllm_backend import VLLMBackend

    backend = VLLMBackend([], model=str(tmp_path / "no-such-model"))
    app = make_app(backend, session=session_of([saved_pane(prompt="hello")]),
                   session_path=tmp_path / "s.json")
    app._start_engine_on_mount = True
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(lambda: backend.state is EngineState.ERROR, timeout=120, step=0.1)
        await pilot.pause()
        line = app.workbench.engine_line
        assert line.state is EngineState.ERROR and "no-such-model" in line.detail
        pane = app.workbench.panes()[0]
        send_key(app, "f5")  # a run says why it cannot start instead of hanging
        await wait_until(lambda: pane.figures.state == ERROR, timeout=10)
        assert "engine is not running" in pane.figures.message
        assert pane.state.conversation.path()[0].content == "hello"  # the message is kept
        await type_prompt(pilot, pane, "still editable")
        assert pane.draft == "still editable"
    assert backend.child_pids() == []


@pytest.mark.engine
async def test_cancel_storm_leaves_the_engine_healthy(engine, tmp_path):
    app = make_app(engine, session=session_of([saved_pane(prompt=f"storm {i}",
                                                                    overrides={"max_tokens": "500"})
                                                        for i in range(4)]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        panes = bench.panes()
        loop = asyncio.get_running_loop()
        start = loop.time()
        for cycle in range(200):  # 200 run/cancel cycles across the panes
            pane = panes[cycle % 4]
            bench.run_pane(pane)
            await asyncio.sleep(0.01)
            pane.cancel()
            await asyncio.sleep(0.01)
        elapsed = loop.time() - start
        await wait_until(lambda: engine.running_requests() == 0, timeout=5)
        assert elapsed < 10, elapsed
        assert all(p.figures.state in (CANCELLED, DONE) for p in panes)
        for number, pane in enumerate(panes):
            # One question each; the runs after the first regenerated its answer: the answers that
            # wrote something are kept as siblings, the ones cancelled before writing were replaced.
            question, *rest = pane.state.conversation.path()
            assert question.content == f"storm {number}" and len(rest) == 1
            answers = question.children
            assert all(a.role == "assistant" and a.reply.state in (CANCELLED, DONE) for a in answers)
            assert all(a.content for a in answers[:-1]) and 1 <= len(answers) <= 50
            assert pane.state.conversation.siblings(rest[0]) == (len(answers), len(answers))
        panes[0].query_one(".param-max_tokens Input").value = "10"
        await pilot.pause()
        bench.run_pane(panes[0])
        await wait_until(lambda: panes[0].figures.state == DONE, timeout=30)
        assert panes[0].figures.tokens == 10 or panes[0].figures.finish_reason == "stop"


@pytest.mark.engine
async def test_50_random_key_sequences_against_the_real_engine(engine):
    batches = key_storm(50, seed=STORM_SEED + 1)
    app = make_app(engine, session=session_of([saved_pane(prompt="The key to happiness is",
                                                                   overrides={"max_tokens": "30"})]))
    app.save_session_now = lambda: None
    async with app.run_test(size=(160, 40)) as pilot:
        await run_keys(app, pilot, batches)
        send_key(app, "ctrl+g")
        await wait_until(lambda: engine.running_requests() == 0, timeout=10)
    text = "".join([d.text async for d in engine.stream(Request.of_prompt("hi", Sampling(), "after-storm"))])
    assert text  # the engine still answers


@pytest.mark.ui
def test_unwritable_config_dir_is_reported_when_the_theme_is_saved(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the config dir should be")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))

    async def main():
        app = make_app(ScriptedBackend())
        app._save_config = True
        notices = []
        async with app.run_test(size=(160, 40)) as pilot:
            original = app.notify
            app.notify = lambda message, **kw: (notices.append(message), original(message, **kw))
            app.theme = "panes-light"
            await pilot.pause(0.2)
            assert app.current_theme.name == "panes-light"  # the choice applies even if not saved
        return notices

    notices = asyncio.run(main())
    assert any("Could not save the theme choice" in n for n in notices)


@pytest.mark.ui
async def test_a_pane_on_its_way_out_is_neither_focused_nor_run(tmp_path):
    """The storm's f5 came while alt+w took its pane down: f5 waits for the keys typed before it (a
    call in the box's queue), its pane's widgets were gone by then, the workbench still took it
    for the pane to run (the last one focused), and the app ended on the missing widgets."""
    app = make_app(ScriptedBackend(delay_s=0.001),
                   session=session_of([saved_pane(prompt="one"), saved_pane(prompt="two"), saved_pane(prompt="three")]),
                   session_path=tmp_path / "s.json", autosave_s=0.01)
    async with app.run_test(size=(160, 40)) as pilot:
        workbench = app.workbench
        first, second, third = workbench.panes()
        second.editor.focus()
        await pilot.pause()
        closing = asyncio.ensure_future(workbench.action_close_pane())  # alt+w
        await wait_until(lambda: not second.query(".pane-note"), step=0)  # its widgets going
        assert not closing.done()
        workbench.set_focus(None)  # where the removal left the focus
        assert workbench.focused_pane() is not second
        assert workbench.run_pane(second) is False
        workbench.run_focused(second, in_composer=False)  # f5's call, pressed in it, landing now
        await closing
        await pilot.pause()
        assert workbench.panes() == [first, third] and second.figures.state != STREAMING
        assert app.is_running




@pytest.mark.ui
async def test_f5_runs_the_pane_it_was_pressed_in_when_the_focus_moves_before_its_call(tmp_path):
    """A new user's burst: f5 in a pane, then alt+w and alt+u. f5's call waits for the keys typed
    before it, and read the focus when it came: closing the pane had moved the focus to the
    neighbour, which got a new answer. f5 acts on the pane it was pressed in."""
    app = make_app(ScriptedBackend(delay_s=0.001), session_path=tmp_path / "s.json",
                   session=session_of([saved_pane("q1", output="a1", state=DONE), saved_pane("q2", output="a2", state=DONE)]))
    async with app.run_test(size=(160, 40)) as pilot:
        workbench = app.workbench
        first, second = workbench.panes()
        second.editor.focus()
        await pilot.pause()
        workbench.action_run_focused()  # f5 in the second pane: its call waits in the box's queue
        workbench.set_focus(first.editor)  # the keys after it moved the focus
        await wait_until(lambda: not second.running and len(second.state.conversation) == 3, timeout=5)
        await pilot.pause()  # a new answer beside the old one (f5 with nothing typed)
        assert len(first.state.conversation) == 2  # the neighbour was not run
