"""The workbench driven with Pilot against the real AsyncLLM (demo model, shared engine)."""

from __future__ import annotations

import pytest

from tests.support.app import make_app, send_key, type_prompt, wait_until
from tui.figures import CANCELLED, DONE, IDLE

pytestmark = [pytest.mark.engine, pytest.mark.ui]


async def run_and_wait(pilot, panes, key="ctrl+r"):
    before = [p.runs for p in panes]
    send_key(pilot.app, key)
    await wait_until(lambda: all(p.runs == n + 1 and p.figures.state == DONE for p, n in zip(panes, before)),
                     timeout=60)
    await pilot.pause(0.1)


async def test_two_panes_stream_at_once_and_escape_cancels_one(engine, tmp_path):
    app = make_app(engine, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        first = bench.panes()[0]
        await type_prompt(pilot, first, "The key to happiness is")
        first.query_one(".param-max_tokens Input").value = "2000"
        first.field("min_tokens").raw = "2000"
        await pilot.press("ctrl+n")
        await pilot.pause()
        second = bench.panes()[1]
        await type_prompt(pilot, second, "In a galaxy far, far away")
        second.query_one(".param-max_tokens Input").value = "600"
        second.field("min_tokens").raw = "600"
        await pilot.pause()
        send_key(app, "ctrl+r")
        await wait_until(lambda: first.figures.tokens > 10 and second.figures.tokens > 10)
        assert engine.running_requests() == 2, (first.figures, second.figures)  # both in the engine
        first.editor.focus()
        send_key(app, "escape")
        await wait_until(lambda: first.figures.state == CANCELLED)
        await wait_until(lambda: engine.running_requests() == 1, timeout=2)
        cancelled_at = first.figures.tokens
        await wait_until(lambda: second.figures.state == DONE, timeout=60)
        await pilot.pause(0.1)
        assert second.figures.tokens == 600 and second.figures.finish_reason in ("length", "stop")
        assert 0 < cancelled_at < 2000 and first.answer  # the partial answer stays
        # f5 sent the draft: the box is empty, the thread is the question and the (partial) answer
        assert first.draft == "" and [(m.role, m.content) for m in first.state.thread()] == [
            ("user", "The key to happiness is"), ("assistant", first.reply.content)]
        assert first.output.text == "› The key to happiness is\n\n" + first.answer
        assert first.output.text[first.output.base:] == first.answer
        assert engine.running_requests() == 0
        assert second.figures.ttft_ms is not None and second.figures.tok_s is not None


async def test_settings_reach_the_engine_seed_changes_and_reproduces(engine, tmp_path):
    """Two panes on one question; running them again (nothing typed) regenerates each answer,
    keeping the earlier ones as siblings: the same seed writes the same text again, another seed
    another text, and a default changed in the settings bar reaches both."""
    app = make_app(engine, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        pane = bench.panes()[0]
        await type_prompt(pilot, pane, "The future of artificial intelligence is")
        await pilot.press("alt+n")  # the same prompt twice, to compare settings
        await pilot.pause()
        twin = bench.panes()[1]
        assert twin.draft == pane.draft == "The future of artificial intelligence is"
        await run_and_wait(pilot, [pane, twin])
        assert pane.answer == twin.answer and pane.output.text == twin.output.text  # same seed (42): same text
        seed42 = pane.answer
        twin.query_one(".param-seed Input").value = "7"
        await wait_until(lambda: "seed 7" in twin.border_title, timeout=5)  # titles refresh after a frame
        await run_and_wait(pilot, [pane, twin])
        assert pane.answer == seed42  # reproduces across runs
        assert twin.answer != seed42  # another seed, another text
        bench.settings.query_one(".param-max_tokens Input").value = "12"  # a default reaches both
        await pilot.pause()
        await run_and_wait(pilot, [pane, twin])
        assert pane.figures.tokens <= 12 and twin.figures.tokens <= 12
        assert pane.figures.tokens == 12 or pane.figures.finish_reason == "stop"
        for each in (pane, twin):  # one question, three answers to it: the last one shown
            question, answer = each.state.thread()
            assert question.content == "The future of artificial intelligence is" and len(question.children) == 3
            assert each.state.conversation.siblings(answer) == (3, 3)
            assert "‹ 3/3 ›" in str(each.query_one(".pane-status").text)
        first, second, third = (m.content for m in pane.state.thread()[0].children)
        assert first == second == seed42 and third == pane.answer and seed42.startswith(third)
        assert [m.content for m in twin.state.thread()[0].children][0] == seed42


async def test_invalid_value_blocks_the_run_against_the_engine(engine, tmp_path):
    app = make_app(engine, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 50)) as pilot:
        pane = app.workbench.panes()[0]
        await type_prompt(pilot, pane, "hello")
        pane.query_one(".param-top_p Input").value = "0"
        await pilot.press("f5")
        await pilot.pause(0.2)
        assert pane.figures.state == IDLE and engine.running_requests() == 0
        assert "top_p must be in (0, 1]" in str(pane.query_one(".pane-error").render())


async def test_over_long_prompt_errors_in_its_pane_while_the_other_streams(engine, tmp_path):
    app = make_app(engine, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        good = bench.panes()[0]
        await type_prompt(pilot, good, "In a galaxy far, far away")
        await pilot.press("ctrl+n")
        await pilot.pause()
        bad = bench.panes()[1]
        await type_prompt(pilot, bad, "word " * 5000)
        await pilot.press("ctrl+r")
        await wait_until(lambda: good.figures.state == DONE and bad.figures.state == "error", timeout=60)
        await pilot.pause(0.1)
        assert bad.figures.message.startswith("the conversation is ")
        assert "the model's context is 2,048 tokens (--max-model-len)" in bad.figures.message
        assert good.figures.tokens > 0 and good.output.text
