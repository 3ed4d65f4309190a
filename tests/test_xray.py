"""The engine X-ray without an engine: the recorder's arithmetic, a server's /metrics (the fault
server writes it with prometheus_client), the panel and each pane's engine line on a scripted source,
and what each backend declares it can do (its abilities)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.support.app import make_app, send_key, wait_until, saved_pane, session_of
from tests.support.fault_server import FaultServer
from tests.support.scripted import ScriptedBackend, ScriptedSource
from tui.core.conversation import ASSISTANT, USER, Reply
from tui.core.pane_state import PaneState
from tui.engine.protocol import Abilities, Unsupported
from tui.engine.remote_metrics import MetricsPoller, metrics_url
from tui.engine.stats import EngineSnapshot, RequestTiming, Rates, StepRecorder
from tui.figures import Figures, snapshot_line
from tui.widgets.xray_panel import XrayPanel, figures_text


def scheduler(running=0, waiting=0, kv=0.0, queries=0, hits=0, spec=None):
    return SimpleNamespace(num_running_reqs=running, num_waiting_reqs=waiting, num_skipped_waiting_reqs=0,
                           kv_cache_usage=kv, prefix_cache_stats=SimpleNamespace(queries=queries, hits=hits),
                           spec_decoding_stats=spec)


def iteration(prompt=0, gen=0, preempted=0):
    return SimpleNamespace(num_prompt_tokens=prompt, num_generation_tokens=gen, num_preempted_reqs=preempted)


# -- the recorder ---------------------------------------------------------------------------------
def test_nothing_recorded_reports_nothing():
    snapshot = StepRecorder().snapshot(now=0.0)
    assert (snapshot.running, snapshot.waiting, snapshot.kv_usage, snapshot.prefix_hit_rate,
            snapshot.preemptions, snapshot.gen_tok_s, snapshot.spec_acceptance) == (None,) * 7
    assert snapshot_line(snapshot) == "engine · no figures"


def test_recorder_totals_state_and_rates():
    recorder = StepRecorder()
    recorder.snapshot(now=10.0)
    for _ in range(10):  # ten steps: 4 running, 1 waiting, 8 tokens each; one prefill of 40 tokens
        recorder.record(scheduler(4, 1, 0.5, queries=4, hits=1), iteration(prompt=4, gen=8))
    snapshot = recorder.snapshot(now=11.0)
    assert (snapshot.running, snapshot.waiting, snapshot.kv_usage) == (4, 1, 0.5)
    assert snapshot.prefix_hit_rate == pytest.approx(0.25)
    assert snapshot.preemptions == 0
    assert (snapshot.prompt_tokens, snapshot.gen_tokens) == (40, 80)
    assert snapshot.gen_tok_s == pytest.approx(80.0) and snapshot.prompt_tok_s == pytest.approx(40.0)
    assert snapshot.steps_s == pytest.approx(10.0)
    assert snapshot.gen_history == [pytest.approx(80.0)]
    assert snapshot.spec_acceptance is None  # the engine does not draft: not shown
    assert recorder.cost_us_per_step is not None and recorder.cost_us_per_step > 0


def test_rates_fall_when_the_engine_stands_still():
    recorder = StepRecorder()
    recorder.snapshot(now=0.0)
    recorder.record(scheduler(1), iteration(gen=100))
    assert recorder.snapshot(now=1.0).gen_tok_s == pytest.approx(100.0)
    for now in (2.0, 3.0, 4.0):
        snapshot = recorder.snapshot(now=now)
    assert snapshot.gen_tok_s == 0.0
    assert snapshot.gen_history[-1] == 0.0


def test_rates_window_forgets_old_points():
    rates = Rates(window_s=2.0)
    rates.add(0.0, (0.0,))
    rates.add(1.0, (1000.0,))  # a burst, long ago
    for now in (2.0, 3.0, 4.0, 5.0):
        rates.add(now, (1000.0 + (now - 1.0) * 10,))
        value = rates.rates(now)
    assert value == (pytest.approx(10.0),)


def test_prefix_caching_off_and_drafting_engine():
    recorder = StepRecorder()
    recorder.prefix_caching = False
    recorder.record(scheduler(1, queries=10, hits=5, spec=SimpleNamespace(num_draft_tokens=10, num_accepted_tokens=7)),
                    iteration(gen=3, preempted=2))
    snapshot = recorder.snapshot(now=1.0)
    assert snapshot.prefix_hit_rate is None  # off: no hit rate, not 0 %
    assert snapshot.spec_acceptance == pytest.approx(0.7)
    assert snapshot.preemptions == 2


def test_panel_line_leaves_out_what_is_unknown():
    line = figures_text(EngineSnapshot(running=2, waiting=0, kv_usage=0.125)).plain
    assert line == "engine · 2 running · 0 waiting · KV 12%"
    full = figures_text(EngineSnapshot(running=4, waiting=4, kv_usage=0.5, kv_blocks=320, prefix_hit_rate=0.43,
                                       preemptions=1, steps_s=38.2, spec_acceptance=0.7)).plain
    assert full == ("engine · 4 running · 4 waiting · KV 50% of 320 blocks · prefix cache hits 43% · "
                    "1 preempted · 38 steps/s · drafts accepted 70%")
    assert figures_text(EngineSnapshot(unavailable="the server has no /metrics")).plain == \
        "engine · the server has no /metrics"


# -- a server's /metrics --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faults():
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.mark.parametrize("base, expected", [
    ("http://h:8000/v1", "http://h:8000/metrics"),
    ("http://h:8000/v1/", "http://h:8000/metrics"),
    ("https://proxy/vllm/v1", "https://proxy/vllm/metrics"),
    ("http://h:8000", "http://h:8000/metrics"),
])
def test_metrics_url(base, expected):
    assert metrics_url(base) == expected


@pytest.mark.remote
async def test_remote_figures_from_prometheus_text(faults, monkeypatch):
    import tui.engine.remote_metrics as remote_metrics

    # A poll period no loaded machine outlasts between two calls (with 1 s, a slow first read
    # made the second call poll again); the rates below are read with none.
    monkeypatch.setattr(remote_metrics, "POLL_S", 3600.0)
    poller = MetricsPoller(faults.url("ok"))
    try:
        first = await poller.snapshot()
        assert (first.running, first.waiting, first.kv_usage, first.kv_blocks) == (3, 2, 0.25, 400)
        assert first.prefix_hit_rate == pytest.approx(0.25) and first.preemptions == 0
        assert first.gen_tok_s is None  # one reading: no rate yet
        asked = faults.metrics_asked
        assert await poller.snapshot() is first and faults.metrics_asked == asked  # at most once a POLL_S
        monkeypatch.setattr(remote_metrics, "POLL_S", 0.0)
        faults.figures = {**faults.figures, "generation_tokens": 1500, "steps": 60}
        second = await poller.snapshot()
        assert second.gen_tok_s is not None and second.gen_tok_s > 0
        assert second.steps_s is not None and second.steps_s > 0
    finally:
        await poller.close()


@pytest.mark.remote
@pytest.mark.parametrize("mode, reason", [
    ("bare", "the server has no /metrics"),
    ("html", "the server's /metrics is not Prometheus text"),
    ("other", "the server's /metrics has no vLLM figures"),
    ("garbage", "the server's /metrics is not Prometheus text"),
    ("huge", "the server's /metrics is too long to read"),
])
async def test_remote_metrics_faults_say_why(faults, mode, reason):
    poller = MetricsPoller(faults.url(mode))
    try:
        snapshot = await poller.snapshot()
    finally:
        await poller.close()
    assert snapshot.unavailable == reason
    assert snapshot.running is None


@pytest.mark.remote
async def test_remote_panes_show_the_servers_prompt_cache(faults):
    from tui.engine.openai_backend import OpenAIBackend
    from tui.engine.params import Sampling
    from tui.engine.protocol import Request
    from tui.figures import Figures

    backend = OpenAIBackend(faults.url("ok"))
    await backend.start()
    try:
        deltas = [d async for d in backend.stream(Request.of_prompt("hello", Sampling(), "r1"))]
    finally:
        await backend.shutdown()
    figures = Figures.of(deltas[-1])
    assert figures.engine_parts() == ["cached 2/3"]  # the server reports no timings: none shown


@pytest.mark.parametrize("usage, expected", [
    ({"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": 4}}, (9, 4)),
    ({"prompt_tokens": 9, "prompt_tokens_details": None}, None),
    ({"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": 12}}, None),  # more than the prompt
    ({"prompt_tokens": "9", "prompt_tokens_details": {"cached_tokens": 4}}, None),
    ({"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": True}}, None),
    ({"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": -1}}, None),
    (None, None),
])
def test_a_servers_prompt_cache_figures_are_checked(usage, expected):
    from tui.engine.openai_backend import _prompt_cache

    def ns(value):
        return SimpleNamespace(**{k: ns(v) for k, v in value.items()}) if isinstance(value, dict) else value

    timing = _prompt_cache(SimpleNamespace(usage=ns(usage)))
    assert (None if timing is None else (timing.prompt_tokens, timing.cached_tokens)) == expected


@pytest.mark.remote
async def test_remote_metrics_unreachable():
    poller = MetricsPoller("http://127.0.0.1:9/v1")
    try:
        snapshot = await poller.snapshot()
    finally:
        await poller.close()
    assert snapshot.unavailable.startswith("cannot read the server's /metrics")


@pytest.mark.remote
@pytest.mark.ui
async def test_remote_panel_shows_server_figures_and_escapes_nothing(faults):
    from tui.engine.openai_backend import OpenAIBackend

    backend = OpenAIBackend(faults.url("inject"))
    await backend.start()
    app = make_app(backend)
    try:
        async with app.run_test(size=(160, 30)) as pilot:
            send_key(app, "f2")
            panel = app.workbench.query_one(XrayPanel)
            await wait_until(lambda: panel.snapshot.running == 3)
            await pilot.pause()
            line = panel.query_one(".figures").render()
            assert "3 running · 2 waiting · KV 25% of 400 blocks" in str(line)
            assert "\x1b" not in str(line)
    finally:
        await backend.shutdown()


# -- the panel and the engine line in the app -------------------------------------------------------
@pytest.mark.ui
async def test_f2_toggles_the_panel_above_the_panes():
    source = ScriptedSource(EngineSnapshot(running=2, waiting=0, kv_usage=0.1, gen_tok_s=120.0,
                                           gen_history=[10.0, 50.0, 120.0]))
    app = make_app(ScriptedBackend(stats=source))
    async with app.run_test(size=(140, 30)) as pilot:
        panel = app.workbench.query_one(XrayPanel)
        pane = app.workbench.panes()[0]
        assert not panel.display
        top = pane.region.y
        send_key(app, "f2")
        await pilot.pause()
        assert panel.display and panel.shown
        assert panel.region.bottom <= pane.region.y  # above the panes: it never covers them
        assert pane.region.y == top + panel.region.height
        assert "generation 120 tok/s" in str(panel.query_one(".gen-rate").render())
        assert list(panel.query_one("#gen-history").data) == [10.0, 50.0, 120.0]
        send_key(app, "f2")
        await pilot.pause()
        assert not panel.display and pane.region.y == top


@pytest.mark.ui
async def test_with_other_servers_each_has_a_line_of_its_own():
    from tui.engine.fleet import Fleet

    engine = ScriptedBackend(stats=ScriptedSource(EngineSnapshot(running=1, waiting=0, gen_tok_s=50.0)))
    busy = ScriptedBackend(stats=ScriptedSource(EngineSnapshot(running=3, waiting=2, kv_usage=0.25,
                                                                gen_tok_s=310.0)))
    busy.source = "gpu-box:8000"
    gone = ScriptedBackend(stats=ScriptedSource(EngineSnapshot(unavailable="cannot read the server's /metrics")))
    gone.source = "[evil]\x1b]0;x\x07:1"
    app = make_app(Fleet(engine, [busy, gone]))
    async with app.run_test(size=(160, 30)) as pilot:
        panel = app.workbench.query_one(XrayPanel)
        pane = app.workbench.panes()[0]
        send_key(app, "f2")
        await wait_until(lambda: len(panel.others) == 2)
        await pilot.pause()
        lines = str(panel.query_one(".servers").render()).splitlines()
        assert lines[0] == "gpu-box:8000 · 3 running · 2 waiting · KV 25% · generation 310 tok/s"
        assert lines[1].endswith(" · cannot read the server's /metrics") and "\x1b" not in lines[1]
        assert "engine · 1 running" in str(panel.query_one(".figures").render())
        assert panel.region.height == 4 and panel.region.bottom <= pane.region.y  # above the panes, whole


@pytest.mark.ui
async def test_hidden_and_idle_nothing_is_read():
    source = ScriptedSource(EngineSnapshot(running=0, waiting=0))
    app = make_app(ScriptedBackend(stats=source))
    async with app.run_test(size=(140, 30)) as pilot:
        await pilot.pause(1.2)
        assert source.asked == 0  # no panel, no run: a remote server is not asked
        send_key(app, "f2")
        await pilot.pause(1.2)
        assert source.asked >= 2


@pytest.mark.ui
async def test_engine_line_says_when_requests_wait():
    source = ScriptedSource(EngineSnapshot(running=4, waiting=3))
    backend = ScriptedBackend(stats=source, stall_after=2)
    panes = [saved_pane(prompt="a b c d e f")]
    app = make_app(backend, session=session_of(panes))
    async with app.run_test(size=(160, 30)):
        line = app.workbench.engine_line
        pane = app.workbench.panes()[0]
        send_key(app, "ctrl+r")  # a run is going: the line reads the engine's load, panel or not
        await wait_until(lambda: line.waiting == 3, timeout=5)
        assert "4 running · 3 waiting: the engine is full" in str(line.render())
        assert pane.running and backend.sent[-1].messages[-1]["content"] == "a b c d e f"  # the draft, sent
        send_key(app, "ctrl+g")  # cancel all
        await wait_until(lambda: line.waiting == 0, timeout=5)
        assert "waiting" not in str(line.render()) and pane.figures.state == "cancelled"


def timed_figures(queued_s: float, prefill_s: float, decode_s: float, prompt: int, cached: int) -> Figures:
    figures = Figures("done", 20, 40.0, 300.0, "stop")
    figures.update(SimpleNamespace(tokens=20, ttft=0.04, tok_per_s=300.0, finish_reason="stop",
                                   timing=RequestTiming(queued_s, prefill_s, decode_s, prompt, cached)))
    return figures


def two_timed_turns() -> PaneState:
    """A pane of two answered questions, each answer with the engine's timings."""
    state = PaneState(1)
    first = state.conversation.add(None, USER, "first")
    answer = state.conversation.add(first, ASSISTANT, "one", Reply(figures=timed_figures(0.002, 0.031, 1.2, 128, 96)))
    second = state.conversation.add(answer, USER, "second")
    state.conversation.add(second, ASSISTANT, "two", Reply(figures=timed_figures(0.0, 0.004, 0.25, 140, 128)))
    return state


@pytest.mark.ui
async def test_with_the_xray_each_pane_shows_the_engine_timings_of_the_answer_shown():
    app = make_app(ScriptedBackend(stats=ScriptedSource(EngineSnapshot())), session=session_of([two_timed_turns()]))
    app.save_session_now = lambda: None
    async with app.run_test(size=(200, 30)) as pilot:
        pane = app.workbench.panes()[0]
        await pilot.pause()
        engine_line = pane.query_one(".pane-engine")
        assert not engine_line.display
        send_key(app, "f2")
        await pilot.pause()
        assert engine_line.display and engine_line.region.y == pane.query_one(".pane-status").region.y + 1
        # The last answer's, as the status line's figures are; the time to the first token (40 ms)
        # is the engine's (queued, prefill) and what came before it: they add up to what one waited.
        assert str(engine_line.text) == "engine · to the engine 36 ms · queued 0 ms · prefill 4 ms · decode 250 ms · cached 128/140"
        pane.editor.focus()
        # The message cursor up the thread (the last answer, the question, the earlier answer):
        # the line shows the timings of the answer under it.
        for content in ("two", "second", "one"):
            send_key(app, "alt+up")
            await wait_until(lambda: getattr(pane.state.conversation.get(pane.state.cursor), "content", None)
                             == content)
        await pilot.pause()
        assert pane.reply.content == "one"
        assert str(engine_line.text) == "engine · to the engine 7 ms · queued 2 ms · prefill 31 ms · decode 1.20 s · cached 96/128"
        send_key(app, "ctrl+n")  # a new pane shows the line too, with nothing to say yet
        await wait_until(lambda: len(app.workbench.panes()) == 2)
        await pilot.pause()
        new = app.workbench.panes()[1]
        assert new.query_one(".pane-engine").display and str(new.query_one(".pane-engine").text) == "engine · –"


@pytest.mark.ui
async def test_a_run_shows_its_engine_timings_when_it_ends():
    """A backend that reports where the time went (the in-process engine does): the pane's engine
    line has them once the answer is done."""
    from dataclasses import replace

    class Timed(ScriptedBackend):
        async def stream(self, request):
            async for delta in super().stream(request):
                yield replace(delta, timing=RequestTiming(0.003, 0.02, 0.5, 12, 8))

    app = make_app(Timed(stats=ScriptedSource(EngineSnapshot())),
                   session=session_of([saved_pane(prompt="a b", overrides={"max_tokens": "4"})]))
    app.save_session_now = lambda: None
    async with app.run_test(size=(200, 30)) as pilot:
        pane = app.workbench.panes()[0]
        send_key(app, "f2")
        send_key(app, "ctrl+r")
        await wait_until(lambda: pane.figures.state == "done")
        await pilot.pause()
        assert str(pane.query_one(".pane-engine").text) == "engine · to the engine 27 ms · queued 3 ms · prefill 20 ms · decode 500 ms · cached 8/12"


# -- what a backend can do: its abilities ---------------------------------------------------------------
def test_each_backend_declares_its_abilities():
    from tui.engine.openai_backend import OpenAIBackend
    from tui.engine.vllm_backend import VLLMBackend

    assert VLLMBackend.abilities == Abilities(scoring=True, adapters=True, metrics=True)
    remote = OpenAIBackend("http://127.0.0.1:9/v1")
    assert remote.abilities == Abilities(scoring=True, token_ids=True, metrics=True)
    assert isinstance(remote.stats, MetricsPoller)  # metrics: its /metrics feed the X-ray
    assert remote.servers() == [] and remote.backend_for(None) is remote


async def test_what_a_backend_cannot_do_raises_unsupported():
    backend = ScriptedBackend()
    assert not backend.abilities.scoring and not backend.abilities.adapters
    for call in (backend.next_token_logprobs([1], [2]), backend.token_id_of("x"),
                 backend.load_adapter("a", "/nowhere"), backend.remove_adapter("a")):
        with pytest.raises(Unsupported):
            await call
    assert backend.servers() == [] and backend.connect_servers() is None


async def test_a_fleet_forwards_nothing_and_its_abilities_are_its_backends():
    from tui.engine.fleet import Fleet
    from tui.engine.openai_backend import OpenAIBackend

    engine = ScriptedBackend(stats=ScriptedSource(EngineSnapshot(running=1)))
    remote = OpenAIBackend("http://127.0.0.1:9/v1")
    fleet = Fleet(engine, [remote])
    try:
        # Scoring and token ids where any backend has them; adapters and metrics are the primary's.
        assert fleet.abilities == Abilities(scoring=True, token_ids=True, adapters=False, servers=True, metrics=True)
        assert fleet.stats is engine.stats and fleet.servers() == [remote]
        assert [(b.source, b.stats) for b in fleet.servers()] == [("127.0.0.1:9", remote.stats)]
        assert not hasattr(fleet, "other_stats")  # gone: nothing is forwarded by name
        assert not hasattr(fleet, "sent")  # the primary's own attributes stay its own
        with pytest.raises(Unsupported):  # the primary loads adapters; this one cannot
            await fleet.load_adapter("a", "/nowhere")
        assert Fleet(ScriptedBackend(), []).abilities == Abilities(servers=True, metrics=True)
    finally:
        await fleet.shutdown()


@pytest.mark.ui
async def test_the_xray_of_a_backend_without_figures_says_so():
    class Blind(ScriptedBackend):
        abilities = Abilities()

    app = make_app(Blind(stats=None))
    async with app.run_test(size=(160, 30)) as pilot:
        panel = app.workbench.query_one(XrayPanel)
        send_key(app, "f2")
        await pilot.pause(1.2)
        assert panel.display and panel.snapshot == EngineSnapshot()
        assert str(panel.query_one(".figures").render()) == "engine · no figures yet"
