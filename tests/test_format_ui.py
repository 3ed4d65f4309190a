"""Output formats in the workbench, on a scripted backend: the dialog (alt+o) checks what is typed
and refuses what cannot be sent; a pane's format goes with its requests, its answer's status
says whether it took it; the defaults' format; sweeps open the constrained and free answers side by
side; what the pane says while a format compiles."""

from __future__ import annotations

import json

import pytest
from textual.widgets import Checkbox, Select

from tests.support.app import make_app, saved_pane, send_key, send_terminal, session_of, store_path, stored_session, wait_until
from tests.support.scripted import ScriptedBackend
from tui.commands import workbench_commands
from tui.core.output_format import CHOICE, JSON_SCHEMA, REGEX, FREE_FORMAT, OutputFormat
from tui.figures import CANCELLED, DONE
from tui.screens.format_dialog import FormatDialog


pytestmark = pytest.mark.ui

SCORE = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}


def json_when_asked(prompt, sampling):
    """What a model held to its format writes: JSON when asked for a schema (a string score when
    the prompt says 'wrong'), else words."""
    if sampling.output_format.kind == JSON_SCHEMA:
        return ['{"score": ', '"x"' if "wrong" in prompt else "7", "}"]
    return ["free ", "words ", "here"]


async def open_dialog(pilot, key: str = "alt+o") -> FormatDialog:
    await pilot.press(key)
    await pilot.pause()
    assert isinstance(pilot.app.screen, FormatDialog)
    return pilot.app.screen


def check_line(dialog: FormatDialog) -> str:
    return str(dialog.query_one(".format-check").content)


async def test_the_dialog_checks_as_it_is_typed_and_refuses_what_cannot_be_sent(tmp_path):
    app = make_app(ScriptedBackend(json_when_asked), session=session_of([saved_pane(prompt="Rate it")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        dialog = await open_dialog(pilot)
        assert dialog.query_one(Select).value == "inherit"  # the pane has the defaults' (free)
        dialog.query_one(Select).value = JSON_SCHEMA
        await pilot.pause()
        area = dialog.text_area
        area.text = '{"type": "object", "properties": {"score": {"type": "integr"}}}'
        await pilot.pause()
        assert check_line(dialog).startswith("✗ not a valid JSON Schema: $.properties.score.type: 'integr'")
        assert area.has_class("-invalid") and dialog.query_one(".format-check").has_class("-invalid")
        await pilot.press("ctrl+s")  # refused: nothing is accepted, the dialog stays
        await pilot.pause()
        assert app.screen is dialog and pane.state.output_format is None
        area.text = '{"type": "object",\n "properties": {'
        await pilot.pause()
        assert check_line(dialog) == "✗ line 2, column 17: not JSON (Expecting property name enclosed in double quotes)"
        area.text = json.dumps(SCORE)
        await pilot.pause()
        assert check_line(dialog) == "✓ JSON schema" and not area.has_class("-invalid")
        compact = dialog.query_one("#format-compact", Checkbox)
        # Unticked, its box is empty: Textual's `▐X▌` either way was read as ticked by a new user.
        assert compact.render().plain.startswith("▐ ▌")
        compact.value = True
        await pilot.pause()
        assert compact.render().plain.startswith("▐X▌")
        assert check_line(dialog) == "✓ JSON schema, compact"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is app.workbench
        assert pane.state.output_format == OutputFormat(JSON_SCHEMA, schema=SCORE, disable_any_whitespace=True)
        assert "json-schema+compact" in str(pane.border_title)
        await pilot.press("ctrl+q")
    saved = stored_session(store_path(tmp_path / "s.json"))
    assert saved.panes[0].output_format.schema == SCORE  # kept in the session


async def regex_dialog(app, pilot):
    """The first pane's format dialog, on a regex, its box focused: (the pane, the dialog)."""
    pane = app.workbench.panes()[0]
    pane.editor.focus()
    dialog = await open_dialog(pilot)
    dialog.query_one(Select).value = REGEX
    await pilot.pause()
    dialog.text_area.focus()
    return pane, dialog


async def test_a_regex_is_one_line_enter_accepts_it_and_esc_changes_nothing(tmp_path):
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="x")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        pane, dialog = await regex_dialog(app, pilot)
        await pilot.press(*"(yes|no")
        assert check_line(dialog).startswith("✗ the pattern does not compile at position 0")
        await pilot.press("enter")  # refused while it does not compile
        await pilot.pause()
        assert app.screen is dialog
        await pilot.press(")", "enter")
        await pilot.pause()
        assert app.screen is app.workbench and pane.state.output_format == OutputFormat(REGEX, pattern="(yes|no)")
        dialog = await open_dialog(pilot)
        assert dialog.text_area.text == "(yes|no)"  # what the pane has, to edit
        dialog.query_one(Select).value = CHOICE
        await pilot.pause()
        dialog.text_area.focus()
        await pilot.press(*"yes", "enter", *"no")  # in a list of choices, enter is a new line
        await pilot.pause()
        assert app.screen is dialog and dialog.text_area.text == "yes\nno" and check_line(dialog) == "✓ choice of 2"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.workbench and pane.state.output_format.kind == REGEX


async def test_choosing_a_kind_that_needs_text_puts_the_typing_in_its_box(tmp_path):
    """A user chose "regex" in the list and typed the pattern: the list kept the focus, the
    pattern was lost, and enter opened the list again."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="x")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        app.workbench.panes()[0].editor.focus()
        dialog = await open_dialog(pilot)
        kind = dialog.query_one(Select)
        kind.focus()
        await pilot.pause()
        kind.value = REGEX
        await pilot.pause()
        assert app.focused is dialog.text_area
        await pilot.press(*"[0-9]+ years", "enter")
        await wait_until(lambda: app.screen is app.workbench)
        assert app.workbench.panes()[0].state.output_format == OutputFormat(REGEX, pattern="[0-9]+ years")


async def test_a_regex_and_its_enter_typed_in_one_burst_are_accepted_whole(tmp_path):
    """A fast typist's pattern then `enter`: the enter ran before the box had taken the letters
    typed before it, found a pattern cut short that did not compile, and was lost; what was typed
    next went into the pattern."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="x")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        pane, dialog = await regex_dialog(app, pilot)
        await pilot.pause()
        send_terminal(app, "[0-9]{1,3} (years|days)\r")  # what a terminal sends, in one read
        await wait_until(lambda: app.screen is app.workbench)
        assert pane.state.output_format == OutputFormat(REGEX, pattern="[0-9]{1,3} (years|days)")


async def test_a_formatted_pane_sends_its_format_and_says_whether_the_answer_took_it(tmp_path):
    backend = ScriptedBackend(json_when_asked)
    schema = OutputFormat(JSON_SCHEMA, schema=SCORE)
    right, wrong, free = saved_pane(prompt="Rate it"), saved_pane(prompt="Rate it wrong"), saved_pane(prompt="Rate it")
    right.output_format = wrong.output_format = schema
    wrong.overrides["max_tokens"] = "3"  # its three pieces end at max_tokens: cut, for length
    app = make_app(backend, session=session_of([right, wrong, free]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        panes = app.workbench.panes()
        await pilot.press("ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in panes))
        await pilot.pause(0.1)
        assert [r.sampling.output_format for r in backend.sent] == [schema, schema, FREE_FORMAT]
        statuses = [p._status.text.plain for p in panes]  # noqa: SLF001 - the status line as drawn
        assert statuses[0].endswith("· JSON ✓ schema ✓")
        assert statuses[1].endswith("· ✗ $.score: 'x' is not of type 'integer' (cut off at max_tokens)")
        assert "✓" not in statuses[2] and "✗" not in statuses[2]  # free text is not judged
        # another format now: the answer says it was written with other settings
        panes[0].state.output_format = FREE_FORMAT
        app.workbench._do_refresh_titles()  # noqa: SLF001
        await pilot.pause()
        assert "stale (written with other settings (format))" in panes[0]._status.text.plain  # noqa: SLF001


async def test_the_defaults_format_goes_to_every_pane_without_its_own(tmp_path):
    backend = ScriptedBackend(json_when_asked)
    own = saved_pane(prompt="b")
    own.output_format = FREE_FORMAT
    app = make_app(backend, session=session_of([saved_pane(prompt="a"), own]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        bench.settings.query_one("#system-prompt").focus()  # in the defaults line, alt+o is the defaults'
        dialog = await open_dialog(pilot)
        assert "inherit" not in dialog.offered and "json_schema" in dialog.offered
        dialog.query_one(Select).value = CHOICE
        await pilot.pause()
        dialog.text_area.text = "yes\nno"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert bench.settings.output_format == OutputFormat(CHOICE, ("yes", "no"))
        assert "choice of 2" in str(bench.settings.query_one("#defaults-format").label)
        entries = {c.title: c for c in workbench_commands(bench, lambda: None, lambda: None)}
        entries["Output format of the defaults"].callback()  # the palette's way to it
        await pilot.pause()
        assert isinstance(app.screen, FormatDialog) and app.screen.query_one(Select).value == CHOICE
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in bench.panes()))
        assert [r.sampling.output_format.kind for r in backend.sent] == [CHOICE, "free"]
        await pilot.press("ctrl+q")
    saved = stored_session(store_path(tmp_path / "s.json"))
    assert saved.output_format == OutputFormat(CHOICE, ("yes", "no"))


async def test_a_pane_with_a_format_that_cannot_be_sent_sends_nothing_and_says_why(tmp_path):
    """A hand-edited session: the regex does not compile. The pane is not run; the reason is shown."""
    backend = ScriptedBackend()
    broken = saved_pane(prompt="x")
    broken.output_format = OutputFormat(REGEX, pattern="(a")
    app = make_app(backend, session=session_of([broken]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        await pilot.press("f5")
        await pilot.pause()
        assert backend.sent == []
        error = str(pane.query_one(".pane-error").content)
        assert error.startswith("not run: output format: the pattern does not compile at position 0")
        assert "invalid settings" in str(pane.border_title)


async def test_a_sweep_opens_the_constrained_and_the_free_answer_side_by_side(tmp_path):
    backend = ScriptedBackend(json_when_asked)
    source = saved_pane(prompt="Rate it")
    source.output_format = OutputFormat(JSON_SCHEMA, schema=SCORE)
    app = make_app(backend, session=session_of([source]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        bench.panes()[0].editor.focus()
        await pilot.press("f8", *"format=free,pane", "enter")
        await wait_until(lambda: len(bench.panes()) == 3 and all(p.figures.state == DONE for p in bench.panes()[1:]))
        await pilot.pause(0.1)
        _, free, constrained = bench.panes()
        assert free.label == "format=free" and constrained.label == "format=pane"
        assert free.state.output_format == FREE_FORMAT and constrained.state.output_format.schema == SCORE
        assert free.answer == "free words here" and constrained.answer == '{"score": 7}'
        assert constrained._status.text.plain.endswith("JSON ✓ schema ✓")  # noqa: SLF001


async def test_while_a_format_compiles_the_pane_says_so(tmp_path):
    """The engine compiles a format before the first token (16 s once on 2 busy cores): the pane
    says what it waits for; a free pane waiting as long does not claim it."""
    backend = ScriptedBackend(stall_after=0)
    formatted = saved_pane(prompt="x")
    formatted.output_format = OutputFormat(CHOICE, ("yes", "no"))
    app = make_app(backend, session=session_of([formatted, saved_pane(prompt="y")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        panes = app.workbench.panes()
        await pilot.press("ctrl+r")
        await wait_until(lambda: len(backend.running) == 2)
        await pilot.pause(0.1)
        assert "streaming · compiling the format…" in panes[0]._status.text.plain  # noqa: SLF001
        assert "compiling" not in panes[1]._status.text.plain  # noqa: SLF001
        await pilot.press("ctrl+g")
        await wait_until(lambda: all(p.figures.state == CANCELLED for p in panes))
        await pilot.pause(0.1)
        assert "compiling" not in panes[0]._status.text.plain  # noqa: SLF001


async def test_the_heat_legend_says_the_probabilities_are_within_the_format(tmp_path):
    backend = ScriptedBackend(json_when_asked)
    formatted = saved_pane(prompt="Rate it", heat=True)
    formatted.output_format = OutputFormat(JSON_SCHEMA, schema=SCORE)
    app = make_app(backend, session=session_of([formatted, saved_pane(prompt="Rate it", heat=True)]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(220, 40)) as pilot:
        panes = app.workbench.panes()
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in panes))
        await pilot.pause(0.1)
        legends = [p._legend.forms()[0].plain for p in panes]  # noqa: SLF001 - the legend's longest form
        assert legends[0].endswith("the model's own, before temperature/top-p, within the format")
        assert legends[1].endswith("the model's own, before temperature/top-p")
