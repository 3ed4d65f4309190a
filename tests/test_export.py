"""Export the comparison (ctrl+s): a Markdown table with the panes side by side, and JSON."""

from __future__ import annotations

import json

import pytest

from tui import locations
from tui.export import ComparisonPane, to_markdown
from tests.support.app import make_app, send_key, type_prompt, wait_until
from tui.figures import DONE


@pytest.mark.ui
async def test_ctrl_s_exports_every_pane_as_markdown_and_json(tmp_path):
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
        await pilot.pause(0.1)
        send_key(app, "ctrl+s")
        exports = locations.data_dir() / "exports"
        await wait_until(lambda: len(list(exports.glob("*.json"))) == 1)
        md = next(exports.glob("*.md")).read_text()
        doc = json.loads(next(exports.glob("*.json")).read_text())
    assert doc["model"] == "scripted-model" and len(doc["panes"]) == 2
    left, right = doc["panes"]
    assert left["prompt"] == "left | prompt" and left["text"] == first.output.text
    assert left["params"]["max_tokens"] == 9 and left["params"]["temperature"] == 0.8
    assert right["params"]["temperature"] == 0.2 and right["state"] == "done" and right["tokens"] > 0
    lines = md.splitlines()
    assert lines[0] == "# Comparison — scripted-model"
    assert "| | Pane 1 | Pane 2 |" in lines
    prompt_row = next(line for line in lines if line.startswith("| **Prompt**"))
    assert prompt_row == "| **Prompt** | left \\| prompt | right prompt<br>second line |"
    assert ("| **Settings** | temperature 0.8, top_p 0.95, seed 42, max_tokens 9 | "
            "temperature 0.2, top_p 0.95, seed 42, max_tokens 100 |") in lines
    answer_row = next(line for line in lines if line.startswith("| **Answer**"))
    assert answer_row.count(" | ") == 2 and "You asked: left \\| prompt" in answer_row


def test_markdown_cells_survive_pipes_newlines_and_blank_lines():
    pane = ComparisonPane(number=1, prompt="a|b", params=None, text="x\n\n|y|\r\nz\\", state="cancelled",
                          tokens=3, ttft_ms=12.3, tok_s=None, finish_reason=None)
    md = to_markdown([pane], "m", when=0)
    answer = next(line for line in md.splitlines() if line.startswith("| **Answer**"))
    assert answer == "| **Answer** | x<br>&nbsp;<br>\\|y\\|<br>z\\\\ |"
    assert "| **Settings** | (invalid settings) |" in md
    assert "| **Figures** | cancelled · TTFT 12 ms · 3 tok |" in md
