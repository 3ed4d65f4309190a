"""What does not fit says so in less room: shorter forms, never a cut word (titles, status lines,
the heat legend, the X-ray's line per pane, the token panel, the defaults line)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from rich.text import Text

from tests.support.app import make_app, run_with_heat, saved_pane, session_of, wait_until
from tui.widgets.fit import fit, fit_parts


def test_fit_takes_the_first_form_that_fits_and_cuts_only_at_a_space():
    forms = [Text("done · TTFT 49 ms · 84 tok"), Text("done · 49ms · 84t"), Text("done")]
    assert fit(forms, 40).plain == "done · TTFT 49 ms · 84 tok"
    assert fit(forms, 20).plain == "done · 49ms · 84t"
    assert fit(forms, 5).plain == "done"
    assert fit([Text("a long error message")], 12).plain == "a long…"


def test_fit_parts_gives_way_in_order_and_keeps_the_number():
    parts = [["12"], ["seed=2"], ["demo+proverbs", "proverbs", ""], ["fork of 2 @ 4 ␣the", "⑂2@4", ""],
             ["T 0.8 · p 0.95 · seed 42 · max 100", "T0.8 p0.95 seed42 max100", ""]]
    steps = [4, 3, 4, 2, 3, 2, 1]
    full = fit_parts(parts, 200, steps)
    assert full == "12 · seed=2 · demo+proverbs · fork of 2 @ 4 ␣the · T 0.8 · p 0.95 · seed 42 · max 100"
    assert fit_parts(parts, 60, steps) == "12 · seed=2 · demo+proverbs · fork of 2 @ 4 ␣the · T0.8 p0.95 seed42 max100"[:60] \
        or cell_len(fit_parts(parts, 60, steps)) <= 60
    for width in range(3, 90):
        title = fit_parts(parts, width, steps)
        assert cell_len(title) <= width and title.startswith("12")
        assert "…" not in title or width < len("12 · seed=2")


def test_a_narrow_title_shortens_the_target_before_it_drops_the_settings_that_differ():
    """`5 · demo+think · srandom thinking:off` in too little room: the adapter's name alone before
    no setting at all (a user set thinking off and the title said only `5 · demo+think`)."""
    from tui.widgets.pane import title_parts

    summary = ("T 0.8 · p 0.95 · seed random · thinking off", "T0.8 p0.95 srandom thinking:off",
               "T.8 p.95 srandom thinking:off", "srandom thinking:off")
    parts, steps = title_parts(5, "", "demo+think", "think", ("", ""), summary)
    assert fit_parts(parts, 40, steps) == "5 · demo+think · srandom thinking:off"
    assert fit_parts(parts, 32, steps) == "5 · think · srandom thinking:off"
    assert fit_parts(parts, 20, steps) == "5 · think"


def test_a_narrow_title_calls_the_demo_model_demo():
    """A sweep's panes on the demo, in narrow titles, were `10 · temperature=0 · weights`: the
    short form of a target was its model path's last part, the demo's folder."""
    from tui.engine.protocol import LOCAL, Target

    assert Target(LOCAL, "/home/u/tui/demo_model/weights").short_label == "demo"
    assert Target(LOCAL, "/home/u/tui/demo_model/weights", "think").short_label == "think"
    assert Target("127.0.0.1:8000", "Qwen/Qwen3-0.6B").short_label == "Qwen3-0.6B"


@pytest.mark.ui
async def test_narrow_titles_on_the_demo_say_demo(tmp_path):
    from tests.support.scripted import ScriptedBackend
    from tui.engine.protocol import LOCAL, Target

    demo = "/home/u/tui/demo_model/weights"
    backend = ScriptedBackend(model=demo, adapters=("proverbs",))
    panes = [saved_pane(prompt=str(n), label=f"temperature={n}", target=Target(LOCAL, demo),
                        overrides={"temperature": str(n / 10), "max_tokens": "30", "seed": "7"}) for n in range(8)]
    app = make_app(backend, session=session_of(panes), session_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:  # four panes a row, 30 columns each
        await pilot.pause()
        titles = [str(pane.border_title) for pane in app.workbench.panes()]
        assert all("weights" not in title for title in titles), titles
        assert any(title.endswith("· demo") or "· demo ·" in title for title in titles), titles


def shown(line) -> str:
    return line._fitted(line.content_region.width).plain


@pytest.mark.ui
async def test_five_panes_show_whole_words_everywhere(tmp_path):
    panes = [saved_pane(prompt=f"prompt {i}", overrides={"max_tokens": "20", "seed": str(i)}) for i in range(5)]
    app = make_app(session=session_of(panes), session_path=tmp_path / "s.json", xray=True)
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        await run_with_heat(app)
        first = bench.panes()[0]
        first.editor.focus()
        await pilot.press("f4")  # the token cursor and its panel
        await pilot.pause(0.2)
        for pane in bench.panes():
            width = pane.size.width
            assert width < 45  # narrow: the long forms do not fit
            title = str(pane.border_title)
            assert cell_len(title) <= width - 6 and "…" not in title, title
            for line in (pane.query_one(".pane-status"), pane.query_one(".pane-engine")):
                text = shown(line)
                assert text in [form.plain for form in line._forms], text  # a whole form, not a cut
                assert cell_len(text) <= line.content_region.width
            legend = pane.query_one(".pane-legend").render()
            assert cell_len(legend.plain) <= pane.query_one(".pane-legend").content_region.width, legend.plain
        panel = first.query_one(".pane-token")
        for row in panel.render().plain.splitlines():
            assert cell_len(row) <= panel.content_region.width, row  # no line wraps


@pytest.mark.ui
async def test_the_more_knobs_do_not_push_the_system_prompt_out_of_sight(tmp_path):
    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        system = app.workbench.settings.query_one("#system-prompt")
        assert system.region.width and system.region.right <= 200
        assert app.workbench.settings.query_one(".param-repetition_penalty").region.right <= 200
