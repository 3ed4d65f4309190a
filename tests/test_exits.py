"""The real `vllm-panes` in a terminal against a remote server: every way out is clean (exit code,
no process left, no crash line; how fast is the benchmark's business), the terminal stays the
app's, and two apps on one session do not overwrite each other."""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.app import stored_session
from tests.support.fault_server import FaultServer
from tests.support.processes import PtyApp
from tui.core.conversation import ASSISTANT, USER
from tui.figures import DONE
from tui.engine.openai_backend import source_name

pytestmark = [pytest.mark.subprocess, pytest.mark.remote, pytest.mark.ui, pytest.mark.draws]

@pytest.fixture(scope="module")
def server():
    srv = FaultServer().start()
    yield srv
    srv.stop()


def home(tmp_path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state")}


def store_of(tmp_path):
    """The store the app keeps its session and history in, under home(tmp_path)."""
    return tmp_path / "data" / "vllm-panes" / "vllm-panes.db"


def stock_if(render_path: str) -> dict[str, str]:
    return {"VLLM_PANES_STOCK_RENDER": "1"} if render_path == "stock" else {}


@pytest.mark.parametrize("how", ["ctrl+q", signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_remote_session_ends_cleanly(server, tmp_path, how, render_path):
    app = PtyApp(["--base-url", server.url(), "--fresh"], env={**home(tmp_path), **stock_if(render_path)})
    try:
        assert app.wait_for(b"ready", timeout=30), bytes(app.screen[-2000:])
        app.run_prompt(b"hello")
        assert app.wait_for(b"done", timeout=20)
        app.quit(how)  # how long it takes is measured by the benchmark (quit_s, remote_quit_s)
        code = app.proc.wait(5)
        assert code == (0 if how == "ctrl+q" else 128 + how), bytes(app.screen[-2000:])
        assert not app.seen(b"crashed") and not app.seen(b"Traceback")
        assert app.seen(b"stock drawing", last=10**7) is (render_path == "stock")  # the engine line says so
        if how == "ctrl+q":  # what it says on its way out: there is no engine here to stop
            assert app.seen("closing the connection to the server".encode()) and not app.seen(b"stopping the engine")
        (pane,) = stored_session(store_of(tmp_path)).panes
        question, answer = pane.conversation.messages()  # f5 sent the draft: one turn
        assert (question.role, question.content, pane.draft) == (USER, "hello", "")
        assert answer.role == ASSISTANT and answer.parent is question and answer.content
        assert answer.reply.figures.state == DONE
    finally:
        app.close()


def test_the_terminal_stays_the_apps_whatever_the_server_sends(server, tmp_path, render_path):
    """A model id and streamed text that hold escape sequences (set the title, clear the screen),
    and a server error that does: the terminal gets them as visible symbols only."""
    app = PtyApp(["--base-url", server.url("inject"), "--fresh"], env={**home(tmp_path), **stock_if(render_path)})
    try:
        assert app.wait_for(b"ready", timeout=30)
        app.run_prompt(b"fault:inject")
        assert app.wait_for(b"done", timeout=20)
        app.write(b"\x0e")  # ctrl+n: a second pane, with a server error to show
        time.sleep(0.3)
        app.run_prompt(b"fault:error400")
        assert app.wait_for(b"bad request", timeout=20)
        time.sleep(0.3)
        assert app.seen("evil␛]0;pwned".encode()) and app.seen("model says ␛]0;pwned".encode())
        assert not app.seen(b"\x1b]0;pwned") and not app.seen(b"\x1b[2J", last=10**7)
        app.quit("ctrl+q")
        assert app.proc.wait(5) == 0
    finally:
        app.close()


def test_a_second_app_on_the_same_session_is_told_and_does_not_overwrite_it(server, tmp_path, render_path):
    env = {**home(tmp_path), **stock_if(render_path)}
    first = PtyApp(["--base-url", server.url()], env=env)
    second = None
    try:
        assert first.wait_for(b"ready", timeout=30)
        first.write(b"the first app's prompt")
        time.sleep(0.5)
        second = PtyApp(["--base-url", server.url()], env=env)
        assert second.wait_for(b"ready", timeout=30)
        assert second.wait_for(b"Another vllm-panes", timeout=10)  # the notice (a toast wraps its words)
        second.write(b"the second app's prompt")
        time.sleep(0.5)
        second.quit("ctrl+q")
        assert second.proc.wait(5) == 0
        saved = stored_session(store_of(tmp_path))  # the first app's, or none saved yet
        assert saved is None or all("second" not in state.draft for state in saved.panes)
        first.quit("ctrl+q")
        assert first.proc.wait(5) == 0
        (pane,) = stored_session(store_of(tmp_path)).panes
        assert pane.draft == "the first app's prompt" and not pane.conversation
    finally:
        first.close()
        if second is not None:
            second.close()


def test_a_hand_edited_session_of_the_wrong_shape_is_set_aside_and_the_app_starts(server, tmp_path, render_path):
    folder = tmp_path / "data" / "vllm-panes"
    folder.mkdir(parents=True)
    bad = '{"version": 1, "panes": [{"prompt": "mine", "overrides": {"seed": 42}, "ttft_ms": "12"}]}'
    (folder / "session.json").write_text(bad)
    app = PtyApp(["--base-url", server.url()], env={**home(tmp_path), **stock_if(render_path)})
    try:
        assert app.wait_for(b"ready", timeout=30)
        assert app.wait_for(b"panes[0].overrides.seed", timeout=10)  # the notice names the field
        app.quit("ctrl+q")
        assert app.proc.wait(5) == 0
        (kept,) = folder.glob("session.json.bad-*")
        assert kept.read_text() == bad
    finally:
        app.close()


def test_a_target_no_server_has_is_exit_2_before_the_ui_and_one_a_server_has_is_the_default(server, tmp_path):
    """`--target` names a server's model: the servers are asked before the UI starts. A name none of
    them has is exit 2 with the names they have; a name one has is the default target."""
    other = FaultServer().start()
    try:
        urls = ["--base-url", server.url(), "--base-url", other.url(), "--fresh"]
        app = PtyApp([*urls, "--target", "psalms"], env=home(tmp_path))
        try:
            assert app.proc.wait(30) == 2, bytes(app.screen[-2000:])
            time.sleep(0.2)  # the reader thread takes the last bytes
            assert app.seen(b"--target: unknown target 'psalms'") and app.seen(b"fault-model @127.0.0.1:")
            assert not app.seen(b"ready") and app.survivors() == []
        finally:
            app.close()
        chosen = f"fault-model @{source_name(other.url())}"
        app = PtyApp([*urls, "--target", chosen], env=home(tmp_path))
        try:
            assert app.wait_for(b"ready", timeout=30), bytes(app.screen[-2000:])
            app.run_prompt(b"hello")
            assert app.wait_for(b"done", timeout=20)
            app.quit("ctrl+q")
            assert app.proc.wait(5) == 0
        finally:
            app.close()
        saved = stored_session(store_of(tmp_path))
        assert saved.default_target.source == source_name(other.url())
    finally:
        other.stop()
