"""The store in the app: the session saved while answers stream and restored at the next start
(a kill -9 of the real app mid-stream on the demo engine included), every run in the history
(the runs of one ctrl+r together), the history screen's search and reopen, the first start
importing the session file, and --headless and --batch recording their runs."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from textual import events

from tests.support.app import make_app, saved_pane, send_key, send_terminal, session_of, stored_session, wait_until
from tests.support.processes import PtyApp
from tests.support.scripted import ScriptedBackend
from tui.app import WorkbenchApp
from tui.config import Config
from tui.engine.params import Sampling
from tui.figures import CANCELLED, DONE, RUNNING_STATES
from tui.screens.history import HistoryScreen
from tui.session import save_session
from tui.store.db import connect, integrity_problems
from tui.store.search import parse_query, search
from tui.store.store import Store
from tui.terminal import Terminal

ROOT = Path(__file__).resolve().parent.parent


def words(count: int):
    def script(prompt: str, sampling) -> list[str]:
        return [f"{prompt.split()[0]}{i} " for i in range(min(count, sampling["max_tokens"]))]

    return script


def history_rows(store: Store, text: str = "") -> list:
    assert store.flush()
    with store.reading() as conn:
        return search(conn, parse_query(text))


async def open_history(app, pilot) -> HistoryScreen:
    app.store.flush()
    send_key(app, "f9")
    await wait_until(lambda: isinstance(app.screen, HistoryScreen) and app.screen.searches >= 1)
    return app.screen


async def search_for(screen: HistoryScreen, pilot, text: str) -> None:
    before = screen.searches
    await pilot.press(*text)
    await wait_until(lambda: screen.searches > before and screen._asked == screen.searches)  # noqa: SLF001


# -- the history screen --------------------------------------------------------------------------------
@pytest.mark.ui
async def test_runs_of_one_ctrl_r_are_found_and_reopened_from_the_history(tmp_path, render_path):
    backend = ScriptedBackend(words(30))
    panes = [saved_pane("alpha question", overrides={"seed": "5"}), saved_pane("beta question", heat=True)]
    app = make_app(backend, session=session_of(panes), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        bench = app.workbench
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in bench.panes()))
        rows = history_rows(app.store)
        assert len(rows) == 2 and rows[0].comparison == rows[1].comparison and rows[0].together == 2
        assert {row.prompt for row in rows} == {"alpha question", "beta question"}

        screen = await open_history(app, pilot)
        assert len(screen.rows) == 2
        await search_for(screen, pilot, "alpha2")  # a word of an answer (alpha0 alpha1 … alpha29)
        assert [row.prompt for row in screen.rows] == ["alpha question"]
        await pilot.press("enter")
        await wait_until(lambda: len(bench.panes()) == 3)
        reopened = next(p for p in bench.panes() if p.number == 3)
        assert reopened is bench.focused_pane() and reopened.answer == bench.panes()[0].answer
        assert [m.content for m in reopened.state.thread()] == ["alpha question", bench.panes()[0].answer]
        assert reopened.figures.state == DONE and reopened.overrides()["seed"] == "5"

        screen = await open_history(app, pilot)
        await search_for(screen, pilot, "beta")
        send_terminal(app, "\x1bc")  # alt+c as a terminal sends it: the whole comparison, as new panes
        await wait_until(lambda: len(bench.panes()) == 5)
        beta = next(p for p in bench.panes() if p.number > 3 and p.answer.startswith("beta"))
        original = next(p for p in bench.panes() if p.number == 2)
        assert len(beta.spans) == 30 and beta.spans.ends == original.spans.ends  # with its tokens
        for kept, token in zip(beta.spans.tokens, original.spans.tokens):
            assert (kept.token_id, kept.text, kept.rank) == (token.token_id, token.text, token.rank)
            assert kept.logprob == pytest.approx(token.logprob, rel=1e-6)  # kept as 32-bit floats
            assert [a.text for a in kept.top] == [a.text for a in token.top] and len(kept.top) == 5

        screen = await open_history(app, pilot)
        send_terminal(app, "\x1br")  # alt+r: the comparison replaces the panes
        # (the new panes have new numbers: two panes of the old ones are left for a moment)
        await wait_until(lambda: len(bench.panes()) == 2 and all(p.number > 5 for p in bench.panes()))
        assert sorted(p.answer.split()[0] for p in bench.panes()) == ["alpha0", "beta0"]
        send_key(app, "alt+u")  # one of the panes that were there comes back
        await wait_until(lambda: len(bench.panes()) == 3)


@pytest.mark.ui
async def test_quitting_while_a_comparison_opens_ends_cleanly(tmp_path):
    """The runs of a comparison open one by one; the app quitting in between (ctrl+q typed at once)
    left the next pane mounting on a screen that was going, and asking it for its widgets raised."""
    backend = ScriptedBackend(words(5))
    panes = [saved_pane(f"question {n}") for n in range(3)]
    app = make_app(backend, session=session_of(panes), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        bench = app.workbench
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in bench.panes()))
        opened = []
        add_pane = bench.add_pane

        async def add_then_quit(*args, **kwargs):
            pane = await add_pane(*args, **kwargs)
            opened.append(pane)
            if len(opened) == 1:
                app.exit()  # as ctrl+q does, between the first run's pane and the next
            return pane

        bench.add_pane = add_then_quit
        await open_history(app, pilot)
        send_terminal(app, "\x1bc")  # alt+c: the whole comparison (three runs)
        await wait_until(lambda: not app.is_running, timeout=20)
    assert app.return_code == 0 and len(opened) >= 2 and opened[0] is not None


@pytest.mark.ui
async def test_the_history_screen_says_what_matches_and_what_cannot_be_read(tmp_path, render_path):
    app = make_app(ScriptedBackend(words(3)), session=session_of([saved_pane("gamma")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_history(app, pilot)
        assert screen.rows == [] and "no run recorded yet" in str(screen.query_one(".history-status").render())
        await pilot.press("escape")
        send_key(app, "f5")
        await wait_until(lambda: app.workbench.panes()[0].figures.state == DONE)
        screen = await open_history(app, pilot)
        await search_for(screen, pilot, "nothing-like-it")
        assert "no run matches" in str(screen.query_one(".history-status").render())
        await pilot.press(*"x since:someday")
        await wait_until(lambda: "not a date" in str(screen.query_one(".history-status").render()))


@pytest.mark.ui
async def test_closing_the_history_while_it_searches_or_reads_leaves_the_app_running(tmp_path, render_path,
                                                                                       monkeypatch):
    """The key storm closed the history while its first search was still in its thread: the search's
    end then queried the gone screen, and the app ended. A run read after the screen was closed must
    not pop the workbench's screen either."""
    import threading

    import tui.screens.history as history

    held, release = threading.Event(), threading.Event()

    def held_search(conn, query):
        held.set()
        release.wait(10)
        return search(conn, query)

    app = make_app(ScriptedBackend(words(3)), session=session_of([saved_pane("gamma")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        send_key(app, "f5")
        await wait_until(lambda: app.workbench.panes()[0].figures.state == DONE)
        screen = await open_history(app, pilot)
        assert len(screen.rows) == 1
        monkeypatch.setattr(history, "search", held_search)
        await pilot.press("x")
        await wait_until(held.is_set)
        send_key(app, "escape")  # the search ends once the screen's widgets are gone, before its worker is
        await wait_until(lambda: not screen.query(".history-status"), step=0)  # cancelled
        release.set()
        await wait_until(lambda: not any(w.is_running for w in screen.workers))
        await pilot.pause()
        monkeypatch.setattr(history, "search", search)

        held.clear(), release.clear()
        real_load = history.load_run

        def held_load(conn, run_id):
            held.set()
            release.wait(10)
            return real_load(conn, run_id)

        monkeypatch.setattr(history, "load_run", held_load)
        screen = await open_history(app, pilot)
        await pilot.press("enter")
        await wait_until(held.is_set)
        send_key(app, "escape")
        await wait_until(lambda: not isinstance(app.screen, HistoryScreen), step=0)
        release.set()
        await wait_until(lambda: not any(w.is_running for w in screen.workers))
        await pilot.pause()
        assert app.is_running and app.screen is app.workbench
        assert len(app.workbench.panes()) == 1  # the run read after the close reopened nothing


@pytest.mark.ui
async def test_without_a_store_f9_says_so(render_path):
    app = make_app(ScriptedBackend(), session_path=None)
    notices = []
    async with app.run_test(size=(160, 40)) as pilot:
        original = app.notify
        app.notify = lambda message, **kw: (notices.append(message), original(message, **kw))
        send_key(app, "f9")
        await pilot.pause()
        assert not isinstance(app.screen, HistoryScreen)
        assert any("keeps no history" in notice for notice in notices)


# -- the session, saved as it streams -----------------------------------------------------------------------
def saved_answer(path: Path) -> str:
    """The first pane's last message as the store holds it now (read as another process would)."""
    conn = connect(path)
    try:
        rows = conn.execute("SELECT text FROM message_text WHERE pane = 1 AND message = 2 ORDER BY rowid").fetchall()
        return "".join(text for (text,) in rows)
    finally:
        conn.close()


@pytest.mark.ui
async def test_streamed_text_is_saved_within_a_second_and_restored(tmp_path, render_path):
    """While an answer streams, the store holds all of it but the last second or so; quitting saves
    the rest; the next start shows it."""
    path = tmp_path / "s.json"
    backend = ScriptedBackend(words(100_000), delay_s=0.005, max_model_len=10**7)
    app = make_app(backend, session=session_of([saved_pane("delta", overrides={"max_tokens": "100000"})]),
                   session_path=path)
    db = tmp_path / "s.db"
    shown: list[tuple[float, int]] = []
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.workbench.panes()[0]
        send_key(app, "f5")
        await wait_until(lambda: len(pane.answer) > 200)
        lags = []
        start = time.monotonic()
        while time.monotonic() - start < 4:
            now = time.monotonic()
            shown.append((now, len(pane.state.conversation.last().content)))
            saved = await asyncio.to_thread(saved_answer, db)
            assert pane.state.conversation.last().content.startswith(saved)
            # everything there 1.5 s ago (a save each second, then the writer's commit) is saved
            before = [length for when, length in shown if when <= now - 1.5]
            if before:
                lags.append(before[-1] - len(saved))
            await asyncio.sleep(0.1)
        assert lags and max(lags) <= 0, lags
        assert len(saved) > 1000  # it streamed, and was saved, all along
        await pilot.press("ctrl+q")
        final = pane.state.conversation.last().content
    record = stored_session(db)
    restored = record.panes[0].conversation.last()
    assert restored.content == final and restored.reply.figures.state == CANCELLED
    app = make_app(ScriptedBackend(), session=record, session_path=path)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        assert app.workbench.panes()[0].answer == final
    with _opened(db) as store:
        (row,) = history_rows(store)
        assert row.figures.state == CANCELLED and row.prompt == "delta"


@pytest.mark.ui
async def test_an_answer_the_history_has_as_ended_is_ended_in_the_session_too(tmp_path, render_path):
    """The session's rows go to the writer before the history's row of a run that ends: a kill
    between the two writes never leaves the history saying done beside a session (and a pane, at
    the next start) that says cancelled with its tail missing. No autosave runs here."""
    app = make_app(ScriptedBackend(words(30)), session=session_of([saved_pane("eta"), saved_pane("theta")]),
                   session_path=tmp_path / "s.json", autosave_s=3600)
    db = tmp_path / "s.db"
    async with app.run_test(size=(160, 40)):
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in app.workbench.panes()))
        assert app.store.flush()
        answers = {p.number: p.answer for p in app.workbench.panes()}
        record = await asyncio.to_thread(stored_session, db)
        assert {state.number: (state.conversation.last().content, state.conversation.last().reply.figures.state)
                for state in record.panes} == {number: (answer, DONE) for number, answer in answers.items()}
        assert sorted(row.answer for row in history_rows(app.store)) == sorted(answers.values())


@pytest.mark.ui
async def test_a_message_f5_and_ctrl_q_typed_together_are_all_kept(tmp_path, render_path):
    """ctrl+q (a priority key: handled as soon as it is read) waits for the keys read before it. A
    message, f5 and ctrl+q arriving together quit before the pane had the message: it was in
    neither the session nor the history."""
    app = make_app(ScriptedBackend(words(30)), session=session_of([saved_pane("")]),
                   session_path=tmp_path / "s.json")
    db = tmp_path / "s.db"
    message = "Who keeps the keys"
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        keys = [events.Key("space" if c == " " else c, c) for c in message]
        for key in [*keys, events.Key("f5", None), events.Key("ctrl+q", None)]:
            app.post_message(key)  # at once, as a terminal's burst is read
        await wait_until(lambda: app.return_code is not None)
    assert app.return_code == 0
    (state,) = stored_session(db).panes
    assert [m.content for m in state.thread()][0] == message
    with _opened(db) as store:
        assert [row.prompt for row in history_rows(store)] == [message]


class _opened:
    def __init__(self, path: Path) -> None:
        self.store = Store.open(path)

    def __enter__(self) -> Store:
        return self.store

    def __exit__(self, *exc) -> None:
        self.store.close()


@pytest.mark.ui
async def test_an_app_that_does_not_hold_the_session_records_its_runs_but_saves_no_session(tmp_path, render_path):
    path = tmp_path / "store.db"
    first = Store.open(path)
    first.save_session(session_of([saved_pane("the first app's draft")]))
    first.close()
    app = WorkbenchApp(ScriptedBackend(words(5)), config=Config(), session=session_of([saved_pane("epsilon")]),
                       store=Store.open(path), saves_session=False, save_config=False)
    async with app.run_test(size=(160, 40)) as pilot:
        send_key(app, "f5")
        await wait_until(lambda: app.workbench.panes()[0].figures.state == DONE)
        await pilot.press("ctrl+q")
    assert stored_session(path).panes[0].draft == "the first app's draft"
    with _opened(path) as store:
        assert [row.prompt for row in history_rows(store)] == ["epsilon"]


def test_the_first_start_imports_the_session_file_once(tmp_path, monkeypatch):
    from tui import locations
    from tui.app import open_store

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    record = session_of([saved_pane("zeta", output="an old answer", state=DONE)], composer="kept")
    save_session(record, locations.session_file())
    notices: list[str] = []
    store, session = open_store(Config(), True, False, notices)
    store.close()
    assert session.to_data() == record.to_data() and any("kept as" in n for n in notices)
    assert not locations.session_file().exists() and len(list(tmp_path.glob("vllm-panes/session.json.kept-*"))) == 1
    notices = []
    store, session = open_store(Config(), True, False, notices)
    try:
        assert session.to_data() == record.to_data() and notices == []
        assert [row.answer for row in history_rows(store)] == ["an old answer"]
    finally:
        store.close()


# -- headless and batch ------------------------------------------------------------------------------------
async def test_headless_and_batch_record_their_runs(tmp_path):
    from tui.batch import Job, run_jobs
    from tui.headless import run_headless

    store = Store.open(tmp_path / "store.db")
    try:
        backend = ScriptedBackend(words(4), adapters=("proverbs",))
        targets = backend.targets()
        term = Terminal(io.StringIO(), io.StringIO(), None)
        code = await run_headless(backend, ["eta question"], Sampling(), term, targets=targets, then=["theta"],
                                  history=store)
        assert code == 0
        jobs = [Job(i, "iota question", Sampling().with_values(seed=i)) for i in range(3)]
        assert await run_jobs(backend, jobs, lambda record: None, history=store) == 0
        rows = history_rows(store)
    finally:
        store.close()
    headless = [row for row in rows if row.kind == "headless"]
    assert len(headless) == 4  # 2 targets × 2 turns
    first_turns = [row for row in headless if row.prompt == "eta question"]
    assert len(first_turns) == 2 and first_turns[0].comparison == first_turns[1].comparison
    assert {row.target_label for row in first_turns} == {t.label for t in targets}
    batch = [row for row in rows if row.kind == "batch"]
    assert len(batch) == 3 and len({row.comparison for row in batch}) == 1 and batch[0].together == 3


@pytest.mark.subprocess
@pytest.mark.remote
def test_the_headless_command_records_unless_told_not_to(tmp_path):
    from tests.support.fault_server import FaultServer
    from tests.support.processes import run_cli

    server = FaultServer().start()
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(ROOT)}
    try:
        result, left = run_cli(["--headless", "--base-url", server.url(), "kappa prompt"], env=env, timeout=60)
        assert result.returncode == 0 and left == [], result.stderr
        result, _ = run_cli(["--headless", "--no-history", "--base-url", server.url(), "lambda prompt"], env=env,
                            timeout=60)
        assert result.returncode == 0, result.stderr
        listed, _ = run_cli(["history", "--json"], env=env, timeout=60)
    finally:
        server.stop()
    rows = json.loads(listed.stdout)
    assert [(row["prompt"], row["kind"], row["state"]) for row in rows] == [("kappa prompt", "headless", DONE)]


# -- kill -9 mid-stream ------------------------------------------------------------------------------------------
def _answers_saved(path: Path) -> dict[int, str]:
    """Every pane's answers as the store holds them now, by pane (read while the app writes)."""
    with _reading(path) as conn:
        return _answers_in(conn)


def _answers_in(conn: sqlite3.Connection) -> dict[int, str]:
    try:
        rows = conn.execute("SELECT t.pane, t.text FROM message_text t JOIN messages m "
                            "ON m.pane = t.pane AND m.id = t.message WHERE m.role = 'assistant' "
                            "ORDER BY t.rowid").fetchall()
    except sqlite3.OperationalError:  # not made yet
        return {}
    answers: dict[int, str] = {}
    for pane, text in rows:
        answers[pane] = answers.get(pane, "") + text
    return answers


def _runs_streaming(conn: sqlite3.Connection) -> int:
    """How many answers the store holds as still running."""
    try:
        rows = conn.execute("SELECT figures FROM replies").fetchall()
    except sqlite3.OperationalError:  # not made yet
        return 0
    return sum(1 for (figures,) in rows if json.loads(figures).get("state") in RUNNING_STATES)


@contextmanager
def _reading(path: Path) -> Iterator[sqlite3.Connection]:
    conn = connect(path)
    try:
        yield conn
    finally:
        conn.close()


def _history_prompts_within(path: Path, timeout: float) -> list[str]:
    """The prompts of the history, once it holds two (or what it holds after `timeout` s)."""
    deadline = time.monotonic() + timeout
    while True:
        conn = connect(path)
        try:
            prompts = sorted(row.prompt for row in search(conn, parse_query("")))
        finally:
            conn.close()
        if len(prompts) >= 2 or time.monotonic() > deadline:
            return prompts
        time.sleep(0.1)


def _panes_saved(path: Path) -> int:
    conn = connect(path)
    try:
        return conn.execute("SELECT count(*) FROM panes").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0
    finally:
        conn.close()


SAVES_BEFORE_THE_KILL = 3
PANES = 10  # 10 answers of 1,900 tokens one after the other: a loaded app's saves lag behind its engine


@pytest.mark.engine
@pytest.mark.subprocess
def test_kill_9_mid_stream_loses_at_most_a_second_and_the_next_start_restores_the_rest(demo_model, tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(ROOT)}
    db = tmp_path / "data" / "vllm-panes" / "vllm-panes.db"
    # One request at a time in the engine: the answers stream one after the other, for long enough
    # that a loaded machine, whose app saves less often than its engine writes, is still streaming.
    app = PtyApp(["--demo", "--min-tokens", "1900", "--max-tokens", "1900", "--max-num-seqs", "1"], env=env)
    growth: list[tuple[float, int]] = []
    try:
        assert app.wait_for(b"ready", timeout=240), bytes(app.screen[-3000:])
        app.write(b"\x1bn" * (PANES - 3))  # alt+n: the first-start panes (model, two adapters), duplicated
        deadline = time.monotonic() + 60
        while _panes_saved(db) != PANES and time.monotonic() < deadline:
            time.sleep(0.1)  # the panes are there (the session saves them each second)
        assert _panes_saved(db) == PANES
        app.write(b"\x12")  # ctrl+r: every pane answers
        deadline = time.monotonic() + 120
        with _reading(db) as watch:  # one connection: on a loaded machine each new one took seconds
            while time.monotonic() < deadline:
                total = sum(len(text) for text in _answers_in(watch).values())
                if not growth or total != growth[-1][1]:
                    growth.append((time.monotonic(), total))
                if (total > 1000 and sum(1 for _, saved in growth if saved) > SAVES_BEFORE_THE_KILL
                        and _runs_streaming(watch)):
                    break  # several saves in, still streaming (counted, not timed: a loaded machine is slow)
                time.sleep(0.05)
        streaming = [when for when, total in growth if total > 0]
        assert len(streaming) > SAVES_BEFORE_THE_KILL, growth
        os.kill(app.pid, signal.SIGKILL)
        # Not a bound on the app: the kernel tore down the killed process (torch's memory, threads)
        # in more than 10 s once in CI, beside another worker's engine.
        app.proc.wait(60)
    finally:
        app.close()
    # The answers were saved a little at a time while they streamed (how often, in seconds, is
    # the benchmark's business: a loaded machine stalls the app and its engine alike).
    assert [total for _, total in growth] == sorted(set(total for _, total in growth))
    conn = connect(db)
    try:
        assert integrity_problems(conn) == []
    finally:
        conn.close()
    before = _answers_saved(db)
    assert sum(len(t) for t in before.values()) >= growth[-1][1] > 1000
    record = stored_session(db)
    assert {state.number: state.conversation.last().content for state in record.panes
            if state.conversation.last().content} == before
    # A loaded machine's engine can end the first answer before the kill (the app saves on its own
    # time): an ended answer stays ended, in the session and the history alike; the rest were killed.
    states = {state.number: state.conversation.last().reply.figures.state for state in record.panes}
    ended = {number for number, state in states.items() if state != CANCELLED}
    assert ended != set(states) and all(states[number] == DONE for number in ended), states

    again = PtyApp(["--demo"], env=env)
    try:
        assert again.wait_for(b"ready", timeout=240), bytes(again.screen[-3000:])
        # The restored answers, which no run writes any more, from the first frame on (the loading
        # engine has drawn much since: the whole screen is searched).
        assert again.seen(b"cancelled", last=10**9)
        again.quit("ctrl+q")
        assert again.proc.wait(10) == 0
    finally:
        again.close()
    after = stored_session(db)
    assert {state.number: state.conversation.last().content for state in after.panes
            if state.conversation.last().content} == before
    assert {state.number: state.conversation.last().reply.figures.state for state in after.panes} == states
    listed = subprocess.run([sys.executable, "-m", "tui", "history", "--json"], capture_output=True, text=True,
                            env={**os.environ, **env}, cwd=ROOT, timeout=60)
    assert listed.returncode == 0, listed.stderr
    # A killed run never ended: the history has the ended ones only, whole.
    assert sorted(row["answer"] for row in json.loads(listed.stdout)) == sorted(before[n] for n in ended)


@pytest.mark.subprocess
@pytest.mark.remote
def test_two_apps_on_one_data_directory_both_record_and_only_the_first_saves_the_session(tmp_path):
    """The real app twice on one data directory (against the tests' loopback server: no engine):
    the second is told, records its run in the history beside the first's, and the session stays
    the first one's."""
    from tests.support.fault_server import FaultServer

    env = {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(ROOT)}
    db = tmp_path / "data" / "vllm-panes" / "vllm-panes.db"
    server = FaultServer().start()
    first = PtyApp(["--base-url", server.url(), "--fresh"], env=env)
    second = None
    try:
        assert first.wait_for(b"ready", timeout=30), bytes(first.screen[-2000:])
        first.run_prompt(b"the first app's prompt")
        assert first.wait_for(b"done", timeout=20)
        second = PtyApp(["--base-url", server.url()], env=env)
        assert second.wait_for(b"ready", timeout=30)
        assert second.wait_for(b"Another vllm-panes", timeout=10)
        second.write(b"\x0e")  # ctrl+n: a pane of its own
        time.sleep(0.3)
        second.run_prompt(b"the second app's prompt")
        # Its run in the history (the screen's "done" proves nothing: the restored pane says it).
        assert _history_prompts_within(db, 30) == ["the first app's prompt", "the second app's prompt"]
        second.quit("ctrl+q")
        assert second.proc.wait(5) == 0
        first.quit("ctrl+q")
        assert first.proc.wait(5) == 0
    finally:
        first.close()
        if second is not None:
            second.close()
        server.stop()
    record = stored_session(db)
    assert [m.content for m in record.panes[0].thread()][0] == "the first app's prompt"
    assert all("second" not in m.content for state in record.panes for m in state.thread())
    with _opened(db) as store:
        assert sorted(row.prompt for row in history_rows(store)) == ["the first app's prompt",
                                                                     "the second app's prompt"]


def test_a_run_cut_while_it_thought_says_so_in_the_history_list():
    """A new user cancelled a thinking run after 69 thinking tokens; the history showed its answer
    as `∅` alone."""
    from tui.figures import Figures
    from tui.screens.history import row_text
    from tui.store.search import RunRow

    def row(figures: Figures) -> str:
        return row_text(RunRow(1, "c", "workbench", 1, "", 0.0, figures, "demo", "demo", "why?", "", 1)).plain

    thought = Figures(CANCELLED)
    thought.thought_ms, thought.thought_tokens = 120.0, 69
    assert row(thought).endswith("∅ no answer: it was still thinking (69 tokens)")
    assert row(Figures(CANCELLED)).endswith("∅")
