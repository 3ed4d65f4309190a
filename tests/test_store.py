"""The store (tui/store/): the SQLite file of the session and the history. Its schema and how a bad
file is moved aside; the session saved a little at a time and read back the same (random
conversations, changed in random ways); the history recorded, searched, exported, trimmed; the
session file of earlier versions imported once; two processes writing at once; the command."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.app import saved_pane, session_of
from tests.support.scripted import scripted_logprob
from tui.core.conversation import ASSISTANT, USER, Conversation, Reply
from tui.core.pane_state import PaneState
from tui.core.records import openai_messages
from tui.core.tokens import TokenSpans
from tui.engine.logprobs import Alternative, TokenLogprob
from tui.engine.params import Sampling
from tui.engine.protocol import LOCAL, Target
from tui.figures import CANCELLED, DONE, ERROR, STATES, STREAMING, Figures
from tui.session import SessionRecord, load_session, save_session
from tui.store import codec
from tui.store.db import APPLICATION_ID, SCHEMA_VERSION, connect, integrity_problems, open_database
from tui.store.history import (
    HEADLESS,
    WORKBENCH,
    RunEntry,
    load_comparison,
    load_run,
    overrides_of,
    pane_state_of,
    run_entry,
)
from tui.store.search import QueryError, parse_query, search
from tui.store.session_rows import AppendText, AppendTokens, PutFigures
from tui.store.store import Store
from tui.store.upkeep import enforce_limit, used_bytes, vacuum

ROOT = Path(__file__).resolve().parent.parent
DEMO = Target(LOCAL, "/models/demo/weights")
TARGETS = [None, DEMO, Target(LOCAL, "/models/demo/weights", "proverbs"), Target("gpu:8000", "qwen")]


def f32(value: float) -> float:
    """A logprob as the store keeps it (32-bit)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def token(index: int, text: str, k: int = 3, token_id: int | None = None) -> TokenLogprob:
    made = scripted_logprob(index, text, k)
    top = tuple(Alternative(a.token_id, a.text, f32(a.logprob)) for a in made.top)
    return TokenLogprob(made.token_id if token_id is None else token_id, text, f32(made.logprob), made.rank, top)


def reopened(path: Path) -> SessionRecord | None:
    store = Store.open(path)
    try:
        record, notice = store.load_session()
        assert notice is None and store.notices == []
        return record
    finally:
        store.close()


def entry(answer: str, prompt: str = "a question", *, comparison: str = "c1", target: Target | None = DEMO,
          ended_at: float | None = None, state: str = DONE, kind: str = WORKBENCH, tokens: int = 0) -> RunEntry:
    spans = TokenSpans()
    pieces = [answer[i:i + 4] for i in range(0, len(answer), 4)][:tokens] if tokens else []
    for index, piece in enumerate(pieces):
        spans.add(piece, [token(index, piece)])
    return RunEntry(comparison=comparison, kind=kind, messages=[{"role": "user", "content": prompt}],
                    answer=answer, figures=Figures(state, tokens=len(answer.split()), ttft_ms=12.5, tok_s=80.0,
                                                   finish_reason="stop"),
                    target=target, settings={"temperature": 0.7, "seed": 3, "chat_template": True,
                                             "system_prompt": "", "logprobs": 0},
                    started_at=(ended_at or time.time()) - 1, ended_at=ended_at or time.time(),
                    tokens=list(spans.tokens), ends=list(spans.ends))


# -- the file ----------------------------------------------------------------------------------------
def test_a_new_database_is_ours_in_wal_mode_and_opens_again(tmp_path):
    path = tmp_path / "store.db"
    conn, notices = open_database(path)
    assert notices == []
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    again, notices = open_database(path)
    assert notices == [] and integrity_problems(again) == []
    again.close()
    assert list(tmp_path.glob("*.bad-*")) == []


def _moved(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.glob("store.db.bad-*") if not p.name.endswith("-wal")]


def test_a_file_that_is_not_a_database_is_moved_aside_and_a_new_one_started(tmp_path):
    path = tmp_path / "store.db"
    path.write_bytes(b"not a database at all\n" * 200)
    store = Store.open(path)
    try:
        assert len(store.notices) == 1 and "moved to" in store.notices[0] and "not a database" in store.notices[0]
        (moved,) = _moved(tmp_path)
        assert moved.read_bytes() == b"not a database at all\n" * 200  # kept as it was
        store.record_run(entry("after the move"))
        assert store.flush()
        with store.reading() as conn:
            assert [r.answer for r in search(conn, parse_query(""))] == ["after the move"]
    finally:
        store.close()


def test_a_damaged_database_is_moved_aside_with_its_log(tmp_path):
    path = tmp_path / "store.db"
    store = Store.open(path)
    store.save_session(session_of([saved_pane("q", output="an answer " * 2000, state=DONE)]))
    store.close()
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page but the header's: the tables are gone
        data[start:start + page] = os.urandom(min(page, len(data) - start))
    path.write_bytes(bytes(data))
    store = Store.open(path)
    try:
        record, notice = store.load_session()
        notices = store.notices + ([notice] if notice else [])
        assert record is None and len(notices) == 1 and "moved to" in notices[0], notices
        assert len(_moved(tmp_path)) == 1
        assert store.save_session(session_of([saved_pane("new")])) > 0 and store.flush()
    finally:
        store.close()
    assert reopened(path).panes[0].draft == "new"


def test_a_foreign_sqlite_file_is_moved_aside_untouched(tmp_path):
    path = tmp_path / "store.db"
    foreign = sqlite3.connect(path)
    foreign.execute("CREATE TABLE notes (body TEXT)")
    foreign.execute("INSERT INTO notes VALUES ('someone else''s')")
    foreign.commit()
    foreign.close()
    store = Store.open(path)
    try:
        assert "another program's SQLite file" in store.notices[0] and "moved to" in store.notices[0]
    finally:
        store.close()
    (moved,) = _moved(tmp_path)
    kept = sqlite3.connect(moved)
    assert kept.execute("SELECT body FROM notes").fetchall() == [("someone else's",)]
    assert kept.execute("PRAGMA journal_mode").fetchone()[0] != "wal"  # not changed before it was judged
    kept.close()


def test_a_database_of_a_newer_version_is_moved_aside_not_rewritten(tmp_path):
    path = tmp_path / "store.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = Store.open(path)
    store.close()
    assert "newer vllm-panes" in store.notices[0] and len(_moved(tmp_path)) == 1


def test_a_busy_database_is_not_moved(tmp_path):
    """Another process in the middle of a long write: the file is left alone."""
    from tui.store import db

    path = tmp_path / "store.db"
    Store.open(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    old = db.BUSY_TIMEOUT_S
    db.BUSY_TIMEOUT_S = 0.1
    try:
        with pytest.raises(db.StoreUnavailable):
            Store.open(path)
    finally:
        db.BUSY_TIMEOUT_S = old
        holder.execute("ROLLBACK")
        holder.close()
    assert _moved(tmp_path) == []


def test_the_store_imports_neither_textual_nor_vllm():
    """The history command and the headless runs use it without loading either."""
    import ast

    for path in (ROOT / "tui" / "store").glob("*.py"):
        roots = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
        assert not roots & {"textual", "vllm"}, path
    probe = ("import sys, tui.store.store, tui.store.command, tui.store.search; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'vllm', 'torch'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stdout.strip() == "[]"


# -- tokens as arrays -----------------------------------------------------------------------------------
def test_tokens_round_trip_through_the_arrays():
    tokens = [token(0, "Hé", 5), token(1, "\t", 0), TokenLogprob(None, "", -math.inf, None, ()),
              TokenLogprob(7, "x", f32(-0.25), 1, (Alternative(None, "y", f32(-1.5)), Alternative(7, "x", f32(-0.25))))]
    ends = [2, 6, 6, 7]
    back, back_ends = codec.decode(codec.encode(tokens, ends).row())
    assert back == tokens and back_ends == ends


def test_logprobs_are_kept_to_seven_digits():
    (back,), _ = codec.decode(codec.encode([TokenLogprob(1, "a", -1.23456789, 1, ())], [1]).row())
    assert back.logprob == pytest.approx(-1.23456789, rel=1e-7) and back.logprob != -1.23456789


def test_arrays_that_disagree_are_refused():
    row = list(codec.encode([token(0, "ab"), token(1, "cd")], [2, 4]).row())
    row[1] = row[1][:4]  # one id for two tokens
    with pytest.raises(codec.CodecError, match="ids"):
        codec.decode(tuple(row))
    row = list(codec.encode([token(0, "ab")], [2]).row())
    row[5] = "abc"  # the texts no longer add up
    with pytest.raises(codec.CodecError, match="texts"):
        codec.decode(tuple(row))


# -- the session, a little at a time ------------------------------------------------------------------------
def test_a_streaming_answer_is_saved_as_its_tail_and_new_tokens(tmp_path):
    store = Store.open(tmp_path / "store.db")
    try:
        pane = saved_pane("q", output="", state=STREAMING)
        answer = pane.conversation.last()
        record = session_of([pane])
        store.save_session(record)
        seen = []
        original = store._writer.submit  # noqa: SLF001 - the batches, as handed over
        store._writer.submit = lambda batch: (seen.append(batch), original(batch))  # noqa: SLF001
        for step in range(5):
            for i in range(10):
                piece = f"w{step * 10 + i} "
                answer.append(piece)
                answer.reply.tokens.add(piece, [token(step * 10 + i, piece)])
            answer.reply.figures.tokens = (step + 1) * 10
            store.save_session(record)
        store.save_session(record)  # nothing changed
        assert store.flush()
    finally:
        store.close()
    assert [len(batch.ops) for batch in seen] == [3, 3, 3, 3, 3, 0]  # the last save: nothing changed
    for step, batch in enumerate(seen[:5]):
        text, figures, tokens = batch.ops
        assert isinstance(text, AppendText) and not text.replace
        assert text.text == "".join(f"w{step * 10 + i} " for i in range(10))
        assert isinstance(tokens, AppendTokens) and not tokens.replace and len(tokens.tokens) == 10
        assert isinstance(figures, PutFigures)
    restored = reopened(tmp_path / "store.db")
    reply = restored.panes[0].conversation.last()
    assert reply.content == answer.content and reply.reply.tokens.tokens == answer.reply.tokens.tokens
    assert reply.reply.tokens.ends == answer.reply.tokens.ends


def _conversation_ops(draw, record: SessionRecord, next_number: list[int]) -> None:
    """One random change to the session, as the workbench makes them."""
    panes = record.panes
    kind = draw(st.sampled_from(["add pane", "close pane", "add message", "stream", "remove", "choose", "figures",
                                 "fields", "new reply", "edit", "move pane", "new conversation"]))
    if kind == "add pane" or not panes:
        if len(panes) < 6:
            panes.append(PaneState(next_number[0], target=draw(st.sampled_from(TARGETS))))
            next_number[0] += 1
        return
    state = draw(st.sampled_from(panes))
    conversation = state.conversation
    messages = list(conversation.messages())
    replies = [m for m in messages if m.reply is not None]
    if kind == "close pane":
        panes.remove(state)
    elif kind == "move pane":
        panes.insert(draw(st.integers(0, len(panes) - 1)), panes.pop(panes.index(state)))
    elif kind == "new conversation":
        state.conversation = conversation.copy()
    elif kind == "add message" or not messages:
        parent = draw(st.sampled_from([None, *messages]))
        role = draw(st.sampled_from([USER, ASSISTANT]))
        reply = None
        if role == ASSISTANT and draw(st.booleans()):
            reply = Reply(figures=Figures(draw(st.sampled_from(STATES))), target=draw(st.sampled_from(TARGETS)),
                          settings={"temperature": draw(st.floats(0, 2)), "seed": draw(st.none() | st.integers(0, 9)),
                                    "chat_template": True, "system_prompt": "", "logprobs": 5},
                          prompt_ids=draw(st.none() | st.lists(st.integers(0, 150_000), max_size=20)),
                          started_at=draw(st.none() | st.floats(0, 2e9)))
        conversation.add(parent, role, draw(st.text(max_size=30)), reply)
    elif kind == "stream" and replies:
        message = draw(st.sampled_from(replies))
        for _ in range(draw(st.integers(1, 8))):
            piece = draw(st.text(min_size=0, max_size=6))
            message.append(piece)
            with_token = draw(st.booleans())
            message.reply.tokens.add(piece, [token(len(message.reply.tokens), piece, draw(st.integers(0, 5)))]
                                     if with_token else None)
    elif kind == "remove":
        conversation.remove(draw(st.sampled_from(messages)))
    elif kind == "choose":
        conversation.step(draw(st.sampled_from(messages)), draw(st.sampled_from([-1, 1])))
    elif kind == "figures" and replies:
        figures = draw(st.sampled_from(replies)).reply.figures
        figures.tokens = draw(st.integers(0, 5000))
        figures.ttft_ms = draw(st.none() | st.floats(0, 1e5))
        figures.finish_reason = draw(st.none() | st.sampled_from(["stop", "length"]))
    elif kind == "fields":
        state.draft = draw(st.text(max_size=20))
        state.overrides = draw(st.dictionaries(st.sampled_from(["temperature", "seed", "max_tokens"]),
                                               st.text(max_size=5), max_size=2))
        state.label = draw(st.text(max_size=10))
        state.heat = draw(st.booleans())
        state.target = draw(st.sampled_from(TARGETS))
        record.composer = draw(st.text(max_size=10))
        record.system_prompt = draw(st.text(max_size=10))
        record.default_target = draw(st.sampled_from(TARGETS))
    elif kind == "new reply" and replies:
        message = draw(st.sampled_from(replies))
        message.set_content("")
        message.reply = Reply(figures=Figures(DONE, tokens=1), target=draw(st.sampled_from(TARGETS)))
    elif kind == "edit":
        users = [m for m in messages if m.reply is None]
        if users:
            draw(st.sampled_from(users)).set_content(draw(st.text(max_size=12)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.data())
def test_any_session_changed_in_any_way_is_read_back_the_same(tmp_path_factory, data):
    """Random conversations (branches, replies with tokens, streamed text), changed in random
    ways with a save now and then: the store reads back the session as it was at the last save."""
    path = tmp_path_factory.mktemp("sync") / "store.db"
    record = SessionRecord()
    next_number = [1]
    store = Store.open(path)
    try:
        for _ in range(data.draw(st.integers(1, 25))):
            _conversation_ops(data.draw, record, next_number)
            if data.draw(st.booleans()):
                store.save_session(record)
        record.next_number = next_number[0]
        for state in record.panes:
            users = [m.id for m in state.conversation.messages() if m.role == USER]
            state.editing = data.draw(st.sampled_from([None, *users]))
        store.save_session(record)
        assert store.flush() and store.take_problems() == []
    finally:
        store.close()
    for state in record.panes:
        state.settle()  # read back, a run no app is writing any more is cancelled
    assert reopened(path).to_data() == record.to_data()


def test_a_failed_write_is_followed_by_the_whole_session(tmp_path):
    """The writer could not write a batch: the next save writes the whole session, and the partial
    batches in between are not applied to a session the database does not hold."""
    store = Store.open(tmp_path / "store.db")
    try:
        pane = saved_pane("q", output="start ", state=STREAMING)
        record = session_of([pane])
        store.save_session(record)
        assert store.flush()

        class Broken(AppendText):
            def apply(self, conn):
                raise sqlite3.OperationalError("disk I/O error (on purpose)")

        ops, whole = store.sync.changes(record)
        assert ops == [] and not whole
        from tui.store.writer import SESSION, Batch

        store._writer.submit(Batch(SESSION, [Broken(1, 2, "lost")]))  # noqa: SLF001
        pane.conversation.last().append("more ")
        store.save_session(record)  # queued behind the failing batch: skipped
        assert store.flush()
        assert any("Could not save the session" in p for p in store.take_problems())
        pane.conversation.last().append("and more")
        ops, whole = store.sync.changes(record)
        assert whole  # the walk was told
        store._writer.submit(Batch(SESSION, ops, whole))  # noqa: SLF001
        assert store.flush()
    finally:
        store.close()
    assert reopened(tmp_path / "store.db").panes[0].conversation.last().content == "start more and more"


def test_a_store_observer_hears_of_each_batch_on_the_writer_thread(tmp_path):
    """The benchmark's hook (tui/instrument.py): each batch the writer is done with, its kind and
    the writer thread's CPU time on it, heard on that thread."""
    import threading

    from tui.instrument import StoreObserver

    class Heard(StoreObserver):
        def __init__(self) -> None:
            self.batches: list[tuple[str, float, str]] = []

        def batch_done(self, kind: str, cpu_s: float) -> None:
            self.batches.append((kind, cpu_s, threading.current_thread().name))

    heard = Heard()
    store = Store.open(tmp_path / "store.db", observer=heard)
    try:
        record = session_of([saved_pane("q", output="an answer", state=DONE)])
        store.save_session(record)
        store.record_run(run_entry(record.panes[0].conversation, record.panes[0].conversation.last(),
                                   comparison="c1", kind=WORKBENCH, pane=1))
        assert store.flush()
    finally:
        store.close()
    assert [kind for kind, _, _ in heard.batches] == ["session", "history"]
    assert all(cpu_s > 0 for _, cpu_s, _ in heard.batches)
    assert {thread for _, _, thread in heard.batches} == {"vllm-panes-store"}


def test_lone_surrogates_and_control_text_are_stored(tmp_path):
    store = Store.open(tmp_path / "store.db")
    try:
        record = session_of([saved_pane("q\ud800", output="half \ud83d emoji \x1b[31m", state=DONE)])
        store.save_session(record)
        store.record_run(entry("an answer with \udcff in it", prompt="\ud800 prompt"))
        assert store.flush() and store.take_problems() == []
    finally:
        store.close()
    restored = reopened(tmp_path / "store.db")
    assert restored.panes[0].conversation.last().content == "half \ufffd emoji \x1b[31m"
    store = Store.open(tmp_path / "store.db")
    try:
        with store.reading() as conn:
            (row,) = search(conn, parse_query("answer"))
        assert row.answer == "an answer with \ufffd in it" and row.prompt == "\ufffd prompt"
    finally:
        store.close()


# -- the history ----------------------------------------------------------------------------------------
@pytest.fixture
def history(tmp_path):
    store = Store.open(tmp_path / "store.db")
    now = time.time()
    store.record_run(entry("The key to happiness is a quiet mind", "happiness?", comparison="a",
                           ended_at=now - 10 * 86400))
    store.record_run(entry("Galaxies far away hold many stars", "galaxy", comparison="b", ended_at=now - 3600,
                           target=Target(LOCAL, "/models/demo/weights", "proverbs")))
    store.record_run(entry("Stars AND (wildcards*) \"quoted\"", "odd text", comparison="b", ended_at=now - 60,
                           target=Target("gpu:8000", "qwen-7b"), state=CANCELLED, tokens=4))
    store.record_run(entry("failed early", "anything", comparison="c", ended_at=now, state=ERROR, kind=HEADLESS))
    assert store.flush()
    yield store
    store.close()


def _answers(store: Store, text: str) -> list[str]:
    with store.reading() as conn:
        return [row.answer for row in search(conn, parse_query(text))]


def test_search_finds_a_word_of_an_answer_newest_first(history):
    assert _answers(history, "happiness") == ["The key to happiness is a quiet mind"]
    assert _answers(history, "happi") == ["The key to happiness is a quiet mind"]  # as typed, a word's start
    assert _answers(history, "stars") == ["Stars AND (wildcards*) \"quoted\"", "Galaxies far away hold many stars"]
    assert _answers(history, "galaxy") == ["Galaxies far away hold many stars"]  # the prompt too
    assert _answers(history, "stars galaxies") == ["Galaxies far away hold many stars"]  # every word
    assert _answers(history, "")[0] == "failed early"  # everything, newest first
    assert len(_answers(history, "")) == 4


def test_query_syntax_typed_is_searched_as_words(history):
    for text in ['AND', '"quoted', 'wildcards*', '(', 'NEAR(stars', '*', '-', 'answer:stars', '"']:
        _answers(history, text)  # never an FTS5 syntax error
    assert _answers(history, '"quoted"') == ["Stars AND (wildcards*) \"quoted\""]


def test_filters_by_target_model_and_date(history):
    assert _answers(history, "target:proverbs") == ["Galaxies far away hold many stars"]
    assert _answers(history, "model:qwen") == ["Stars AND (wildcards*) \"quoted\""]
    assert _answers(history, "stars target:qwen") == ["Stars AND (wildcards*) \"quoted\""]
    assert _answers(history, "since:2d") == ["failed early", "Stars AND (wildcards*) \"quoted\"",
                                             "Galaxies far away hold many stars"]
    assert _answers(history, "until:5d") == ["The key to happiness is a quiet mind"]
    today = time.strftime("%Y-%m-%d")
    assert "failed early" in _answers(history, f"since:{today}")
    with pytest.raises(QueryError, match="since"):
        parse_query("since:yesterdayish")


def test_each_row_carries_its_figures_and_its_comparison(history):
    with history.reading() as conn:
        rows = search(conn, parse_query(""))
    by = {row.answer: row for row in rows}
    galaxy = by["Galaxies far away hold many stars"]
    assert galaxy.together == 2 and galaxy.target_label == f"{DEMO.label}+proverbs"
    assert galaxy.figures.line() == "done · TTFT 12 ms · 6 tok · 80 tok/s · stop"
    assert by["failed early"].figures.state == ERROR and by["failed early"].kind == HEADLESS


def test_a_run_and_its_comparison_come_back_as_panes(history):
    with history.reading() as conn:
        (row,) = search(conn, parse_query("wildcards"))
        run = load_run(conn, row.id)
        both = load_comparison(conn, row.comparison)
    assert run.answer == row.answer and len(run.reply.tokens) == 4
    assert [r.answer for r in both] == ["Galaxies far away hold many stars", "Stars AND (wildcards*) \"quoted\""]
    state = pane_state_of(run, 7, Sampling().with_values(temperature=0.7).values)
    thread = state.thread()
    assert [(m.role, m.content) for m in thread] == [(USER, "odd text"), (ASSISTANT, row.answer)]
    assert thread[-1].reply.figures.state == CANCELLED and thread[-1].reply.tokens.tokens == run.reply.tokens.tokens
    assert state.target == Target("gpu:8000", "qwen-7b") and state.number == 7
    assert state.overrides == {"seed": "3"}  # the temperature is the workbench's already


def test_a_run_opened_again_asks_with_its_output_format():
    """A run answered under a regex, opened again from the history (f9), asked again for free text:
    the pane took the knobs that differed, not the format. It takes the format too, unless it is
    the workbench's default already; a free run beside a default format is pinned to free."""
    from tui.core.output_format import FREE_FORMAT, REGEX, OutputFormat
    from tui.store.history import format_of

    regex = OutputFormat(REGEX, pattern="(Yes|No), [a-z]+\\.")
    asked = {"temperature": 0.8, "format": regex.record()}
    assert format_of(asked, None) == regex and format_of(asked, FREE_FORMAT) == regex
    assert format_of(asked, regex) is None  # the defaults' already: the pane inherits it
    assert format_of({"format": None}, regex) == FREE_FORMAT
    assert format_of({"format": None}, FREE_FORMAT) is None
    assert format_of({"temperature": 0.8}, regex) is None  # not recorded (older runs)
    assert format_of({"format": {"kind": "nope"}}, None) is None  # unreadable: not guessed


def test_overrides_keep_an_unset_seed_unset():
    assert overrides_of({"seed": None, "temperature": 0.5, "chat_template": True}, {"seed": 42, "temperature": 0.5}) \
        == {"seed": "random"}  # as a pane's own seed field says it


def test_a_runs_entry_keeps_the_conversation_it_continued():
    conversation = Conversation()
    q1 = conversation.add(None, USER, "first")
    a1 = conversation.add(q1, ASSISTANT, "one", Reply(figures=Figures(DONE)))
    q2 = conversation.add(a1, USER, "second")
    reply = Reply(figures=Figures(DONE, tokens=2), settings={"chat_template": True, "system_prompt": "be brief"})
    answer = conversation.add(q2, ASSISTANT, "two", reply)
    made = run_entry(conversation, answer, comparison="x", kind=WORKBENCH, pane=3, target=DEMO)
    assert made.messages == openai_messages([q1, a1, q2], "be brief") and made.prompt == "second"
    assert made.target == DEMO and made.answer == "two"
    reply.figures.tokens = 99  # the entry holds a copy
    assert made.figures.tokens == 2


def test_the_size_limit_drops_the_oldest_runs(tmp_path):
    store = Store.open(tmp_path / "store.db", max_mb=1)
    try:
        for index in range(60):
            store.record_run(entry(f"run{index} " + "words of an answer " * 1500, comparison=str(index)))
        assert store.flush()
        with store.reading() as conn:
            kept = [row.answer.split()[0] for row in search(conn, parse_query("", limit=1000))]
            assert used_bytes(conn) <= 2**20
    finally:
        store.close()
    assert kept[0] == "run59" and 0 < len(kept) < 60
    assert kept == [f"run{i}" for i in range(59, 59 - len(kept), -1)]  # the newest, every one of them


def test_vacuum_gives_the_space_back(tmp_path):
    path = tmp_path / "store.db"
    store = Store.open(path)
    for index in range(40):
        store.record_run(entry("padding " * 5000, comparison=str(index)))
    store.close()
    conn, _ = open_database(path)
    try:
        dropped = enforce_limit(conn, 200_000)
        before, after = vacuum(conn)
        assert dropped > 30 and after < before / 4 and integrity_problems(conn) == []
    finally:
        conn.close()


# -- the session file of earlier versions ----------------------------------------------------------------
VERSION_1 = {"version": 1, "defaults": {"temperature": "0.5"}, "chat_template": True, "system_prompt": "",
             "panes": [{"prompt": "The key to happiness is", "output": "a garden of patience", "state": "done",
                        "tokens": 4, "ttft_ms": 40.0, "tok_s": 100.0, "finish_reason": "length",
                        "token_logprobs": [{"text": "a", "id": 5, "logprob": -0.5, "rank": 1, "top": [], "end": 1}]},
                       {"prompt": "still a draft"}]}


def test_a_version_1_session_file_is_imported_once_and_kept(tmp_path):
    session_file = tmp_path / "session.json"
    session_file.write_text(json.dumps(VERSION_1))
    expected, _ = load_session(_copy(session_file, tmp_path / "expected.json"))
    store = Store.open(tmp_path / "store.db")
    try:
        record, notices = store.import_session_file(session_file)
        assert record.to_data() == expected.to_data()
        assert any("kept as" in n for n in notices)
        with store.reading() as conn:
            (row,) = search(conn, parse_query("garden"))
        assert row.figures.state == DONE and row.prompt == "The key to happiness is"
        assert store.import_session_file(session_file) == (None, [])  # once
    finally:
        store.close()
    assert not session_file.exists()
    (kept,) = tmp_path.glob("session.json.kept-*")
    assert json.loads(kept.read_text()) == VERSION_1
    assert reopened(tmp_path / "store.db").to_data() == expected.to_data()


def test_a_version_2_session_file_is_imported_with_its_branches(tmp_path):
    pane = saved_pane("q1", output="a1", state=DONE, heat=True)
    first = pane.conversation.last()
    pane.conversation.add(first.parent, ASSISTANT, "a1 again", Reply(figures=Figures(DONE)))
    record = session_of([pane, saved_pane("draft only")], system_prompt="sys", composer="to all")
    session_file = tmp_path / "session.json"
    save_session(record, session_file)
    store = Store.open(tmp_path / "store.db")
    try:
        imported, _ = store.import_session_file(session_file)
        assert imported.to_data() == record.to_data()
        with store.reading() as conn:
            assert len(search(conn, parse_query(""))) == 2  # both answers, one comparison
    finally:
        store.close()
    assert reopened(tmp_path / "store.db").to_data() == record.to_data()


def test_a_bad_session_file_is_moved_aside_by_the_import(tmp_path):
    session_file = tmp_path / "session.json"
    session_file.write_text('{"version": 2, "panes": [')
    store = Store.open(tmp_path / "store.db")
    try:
        record, notices = store.import_session_file(session_file)
    finally:
        store.close()
    assert record is None and "moved to" in notices[0]
    assert len(list(tmp_path.glob("session.json.bad-*"))) == 1


def _copy(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    return target


# -- two processes -------------------------------------------------------------------------------------
WRITER = """
import sys, time
from pathlib import Path
from tests.test_store import entry
from tui.store.store import Store
store = Store.open(Path(sys.argv[1]))
for index in range(int(sys.argv[3])):
    store.record_run(entry(f"{sys.argv[2]} run {index}", comparison=sys.argv[2]))
    if index % 10 == 0:
        time.sleep(0.01)
assert store.close(timeout=60)
problems = store.take_problems()
print("problems:", problems)
sys.exit(1 if problems else 0)
"""


@pytest.mark.subprocess
def test_two_processes_record_into_one_history(tmp_path):
    path = tmp_path / "store.db"
    Store.open(path).close()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, "150"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("one", "two")]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err)
    conn = connect(path)
    try:
        assert integrity_problems(conn) == []
        counts = dict(conn.execute("SELECT comparison, count(*) FROM runs GROUP BY comparison").fetchall())
        assert counts == {"one": 150, "two": 150}
        assert len(search(conn, parse_query("two run", limit=1000))) == 150
    finally:
        conn.close()


# -- the command ------------------------------------------------------------------------------------------
def _history(args: list[str], data_home: Path) -> subprocess.CompletedProcess:
    probe = ("import sys\nfrom tui.cli import main\ncode = main(sys.argv[1:])\n"
             "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'vllm', 'torch'})\n"
             "print('LOADED', loaded, file=sys.stderr)\nsys.exit(code)\n")
    return subprocess.run([sys.executable, "-c", probe, "history", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(data_home)})


@pytest.mark.subprocess
def test_the_history_command_prints_exports_and_compacts_without_the_engine(tmp_path):
    from tui import locations

    data_home = tmp_path / "data"
    empty = _history([], data_home)
    assert empty.returncode == 0 and "No history yet" in empty.stderr
    path = data_home / "vllm-panes" / locations.store_file().name
    store = Store.open(path)
    store.record_run(entry("The key to happiness is a quiet mind", "happiness?", comparison="a", tokens=3))
    store.record_run(entry("Galaxies \x1b[31m far away", "galaxy", comparison="b"))
    store.close()

    shown = _history(["happiness"], data_home)
    assert shown.returncode == 0 and "LOADED []" in shown.stderr
    assert "The key to happiness is a quiet mind" in shown.stdout and "Galaxies" not in shown.stdout
    assert "done · TTFT 12 ms" in shown.stdout
    escaped = _history(["galax"], data_home)
    assert "\x1b" not in escaped.stdout and "␛[31m" in escaped.stdout  # outside text through the gate

    both = _history([], data_home).stdout  # the newest matches, the newest printed last, as help says
    assert both.index("The key to happiness") < both.index("Galaxies")
    newest = _history(["--limit", "1"], data_home).stdout
    assert "Galaxies" in newest and "happiness" not in newest
    assert "newest last" in " ".join(_history(["--help"], data_home).stdout.split())
    listed = _history(["--json", "--limit", "1"], data_home)
    (row,) = json.loads(listed.stdout)
    assert row["answer"].startswith("Galaxies") and row["state"] == "done" and row["target"] == DEMO.label

    out = tmp_path / "runs.jsonl"
    exported = _history(["--export", str(out)], data_home)
    assert exported.returncode == 0 and "LOADED []" in exported.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["prompt"] for line in lines] == ["happiness?", "galaxy"]
    assert lines[0]["messages"] == [{"role": "user", "content": "happiness?"}]
    assert len(lines[0]["tokens"]["text"]) == 3 and lines[0]["figures"]["state"] == "done"

    long_answer = "Wisdom " * 100  # 700 characters: --json gave the first 300, as if they were all
    store = Store.open(path)
    store.record_run(entry(long_answer, "wisdom?", comparison="c"))
    store.close()
    (whole,) = json.loads(_history(["--json", "wisdom"], data_home).stdout)
    assert whole["answer"] == long_answer
    compacted = _history(["--vacuum"], data_home)
    assert compacted.returncode == 0 and "Compacted" in compacted.stderr
    assert _history(["--since", "soon"], data_home).returncode == 2


def test_the_config_gives_the_history_its_size():
    from tui import validate as V
    from tui.config import config_from_data

    assert config_from_data({"history_max_mb": 50}).history_max_mb == 50
    with pytest.raises(V.FieldError, match="history_max_mb"):
        config_from_data({"history_max_mb": 0})
