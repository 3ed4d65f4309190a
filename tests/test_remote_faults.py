"""A server that misbehaves (tests/support/fault_server.py): every fault fails its own request, with
a reason, and reaches neither the terminal as escape sequences nor the app as a crash."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tui import locations
from tui.core.conversation import ASSISTANT, USER, Conversation
from tui.core.run import Run, new_reply
from tui.engine.openai_backend import OpenAIBackend
from tui.engine.params import Sampling
from tui.engine.protocol import BackendError, EngineState, Request, RequestRejected
from tui.figures import CANCELLED, DONE, ERROR, STREAMING
from tui.session import SessionRecord
from tui.store.history import load_run

from tests.support.app import make_app, send_key, type_prompt, wait_until, saved_pane, session_of, stored_session
from tests.support.fault_server import CLOSING_USAGE, ESCAPES, HUGE, RUNNING_USAGE, WORDS, FaultServer
from tests.support.processes import run_cli
from tests.support.terminal import row_text, terminal_copy

pytestmark = pytest.mark.remote

CHAT = Sampling()
RAW = Sampling(chat_template=False)


@pytest.fixture(scope="module")
def server():
    srv = FaultServer().start()
    yield srv
    srv.stop()


@pytest.fixture
async def remote(server):
    backend = OpenAIBackend(server.url(), read_timeout=1.5)
    await backend.start()
    yield backend
    await backend.shutdown()


async def collect(backend, prompt, sampling=CHAT, before=()):
    """The answer to `prompt`, after the conversation `before` ((role, content) pairs)."""
    request = Request.of([*before, ("user", prompt)], sampling, f"t-{time.monotonic_ns()}")
    deltas = [d async for d in backend.stream(request)]
    return "".join(d.text for d in deltas), deltas


# -- the backend: one request fails, the server stays usable ---------------------------------------
@pytest.mark.parametrize("sampling", [CHAT, RAW], ids=["chat", "completion"])
@pytest.mark.parametrize("fault, error, reason", [
    ("error400", RequestRejected, "bad request"),
    ("number", BackendError, "malformed stream (TypeError: the text of a chunk is int"),
    ("garbage", BackendError, "malformed stream (JSONDecodeError"),
    ("error_event", BackendError, "the server reported an error: the model broke"),
    ("html", BackendError, "answered with text/html"),
    ("quiet", BackendError, "the server went quiet: nothing for 1.5 s"),
])
async def test_a_faulty_stream_fails_its_request_only(server, remote, fault, error, reason, sampling):
    with pytest.raises(error) as info:
        await collect(remote, f"fault:{fault} please", sampling)
    message = str(info.value)
    assert server.requests[-1] == fault  # the fault was served, not a request refused before it
    assert reason in message and "\x1b" not in message and "\x07" not in message
    assert remote.state is EngineState.READY
    text, deltas = await collect(remote, "and now a good one", sampling)  # the server is not "lost"
    assert text.startswith("word1 word2") and deltas[-1].finish_reason == "stop"
    # A conversation's later turn fails the same way: with a chat template the last message asks
    # for the fault; raw, the conversation is one text, which starts with it.
    turns = [("user", "hi "), ("assistant", text), ("user", f"fault:{fault} again")]
    if not sampling.chat_template:
        turns = [turns[2], turns[1], turns[0]]
    with pytest.raises(error) as info:
        await collect(remote, turns[2][1], sampling, before=turns[:2])
    assert reason in str(info.value) and server.requests[-1] == fault
    sent = server.bodies[-1]
    if sampling.chat_template:
        assert sent["messages"] == [{"role": role, "content": content} for role, content in turns]
    else:
        assert sent["prompt"] == "".join(content for _, content in turns)


async def test_odd_but_valid_streams_come_through(remote):
    text, _ = await collect(remote, "fault:surrogate")
    assert "half \ud83d emoji" in text  # passed on as sent: the UI's gate replaces it
    text, _ = await collect(remote, "fault:huge")
    assert len(text) > HUGE
    text, _ = await collect(remote, "fault:redirect")  # followed, as the client does
    assert text.startswith("word1")


async def test_cancel_while_the_server_is_quiet_is_immediate(server):
    backend = OpenAIBackend(server.url())  # the default read timeout: minutes
    await backend.start()
    try:
        got = []

        async def consume():
            async for delta in backend.stream(Request.of_prompt("fault:quiet", CHAT, "quiet-cancel")):
                got.append(delta)

        task = asyncio.ensure_future(consume())
        await wait_until(lambda: len(got) == 3)
        start = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - start < 0.5
    finally:
        await backend.shutdown()


@pytest.mark.parametrize("mode, reason", [
    ("html", "is not an OpenAI-compatible server: its /models answer is"),
])
async def test_a_server_that_is_not_one_says_so_at_start(server, mode, reason):
    backend = OpenAIBackend(server.url(mode))
    with pytest.raises(BackendError, match=reason):
        await backend.start()
    await backend.shutdown()


async def test_credentials_in_the_url_are_never_shown(server):
    url = server.url().replace("http://", "http://someone:s3cret@")
    backend = OpenAIBackend(url, model="not-served")
    with pytest.raises(BackendError) as info:
        await backend.start()
    assert "s3cret" not in str(info.value) and "someone" not in str(info.value)
    assert backend.shown_url == server.url()
    await backend.shutdown()


# -- headless -----------------------------------------------------------------------------------------
@pytest.mark.subprocess
def test_headless_against_every_fault_says_why_and_goes_on(server):
    prompts = ["fault:error400", "fault:number", "fault:garbage", "fault:error_event", "fault:surrogate",
               "fault:inject", "fault:html", "hello"]
    result, left = run_cli(["--headless", "--base-url", server.url(), *prompts], timeout=60)
    assert result.returncode == 1, result.stderr  # some requests failed; the command did not crash
    assert "crashed" not in result.stderr and "Traceback" not in result.stderr
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\x07" not in stream
    out = result.stdout
    assert out.count("Generation complete") == 3  # surrogate, inject, hello
    assert "Rejected: bad request ␛]0;pwned␇␛[2Jend (400)" in out
    assert "Failed: the server sent a malformed stream" in out and "half \ufffd emoji" in out
    assert "model says ␛]0;pwned" in out
    assert "(the log: " in result.stderr and "vLLM's log" not in result.stderr  # no vLLM in this process
    assert left == []


@pytest.mark.subprocess
def test_headless_shows_an_injected_model_id_as_text(server):
    result, left = run_cli(["--headless", "--base-url", server.url("inject"), "hello"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stderr and "evil␛]0;pwned␇␛[2Jmodel" in result.stderr
    assert left == []


# -- the workbench -------------------------------------------------------------------------------
@pytest.mark.draws
@pytest.mark.ui
async def test_the_workbench_against_every_fault(server, tmp_path):
    """Every pane ends (none stays streaming), each with its reason; the session is saved and the
    comparison exported with the odd text in it; nothing reaches the terminal as an escape."""
    backend = OpenAIBackend(server.url("inject"), read_timeout=1.5)
    await backend.start()
    faults = ["error400", "number", "garbage", "error_event", "surrogate", "inject", "quiet", "huge"]
    session = session_of([saved_pane(prompt=f"fault:{f}") for f in faults] + [saved_pane(prompt="hi")])
    path = tmp_path / "store.db"
    try:
        with terminal_copy() as terminal:
            app = make_app(backend, session=session, session_path=path)
            async with app.run_test(size=(200, 50)) as pilot:
                panes = app.workbench.panes()
                send_key(app, "ctrl+r")
                await wait_until(lambda: all(p.runs == 1 and not p.running for p in panes), timeout=30)
                await pilot.pause(0.2)
                states = {f: p.figures.state for f, p in zip(faults + ["ok"], panes)}
                assert states == {"error400": ERROR, "number": ERROR, "garbage": ERROR, "error_event": ERROR,
                                  "surrogate": DONE, "inject": DONE, "quiet": ERROR, "huge": DONE, "ok": DONE}
                messages = {f: p.figures.message for f, p in zip(faults, panes)}
                assert "bad request ␛]0;pwned␇␛[2Jend" in messages["error400"]
                assert "went quiet" in messages["quiet"]
                assert "half \ufffd emoji" in panes[4].answer and "model says ␛]0;pwned" in panes[5].answer
                assert "evil␛]0;pwned" in app.workbench.engine_line.model
                app.notify(f"a server said [bold]{ESCAPES}[/")  # markup and escapes in a notification
                await pilot.pause(0.2)
                app.save_session_now()
                app.workbench.action_export()
                await pilot.pause(0.2)
                shown = "".join(row_text(terminal, y, 0, 200) for y in range(50))
                assert "vllm-panes ● ready" in shown and "evil␛]0;pwned" in shown
        record = stored_session(path)  # what the next start opens
        assert "half \ufffd emoji" in record.panes[4].conversation.last().content
        assert [p.conversation.last().reply.state for p in record.panes] == list(states.values())
        assert "went quiet" in record.panes[6].conversation.last().reply.figures.message
        exports = sorted(locations.data_dir().glob("exports/comparison-*.json"))
        exported = json.loads(exports[-1].read_text())["panes"][4]
        assert exports and "half \ufffd emoji" in exported["messages"][-1]["content"]
        assert exported["messages"][0] == {"role": "user", "content": "fault:surrogate"}
        for char, _style in terminal.values():
            assert char not in ("\x1b", "\x07", "\x9b")
    finally:
        await backend.shutdown()


@pytest.mark.ui
async def test_escape_cancels_a_pane_whose_server_went_quiet(server, tmp_path):
    backend = OpenAIBackend(server.url())
    await backend.start()
    try:
        app = make_app(backend, session=session_of([saved_pane(prompt="fault:quiet")]),
                       session_path=tmp_path / "s.json")
        async with app.run_test(size=(120, 30)) as pilot:
            pane = app.workbench.panes()[0]
            send_key(app, "f5")
            await wait_until(lambda: pane.figures.state == STREAMING and pane.tokens_received == 3)
            pane.editor.focus()
            send_key(app, "escape")
            await wait_until(lambda: pane.figures.state == CANCELLED, timeout=1)
            await pilot.pause(0.1)
            assert pane.answer.startswith("word1 word2 word3")
    finally:
        await backend.shutdown()


@pytest.mark.ui
async def test_a_fault_in_a_later_turn_fails_that_answer_and_the_conversation_stays(server, tmp_path):
    """The first turn is kept whatever the second one meets; a failed answer that wrote nothing is
    replaced when the pane runs again, one that wrote something is kept beside the new one."""
    backend = OpenAIBackend(server.url(), read_timeout=1.5)
    await backend.start()
    path = tmp_path / "store.db"
    try:
        app = make_app(backend, session=session_of([saved_pane(prompt="hello")]), session_path=path)
        async with app.run_test(size=(160, 40)) as pilot:
            pane = app.workbench.panes()[0]
            pane.editor.focus()

            async def run(expected_runs):
                send_key(app, "f5")
                await wait_until(lambda: pane.runs == expected_runs and not pane.running, timeout=15)
                await pilot.pause()

            await run(1)
            first = pane.answer
            assert first.startswith("word1") and pane.figures.state == DONE
            await type_prompt(pilot, pane, "fault:error400 now")
            await run(2)
            assert pane.figures.state == ERROR and "bad request" in pane.figures.message and pane.answer == ""
            sent = server.bodies[-1]["messages"]
            assert sent == [{"role": "user", "content": "hello"}, {"role": "assistant", "content": first},
                            {"role": "user", "content": "fault:error400 now"}]
            empty = pane.reply
            await run(3)  # nothing typed: the failed answer is asked again, and replaces the empty one
            question = pane.state.conversation.path()[2]
            assert server.bodies[-1]["messages"] == sent and len(question.children) == 1
            assert question.children[0] is not empty and pane.state.conversation.get(empty.id) is None
            assert pane.figures.state == ERROR

            await type_prompt(pilot, pane, "fault:error_event later")
            # Sent after the failed answer; this one writes three words before its error.
            await run(4)
            assert pane.figures.state == ERROR and pane.answer.startswith("word1 word2 word3")
            failed = pane.state.conversation.last()
            await run(5)
            assert failed.parent.children[0] is failed and len(failed.parent.children) == 2  # kept, a sibling
            assert pane.state.conversation.siblings(pane.reply) == (2, 2)
            path_texts = [m.content for m in pane.state.conversation.path()]
            assert path_texts[:2] == ["hello", first]
            app.save_session_now()
        record = stored_session(path)  # what the next start opens
        assert [m.content for m in record.panes[0].conversation.path()][:2] == ["hello", first]
    finally:
        await backend.shutdown()


# -- what a server says a request used: kept as it sent it ----------------------------------------
async def answered(backend, prompt: str, sampling):
    """The answer to `prompt`, recorded by a Run as the app records one."""
    conversation = Conversation()
    question = conversation.add(None, USER, prompt)
    answer = conversation.add(question, ASSISTANT, reply=new_reply(sampling, None, STREAMING))
    run = Run(answer, Request.of([("user", prompt)], sampling, f"t-{time.monotonic_ns()}"))
    async for delta in backend.stream(run.request):
        run.take(delta)
    run.end(DONE)
    return answer


@pytest.mark.parametrize("sampling", [CHAT, RAW], ids=["chat", "completion"])
async def test_the_servers_closing_usage_is_kept_as_it_sent_it(remote, sampling):
    """vLLM closes a stream with a chunk of no choice: its counts and their details (the thinking's
    reasoning_tokens among them). The run keeps it whole, fields no client knows included; the
    figures stay those of the last token."""
    answer = await answered(remote, "fault:closing_usage please", sampling)
    assert answer.reply.usage == CLOSING_USAGE
    assert answer.content == "".join(f"word{i} " for i in range(1, WORDS + 1))
    figures = answer.reply.figures
    assert (figures.state, figures.finish_reason, figures.tokens) == (DONE, "stop", WORDS)


async def test_a_usage_too_large_to_keep_is_named_and_the_answer_stands(remote, caplog):
    """A server's usage is a few counts: one of 20 KB is not kept, and the log says so."""
    with caplog.at_level("INFO", logger="tui.engine.openai_backend"):
        answer = await answered(remote, "fault:huge_usage please", CHAT)
    # The closing chunk is named in the log; the usage kept is the one the last token came with.
    assert answer.reply.usage == RUNNING_USAGE
    assert answer.content.startswith("word1 ") and answer.reply.figures.finish_reason == "stop"
    assert any("usage was" in r.getMessage() and "not kept" in r.getMessage() for r in caplog.records)


@pytest.mark.ui
async def test_the_servers_usage_reaches_the_session_the_history_and_the_export(server, tmp_path):
    backend = OpenAIBackend(server.url())
    await backend.start()
    path = tmp_path / "store.db"
    try:
        app = make_app(backend, session=session_of([saved_pane(prompt="fault:closing_usage")]), session_path=path)
        async with app.run_test(size=(160, 40)) as pilot:
            pane = app.workbench.panes()[0]
            send_key(app, "f5")
            await wait_until(lambda: pane.runs == 1 and not pane.running, timeout=15)
            assert pane.reply.reply.usage == CLOSING_USAGE
            app.save_session_now()
            app.workbench.action_export()
            await pilot.pause(0.2)
            assert app.store.flush()
            with app.store.reading() as conn:
                (run_id,) = conn.execute("SELECT id FROM runs").fetchone()
                assert load_run(conn, run_id).reply.usage == CLOSING_USAGE  # the history's
        record = stored_session(path)  # what the next start opens
        assert record.panes[0].conversation.last().reply.usage == CLOSING_USAGE
        exports = sorted(locations.data_dir().glob("exports/comparison-*.json"))
        assert json.loads(exports[-1].read_text())["panes"][0]["replies"][0]["usage"] == CLOSING_USAGE
    finally:
        await backend.shutdown()


def test_a_usage_is_kept_as_plain_json_without_lone_surrogates():
    """What the openai client made of it (its objects, or a dict), as JSON; a lone surrogate (valid
    JSON, not UTF-8) as U+FFFD, as in any text a server sends, so that it can be saved."""
    from types import SimpleNamespace

    from openai.types.completion_usage import CompletionUsage

    from tui.engine.openai_backend import _usage

    chunk = SimpleNamespace(usage={"odd \ud83d": "x\ud83d", "n": [1, {"m": 2}]})
    assert _usage(chunk) == {"odd \ufffd": "x\ufffd", "n": [1, {"m": 2}]}
    typed = CompletionUsage.model_validate({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                                            "own": {"a": 1}})
    assert _usage(SimpleNamespace(usage=typed)) == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3,
                                                    "own": {"a": 1}}
    assert _usage(SimpleNamespace(usage=None)) is None and _usage(SimpleNamespace(usage=[1])) is None


def test_a_usage_the_backend_keeps_is_one_a_session_opens():
    """The backend measured a usage's JSON with its letters as they are, the session reader with
    them escaped (`é` counted 6): a usage of a server's own words, kept, made the next start set
    the whole session aside as hand-edited. Both measure it one way now."""
    from types import SimpleNamespace

    from tui import validate as V
    from tui.core.conversation import USAGE_LIMIT_BYTES
    from tui.core.records import _usage as read_usage
    from tui.engine.openai_backend import _usage

    usage = {"completion_tokens": 3, "note": "é" * (USAGE_LIMIT_BYTES - 100)}
    kept = _usage(SimpleNamespace(usage=usage))
    assert kept == usage
    assert read_usage(kept, "usage") == usage
    too_large = {"note": "é" * USAGE_LIMIT_BYTES}
    assert _usage(SimpleNamespace(usage=too_large)) is None
    with pytest.raises(V.FieldError, match="8192 bytes"):
        read_usage(too_large, "usage")
