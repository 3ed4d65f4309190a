"""SVG snapshots of the workbench, with a scripted backend at the protocol boundary."""

from __future__ import annotations

import pytest

from tests.support.app import make_app, still, type_prompt, wait_until, saved_pane, session_of
from tests.support.scripted import ScriptedBackend, ScriptedSource
from tui.session import SessionRecord

SIZE = (150, 36)


def test_empty_workbench(snap_compare, tmp_path):
    app = make_app(session_path=tmp_path / "s.json")

    async def run_before(pilot):
        await pilot.pause()
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_three_panes_mid_stream(snap_compare, tmp_path):
    app = make_app(ScriptedBackend(stall_after=12), session_path=tmp_path / "s.json")

    async def run_before(pilot):
        await pilot.pause()
        bench = app.workbench
        prompts = ["The future of artificial intelligence is", "In a galaxy far, far away",
                   "The key to happiness is"]
        await type_prompt(pilot, bench.panes()[0], prompts[0])
        for prompt in prompts[1:]:
            await pilot.press("ctrl+n")
            await pilot.pause()
            await type_prompt(pilot, bench.panes()[-1], prompt)
        bench.panes()[1].query("ParamField Input").first().value = "0.2"
        await pilot.press("ctrl+r")
        await wait_until(lambda: all(p.figures.tokens == 12 for p in bench.panes()))
        await pilot.pause(0.1)
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_validation_error(snap_compare, tmp_path):
    app = make_app(session_path=tmp_path / "s.json",
                   session=session_of([saved_pane(prompt="hello", overrides={"top_p": "1.5"})]))

    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("f5")
        await pilot.pause()
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare, tmp_path):
    app = make_app(session_path=tmp_path / "s.json")

    async def run_before(pilot):
        await pilot.pause()
        still(app)

    assert snap_compare(app, press=["f1"], terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("theme", ["panes-dark", "panes-light", "panes-high-contrast"])
def test_theme(snap_compare, tmp_path, theme):
    from tui.figures import Figures

    answered = saved_pane(prompt="The key to happiness is", output="a quiet morning and a cup of tea.", state="done")
    answered.thread()[1].reply.figures = Figures("done", tokens=9, ttft_ms=50.0, tok_s=100.0, finish_reason="stop")
    session = session_of([
        answered,
        saved_pane(prompt="In a galaxy far, far away", overrides={"temperature": "x"}, output="", state="idle"),
    ])
    app = make_app(session=session, session_path=tmp_path / "s.json", theme=theme)

    async def run_before(pilot):
        await pilot.pause()
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_xray_panel(snap_compare, tmp_path):
    """The X-ray over two finished panes: the engine's figures and rates, each pane's timings."""
    from tui.engine.stats import EngineSnapshot, RequestTiming
    from tui.figures import Figures

    history = [float(v) for v in (0, 120, 380, 610, 650, 640, 660, 655, 300, 90, 0, 250, 600, 640)]
    source = ScriptedSource(EngineSnapshot(
        running=4, waiting=4, kv_usage=0.37, kv_blocks=1200, prefix_hit_rate=0.43, preemptions=0,
        gen_tok_s=640.0, prompt_tok_s=85.0, steps_s=160.0, gen_history=history,
        prompt_history=[v / 8 for v in reversed(history)]))
    panes = [saved_pane(prompt="The key to happiness is", output="to be kind to yourself and others.", state="done"),
             saved_pane(prompt="The key to happiness is", output="a warm cup of tea.", state="done")]
    app = make_app(ScriptedBackend(stats=source), session_path=tmp_path / "s.json",
                   session=session_of(panes), xray=True)

    async def run_before(pilot):
        await pilot.pause()
        for pane, (cached, tokens) in zip(app.workbench.panes(), ((0, 9), (96, 128))):
            figures = Figures()
            figures.update(_Done(tokens, RequestTiming(0.002, 0.031, 0.412, 128, cached)))
            figures.state = "done"
            pane.reply.reply.figures = figures  # as a finished run leaves them
            pane.redraw()
        await pilot.pause(0.6)  # one reading of the scripted figures
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_a_thread_of_two_turns_with_a_regenerated_answer(snap_compare, tmp_path):
    """A pane's thread: a question, its answer with its figures line, a second question, and its
    answer regenerated with another seed (the status says ‹ 2/2 ›); a second pane, not run, with a draft."""
    panes = [saved_pane(prompt="The key to happiness is", overrides={"max_tokens": "20"}),
             saved_pane(prompt="Waiting for its turn")]
    app = make_app(ScriptedBackend(), session=session_of(panes), session_path=tmp_path / "s.json")

    async def run_before(pilot):
        await pilot.pause()
        pane = app.workbench.panes()[0]
        for question in (None, "And the key to sadness?"):
            if question is not None:
                await type_prompt(pilot, pane, question)
            count = len(pane.state.thread()) + 2
            await pilot.press("f5")
            await wait_until(lambda: len(pane.state.thread()) == count and pane.figures.state == "done")
        pane.field("seed").raw = "7"
        await pilot.pause()
        await pilot.press("alt+r")  # another answer to the second question; the first is kept
        await wait_until(lambda: len(pane.state.thread()[2].children) == 2 and pane.figures.state == "done")
        await pilot.pause(0.1)
        pane.editor.focus()
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


class _Done:
    """The last delta of a finished request, as the figures read it."""

    def __init__(self, tokens: int, timing) -> None:
        self.tokens, self.timing = tokens, timing
        self.ttft, self.tok_per_s, self.finish_reason = 0.038, 310.0, "stop"


def _heat_app(tmp_path, theme: str | None = None, seeds=(1, 2)):
    panes = [saved_pane(prompt="The key to happiness is", overrides={"max_tokens": "60", "seed": str(seed)})
             for seed in seeds]
    return make_app(ScriptedBackend(), session_path=tmp_path / "s.json", session=session_of(panes),
                    theme=theme)


async def _run_with_heat(app, pilot) -> None:
    await pilot.pause()
    for pane in app.workbench.panes():
        pane.heat = True
    await pilot.press("ctrl+r")
    await wait_until(lambda: all(p.figures.state == "done" for p in app.workbench.panes()))
    await pilot.pause(0.1)


@pytest.mark.parametrize("theme", ["panes-dark", "panes-light"])
def test_heat_view(snap_compare, tmp_path, theme):
    app = _heat_app(tmp_path, theme)

    async def run_before(pilot):
        await _run_with_heat(app, pilot)
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_token_cursor_and_alternatives(snap_compare, tmp_path):
    app = _heat_app(tmp_path)

    async def run_before(pilot):
        await _run_with_heat(app, pilot)
        pane = app.workbench.panes()[0]
        pane.enter_token_cursor()
        pane.move_token_cursor(7)
        await pilot.pause(0.1)
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_where_two_panes_part(snap_compare, tmp_path):
    app = _heat_app(tmp_path)

    async def run_before(pilot):
        await _run_with_heat(app, pilot)
        for pane in app.workbench.panes():
            pane.heat = False
        app.workbench.panes()[0].editor.focus()
        await pilot.press("f6")
        app.workbench.panes()[1].editor.focus()
        await pilot.press("f6")
        await pilot.pause(0.1)
        app.clear_notifications()
        await pilot.pause(0.1)
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def _targets_session() -> SessionRecord:
    from tui.engine.protocol import LOCAL, Target

    base, adapter = Target(LOCAL, "scripted-model"), Target(LOCAL, "scripted-model", "proverbs")
    remote = Target("127.0.0.1:8000", "Qwen/Qwen2.5-1.5B-Instruct")
    return session_of([saved_pane(prompt="The key to happiness is", target=t.record())
                       for t in (base, adapter, remote)] +
                      [saved_pane(prompt="The key to happiness is", target=adapter.record(), label=f"seed={s}",
                                  overrides={"seed": str(s)}) for s in (1, 2, 3)])


def test_panes_with_their_targets_in_a_grid(snap_compare, tmp_path):
    """Six panes (base, adapter, a server's model, a sweep of seeds) at 150 columns: two rows."""
    app = make_app(ScriptedBackend(adapters=("proverbs",), stall_after=8), session=_targets_session(),
                   session_path=tmp_path / "s.json")

    async def run_before(pilot):
        await pilot.pause()
        bench = app.workbench
        for pane in bench.panes()[:2] + bench.panes()[3:]:
            bench.run_pane(pane)
        await wait_until(lambda: all(p.figures.tokens == 8 for p in bench.panes()[:2] + bench.panes()[3:]))
        await pilot.pause(0.1)
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_target_picker(snap_compare, tmp_path):
    app = make_app(ScriptedBackend(adapters=("proverbs", "psalms")), session_path=tmp_path / "s.json")

    async def run_before(pilot):
        await pilot.pause()
        await pilot.press("ctrl+t")
        await pilot.pause()
        still(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
