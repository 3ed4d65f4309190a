"""The remote backend against a real `vllm serve` (the installed vLLM's OpenAI server) on loopback.

The server serves the demo model and the demo LoRA adapter; it is started once for this module and
stopped at its end.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import urllib.error
import urllib.request

import pytest

from tui.demo_model import DEMO_ADAPTER_NAME
from tui.engine.fleet import Fleet
from tui.engine.openai_backend import OpenAIBackend
from tui.engine.params import Sampling
from tui.engine.protocol import LOCAL, BackendError, EngineDead, Request, RequestRejected, Target
from tests.support.app import make_app, run_with_heat, send_key, type_prompt, wait_until, saved_pane, session_of
from tests.support.processes import PtyApp
from tests.support.vllm_server import Server, free_port
from tui.figures import CANCELLED, DONE

pytestmark = [pytest.mark.engine, pytest.mark.remote]

REFERENCE = Sampling()  # temperature 0.8, top_p 0.95, seed 42, max_tokens 100
LONG = REFERENCE.with_values(max_tokens=1900, min_tokens=1900)  # long enough to cancel mid-stream


@pytest.fixture(scope="module")
def server(demo_model, tmp_path_factory):
    srv = Server(demo_model, tmp_path_factory.mktemp("serve") / "serve.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def remote(server):
    backend = OpenAIBackend(server.url)
    await backend.start()
    yield backend
    await backend.shutdown()


async def collect(backend, prompt, sampling, request_id="r"):
    deltas = [d async for d in backend.stream(Request.of_prompt(prompt, sampling, request_id))]
    return "".join(d.text for d in deltas), deltas


async def test_remote_streams_deltas_with_figures(remote, demo_model):
    assert remote.model == str(demo_model) and remote.max_model_len == 2048
    text, deltas = await collect(remote, "The key to happiness is", REFERENCE)
    last = deltas[-1]
    assert text.strip() and len(deltas) > 3  # streamed in pieces, not in one answer
    assert last.finish_reason in ("stop", "length") and 0 < last.tokens <= 100
    assert last.ttft is not None and last.tok_per_s is not None
    # vLLM closes the stream with what the request used; kept as it sent it.
    assert last.usage["completion_tokens"] == last.tokens and last.usage["prompt_tokens"] > 0, last.usage
    again, _ = await collect(remote, "The key to happiness is", REFERENCE)
    assert again == text  # seed 42 through the server too


async def test_remote_sends_every_knob_and_raw_prompts(remote):
    sampling = Sampling(REFERENCE.with_values(max_tokens=12, min_tokens=12, top_k=5).values,
                        chat_template=False)
    body = remote.request_body(Request.of_prompt("And God said", sampling, "raw"))
    assert body["prompt"] == "And God said" and "messages" not in body
    assert body["extra_body"] == {"min_tokens": 12, "top_k": 5}
    text, deltas = await collect(remote, "And God said", sampling)
    assert deltas[-1].tokens == 12 and deltas[-1].finish_reason == "length" and text


async def test_remote_cancel_aborts_the_request_on_the_server(remote, server):
    tokens = 0

    async def consume():
        nonlocal tokens
        async for delta in remote.stream(Request.of_prompt("In a galaxy far, far away", LONG, "cancel-me")):
            tokens = delta.tokens

    task = asyncio.ensure_future(consume())
    await wait_until(lambda: tokens >= 20, timeout=60)
    assert "Added request chatcmpl-cancel-me" in server.log()
    t0 = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    aborted = re.compile(r"Request chatcmpl-cancel-me\S* aborted")
    await wait_until(lambda: aborted.search(server.log()) is not None, timeout=5, step=0.05)
    gone = time.monotonic() - t0
    assert tokens < 1900 and gone < 5
    text, _ = await collect(remote, "The key to happiness is", REFERENCE.with_values(max_tokens=5))
    assert text  # the server goes on serving


async def test_remote_rejections_are_readable(remote):
    with pytest.raises(RequestRejected, match="context length"):
        await collect(remote, "hi", REFERENCE.with_values(max_tokens=4096))
    with pytest.raises(RequestRejected, match=r"\(400\)"):  # the server's own check: prompt too long
        await collect(remote, "word " * 3000, REFERENCE.with_values(max_tokens=10))


@pytest.mark.parametrize("url, message", [
    ("http://127.0.0.1:{closed}/v1", "cannot reach http://127.0.0.1:"),
    ("http://127.0.0.1:{port}", "not found (404): is it an OpenAI-compatible server?"),
    ("http://no-such-host.invalid/v1", "cannot reach http://no-such-host.invalid/v1"),
])
async def test_bad_url_or_server_down_gives_a_clear_message(server, url, message):
    backend = OpenAIBackend(url.format(closed=free_port(), port=server.port))
    with pytest.raises(BackendError, match=re.escape(message)):
        await backend.start()
    assert backend.error and message in backend.error
    await backend.shutdown()


async def test_unknown_model_names_what_the_server_serves(server, demo_model):
    backend = OpenAIBackend(server.url, model="Qwen/Qwen2.5-1.5B-Instruct")
    with pytest.raises(BackendError, match=f"it serves {re.escape(str(demo_model))}"):
        await backend.start()


async def test_workbench_on_the_remote_backend(remote, tmp_path):
    """Same panes, controls, cancel and figures as with the in-process engine."""
    app = make_app(remote, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        first = bench.panes()[0]
        await type_prompt(pilot, first, "The key to happiness is")
        first.query_one(".param-max_tokens Input").value = "1900"
        first.field("min_tokens").raw = "1900"
        await pilot.press("ctrl+n")
        await pilot.pause()
        second = bench.panes()[1]
        await type_prompt(pilot, second, "In a galaxy far, far away")
        second.query_one(".param-max_tokens Input").value = "30"
        second.field("min_tokens").raw = "30"
        await pilot.pause()
        send_key(app, "ctrl+r")
        await wait_until(lambda: first.figures.tokens > 10 and second.figures.state == DONE, timeout=60)
        first.editor.focus()
        send_key(app, "escape")
        await wait_until(lambda: first.figures.state == CANCELLED)
        await pilot.pause(0.1)
        assert second.figures.tokens == 30 and second.figures.ttft_ms is not None
        assert first.answer and first.draft == ""  # the partial answer stays; the draft was sent
        assert [(m.role, m.content) for m in first.state.thread()] == [
            ("user", "The key to happiness is"), ("assistant", first.reply.content)]



async def test_base_and_adapter_side_by_side_from_vllm_serve_and_from_the_engine_in_one_session(
        remote, engine, tmp_path):
    """The server lists the adapter (vllm serve --lora-modules) as a model whose parent is the base;
    one workbench streams base and adapter from the server and from the in-process engine at once,
    and each answer is the same from both (same weights, same seed)."""
    served = remote.targets()
    assert [(t.model, t.adapter) for t in served] == [(remote.model, None), (remote.model, DEMO_ADAPTER_NAME)]
    fleet = Fleet(engine, [OpenAIBackend(remote.base_url)])
    targets = [Target(LOCAL, engine.model), Target(LOCAL, engine.model, DEMO_ADAPTER_NAME)]
    panes = [saved_pane(prompt="The key to happiness is", target=t.record()) for t in targets]
    panes += [saved_pane(prompt="The key to happiness is", target=Target(remote.source, remote.model, a).record())
              for a in (None, DEMO_ADAPTER_NAME)]
    app = make_app(fleet, session=session_of(panes), session_path=tmp_path / "s.json")
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            bench = app.workbench
            await wait_until(lambda: len(bench.known_targets) == 4, timeout=30)
            assert bench.engine_line.servers == f"{remote.source} ●"
            send_key(app, "ctrl+r")
            await wait_until(lambda: all(p.figures.state == DONE for p in bench.panes()), timeout=120)
            await pilot.pause(0.1)
            local_base, local_tuned, remote_base, remote_tuned = (p.answer for p in bench.panes())
            assert local_tuned != local_base and remote_tuned != remote_base
            assert (remote_base, remote_tuned) == (local_base, local_tuned)
            titles = [str(p.border_title) for p in bench.panes()]
            assert "demo+proverbs" in titles[1] and f"+proverbs @{remote.source}" in titles[3]
            rows = bench.comparison()
            assert [r.target.record()["server"] for r in rows] == [None, None, remote.source, remote.source]
            send_key(app, "f2")  # the X-ray: the engine's figures, and a line for the server from its /metrics
            await wait_until(lambda: [name for name, _ in bench.xray.others] == [remote.source], timeout=10)
            server_figures = bench.xray.others[0][1]
            assert server_figures.unavailable == "" and server_figures.kv_blocks
            assert str(bench.xray.query_one(".servers").render()).startswith(f"{remote.source} · 0 running")
    finally:
        await asyncio.gather(*(b.shutdown() for b in fleet.others))


class RecordingProxy:
    """Our own hop between the app and `vllm serve`: it passes every request on as it is and keeps
    the JSON bodies it saw (path, body), so a test reads what the server was sent. Answers are
    passed back whole, once the server has finished them."""

    def __init__(self, upstream_port: int) -> None:
        import http.server
        import threading

        self.bodies: list[tuple[str, dict]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def relay(self, method: str) -> None:
                import json

                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                if data and self.headers.get("Content-Type", "").startswith("application/json"):
                    proxy.bodies.append((self.path, json.loads(data)))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("content-type", "authorization", "x-request-id", "accept")}
                forward = urllib.request.Request(f"http://127.0.0.1:{upstream_port}{self.path}", data=data,
                                                 headers=headers, method=method)
                try:
                    with urllib.request.urlopen(forward, timeout=120) as answer:
                        status, kind, body = answer.status, answer.headers.get("Content-Type"), answer.read()
                except urllib.error.HTTPError as exc:
                    status, kind, body = exc.code, exc.headers.get("Content-Type"), exc.read()
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self.relay("GET")

            def do_POST(self) -> None:
                self.relay("POST")

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def chats(self) -> list[dict]:
        return [body for path, body in self.bodies if path.endswith("/chat/completions")]


async def test_a_thread_on_vllm_serve_is_sent_whole_and_answered_as_the_engine_answers_it(server, engine):
    """Two turns in a pane on the server (temperature 0.8, seed 42): each request carries the
    whole thread in OpenAI's format, and the answers are those of the in-process engine for the
    same thread (same weights, same seed)."""
    first_question, second_question = "The key to happiness is", "And what of wisdom?"
    with RecordingProxy(server.port) as proxy:
        backend = OpenAIBackend(proxy.url)
        await backend.start()
        try:
            record = saved_pane(prompt=first_question, overrides={"max_tokens": "30"})
            app = make_app(backend, session=session_of([record]), session_path=None)
            async with app.run_test(size=(160, 40)) as pilot:
                pane = app.workbench.panes()[0]
                send_key(app, "f5")
                await wait_until(lambda: len(pane.state.thread()) == 2 and pane.figures.state == DONE, timeout=60)
                pane.editor.focus()
                pane.set_draft(second_question)
                await pilot.pause()
                send_key(app, "f5")
                await wait_until(lambda: len(pane.state.thread()) == 4 and pane.figures.state == DONE, timeout=60)
                thread = [(m.role, m.content) for m in pane.state.thread()]
        finally:
            await backend.shutdown()
    first_answer, second_answer = thread[1][1], thread[3][1]
    assert [role for role, _ in thread] == ["user", "assistant", "user", "assistant"] and first_answer != second_answer
    sent = proxy.chats()
    assert [body["messages"] for body in sent] == [
        [{"role": "user", "content": first_question}],
        [{"role": "user", "content": first_question}, {"role": "assistant", "content": first_answer},
         {"role": "user", "content": second_question}]]
    assert all((body["seed"], body["temperature"], body["top_p"], body["max_tokens"]) == (42, 0.8, 0.95, 30)
               for body in sent)
    sampling = REFERENCE.with_values(max_tokens=30)
    local_first, _ = await collect(engine, first_question, sampling, "local-1")
    turns = [("user", first_question), ("assistant", local_first), ("user", second_question)]
    local_second = "".join([d.text async for d in engine.stream(Request.of(turns, sampling, "local-2"))])
    assert (first_answer, second_answer) == (local_first, local_second)


async def test_remote_logprobs_and_token_ids_and_forks(remote):
    """Against vllm serve: streamed logprobs equal a run without streaming, and a prompt of token
    ids (a fork) reaches the server as those ids."""
    import math

    from tui.engine.logprobs import from_openai_completion

    sampling = Sampling(logprobs=3, chat_template=False).with_values(max_tokens=10, seed=9)
    deltas = [d async for d in remote.stream(Request.of_prompt("The key to happiness is", sampling, "lp-remote"))]
    tokens = [t for d in deltas for t in d.logprobs or []]
    prompt_ids = next(d.prompt_ids for d in deltas if d.prompt_ids)
    assert len(tokens) == 10 and all(t.token_id is not None and len(t.top) == 3 for t in tokens)
    assert all(math.isclose(t.probability, math.exp(t.logprob)) for t in tokens)
    whole = await remote._client.completions.create(  # noqa: SLF001 - the same request, not streamed
        model=remote.model, prompt="The key to happiness is", max_tokens=10, seed=9, temperature=0.8,
        top_p=0.95, logprobs=3)
    expected = from_openai_completion(whole.choices[0].logprobs)
    assert [t.text for t in tokens] == [t.text for t in expected]
    assert [t.logprob for t in tokens] == pytest.approx([t.logprob for t in expected], abs=1e-4)
    fork_ids = prompt_ids + [tokens[0].token_id, tokens[1].token_id]
    fork = Request.of([("user", "(a fork)")], sampling, "fork-remote", prompt_ids=fork_ids)
    assert remote.request_body(fork)["prompt"] == fork_ids  # the ids as they are, not the text
    forked = [d async for d in remote.stream(fork)]
    assert next(d.prompt_ids for d in forked if d.prompt_ids) == fork_ids
    # one step of the server scores any token: the first token's own logprob comes back
    scored = await remote.next_token_logprobs(prompt_ids, [tokens[0].token_id])
    assert scored[tokens[0].token_id] == pytest.approx(tokens[0].logprob, abs=1e-3)
    # an alternative, named by its text only, found by /tokenize: its score is its logprob
    alternative = next(a for a in tokens[0].top if a.text.strip())
    alternative_id = await remote.token_id_of(alternative.text)
    assert alternative_id is not None
    scored = await remote.next_token_logprobs(prompt_ids, [alternative_id])
    assert scored[alternative_id] == pytest.approx(alternative.logprob, abs=1e-3)


async def test_heat_fork_and_parting_in_the_workbench_on_vllm_serve(remote):
    """The heat view, a fork at an alternative (its id from the server's /tokenize; the ids read
    back from the server's prompt_token_ids) and where the fork parts from its parent."""
    record = saved_pane(prompt="The key to happiness is", overrides={"max_tokens": "12", "seed": "4"})
    app = make_app(remote, session=session_of([record]), session_path=None)
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        (first,) = await run_with_heat(app)
        question = first.reply.reply.prompt_ids
        assert len(first.spans) == 12 and question
        first.enter_token_cursor()
        first.move_token_cursor(3)
        await pilot.pause()
        token = first.spans.tokens[3]
        choice = next(i for i, alt in enumerate(token.top, 1) if alt.text != token.text)
        send_key(app, str(choice))
        await wait_until(lambda: len(bench.panes()) == 2 and bench.panes()[1].figures.state == DONE, timeout=60)
        fork = bench.panes()[1]
        chosen = await remote.token_id_of(token.top[choice - 1].text)
        given = [t.token_id for t in first.spans.tokens[:3]] + [chosen]
        assert fork.reply.reply.prompt_ids == question + given  # as the server got them
        assert [t.token_id for t in fork.spans.tokens[:4]] == given and fork.reply.reply.forced == 4
        bench.clear_parting()
        bench.mark_parting(first, fork)
        await pilot.pause()
        for pane in (first, fork):  # a fork parts from its origin at the token it chose, in both
            start, end = (pane.output.base + offset for offset in pane.spans.span(3))
            assert (start, end, "part") in pane.output.marks

async def test_xray_shows_the_servers_queue_and_kv_use(remote):
    """The X-ray panel's figures come from the server's /metrics while panes stream from it."""
    panes = [saved_pane(prompt=prompt, overrides={"max_tokens": "500", "min_tokens": "500", "seed": str(i)})
             for i, prompt in enumerate(["The key to happiness is", "In a galaxy far, far away"] * 2)]
    app = make_app(remote, session=session_of(panes), xray=True, session_path=None)
    seen = []
    async with app.run_test(size=(200, 50)):
        bench = app.workbench
        send_key(app, "ctrl+r")

        def sample() -> bool:
            seen.append(bench.xray.snapshot)
            return all(p.figures.state == DONE for p in bench.panes())

        await wait_until(sample, timeout=120, step=0.1)
    assert all(s.unavailable == "" for s in seen)
    assert max(s.running or 0 for s in seen) >= 2
    assert any(s.waiting is not None for s in seen)
    assert max(s.kv_usage or 0 for s in seen) > 0
    assert any(s.kv_blocks for s in seen)
    assert max(s.gen_tok_s or 0 for s in seen) > 0


@pytest.mark.subprocess
@pytest.mark.parametrize("how", ["ctrl+q", signal.SIGTERM])
def test_the_real_app_on_vllm_serve_quits_cleanly(server, tmp_path, how):
    """vLLM's server keeps connections open between requests: quitting closes them in the loop
    they belong to (it once ended every remote session with 'crashed: Event loop is closed')."""
    env = {"XDG_DATA_HOME": str(tmp_path / "d"), "XDG_CONFIG_HOME": str(tmp_path / "c"),
           "XDG_STATE_HOME": str(tmp_path / "s")}
    app = PtyApp(["--base-url", server.url, "--fresh", "--max-tokens", "20"], env=env)
    try:
        assert app.wait_for(b"ready", timeout=60), bytes(app.screen[-2000:])
        app.run_prompt(b"The key to happiness is")
        assert app.wait_for(b"done", timeout=60)
        app.quit(how)
        assert app.proc.wait(5) == (0 if how == "ctrl+q" else 128 + how)
        assert not app.seen(b"crashed") and not app.seen(b"Traceback")
    finally:
        app.close()


@pytest.fixture
def doomed_server(demo_model, tmp_path):
    """A server of its own for a test that kills it: tests that use the engine run after the
    others (conftest.py), so no test can count on being the last to use the module's server."""
    srv = Server(demo_model, tmp_path / "serve.log")
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


async def test_server_dying_mid_stream_is_reported(doomed_server):
    server = doomed_server
    backend = OpenAIBackend(server.url)
    await backend.start()
    tokens = 0
    error: list[BaseException] = []

    async def consume():
        nonlocal tokens
        try:
            async for delta in backend.stream(Request.of_prompt("The key to happiness is", LONG, "dying")):
                tokens = delta.tokens
        except BaseException as exc:  # noqa: BLE001 - the test looks at what it was
            error.append(exc)

    task = asyncio.ensure_future(consume())
    await wait_until(lambda: tokens >= 10, timeout=60)
    os.killpg(server.proc.pid, signal.SIGKILL)
    await asyncio.wait_for(task, timeout=30)
    # That request fails with the reason; the backend is not declared dead for one broken
    # connection (the next request says whether the server is there).
    assert error and isinstance(error[0], BackendError) and not isinstance(error[0], EngineDead), error
    assert f"lost the connection to {server.url}" in str(error[0])
    with pytest.raises(BackendError, match="cannot reach|lost the connection"):
        await collect(backend, "hello", REFERENCE.with_values(max_tokens=3))
    await backend.shutdown()

