"""Export (ctrl+s): Markdown to read, turn by turn, and JSON with each pane's thread as OpenAI
messages, its answers' figures and every branch."""

from __future__ import annotations

import json

import pytest

from tests.support.app import make_app, saved_pane, send_key, type_prompt, wait_until
from tui import locations
from tui.core.conversation import ASSISTANT, USER, Reply
from tui.core.pane_state import PaneState
from tui.engine.params import Sampling
from tui.export import ExportedPane, to_json, to_markdown
from tui.figures import CANCELLED, DONE, Figures


@pytest.mark.ui
async def test_ctrl_s_exports_every_thread_as_markdown_and_json(tmp_path):
    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        first = bench.panes()[0]
        await type_prompt(pilot, first, "left | prompt")
        await pilot.press("ctrl+n")
        await pilot.pause()
        second = bench.panes()[1]
        await type_prompt(pilot, second, "right prompt\nsecond line")
        second.query_one(".param-temperature Input").value = "0.2"
        first.query_one(".param-max_tokens Input").value = "9"
        await pilot.pause()
        send_key(app, "ctrl+r")
        await wait_until(lambda: first.figures.state == DONE and second.figures.state == DONE)
        bench.composer.editor.text = "and then?"  # one message to both panes: a second turn each
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(len(p.state.thread()) == 4 and p.figures.state == DONE for p in (first, second)))
        await pilot.pause(0.1)
        send_key(app, "ctrl+s")
        exports = locations.data_dir() / "exports"
        await wait_until(lambda: len(list(exports.glob("*.json"))) == 1)
        md = next(exports.glob("*.md")).read_text()
        doc = json.loads(next(exports.glob("*.json")).read_text())
    assert doc["model"] == "scripted-model" and len(doc["panes"]) == 2
    left, right = doc["panes"]
    assert [m["role"] for m in left["messages"]] == ["user", "assistant", "user", "assistant"]
    assert left["messages"][0] == {"role": "user", "content": "left | prompt"}
    assert left["messages"][2] == {"role": "user", "content": "and then?"}
    assert left["messages"][3]["content"] == first.answer
    assert left["settings"]["max_tokens"] == 9 and left["settings"]["temperature"] == 0.8
    assert right["settings"]["temperature"] == 0.2
    assert [r["state"] for r in right["replies"]] == ["done", "done"] and right["replies"][0]["tokens"] > 0
    assert len(right["conversation"]["messages"]) == 4  # the tree: every branch (one here)
    lines = md.splitlines()
    assert lines[0] == "# Comparison — scripted-model"
    assert "## Turn 1" in lines and "## Turn 2" in lines
    assert "**You** (panes 1, 2):" in lines  # the same question to both, said once
    assert "> left \\| prompt" not in lines and "> left | prompt" in lines  # a quote, not a table cell
    assert "> right prompt\\" in lines and "> second line" in lines  # line breaks kept
    assert lines.count("### Pane 1 · scripted-model (in-process engine)") == 2
    assert max(len(line) for line in lines) < 400  # readable, not one long table row


def _pane(number: int, answer: str, state: str = DONE) -> ExportedPane:
    made = PaneState(number)
    question = made.conversation.add(None, USER, "a|b <i>")
    made.conversation.add(question, ASSISTANT, answer, Reply(figures=Figures(state, 3, 12.3)))
    return ExportedPane(made, None, Sampling())


def test_markdown_keeps_model_text_as_it_is_and_lets_no_html_through():
    md = to_markdown([_pane(1, "x\n\n|y|\r\nz\\ <script>", CANCELLED)], "m", when=0)
    lines = md.splitlines()
    assert "> a|b &lt;i&gt;" in lines
    assert ["> x", "> ", "> |y|\\", "> z\\ &lt;script&gt;"] == lines[lines.index("> x"):lines.index("> x") + 4]
    assert "*cancelled · TTFT 12 ms · 3 tok*" in lines


def test_blank_lines_around_a_text_are_not_quoted_and_no_break_comes_before_a_blank_line():
    """A thinking starts and ends with a newline, an answer after it with two: quoted as they were,
    they made empty `>` lines, and a hard break before a blank line showed its backslash."""
    md = to_markdown([_pane(1, "\n\nAnswer.\n\nMore.\n")], "m", when=0)
    lines = md.splitlines()
    start = lines.index("> Answer.")
    assert lines[start - 1] == "" and lines[start:] == ["> Answer.", "> ", "> More."]


def test_many_panes_and_long_answers_read_one_after_another():
    panes = [_pane(n, "word " * 2000) for n in range(1, 13)]
    md = to_markdown(panes, "m", when=0)
    lines = md.splitlines()
    table = [line for line in lines if line.startswith("| ") and line[2:3].isdigit()]
    assert len(table) == 12 and max(len(line) for line in table) < 200  # one short row per pane
    assert [line for line in lines if line.startswith("### Pane")] == [
        f"### Pane {n} · m (in-process engine)" for n in range(1, 13)]


def test_json_keeps_drafts_and_branches():
    state = saved_pane(prompt="q", output="first answer", state=CANCELLED, number=1)
    question = state.thread()[0]
    state.conversation.add(question, ASSISTANT, "second answer", Reply(figures=Figures(DONE)))
    state.draft = "not sent yet"
    doc = json.loads(to_json([ExportedPane(state, None, None)], "m", when=0))
    (pane,) = doc["panes"]
    assert pane["messages"] == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "second answer"}]
    assert [m["content"] for m in pane["conversation"]["messages"]] == ["q", "first answer", "second answer"]
    assert pane["draft"] == "not sent yet" and pane["settings"] is None
