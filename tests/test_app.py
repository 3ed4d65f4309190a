"""Workbench behaviour driven with Pilot, on a scripted backend (fast, deterministic)."""

from __future__ import annotations

import re

import pytest
from textual import events

from tui import render
from tests.support.app import (make_app, send_key, type_prompt, wait_until, saved_pane, session_of, store_path,
                               stored_session)
from tests.support.terminal import row_text, terminal_copy
from tui.engine.params import PARAM_SPECS
from tui.engine.protocol import EngineState
from tests.support.scripted import ScriptedBackend
from tui.session import SessionRecord
from tui.figures import CANCELLED, DONE, ERROR, IDLE, STREAMING

pytestmark = pytest.mark.ui


async def test_pane_management_keys(tmp_path):
    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        await type_prompt(pilot, bench.panes()[0], "first")
        await pilot.press("alt+n")  # duplicate: the same draft and thread, after the current pane
        await pilot.pause()
        assert [p.draft for p in bench.panes()] == ["first", "first"]
        await pilot.press("ctrl+n")
        await pilot.pause()
        await type_prompt(pilot, bench.panes()[2], "third")
        await pilot.press("alt+shift+left")  # move it left
        await pilot.pause()
        assert [p.draft for p in bench.panes()] == ["first", "third", "first"]
        assert [p.number for p in bench.panes()] == [1, 3, 2]  # a pane keeps its number
        await pilot.press("alt+left")
        assert bench.focused_pane() is bench.panes()[0]
        await pilot.press("alt+right", "alt+a", "alt+left")  # from the message box: back to the pane left
        assert bench.focused_pane() is bench.panes()[1] and bench.focused is bench.panes()[1].editor
        await pilot.press("alt+a", "alt+right")
        assert bench.focused is bench.panes()[1].editor
        await pilot.press("alt+left")
        await pilot.press("alt+w")
        await pilot.pause()
        assert [p.draft for p in bench.panes()] == ["third", "first"]
        await pilot.press("alt+u")  # closed by mistake: back where it was, with its number
        await pilot.pause()
        assert [(p.number, p.draft) for p in bench.panes()] == [(1, "first"), (3, "third"), (2, "first")]
        await pilot.press("alt+w", "alt+w", "alt+w")
        await pilot.pause()
        assert len(bench.panes()) == 1 and bench.panes()[0].draft == ""  # never zero panes
        assert bench.panes()[0].number == 4  # numbers are never given twice


async def test_a_shell_users_editing_keys_edit_the_prompt_and_touch_no_pane(tmp_path):
    """ctrl+w deletes a word, ctrl+k to the end of the line, ctrl+u to its start, ctrl+d the next
    character: in a shell and in the prompt editor; they used to close, cancel and duplicate panes."""
    backend = ScriptedBackend(stall_after=3)
    app = make_app(backend, session=session_of([saved_pane(prompt="one"), saved_pane(prompt="two")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        first, second = bench.panes()
        second.editor.focus()
        await pilot.press("f5")
        await wait_until(lambda: second.tokens_received == 3)
        await type_prompt(pilot, first, "the quick brown fox")
        first.editor.move_cursor((0, 19))
        await pilot.press("ctrl+w")
        assert first.editor.text == "the quick brown "
        first.editor.move_cursor((0, 4))
        await pilot.press("ctrl+k")
        assert first.editor.text == "the "
        await pilot.press("ctrl+u")
        assert first.editor.text == ""
        await type_prompt(pilot, first, "ab")
        first.editor.move_cursor((0, 0))
        await pilot.press("ctrl+d")
        assert first.editor.text == "b"
        await pilot.pause()
        assert len(bench.panes()) == 2 and second.running  # nothing closed, cancelled or duplicated
        assert not backend.aborted
        await pilot.press("ctrl+g")  # cancel all: a key no editor uses
        await wait_until(lambda: second.figures.state == CANCELLED)


async def test_keys_typed_fast_then_f5_send_the_whole_message(tmp_path):
    """The keys arrive together, as from a fast typist, a paste-like burst or a loaded machine:
    f5 (a priority binding, run when the app reads it) must not read the box before the letters
    queued ahead of it are in. Before, the pane sent 'Question n' and kept the rest in the box."""
    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        await pilot.pause()
        message = "Question number 2 about the temple of Solomon"
        for character in message:  # posted at once: none is handled before the next is sent
            app.post_message(events.Key("space" if character == " " else character, character))
        app.post_message(events.Key("f5", None))
        await wait_until(lambda: pane.figures.state == DONE)
        assert [m.content for m in pane.state.thread()][:1] == [message]
        assert pane.draft == ""


async def test_keys_typed_right_after_moving_between_panes_go_to_the_pane_moved_to(tmp_path):
    """alt+→ twice, a message and f5 arriving together: both moves count, and the message goes
    whole to the pane reached. Before, focus moved once, after the letters, which stayed in the
    first pane's box, and f5 ran a pane with nothing typed."""
    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        await pilot.press("ctrl+n")
        await pilot.press("ctrl+n")
        await pilot.pause()
        first, _, third = bench.panes()
        first.editor.focus()
        await pilot.pause()
        message = "Who built the house"
        keys = [events.Key("alt+right", None) for _ in range(2)] + [
            events.Key("space" if c == " " else c, c) for c in message] + [events.Key("f5", None)]
        for key in keys:  # posted at once, as a terminal's burst is read
            app.post_message(key)
        await wait_until(lambda: third.figures.state == DONE)
        assert [m.content for m in third.state.thread()][:1] == [message]
        assert first.draft == "" and not first.state.thread()


async def test_keys_typed_into_a_duplicated_pane_go_after_its_draft(tmp_path):
    """alt+n and letters read together: the duplicate has the draft and the letters after it
    (they went before it, the cursor left at the box's start)."""
    app = make_app(session=session_of([saved_pane("Who built")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        (first,) = bench.panes()
        first.editor.focus()
        await pilot.pause()
        for key in [events.Key("alt+n", None), *(events.Key("space" if c == " " else c, c) for c in " the house")]:
            app.post_message(key)  # at once, as a terminal's burst is read
        await wait_until(lambda: len(bench.panes()) == 2 and bench.panes()[1].draft.endswith("house"))
        assert [pane.draft for pane in bench.panes()] == ["Who built", "Who built the house"]


async def test_cancel_keeps_the_partial_answer_and_running_again_makes_a_sibling(tmp_path):
    backend = ScriptedBackend(stall_after=7)
    app = make_app(backend, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await type_prompt(pilot, pane, "keep me")
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.tokens == 7)
        assert pane.draft == ""  # sent: the question is in the thread now
        partial = pane.answer
        await pilot.press("escape")
        await wait_until(lambda: pane.figures.state == CANCELLED)
        await pilot.pause(0.1)
        assert backend.aborted and not backend.running
        assert pane.answer == partial and partial.startswith("You asked: keep me")
        assert pane.output.text == "› keep me\n\n" + partial
        backend.stall_after = None
        await pilot.press("f5")  # nothing typed: a new answer to the same question
        await wait_until(lambda: pane.figures.state == DONE)
        await pilot.pause(0.1)
        assert pane.output.text.count("You asked") == 1  # the new answer is shown, not both
        question = pane.state.thread()[0]
        assert [m.reply.state for m in question.children] == [CANCELLED, DONE]  # the old one is kept
        assert "‹ 2/2 ›" in pane.query_one(".pane-status").text.plain


async def test_runs_queue_while_the_engine_loads(tmp_path):
    backend = ScriptedBackend(ready=False)
    app = make_app(backend, session_path=tmp_path / "s.json")
    app._start_engine_on_mount = False  # we decide when the engine is ready
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await type_prompt(pilot, pane, "queued one")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert pane.figures.state == "queued"
        assert "queued" in pane.query_one(".pane-status").text.plain
        app.start_engine()
        await wait_until(lambda: pane.figures.state == DONE)
        assert backend.state is EngineState.READY


async def test_invalid_values_block_the_run_with_a_visible_reason(tmp_path):
    backend = ScriptedBackend()
    app = make_app(backend, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        pane = bench.panes()[0]
        await type_prompt(pilot, pane, "x")
        temperature = pane.query_one(".param-temperature Input")
        temperature.value = "-1"
        await pilot.pause()
        assert "temperature must be in [0, 2]" in str(pane.query_one(".pane-error").render())
        assert temperature.has_class("-invalid")
        await pilot.press("f5")
        await pilot.pause()
        assert pane.figures.state == IDLE and not backend.aborted and pane.output.text == ""
        temperature.value = ""
        bench.settings.query_one(".param-max_tokens Input").value = "0"
        await pilot.pause()
        await pilot.press("f5")
        await pilot.pause()
        assert pane.figures.state == IDLE
        assert "max_tokens must be ≥ 1" in str(pane.query_one(".pane-error").render())
        bench.settings.query_one(".param-max_tokens Input").value = "5000"
        await pilot.pause()
        await pilot.press("f5")
        await pilot.pause()
        assert "context length (2048)" in str(pane.query_one(".pane-error").render())


async def test_optional_knobs_work_before_they_are_shown_and_are_mounted_when_shown(tmp_path):
    """The optional knobs (ctrl+o) are mounted only when first shown; until then they are still
    restored, checked, run with and saved."""
    seen = []
    backend = ScriptedBackend(script=lambda prompt, sampling: seen.append(sampling) or ["ok "])
    session = session_of([saved_pane(prompt="x", overrides={"top_k": "5", "min_p": "lots"})],
                         defaults={"presence_penalty": "0.5"})
    path = tmp_path / "s.json"
    app = make_app(backend, session=session, session_path=path)
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        bench = app.workbench
        pane = bench.panes()[0]
        assert not app.screen.query(".param-top_k, .param-presence_penalty")  # not built
        assert pane.border_title == "1 · invalid settings"
        await pilot.press("f5")
        await pilot.pause()
        assert pane.figures.state == IDLE and not seen
        assert "min_p" in str(pane.query_one(".pane-error").render())
        pane.field("min_p").raw = ""
        await pilot.pause()
        assert "k 5" in pane.border_title and "pres 0.5" in pane.border_title
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        assert seen[-1]["top_k"] == 5 and seen[-1]["presence_penalty"] == 0.5

        await pilot.press("ctrl+o")
        await pilot.pause()
        top_k = pane.query_one(".param-top_k Input")
        assert top_k.value == "5" and top_k.region.height == 1  # mounted, shown
        row = pane.query_one(".params.more")
        assert row.region.y == pane.query_one(".params").region.y + 1  # under the main knobs
        names = [f.spec.name for f in bench.settings.query("ParamField")]
        assert names[4:] == [s.name for s in PARAM_SPECS if not s.main]  # after the main four
        assert bench.settings.query_one(".param-presence_penalty Input").value == "0.5"
        top_k.value = "7"
        await pilot.press("ctrl+n")  # a new pane shows them too
        await pilot.pause()
        assert bench.panes()[1].query_one(".param-top_k Input").region.height == 1
        await pilot.press("ctrl+o")  # hidden again: kept, not shown
        await pilot.pause()
        assert top_k.region.height == 0 and top_k.is_attached
        await pilot.press("ctrl+q")
    assert app.return_code == 0 and app.exit_signal is None
    record = stored_session(store_path(path))
    assert record.panes[0].overrides == {"top_k": "7"} and record.defaults["presence_penalty"] == "0.5"


async def test_a_panes_thinking_switch_is_in_reach_and_goes_to_its_requests_only(tmp_path):
    """Two panes side by side hold only some of the optional knobs: the one a person moves to
    (the thinking switch, last) scrolls into view; 'off' there goes as the chat template's switch
    with that pane's requests, not the other's; the next start reads it back, with the answer's
    record of it."""
    seen = {}
    backend = ScriptedBackend(script=lambda prompt, sampling: seen.__setitem__(prompt, sampling) or ["ok "])
    path = tmp_path / "s.json"
    app = make_app(backend, session=session_of([saved_pane(prompt="one"), saved_pane(prompt="two")]),
                   session_path=path)
    async with app.run_test(size=(150, 36)) as pilot:
        await pilot.pause()
        one, two = app.workbench.panes()
        await pilot.press("ctrl+o")
        await pilot.pause()
        row = one.query_one(".params.more")
        assert row.show_horizontal_scrollbar and row.region.height == 2  # a bar under it says there is more
        switch = one.query_one(".param-enable_thinking Input")
        switch.focus()
        await wait_until(lambda: one.region.contains_region(switch.region) and switch.region.width > 0)
        await pilot.press(*"off")
        await pilot.pause()
        assert "thinking off" in str(one.border_title) and "thinking" not in str(two.border_title)
        await pilot.press("ctrl+r")
        await wait_until(lambda: one.figures.state == DONE and two.figures.state == DONE)
        assert seen["one"].template_kwargs == {"enable_thinking": False} and seen["two"].template_kwargs == {}
        await pilot.press("ctrl+q")
    assert app.return_code == 0 and app.exit_signal is None
    record = stored_session(store_path(path))  # as the next start reads it: nothing moved aside
    one, two = record.panes
    assert one.overrides == {"enable_thinking": "off"} and two.overrides == {}
    assert one.conversation.last().reply.settings["enable_thinking"] is False
    assert two.conversation.last().reply.settings["enable_thinking"] is None


async def test_a_narrow_title_keeps_the_settings_that_differ_from_the_defaults(tmp_path):
    """Where a pane's whole settings do not fit its title, the ones it changed still show (the
    thinking switched off), before the title gives up its settings."""
    panes = [saved_pane(prompt=str(n), overrides={"enable_thinking": "off"} if n == 3 else None) for n in range(1, 6)]
    app = make_app(session=session_of(panes), session_path=tmp_path / "s.json")
    async with app.run_test(size=(80, 40)) as pilot:  # two columns of panes 40 wide
        await pilot.pause()
        titles = [str(pane.border_title) for pane in app.workbench.panes()]
        assert titles[2] == "3 · thinking:off", titles
        assert all("thinking" not in title for index, title in enumerate(titles) if index != 2), titles


@pytest.mark.draws
async def test_the_first_frame_sent_is_the_whole_workbench_and_says_the_engine_is_loading(tmp_path):
    """What the terminal gets first: the engine line (loading, not 'stopped', and not blank), the
    defaults and the pane with its settings title. It used to come frames later."""
    frames = []

    def first(app, screen):
        if not frames:
            frames.append([row_text(terminal, y, 0, 120) for y in range(30)])

    backend = ScriptedBackend(ready=False)
    app = make_app(backend, session_path=tmp_path / "s.json")
    with terminal_copy(first) as terminal:
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(lambda: backend.state is EngineState.READY)
            await pilot.pause()
            assert "● ready" in app.workbench.engine_line.render().plain
    rows = frames[0]
    # (The spinner's frame and seconds depend on how long the first frame took: the first app of a
    # test run imports and parses more than the others.)
    assert re.search(r"vllm-panes . loading engine \(\d+ s\)", rows[0]) and "scripted-model" in rows[0]
    assert rows[1].lstrip().startswith("defaults T 0.8")
    assert "1 · T 0.8 · p 0.95 · seed 42 · max 100" in rows[2]


async def test_empty_prompt_and_rejected_request_are_shown_in_the_pane(tmp_path):
    app = make_app(ScriptedBackend(max_model_len=10), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await pilot.press("f5")
        await pilot.pause()
        assert "the prompt is empty" in str(pane.query_one(".pane-error").render())
        await type_prompt(pilot, pane, "far too long for ten")
        app.workbench.settings.query_one(".param-max_tokens Input").value = "3"
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == ERROR)
        await pilot.pause(0.1)
        assert "prompt too long" in pane.query_one(".pane-status").text.plain


async def test_session_is_saved_on_quit_and_restored(tmp_path):
    path = tmp_path / "s.json"
    app = make_app(ScriptedBackend(), session_path=path)
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await type_prompt(pilot, pane, "remember me")
        pane.query_one(".param-seed Input").value = "7"
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        await pilot.pause(0.1)
        await pilot.press("ctrl+q")
    assert app.return_code == 0 and app.exit_signal is None
    record = stored_session(store_path(path))  # as the next start reads it
    state = record.panes[0]
    question, answer = state.thread()
    assert question.content == "remember me" and state.overrides == {"seed": "7"} and state.draft == ""
    assert "seed 7" in answer.content and answer.reply.state == DONE and answer.reply.figures.tokens

    app2 = make_app(ScriptedBackend(), session=record, session_path=path)
    async with app2.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        pane = app2.workbench.panes()[0]
        assert pane.output.text.startswith("› remember me") and "seed 7" in pane.answer
        assert pane.figures.state == DONE and pane.number == 1


async def test_command_palette_lists_every_action(tmp_path):
    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        titles = {command.title for command in app.get_system_commands(app.screen)}
        for wanted in ("Run all panes", "Run focused pane", "Cancel focused pane", "Cancel all panes",
                       "New pane", "Duplicate pane", "Close pane", "Reopen closed pane", "Move pane right",
                       "Move pane left", "Regenerate answer", "Edit a message", "Message all panes",
                       "Restart engine", "Help", "Theme", "Quit", "More sampling knobs", "Save session",
                       "Engine X-ray", "Copy answer"):
            assert wanted in titles


async def test_the_footer_fits_120_columns_and_the_keys_it_leaves_out_are_in_help_and_the_palette(tmp_path):
    from textual.widgets import Footer

    from tui.keymap import ACTIONS

    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.workbench.query_one(Footer)
        assert footer.virtual_size.width <= 120  # nothing scrolled out of sight
        shown = {key.description for key in footer.query("FooterKey")}
        assert {"Run all", "Run pane", "Cancel", "New pane", "Target", "Help", "Quit"} <= shown
        palette = " ".join(f"{c.title} {c.help}" for c in app.get_system_commands(app.screen))
        for action in ACTIONS:
            if not action.footer:  # left out of the footer: F1 lists it, the palette has it
                assert action.title in palette and action.key in palette, action


@pytest.mark.draws
async def test_output_is_plain_text_never_markup(tmp_path):
    def script(prompt, sampling):
        return ["[bold]not bold[/bold] ", "[link=x]y[/link] ", "\x1b[31mred?\x1b[0m"]

    app = make_app(ScriptedBackend(script), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await type_prompt(pilot, pane, "markup")
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        await pilot.pause(0.1)
        first = pane.output.line_at(pane.output.base)  # the answer's first line, under the question
        line = "".join(segment.text for segment in pane.output.render_line(first))
        assert "[bold]not bold[/bold]" in line and "\x1b" not in line and "\u241b[31mred?" in line


async def test_theme_choice_from_the_palette_command_changes_the_app(tmp_path):
    app = make_app(session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        assert app.theme == "panes-dark"
        for name in ("panes-light", "panes-high-contrast"):
            assert name in app.available_themes
        app.theme = "panes-light"
        await pilot.pause()
        assert app.current_theme.name == "panes-light"


def test_restored_session_with_a_running_pane_comes_back_cancelled():
    record = session_of([saved_pane(prompt="p", output="partial", state="streaming")])
    import asyncio

    async def check():
        app = make_app(ScriptedBackend(), session=record)
        async with app.run_test(size=(200, 40)) as pilot:
            await pilot.pause()
            return app.workbench.panes()[0].figures.state

    assert asyncio.run(check()) == CANCELLED


async def test_panes_share_the_width_or_wrap_into_a_grid_when_they_do_not_fit(tmp_path):
    session = session_of([saved_pane(prompt=str(i)) for i in range(8)])
    app = make_app(session=session, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        panes = app.workbench.panes()
        visible = render.on_screen(app.workbench)
        assert [p.number for p in panes if p.output in visible] == list(range(1, 9))  # two rows of four
        assert {p.region.width for p in panes} == {50}
        assert [p.region.y for p in panes[:4]] == [panes[0].region.y] * 4 and panes[4].region.y > panes[0].region.y
        await pilot.resize_terminal(400, 40)
        await pilot.pause()
        assert {p.region.width for p in app.workbench.panes()} == {50}  # all eight fit one row now
        assert len({p.region.y for p in app.workbench.panes()}) == 1
        await pilot.resize_terminal(20, 10)  # tiny: still no crash, one pane at its minimum
        await pilot.pause()
        await pilot.resize_terminal(200, 14)  # too low for two readable rows: they scroll down
        await pilot.pause()
        visible = render.on_screen(app.workbench)
        assert [p.number for p in app.workbench.panes() if p.output in visible] == [1, 2, 3, 4]
        await pilot.resize_terminal(200, 40)
        await pilot.pause()
        assert {p.region.width for p in app.workbench.panes()} == {50}


async def test_output_follows_the_end_unless_the_person_scrolled_up(tmp_path):
    backend = ScriptedBackend(lambda prompt, s: [f"line {i}\n" for i in range(400)], delay_s=0.002)
    app = make_app(backend, session=session_of([saved_pane(prompt="long",
                                                                   overrides={"max_tokens": "400"})]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.workbench.panes()[0]
        view = pane.output
        send_key(app, "f5")
        await wait_until(lambda: view.line_count > 100)
        assert view.following and view.scroll_y > 0  # it moved along with the answer
        view.scroll_to(y=0, animate=False, immediate=True)  # the person scrolls up to read
        await wait_until(lambda: view.line_count > 200)
        await pilot.pause()
        assert view.scroll_y == 0 and not view.following  # left where the person put it
        view.scroll_end(animate=False, immediate=True)  # back to the end: following again
        await wait_until(lambda: pane.figures.state == DONE)
        await pilot.pause(0.1)
        assert view.following
        last_row = view.line_count - 1 - view.scroll_y
        assert 0 <= last_row < view.scrollable_content_region.height  # the last line is in view


async def test_restarting_the_engine_ends_the_runs_as_cancelled_and_keeps_what_they_wrote(tmp_path):
    backend = ScriptedBackend(stall_after=5)
    app = make_app(backend, session=session_of([saved_pane(prompt="one"), saved_pane(prompt="two")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        panes = app.workbench.panes()
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.tokens_received == 5 for p in panes))
        app.start_engine()  # the palette's "Restart engine"
        await wait_until(lambda: all(p.figures.state == CANCELLED for p in panes))
        await pilot.pause(0.1)
        assert [p.answer.split()[:3] for p in panes] == [["You", "asked:", "one."], ["You", "asked:", "two."]]
        assert len(backend.aborted) == 2  # each request was aborted, not left to the old engine
        backend.stall_after = None
        send_key(app, "ctrl+r")  # the restarted engine takes the next runs
        await wait_until(lambda: all(p.figures.state == DONE for p in panes))


async def test_a_finished_pane_shows_its_final_figures_from_the_moment_it_is_done(tmp_path):
    """The state and the figures change in one step: 'done' never comes with the figures of an
    earlier frame (a test once read 8 of 10 tokens on a pane already done)."""
    backend = ScriptedBackend(lambda prompt, s: ["tok "] * 40, delay_s=0.001)
    app = make_app(backend, session=session_of([saved_pane(prompt="p")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 30)):
        pane = app.workbench.panes()[0]
        for _ in range(5):
            runs = pane.runs
            send_key(app, "f5")
            await wait_until(lambda: pane.runs == runs + 1 and pane.figures.state == DONE, step=0)
            assert pane.figures.tokens == 40 and pane.figures.finish_reason == "stop"  # 40 of its 100: by itself


async def test_panes_made_quickly_while_the_session_saves_are_all_saved(tmp_path):
    """A new user made panes quickly (two f8 sweeps, six duplicates) and the app ended with exit 1:
    the autosave read a pane not composed yet (AttributeError: 'Pane' object has no attribute
    '_output'). Now the session is made from the panes' states, and it saves every 10 ms here."""
    path = tmp_path / "s.json"
    app = make_app(ScriptedBackend(delay_s=0.001), session=session_of([saved_pane(prompt="hello")]),
                   session_path=path, autosave_s=0.01)
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        for _ in range(2):
            bench.panes()[0].editor.focus()
            await pilot.press("f8", *"temperature=0,1 seed=1,2", "enter")
        for _ in range(6):
            await pilot.press("alt+n")  # no pause between them: the saves land in the middle
        await pilot.pause(0.2)
        made = len(bench.panes())
        assert made == 1 + 4 + 4 + 6
        await wait_until(lambda: not bench.any_running(), timeout=20)
        await pilot.pause(0.1)
        assert app.store.flush()
        saved = stored_session(store_path(path))
        assert [state.number for state in saved.panes] == [p.number for p in bench.panes()]
        await pilot.press("ctrl+q")
    assert app.return_code == 0 and app.exit_signal is None


async def test_a_timer_that_raises_is_said_once_and_the_app_goes_on(tmp_path):
    app = make_app(session_path=tmp_path / "s.json", autosave_s=0.01)
    notes: list[str] = []
    shown = app.notify
    app.notify = lambda message, **kwargs: notes.append(message) or shown(message, **kwargs)
    async with app.run_test(size=(120, 30)) as pilot:
        def broken():
            raise RuntimeError("a bug in the session record")

        app.workbench.session_dirty = True
        app.workbench.session_record = broken
        await pilot.pause(0.2)  # the autosave fires again and again
        assert sum("Could not save the session" in note for note in notes) >= 1
        assert app.is_running
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert len(app.workbench.panes()) == 2  # still working
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_one_message_to_every_pane_or_to_the_marked_ones(tmp_path):
    backend = ScriptedBackend()
    app = make_app(backend, session=session_of([saved_pane(prompt="a"), saved_pane(prompt="b"),
                                                saved_pane(prompt="c")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        panes = bench.panes()
        await pilot.press("ctrl+r")  # the box is empty: every pane sends its own draft
        await wait_until(lambda: all(p.figures.state == DONE for p in panes))
        await pilot.press("alt+a")
        assert app.focused is bench.composer.editor
        await pilot.press(*"why?", "ctrl+r")
        await wait_until(lambda: all(len(p.state.thread()) == 4 and p.figures.state == DONE for p in panes))
        assert [[m.content for m in p.state.thread() if m.role == "user"] for p in panes] == [
            ["a", "why?"], ["b", "why?"], ["c", "why?"]]
        assert bench.composer.text == ""
        sent = backend.sent[-1]
        assert [m["role"] for m in sent.messages] == ["user", "assistant", "user"]  # the whole thread
        panes[0].editor.focus()
        await pilot.press("alt+m")
        panes[2].editor.focus()
        await pilot.press("alt+m")
        assert panes[0].has_class("-marked") and not panes[1].has_class("-marked")
        assert "to panes 1, 3" in str(bench.composer.query_one("#composer-to").render())
        assert "marked panes" in bench.composer.editor.placeholder  # not "every pane" beside "to panes 1, 3"
        panes[1].editor.text = "my own draft"
        bench.composer.editor.text = "only you two"
        await pilot.press("ctrl+r")
        await wait_until(lambda: len(panes[0].state.thread()) == 6 and panes[0].figures.state == DONE
                         and panes[2].figures.state == DONE)
        assert len(panes[1].state.thread()) == 4 and panes[1].draft == "my own draft"  # not marked: untouched


def toasts(app) -> list[str]:
    """The notices on screen, as shown."""
    return [str(toast.render()) for toast in app.screen.query("Toast")]


async def test_a_message_sent_while_answers_stream_waits_in_its_box_and_cancels_nothing(tmp_path):
    """A second ctrl+r while the panes answer used to cancel every answer without a word and send
    the new message after the cut answers. Now nothing is cancelled, the message stays in the box
    with a notice saying why, and once the answers end the same ctrl+r sends it; a pane's own draft
    (f5) waits the same way, and its trailing enter is not sent."""
    backend = ScriptedBackend()
    app = make_app(backend, session=session_of([saved_pane(prompt="a"), saved_pane(prompt="b")]),
                   session_path=tmp_path / "s.json")
    notes: list[str] = []
    shown = app.notify
    app.notify = lambda message, **kwargs: notes.append(message) or shown(message, **kwargs)
    async with app.run_test(size=(200, 40), notifications=True) as pilot:
        bench = app.workbench
        panes = bench.panes()
        backend.stall_after = 2  # the answers stream until cancelled
        await pilot.press("ctrl+r")
        await wait_until(lambda: all(p.running and p.tokens_received >= 2 for p in panes))
        await pilot.press("alt+a", *"and then?", "ctrl+r")
        await pilot.pause(0.2)
        assert all(p.running for p in panes)  # nothing cancelled
        assert bench.composer.text == "and then?"
        assert any("Not sent: panes 1, 2 are still answering" in note for note in notes), notes
        assert [[m.content for m in p.state.thread() if m.role == "user"] for p in panes] == [["a"], ["b"]]
        panes[0].editor.focus()
        await pilot.press(*"mine", "enter", "f5")
        await pilot.pause(0.2)
        assert panes[0].running and "still answering" in str(panes[0].query_one(".pane-error").content)
        assert panes[0].draft == "mine\n"
        await pilot.press("ctrl+g")
        await wait_until(lambda: not any(p.running for p in panes))
        backend.stall_after = None
        await pilot.press("f5")  # the draft, its enter left out
        await wait_until(lambda: panes[0].figures.state == DONE)
        assert [m.content for m in panes[0].state.thread() if m.role == "user"] == ["a", "mine"]
        assert any("Not sent" in text for text in toasts(app))
        await pilot.press("alt+a", "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE and p.state.thread()[-2].content == "and then?"
                                     for p in panes))
        assert bench.composer.text == ""
        # sent after all: the notice about answers that have ended is not left over the new ones
        await pilot.pause()
        assert not any("Not sent" in text for text in toasts(app))


async def test_answers_cut_by_the_app_closing_leave_the_last_saved_session_whole(tmp_path, caplog):
    """The app closed with answers streaming but without the quit that saves (a crash, a test's
    end): each cut run's end saved the session while the widgets were being taken down. The saves
    failed on the gone message box; made to read it, they wrote a session without a pane over the
    user's. Now the last save stands: both threads and the box's text, and no error."""
    session_path = tmp_path / "s.json"
    app = make_app(ScriptedBackend(stall_after=3), session=session_of([saved_pane(prompt="a"), saved_pane(prompt="b")]),
                   session_path=session_path, autosave_s=0.05)
    async with app.run_test(size=(200, 40)) as pilot:
        panes = app.workbench.panes()
        await pilot.press("ctrl+r")
        await wait_until(lambda: all(p.running and p.tokens_received >= 3 for p in panes))
        app.workbench.composer.editor.text = "half a thought"
        await wait_until(lambda: not app.workbench.session_dirty)
        await pilot.pause(0.2)  # an autosave with the box's text
    assert "saving the session failed" not in caplog.text
    saved = stored_session(store_path(session_path))
    assert [[m.content for m in state.thread() if m.role == "user"] for state in saved.panes] == [
        ["a"], ["b"]]
    assert saved.composer == "half a thought"


async def test_the_page_keys_in_a_panes_box_page_its_thread(tmp_path):
    """A new user paged back from the pane's box to find the earlier turns: pageup moved the
    cursor in the two-line box and the thread stayed put (only the mouse wheel moved it)."""
    backend = ScriptedBackend()
    app = make_app(backend, session=session_of([saved_pane(prompt="a")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 30)) as pilot:
        (pane,) = app.workbench.panes()
        for _ in range(4):
            await pilot.press("f5")
            await wait_until(lambda: pane.figures.state == DONE)
            pane.editor.text = "and more?"
        view = pane.query_one("OutputView")
        await pilot.pause()
        assert app.focused is pane.editor and view.max_scroll_y > 0
        bottom = view.scroll_y
        await pilot.press("pageup")
        await pilot.pause()
        assert view.scroll_y < bottom
        await pilot.press("pagedown")
        await pilot.pause()
        assert view.scroll_y == bottom
        assert app.focused is pane.editor and pane.editor.text == "and more?"


async def test_the_defaults_line_starts_at_its_beginning_again_once_tab_has_left_it(tmp_path):
    """Tab scrolled the defaults line sideways to its system prompt; after the focus had left it
    the line still read ` lts demo ▼ T 0.8`, for the rest of the session."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="a")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(80, 24)) as pilot:
        bench = app.workbench
        row = bench.settings.query("HorizontalScroll").first()
        bench.settings.query_one("#system-prompt").focus()
        await pilot.pause()
        assert row.scroll_x > 0  # scrolled to the field
        bench.panes()[0].editor.focus()
        await pilot.pause()
        assert row.scroll_x == 0


async def test_a_long_error_leaves_the_thread_in_sight_in_a_small_pane(tmp_path):
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="a")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(50, 15)) as pilot:
        (pane,) = app.workbench.panes()
        pane.show_error("error: the conversation is 2,065 tokens and the answer needs room too, but the "
                        "model's context is 2,048 tokens (--max-model-len): nothing was dropped; start a "
                        "new pane or branch from an earlier message")
        await pilot.pause()
        assert pane.query_one(".pane-error").size.height == 3


async def test_a_new_pane_goes_at_the_right_end(tmp_path):
    """ctrl+n (and the palette's New pane) on pane 1 of three: 1, 2, 3, 4, not 1, 4, 2, 3 (a copy
    still goes beside its pane)."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt=p) for p in "abc"]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        bench.panes()[0].editor.focus()
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert [p.number for p in bench.panes()] == [1, 2, 3, 4]
        assert app.focused is bench.panes()[3].editor
        bench.panes()[0].editor.focus()
        await pilot.press("alt+n")
        await pilot.pause()
        assert [p.number for p in bench.panes()] == [1, 5, 2, 3, 4]


async def test_a_new_answer_streaming_on_the_changed_settings_is_not_called_stale(tmp_path):
    """The answer shown was written with seed 1, and the seed is now 2: stale; the new answer
    that streams on seed 2 is not (it said 'stale · streaming' until it ended)."""
    backend = ScriptedBackend()
    app = make_app(backend, session=session_of([saved_pane(prompt="q", overrides={"seed": "1"})]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        (pane,) = app.workbench.panes()
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        pane.query_one(".param-seed Input").value = "2"
        await wait_until(lambda: "stale" in pane.query_one(".pane-status").text.plain)
        backend.stall_after = 2  # the next answer streams until cancelled
        await pilot.press("alt+r")
        await wait_until(lambda: pane.figures.state == STREAMING and pane.tokens_received >= 2)
        await pilot.pause(0.2)
        status = pane.query_one(".pane-status").text.plain
        assert "streaming" in status and "stale" not in status, status
        await pilot.press("escape")
        await wait_until(lambda: not pane.running)


async def test_regenerate_edit_and_step_between_branches(tmp_path):
    backend = ScriptedBackend()
    app = make_app(backend, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await type_prompt(pilot, pane, "first question")
        pane.query_one(".param-seed Input").value = "1"
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        pane.query_one(".param-seed Input").value = "2"
        await pilot.pause()
        assert "stale" in pane.query_one(".pane-status").text.plain  # written with seed 1
        await pilot.press("alt+r")
        await wait_until(lambda: pane.figures.state == DONE and "seed 2" in pane.answer)
        status = pane.query_one(".pane-status").text.plain
        assert "‹ 2/2 ›" in status and "stale" not in status
        await pilot.press("alt+pageup")  # the first answer again
        await pilot.pause()
        assert "seed 1" in pane.answer and "‹ 1/2 ›" in pane.query_one(".pane-status").text.plain
        await pilot.press("alt+e")  # the question into the box: a new branch when sent
        await pilot.pause()
        assert pane.draft == "first question" and "editing an earlier message" in str(
            pane.query_one(".pane-note").render())
        pane.editor.text = "second question"
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        roots = pane.state.conversation.root.children
        assert [m.content for m in roots] == ["first question", "second question"]  # both kept
        assert len(roots[0].children) == 2 and pane.output.text.startswith("› second question  ‹ 2/2 ›")
        # No message cursor, and the last answer has no sibling: the keys step the lowest ‹ n/m ›
        # shown (a user pressed them under the edited question and was told "1 of 1").
        await pilot.press("alt+pageup")
        await pilot.pause()
        assert pane.output.text.startswith("› first question  ‹ 1/2 ›") and "seed 1" in pane.answer
        # The other key goes back, though the lowest ‹ n/m › shown is now the answer's.
        await pilot.press("alt+pagedown")
        await pilot.pause()
        assert pane.output.text.startswith("› second question  ‹ 2/2 ›")
        await pilot.press("alt+up")  # the message cursor on the last message (the answer)
        assert pane.state.cursor == pane.state.thread()[-1].id
        await pilot.press("alt+up")  # then on the question: its branches
        await pilot.press("alt+pageup")
        await pilot.pause()
        assert pane.output.text.startswith("› first question  ‹ 1/2 ›")
        await pilot.press("escape")  # the cursor goes; the path stays where it was put
        await pilot.pause()
        assert pane.state.cursor is None and "seed 1" in pane.answer


async def test_an_edit_sets_the_unsent_draft_aside_and_gives_it_back(tmp_path):
    """alt+e put the question into the box over what was typed there, which was lost. It is set
    aside (kept in the session), and comes back when the edit is left (esc, alt+e) or sent."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane("question", output="answer", state=DONE)]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        (pane,) = app.workbench.panes()
        pane.editor.focus()
        await pilot.press(*"unsent")
        for leave in ("escape", "alt+e"):
            await pilot.press("alt+e")
            assert pane.draft == "question"
            app.save_session_now()
            assert app.store.flush() and stored_session(tmp_path / "s.db").panes[0].set_aside == "unsent"
            await pilot.press(leave)
            assert pane.draft == "unsent" and pane.state.editing is None
        await pilot.press("alt+e", "end", *" again", "f5")
        await wait_until(lambda: pane.figures.state == DONE)
        assert [m.content for m in pane.state.conversation.root.children] == ["question", "question again"]
        await pilot.press("!")
        assert pane.draft == "unsent!"


async def test_keys_typed_into_a_restored_pane_go_after_its_draft(tmp_path):
    app = make_app(session=session_of([saved_pane("Tell me about")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        (pane,) = app.workbench.panes()
        pane.editor.focus()
        await pilot.press(*" wisdom")
        assert pane.draft == "Tell me about wisdom"


async def test_a_restart_puts_the_focus_back_where_the_person_typed(tmp_path):
    """After a restart what a new user typed went into the first pane, not into the message box
    or the second pane, where they had been typing."""
    path = tmp_path / "s.db"
    for where, keys in (("composer", "alt+a"), ("pane 2", "alt+right")):
        app = make_app(session=session_of([saved_pane("one"), saved_pane("two")]), session_path=path)
        async with app.run_test(size=(160, 40)) as pilot:
            app.workbench.panes()[0].editor.focus()
            await pilot.press(keys, *"typed")
            await pilot.press("ctrl+q")
        assert app.return_code == 0
        app = make_app(session=stored_session(store_path(path)), session_path=path)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.pause()
            await pilot.press(*" more")
            bench = app.workbench
            if where == "composer":
                assert bench.composer.text == "typed more", where
            else:
                assert bench.panes()[1].draft == "twotyped more", where
            await pilot.press("ctrl+q")
        path.unlink()


async def test_the_message_box_brings_back_what_it_sent_before_a_restart(tmp_path):
    """`up` in the message box brought back nothing after a restart (the panes' boxes did)."""
    path = tmp_path / "s.db"
    app = make_app(session=session_of([saved_pane("")]), session_path=path)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("alt+a", *"To every pane", "ctrl+r")
        await wait_until(lambda: app.workbench.composer.text == "" and app.workbench.panes()[0].figures.state == DONE)
        await pilot.press("ctrl+q")
    app = make_app(session=stored_session(store_path(path)), session_path=path)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("alt+a", "up")
        assert app.workbench.composer.text == "To every pane"
        await pilot.press("ctrl+q")


async def test_keys_typed_into_the_restored_message_box_go_after_its_text(tmp_path):
    """After a restart a new user pressed alt+a and typed: the text went in front of the message
    box's restored text, and ctrl+r sent both, run together, to every pane."""
    app = make_app(session=session_of([saved_pane("q")], composer="hello"), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.press("alt+a")
        await pilot.press(*" world")
        assert app.workbench.composer.text == "hello world"


async def test_a_restored_thread_is_placed_once_its_view_has_a_height(tmp_path):
    """A pane shows its thread as it mounts, before the layout gives its view a height: the view
    must not jump then (a short thread got a scrollbar over blank rows; a long one showed its start
    and no longer followed its end)."""
    short = saved_pane("q", output="a short answer", state=DONE)
    long = saved_pane("q", output="\n".join(f"line {i}" for i in range(100)), state=DONE)
    app = make_app(session=session_of([short, long]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        fits, runs_over = (pane.output for pane in app.workbench.panes())
        assert fits.line_count == 3 and fits.virtual_size.height == fits.size.height  # nothing to scroll
        assert fits.scroll_y == 0 and fits.following
        assert runs_over.following and runs_over.line_count == 102
        last_row = runs_over.line_count - 1 - runs_over.scroll_y
        assert 0 <= last_row < runs_over.scrollable_content_region.height  # the end in view


def shown_status(pane) -> str:
    """The status line as it is drawn at the pane's width now (a narrow pane shows a short form)."""
    return "".join(segment.text for segment in pane.query_one(".pane-status").render_line(0)).strip()


async def test_an_answer_cut_by_the_full_context_says_so_in_every_width(tmp_path):
    """An answer that ends for length before its max_tokens ran out of context: its status says
    so, wide and narrow; one cut at max_tokens keeps a 'max' mark when narrow (the issue #25 trial:
    'done · 39ms · 50t · 195t/s ‹4/4›' said nothing of the cut)."""
    backend = ScriptedBackend(lambda prompt, s: ["a"] * s["max_tokens"], max_model_len=200)
    app = make_app(backend, session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        max_tokens = app.workbench.defaults()["max_tokens"]
        await type_prompt(pilot, pane, "p")
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        first = pane.reply
        assert (pane.figures.finish_reason, pane.figures.tokens) == ("length", max_tokens)
        assert "cut" not in shown_status(pane) and shown_status(pane).endswith("length")
        await type_prompt(pilot, pane, "q")
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE and pane.reply is not first)
        await pilot.pause()
        assert pane.figures.finish_reason == "length" and 0 < pane.figures.tokens < max_tokens
        assert shown_status(pane).endswith("· cut: context full")
        await pilot.resize_terminal(40, 40)
        await pilot.pause(0.2)
        assert pane.size.width <= 40 and "ctx full" in shown_status(pane), shown_status(pane)
        pane.editor.focus()
        for _ in range(3):
            if pane.reply is first:
                break
            await pilot.press("alt+up")
        await pilot.pause(0.1)
        assert pane.reply is first and "max" in shown_status(pane).split(), shown_status(pane)
        assert "ctx" not in shown_status(pane)


async def test_a_regenerated_answer_the_same_as_before_says_the_seed_is_why_once_per_pane(tmp_path):
    """alt+r with the default seed gives the same text: the person is told why, once a pane;
    an answer that differs is not remarked on, and the seed stays as it was."""
    app = make_app(ScriptedBackend(), session_path=tmp_path / "s.json")
    notes: list[str] = []
    shown = app.notify
    app.notify = lambda message, **kwargs: notes.append(message) or shown(message, **kwargs)
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        seed = app.workbench.defaults()["seed"]
        said = (f"Same answer as before: seed {seed} is fixed (set another seed, or clear it, "
                "for a different one).")
        seed_box = pane.query_one(".param-seed Input")

        async def regenerate() -> None:
            count = len(pane.state.thread()[0].children)
            await pilot.press("alt+r")
            await wait_until(lambda: len(pane.state.thread()[0].children) == count + 1 and pane.figures.state == DONE)
            await pilot.pause()

        await type_prompt(pilot, pane, "a question")
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE)
        first = pane.answer
        seed_box.value = str(seed + 1)
        await regenerate()
        assert pane.answer != first and said not in notes  # another seed, another answer: nothing to say
        seed_box.value = ""
        await regenerate()
        assert pane.answer == first and notes.count(said) == 1
        await regenerate()
        assert notes.count(said) == 1  # once per pane
        assert app.workbench.defaults()["seed"] == seed and seed_box.value == ""


async def test_panes_side_by_side_show_their_titles_and_status_in_the_same_form(tmp_path):
    """Panes share a row's width unevenly (80 and 81 columns); each chose its title's and its
    status line's form by its own width, so that one showed `T0.8 p0.95` beside `T 0.8 · p 0.95`.
    Panes alike show the same form, whatever the terminal's width."""
    alike = {"temperature": "0.7", "top_p": "0.9", "max_tokens": "64", "seed": "3"}
    answer = "a b c d e f " * 5
    app = make_app(ScriptedBackend(), session_path=tmp_path / "s.json",
                   session=session_of([saved_pane("q", overrides=alike, output=answer, state=DONE, number=n)
                                       for n in (1, 2, 3)]))
    async with app.run_test(size=(120, 30)) as pilot:
        panes = app.workbench.panes()
        widths, forms = set(), set()
        for width in range(118, 136):  # around where the settings take their short form
            await pilot.resize_terminal(width, 30)
            await pilot.pause()
            widths.add(tuple(pane.outer_size.width for pane in panes))
            titles = {re.sub(r"^\d+", "", str(pane.border_title)) for pane in panes}
            status = {str(pane.query_one(".pane-status").render_line(0).text).strip() for pane in panes}
            assert len(titles) == 1 and len(status) == 1, (width, titles, status)
            forms.add((titles.pop(), status.pop()))
        assert any(len(set(w)) > 1 for w in widths)  # uneven rows were among them
        assert len(forms) > 1  # and the forms changed with the width


async def test_a_status_line_with_slack_shows_the_form_of_its_narrower_neighbour():
    from textual.app import App
    from textual.containers import Horizontal
    from rich.text import Text

    from tui.widgets.status_line import StatusLine

    forms = [Text("done · TTFT 287 ms · 102 tokens"), Text("done · 287ms · 102t"), Text("done")]
    width = len(forms[0].plain) + 2  # its padding: the long form just fits the wider line

    class Two(App):
        CSS = f"StatusLine {{ width: {width}; }} StatusLine.narrow {{ width: {width - 1}; }}"

        def compose(self):
            with Horizontal():
                yield StatusLine(forms, classes="wide")
                yield StatusLine(forms, classes="narrow")

    app = Two()
    async with app.run_test(size=(100, 5)) as pilot:
        wide, narrow = app.query(StatusLine)
        await pilot.pause()

        def shown(line) -> str:
            return line.render_line(0).text.strip()

        assert (shown(wide), shown(narrow)) == (forms[0].plain, forms[1].plain)
        wide.slack = 1
        await pilot.pause()
        assert shown(wide) == shown(narrow) == forms[1].plain
        wide.slack = 0
        assert shown(wide) == forms[0].plain


async def test_closing_empty_panes_keeps_the_closed_conversations_in_reach_of_alt_u(tmp_path, monkeypatch):
    """A new user closed two panes with conversations, then closed and opened many empty ones
    (closing the last pane opens an empty one): the empty panes filled alt+u's list and pushed the
    conversations off it. Empty panes are not kept; they say so."""
    import tui.screens.workbench as workbench

    monkeypatch.setattr(workbench, "CLOSED_KEPT", 4)  # 20 in use: the same, sooner
    app = make_app(ScriptedBackend(), session_path=tmp_path / "s.json", session=session_of(
        [saved_pane("q1", output="a1", state=DONE), saved_pane("q2", output="a2", state=DONE), saved_pane("draft")]))
    notices = []
    async with app.run_test(size=(160, 40)) as pilot:
        original = app.notify
        app.notify = lambda message, **kw: (notices.append(message), original(message, **kw))
        bench = app.workbench
        bench.panes()[0].editor.focus()
        await pilot.pause()
        for _ in range(3):
            await pilot.press("alt+w")  # the two conversations and the draft; an empty pane opens
            await pilot.pause()
        for _ in range(4):
            await pilot.press("ctrl+n", "alt+w")
            await pilot.pause()
        assert "it was empty" in notices[-1]
        for _ in range(3):
            await pilot.press("alt+u")
            await pilot.pause()
        drafts = [p.state.draft for p in bench.panes()]
        questions = [p.state.conversation.path()[0].content for p in bench.panes() if p.state.conversation]
        assert "draft" in drafts and sorted(questions) == ["q1", "q2"]


async def test_editing_keys_typed_in_one_burst_act_in_the_order_typed(tmp_path):
    """ctrl+u then `Hello big world` in one burst (a fast typist, tmux send-keys): TextArea's
    editing keys are bindings, which ran once the key had gone up to the app, after the letters
    behind it had reached the box: the line was deleted with `Hello big world` in it."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="The key to happiness is")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        await pilot.pause()

        def burst(*keys: str) -> None:
            for key in keys:
                character = key if len(key) == 1 else {"space": " "}.get(key)
                app.post_message(events.Key(key, character))

        burst("ctrl+u", *("space" if c == " " else c for c in "Hello big world"))
        await pilot.pause()
        assert pane.editor.text == "Hello big world"
        burst("backspace", "backspace", "left", "X", "ctrl+w", "Y")
        await pilot.pause()
        assert pane.editor.text == "Hello big Yr"


async def test_ctrl_w_deletes_back_to_the_last_space_as_in_a_shell(tmp_path):
    """A new user typed `Who was Ahab?`, ctrl+w, `Elijah?` and sent `Who was AhabElijah?`:
    Textual's ctrl+w stops at punctuation and took only the `?`. As in a shell, it deletes back
    over the spaces, then to the previous space; in the knob fields too."""
    from tests.support.app import send_terminal

    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        await pilot.pause()
        send_terminal(app, "Who was Ahab?\x17Elijah?")
        await pilot.pause()
        assert pane.editor.text == "Who was Elijah?"
        send_terminal(app, "  \x17\x17")  # the spaces and the word before them, then the next
        await pilot.pause()
        assert pane.editor.text == "Who "
        pane.editor.text = "first line\nsecond"
        pane.editor.move_cursor(pane.editor.document.end)
        send_terminal(app, "\x17\x17x")  # at a line's start: joined to the line above
        await pilot.pause()
        assert pane.editor.text == "first linex"
        seed = pane.field("seed").input
        seed.focus()
        await pilot.pause()
        send_terminal(app, "\x15x-1.5\x17")
        await pilot.pause()
        assert seed.value == ""


async def test_up_in_an_empty_box_brings_back_the_messages_sent_as_a_shell_does(tmp_path):
    """A shell user pressed `up` in an empty box for the message just sent, and nothing came."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="")]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 30)) as pilot:
        bench = app.workbench
        pane = bench.panes()[0]
        for question in ("Who was Ahab?", "Who was Elijah?"):
            pane.editor.focus()
            pane.editor.text = question
            await pilot.press("f5")
            await wait_until(lambda: pane.figures.state == DONE)
        await pilot.pause()
        assert pane.editor.text == ""
        await pilot.press("up")
        assert pane.editor.text == "Who was Elijah?"
        await pilot.press("up")
        assert pane.editor.text == "Who was Ahab?"
        await pilot.press("up")  # the oldest: it stays
        assert pane.editor.text == "Who was Ahab?"
        await pilot.press("down", "down")
        assert pane.editor.text == ""
        await pilot.press(*"abc", "up")  # the person's own text: up moves in it
        assert pane.editor.text == "abc"
        pane.editor.text = ""
        await pilot.press("alt+a")
        bench.composer.editor.text = "To every pane"
        await pilot.press("ctrl+r")
        await wait_until(lambda: pane.figures.state == DONE and bench.composer.text == "")
        await pilot.press("up")
        assert bench.composer.text == "To every pane"


async def test_a_fields_editing_keys_and_tab_typed_in_one_burst_act_in_the_order_typed(tmp_path):
    """The knob fields, as a terminal sends the keys (tmux send-keys, a fast typist): ctrl+u then
    `random` left `andom` or nothing, and `tab` then a value wrote the value into the field left
    (Input's editing keys and Textual's tab are bindings, run once the key had gone up to the app,
    after the keys behind it had reached the field)."""
    from tests.support.app import send_terminal

    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="q", overrides={"seed": "42"})]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.workbench.panes()[0]
        seed = pane.field("seed").input
        seed.focus()
        await pilot.pause()
        send_terminal(app, "\x15random")  # ctrl+u, then the word
        await pilot.pause()
        assert seed.value == "random"
        send_terminal(app, "\x15abc def\x17xyz")  # ctrl+w takes `def`
        await pilot.pause()
        assert seed.value == "abc xyz"
        first, second = (field.input for field in pane.fields()[:2])
        first.focus()
        await pilot.pause()
        send_terminal(app, "\x150.5\t\x157")  # one value, tab, the next field's value
        await pilot.pause()
        assert (first.value, second.value) == ("0.5", "7") and second.has_focus
        send_terminal(app, "\x1b[Z\x150.25")  # shift+tab back
        await pilot.pause()
        assert (first.value, second.value) == ("0.25", "7")


async def test_a_long_seed_is_shown_whole_in_its_field(tmp_path):
    """A new user's 10-digit seed showed as its first 9 digits once the focus left the field: the
    field was 9 cells wide, and the seed read was another seed. The field widens to its value."""
    from tests.support.app import send_terminal

    long_seed = "1234567890123456789"  # 19 digits: the largest seeds have as many
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="q", overrides={"seed": "1234567890"})]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 30)) as pilot:
        pane = app.workbench.panes()[0]
        await pilot.pause()
        seed = pane.field("seed").input
        assert "1234567890" in seed.render_line(0).text  # the title names the seed too: not read here
        seed.focus()
        await pilot.pause()
        send_terminal(app, "\x15" + long_seed)
        await pilot.pause()
        pane.editor.focus()  # the focus leaves the field: it shows its value from the start
        await pilot.pause()
        assert seed.value == long_seed and long_seed in seed.render_line(0).text
        seed.focus()
        await pilot.pause()
        send_terminal(app, "\x157")
        await pilot.pause()
        assert seed.size.width == 9  # a short value gives the room back



async def test_the_knob_typed_in_is_in_sight_in_a_narrow_pane(tmp_path):
    """In a narrow pane, beside a long seed, `max` was past the end of the knobs' row: tab reached
    it unseen, and a 9 typed there changed the answers' length with nothing on screen but the
    title. The row scrolls to the knob with the focus, and back to its start when the focus leaves."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="q", overrides={"seed": "1234567890123"})]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(44, 30)) as pilot:
        pane = app.workbench.panes()[0]
        field = pane.field("max_tokens").input
        field.focus()
        await pilot.pause()
        assert pane.screen.can_view_entire(field)
        pane.editor.focus()
        await pilot.pause()
        assert pane.screen.can_view_entire(pane.field("temperature").input)


async def test_tab_stops_only_where_one_can_type_or_press_with_every_knob_shown(tmp_path):
    """With ctrl+o's knobs shown in a narrow pane, their row (it scrolls sideways) was a tab stop
    of its own between `max` and `min`: keys typed there went nowhere, and a ctrl+u it did not take
    went on to the box the focus had come back to, and emptied it."""
    from textual.containers import HorizontalScroll, VerticalScroll

    from tests.support.app import send_terminal

    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="q", number=n) for n in range(1, 11)]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(150, 30)) as pilot:
        send_key(app, "ctrl+o")
        await pilot.pause()
        pane = app.workbench.panes()[0]
        # (ten panes overflow the grid: it scrolls, and was a stop too)
        assert [w for w in app.screen.focus_chain if isinstance(w, (HorizontalScroll, VerticalScroll))] == []
        last_main = [f for f in pane.fields() if f.spec.main][-1].input
        first_more = next(f for f in pane.fields() if not f.spec.main).input
        last_main.focus()
        await pilot.pause()
        send_terminal(app, "\t")
        await pilot.pause()
        assert first_more.has_focus


async def test_ctrl_c_typed_by_habit_says_how_to_quit_and_cancel_and_still_copies_a_selection(tmp_path):
    """A shell user presses ctrl+c to stop or to quit. In a text box with nothing selected it
    copies nothing, and the key goes on to the app, which says how (the boxes' own key handling
    had taken it silently)."""
    from tests.support.app import send_terminal

    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="some words")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 30)) as pilot:
        notes: list[str] = []
        original = app.notify
        app.notify = lambda message, **kw: (notes.append(message), original(message, **kw))
        pane = app.workbench.panes()[0]
        for box in (pane.editor, pane.field("seed").input):
            box.focus()
            await pilot.pause()
            send_terminal(app, "\x03")
            await pilot.pause()
            assert len(notes) == 1 and "ctrl+q to quit" in notes[0] and "esc cancels" in notes[0], notes
            notes.clear()
        pane.editor.focus()
        await pilot.pause()
        pane.editor.select_all()
        send_terminal(app, "\x03")
        await pilot.pause()
        assert app.clipboard == "some words" and notes == []


@pytest.mark.draws
async def test_the_footer_ends_with_the_palette_key_at_any_width(render_path):
    """The compact footer's palette key, docked right, kept the margin every key has: the last
    column showed the key under it (`▏^p palette3` at 80 × 24, `palettew` at 40 × 12)."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane("q")]), session_path=None)
    with terminal_copy() as terminal:
        async with app.run_test(size=(160, 40)) as pilot:
            for width, height in ((30, 12), (40, 12), (60, 20), (80, 24), (160, 45)):
                await pilot.resize_terminal(width, height)
                await pilot.pause()
                await pilot.pause()
                assert row_text(terminal, height - 1, 0, width).endswith("▏^p palette "), (width, height)


def blank_rows_below_the_end(pane) -> int:
    """Rows of the view under its text's last line, while it shows the end."""
    output = pane.output
    view = output.scrollable_content_region.height
    return max(0, round(output.scroll_y) + view - output.line_count)


async def test_an_answer_that_has_ended_sits_at_the_bottom_of_its_pane(tmp_path):
    """While an answer streams, the view jumps two thirds of a page ahead when the end reaches the
    bottom (fewer redraws). Once it had ended, up to two thirds of the pane stayed blank under it,
    and a new user read the answer as cut short; a redraw (a branch stepped) and a resize put the
    gap back. Ended, the end is at the bottom."""
    def long_answer(prompt, sampling):
        return [f"word{n} " for n in range(400)]

    question = "q " * 10
    app = make_app(ScriptedBackend(long_answer), session=session_of([saved_pane(prompt=question)]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(100, 30)) as pilot:
        (pane,) = app.workbench.panes()
        pane.editor.focus()
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == DONE and not pane.pending)
        await pilot.pause()
        assert pane.output.line_count > pane.output.scrollable_content_region.height
        assert blank_rows_below_the_end(pane) == 0
        assert pane.output.virtual_size.height == pane.output.line_count  # PageDown finds no blank page
        await pilot.press("alt+r")  # a second branch, then back to the first: drawn again
        await wait_until(lambda: pane.figures.state == DONE and not pane.pending)
        await pilot.press("alt+pageup")
        await pilot.pause()
        assert blank_rows_below_the_end(pane) == 0
        await pilot.resize_terminal(90, 26)
        await pilot.pause()
        assert blank_rows_below_the_end(pane) == 0
