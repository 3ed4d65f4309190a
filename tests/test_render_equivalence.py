"""The fast drawing path (tui/render/) must put on the terminal exactly what Textual's own drawing
puts there, cell by cell: its compositor's partial updates, the plain line widgets drawn without
the styles cache, and regions marked without Textual's messages. Tests marked `fast_path` compare
the two ways inside one run; the others check what the terminal shows on both paths."""

from __future__ import annotations

import asyncio

import pytest
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip

from tui.render import probes
from tui.render.plain import LightStrip
from tui.widgets.output_view import OutputView
from tui.widgets.pane import Figures, status_text
from tui.widgets.fit import fit
from tui.widgets.status_line import StatusLine

from tests.support.app import make_app, send_key, still, wait_until, saved_pane, session_of
from tests.support.scripted import ScriptedBackend
from tests.support.terminal import (
    CONSOLE,
    cells,
    cells_sent,
    cells_written,
    full_redraw,
    mixed_script,
    row_text,
    script,
    sent,
    streaming,
    terminal_copy,
)

pytestmark = [pytest.mark.ui, pytest.mark.draws]


@pytest.mark.fast_path
async def test_partial_updates_equal_textuals_own_while_panes_stream_and_the_person_works(tmp_path):
    """Some panes answer a second question under an earlier turn (styled question lines, the
    earlier answer's figures), some with the heat view on, one both."""
    with probes.checked_compositor() as checked:
        async with streaming(tmp_path, [400 + 50 * i for i in range(5)], earlier=(0, 2, 4),
                             heat=(1, 2)) as (app, pilot, all_panes):
            for key in "typing":  # the prompt editor of the first pane, above streaming answers
                send_key(app, key)
                await pilot.pause(0.01)
            app.notify("a toast over the panes")  # a layer in front of the answers
            await pilot.pause(0.05)
            all_panes[1].output.scroll_up(animate=False)  # one answer scrolled back: it stops following
            send_key(app, "alt+right")  # focus moves: borders change colour
            await pilot.pause(0.05)
            await wait_until(lambda: all(p.figures.state == "done" for p in all_panes), timeout=30)
            await pilot.pause(0.2)
            assert all_panes[0].draft == "typing"  # the draft was sent: a new message is typed
    assert [len(p.state.thread()) for p in all_panes] == [4, 2, 4, 2, 4]
    assert all(len(p.spans) == len(p.answer.split()) for p in all_panes[1:3])  # heat: tokens recorded
    updates = checked.updates
    assert len(updates) > 30
    different = [i for i, (reference, ours, _) in enumerate(updates)
                 if cells_written(reference) != cells_written(ours)]
    assert different == [], f"{len(different)} of {len(updates)} updates differ"
    assert [sent(reference) == sent(ours) for reference, ours, _ in updates].count(False) == 0
    # and it is cheaper: Textual's own renders every widget on screen, 40 or more, each update
    renders = sorted(count for _, _, count in updates)
    assert renders[len(renders) // 2] <= 12, renders


async def second_turn(app, pilot, heat: tuple[int, ...] = ()) -> None:
    """A second message ("again") to every pane from the message box, the panes numbered in
    `heat` (0-based) with the heat view on; until every pane has answered it."""
    panes = app.workbench.panes()
    for index in heat:
        panes[index].heat = True
    app.workbench.composer.editor.text = "again"
    send_key(app, "ctrl+r")
    await wait_until(lambda: all(len(p.state.thread()) == 4 and p.figures.state == "done" for p in panes),
                     timeout=30)
    assert all(len(panes[i].spans) > 0 for i in heat)
    await pilot.pause(0.1)


def move_message_cursor(app, pane, steps: int) -> None:
    """The message cursor `steps` messages up from below the thread (1: the last answer)."""
    pane.editor.focus()
    for _ in range(steps):
        send_key(app, "alt+up")


@pytest.mark.fast_path
@pytest.mark.parametrize("theme", ["panes-dark", "panes-light", "panes-high-contrast", "textual-light"])
async def test_plain_widgets_draw_what_the_styles_cache_draws(theme, tmp_path):
    panes = [saved_pane(prompt=f"p{i}", overrides={"max_tokens": str(60 + 90 * i)}) for i in range(3)]
    panes.append(saved_pane(prompt="wide", overrides={"max_tokens": "200"}))
    app = make_app(ScriptedBackend(mixed_script, delay_s=0.001), session=session_of(panes),
                   session_path=tmp_path / "s.json", theme=theme, xray=True)  # with each pane's engine line
    async with app.run_test(size=(150, 40)) as pilot:
        all_panes = app.workbench.panes()
        all_panes[3].heat = True  # the wide characters' tokens recorded
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == "done" for p in all_panes), timeout=30)
        await second_turn(app, pilot, heat=(0, 1))  # heat on the later answers
        move_message_cursor(app, all_panes[1], 3)  # on the earlier answer, selected
        move_message_cursor(app, all_panes[3], 3)  # on the earlier answer, selected, in heat
        await pilot.pause(0.1)
        all_panes[2].output.scroll_up(animate=False)  # one view scrolled back
        await pilot.pause(0.1)
        assert all_panes[0].output.text.startswith("› p0\n\n") and "\n\n› again\n\n" in all_panes[0].output.text
        widgets = list(app.workbench.query(OutputView)) + list(app.workbench.query(StatusLine))
        assert len(widgets) == 12
        checked = 0
        for widget in widgets:
            assert widget.plain_frame() is not None  # the plain way is taken
            width, height = widget.region.size
            for crop in (Region(0, 0, width, height), Region(3, 0, width - 7, height),
                         Region(0, height - 1, width, 1), Region(width - 2, 0, 2, height)):
                ours = widget.render_lines(crop)
                assert cells(ours) == cells(probes.lines_textuals_way(widget, crop)), (widget, crop)
                assert [s.cell_length for s in ours] == [crop.width] * crop.height
                checked += 1
        assert checked == 48
        assert "w59" in all_panes[0].output.text  # the answers were there to draw
        assert "漢字" in all_panes[3].output.text and "␛" in all_panes[3].output.text
        assert all_panes[3].reply is all_panes[3].state.thread()[1] and all_panes[3].spans


def test_a_light_strip_does_what_a_strip_does():
    segments = [Segment("ab", Style(bold=True)), Segment("漢字 ", None), Segment("cd e", Style(color="red"))]
    base = Style(bgcolor="blue")
    strips = (Strip(segments), LightStrip(segments))

    def everything(strip: Strip) -> list:
        return [
            strip.cell_length, strip.text, list(strip.crop(1, 6)), list(strip.crop(1, 6)),
            [list(piece) for piece in strip.divide([2, 5, 9])], list(strip.crop_extend(3, 14, base)),
            list(strip.apply_style(base)), list(strip.extend_cell_length(14, base)),
            list(strip.adjust_cell_length(5)), list(strip.simplify()), strip.render(CONSOLE),
            list(strip.apply_offsets(1, 2)), list(strip.crop_pad(12, 1, 1, base)), strip.link_ids,
        ]

    assert everything(strips[1]) == everything(strips[0])
    assert isinstance(strips[1], Strip) and not hasattr(strips[1], "no_such_cache")
    assert LightStrip([], 0).cell_length == 0


@pytest.mark.fast_path
async def test_cached_lines_follow_a_change_of_line_filters(tmp_path):
    """Answers and status lines keep their lines with the line filters applied. The filters change
    without a style update (`App.ansi_color` turns the ANSI-to-truecolour filter on or off): the
    kept lines must follow, as Textual's own drawing does."""
    panes = [saved_pane(prompt=f"p{i}", overrides={"max_tokens": "80"}) for i in range(2)]
    app = make_app(ScriptedBackend(script, delay_s=0.001), session=session_of(panes),
                   session_path=tmp_path / "s.json", theme="ansi-dark")
    async with app.run_test(size=(120, 30)) as pilot:
        all_panes = app.workbench.panes()
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == "done" for p in all_panes), timeout=30)
        await pilot.pause(0.1)
        widgets = list(app.workbench.query(OutputView)) + list(app.workbench.query(StatusLine))
        drawn = {}
        for ansi in (None, False, True):  # the theme's (ANSI: no filter), filter on, filter off
            app.ansi_color = ansi
            await pilot.pause()
            for widget in widgets:
                region = Region(0, 0, *widget.region.size)
                ours = cells(widget.render_lines(region))
                assert widget.plain_frame() is not None  # the plain way is taken
                assert ours == cells(probes.lines_textuals_way(widget, region)), (ansi, widget)
                drawn[(ansi, widget)] = ours
        assert drawn[(None, widgets[0])] != drawn[(False, widgets[0])]  # the filter did change colours
        assert drawn[(None, widgets[0])] == drawn[(True, widgets[0])]


async def test_a_widget_with_a_border_is_drawn_textuals_way(tmp_path):
    app = make_app(ScriptedBackend(script), session=session_of([saved_pane(prompt="p")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(100, 30)) as pilot:
        status = app.workbench.query_one(StatusLine)
        status.styles.border = ("round", "red")
        status.styles.height = 3
        await pilot.pause()
        assert status.plain_frame() is None
        region = Region(0, 0, *status.region.size)
        assert cells(status.render_lines(region)) == cells(probes.lines_textuals_way(status, region))
        assert cells(status.render_lines(region))[0][0][0] == "╭"


@pytest.mark.fast_path
async def test_what_the_terminal_shows_is_a_full_redraw_frame_after_frame(tmp_path):
    """Every update the app sends is applied to a copy of the terminal. After each one, the cells
    of the answers and status lines must equal a full redraw done Textual's way (a region marked
    too late or not at all would show there); at the end, the whole screen must. While the person
    acts (types, scrolls, changes the theme) the check pauses for a moment: those changes go
    through Textual's own refresh, which draws them a frame later by design."""
    compared: list[int] = []
    mismatches: list[str] = []
    checking = [True]

    def streaming_regions(screen) -> list[Region]:
        visible = probes.visible_regions(screen)
        return [(widget, region.intersection(clip)) for widget, (region, clip) in visible.items()
                if isinstance(widget, (OutputView, StatusLine))]

    def check(app, screen) -> None:
        if checking[0] and screen is app.screen and screen is app.workbench:
            full = full_redraw(screen)
            for widget, region in streaming_regions(screen):
                for y in region.line_range:
                    for x in range(region.x, region.right):
                        if terminal.get((x, y)) != full.get((x, y)):
                            mismatches.append(f"update {len(compared)}: {widget!r} cell {(x, y)}")
            compared.append(1)

    async def person(action) -> None:
        checking[0] = False
        action()
        await pilot.pause(0.1)
        checking[0] = True

    with terminal_copy(check) as terminal:
        async with streaming(tmp_path, [600 + 60 * i for i in range(6)], earlier=(1, 3, 5),
                             heat=(0, 3)) as (app, pilot, all_panes):
            for key in "typing":
                await person(lambda: send_key(app, key))
            await person(lambda: all_panes[1].output.scroll_up(animate=False))  # it stops following
            await person(lambda: send_key(app, "alt+right"))
            await wait_until(lambda: all_panes[3].output.line_count > 10)
            await person(lambda: setattr(app, "theme", "panes-light"))  # styles change while streaming
            await wait_until(lambda: all(p.figures.state == "done" for p in all_panes), timeout=30)
            await pilot.pause(0.3)
            full = full_redraw(app.workbench)
    assert len(compared) > 30
    assert mismatches == [], f"{len(mismatches)} cells differ, first: {mismatches[:5]}"
    assert terminal == full


@pytest.mark.fast_path
async def test_typed_text_is_drawn_on_the_next_turns_of_the_loop_while_answers_stream(tmp_path):
    """The prompt editor draws itself as soon as it changes (PromptEditor.refresh): a typed key
    reaches the terminal within a few turns of the event loop, not after Textual's message round
    trips and its screen's update tick (a timer: no number of loop turns alone reaches it)."""
    with terminal_copy() as terminal:
        async with streaming(tmp_path, [1500] * 4) as (app, pilot, all_panes):
            await wait_until(lambda: all(p.output.line_count > 3 for p in all_panes))
            editor = all_panes[0].editor
            region = editor.region
            turns = []
            for key in "QZXJKVWY":
                send_key(app, key)
                for turn in range(1, 200):
                    await asyncio.sleep(0)
                    if key in row_text(terminal, region.y, region.x, region.right):
                        break
                turns.append(turn)
                await pilot.pause(0.05)
            assert all(p.figures.state == "streaming" for p in all_panes)  # typed while answers stream
            send_key(app, "ctrl+k")
    assert editor.text.startswith("QZXJKVWY")
    assert max(turns) <= 8, turns


@pytest.mark.fast_path
@pytest.mark.parametrize("figures", [
    Figures(),
    Figures("queued"),
    Figures("streaming", tokens=12, ttft_ms=20.4, tok_s=351.2),
    Figures("done", tokens=100, ttft_ms=9.0, tok_s=1234.0, finish_reason="length"),
    Figures("cancelled", tokens=3, ttft_ms=250.0, tok_s=12.0),
    Figures("error", message="engine [bold]died[/bold] 漢字 " + "x" * 80),
])
async def test_the_status_line_draws_what_rich_draws(figures, tmp_path):
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt="p")]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        status = app.workbench.query_one(StatusLine)
        base = status.rich_style
        text = status_text(figures)
        for extra in (Text(), Text.assemble(("a", "red"), ("b", "bold"))):  # the second overlaps
            whole = text + extra
            if extra:
                whole.stylize("underline", 0, len(whole.plain))
            for width in (10, 46, 200):
                rich_way = Strip(list(whole.render(app.console))).apply_style(base).crop_extend(0, width, base)
                assert cells([status.text_strip(whole, base, width)]) == cells([rich_way]), (whole, width)
                # and the widget-wide line built in one go (for texts without overlapping spans)
                status.set_text(whole)
                frame = status.plain_frame()
                framed = status._framed_text(frame, width + 2)  # noqa: SLF001 - padding 1 each side
                if extra:
                    assert framed is None  # overlapping spans: Rich's way
                elif cell_len(whole.plain) == len(whole.plain) or cell_len(whole.plain) <= width:
                    assert framed is not None  # (a wide character cut by the crop: Strip's way)
                if framed is not None:
                    # What does not fit is a shorter form, cut at a word (tui/widgets/fit.py)
                    shown = fit([whole], width)
                    shown_rich = Strip(list(shown.render(app.console))).apply_style(base).crop_extend(0, width, base)
                    expected = status.plain_line(frame, shown_rich, width, width + 2)
                    assert cells([framed]) == cells([expected]), (whole, width)


async def test_after_panes_are_added_the_terminal_equals_a_full_redraw(tmp_path):
    """A run, then two new panes (the screen's layout and the compositor's index change), then
    another run: what the terminal shows must equal a full redraw. (The index's column list was
    once not rebuilt with the map: the first pane's editor and settings stayed blank.)"""
    with terminal_copy() as terminal:
        app = make_app(ScriptedBackend(script, delay_s=0.002), session=session_of([saved_pane(prompt="")]),
                       session_path=tmp_path / "s.json")
        async with app.run_test(size=(150, 36)) as pilot:
            await pilot.pause()
            for ch in "key":
                send_key(app, ch)
            await pilot.pause(0.05)
            send_key(app, "ctrl+r")
            all_panes = app.workbench.panes()
            await wait_until(lambda: all(p.figures.state == "done" for p in all_panes), timeout=30)
            await pilot.pause(0.1)
            for count in (2, 3):
                send_key(app, "ctrl+n")
                await wait_until(lambda: len(app.workbench.panes()) == count)
                new_pane = app.workbench.panes()[-1]
                await wait_until(lambda: app.focused is new_pane.editor)
                for ch in "new":
                    send_key(app, ch)
                await wait_until(lambda: new_pane.draft == "new")
            all_panes = app.workbench.panes()
            runs = [p.runs for p in all_panes]
            send_key(app, "ctrl+r")
            await wait_until(lambda: [p.runs for p in all_panes] == [n + 1 for n in runs])
            await wait_until(lambda: not any(p.running for p in all_panes), timeout=30)
            assert [p.figures.state for p in all_panes] == ["done"] * 3
            # the first pane answered its question again (‹ 2/2 ›), the new ones theirs
            assert [len(p.state.thread()) for p in all_panes] == [2, 2, 2]
            assert [p.state.thread()[0].content for p in all_panes] == ["key", "new", "new"]
            assert len(all_panes[0].state.thread()[0].children) == 2
            await pilot.pause(0.3)
            full = full_redraw(app.workbench)
    differ = sorted(k for k in full if terminal.get(k) != full[k])
    assert differ == [], f"{len(differ)} cells differ, first {differ[:5]}"


@pytest.mark.fast_path  # it runs both itself
@pytest.mark.parametrize("theme", ["panes-dark", "panes-light"])
async def test_both_paths_draw_the_same_screen(theme, tmp_path):
    """The same answers on the fast path and on Textual's stock path: every cell of a full redraw
    is the same, but for the engine line, which says on the stock path that it runs."""
    from tui import render

    def session():  # a new one for each app: the panes' states are the app's from then on
        answers = [saved_pane(prompt=f"p{i}", overrides={"max_tokens": str(40 + 70 * i)}) for i in range(3)]
        return session_of([answers[0], saved_pane(prompt="wide", overrides={"max_tokens": "90"}), *answers[1:]])

    screens = {}
    for fast in (True, False):
        try:
            previous = render.use_path(fast)
        except RuntimeError as exc:
            pytest.skip(str(exc))
        try:
            app = make_app(ScriptedBackend(mixed_script, delay_s=0.001), session=session(),
                           session_path=tmp_path / "s.json", theme=theme)
            async with app.run_test(size=(150, 36)) as pilot:
                all_panes = app.workbench.panes()
                all_panes[1].heat = True  # the wide characters' tokens recorded
                send_key(app, "ctrl+r")
                await wait_until(lambda: all(p.figures.state == "done" for p in all_panes), timeout=30)
                await second_turn(app, pilot, heat=(0,))  # heat on a later answer
                move_message_cursor(app, all_panes[1], 3)  # the earlier answer, selected, in heat
                move_message_cursor(app, all_panes[3], 2)  # the second question, selected
                await pilot.pause(0.1)
                assert all_panes[1].reply is all_panes[1].state.thread()[1] and all_panes[1].spans
                assert all_panes[3].state.cursor == all_panes[3].state.thread()[2].id
                for pane in all_panes:  # where a view jumps to depends on the timing of frames
                    pane.redraw()
                all_panes[2].output.scroll_up(animate=False)
                later = all_panes[0].output  # from the earlier answer's end to the later one's start
                later.scroll_to(y=later.line_at(later.base) - 5, animate=False, immediate=True)
                await pilot.pause(0.2)
                still(app)
                await pilot.pause()
                screens[fast] = cells_sent(probes.full_update(app.workbench))
        finally:
            render.use_path(previous)
    engine_line = {fast: row_text(cells, 0, 0, 150) for fast, cells in screens.items()}
    assert "stock drawing" in engine_line[False] and "stock drawing" not in engine_line[True]
    differ = sorted(k for k in screens[True].keys() | screens[False].keys()
                    if k[1] > 0 and screens[True].get(k) != screens[False].get(k))
    assert differ == [], f"{len(differ)} cells differ, first {differ[:5]}"
    shown = "".join(row_text(screens[True], y, 0, 150) for y in range(36))
    assert "w39" in shown and "漢" in shown and "␛" in shown
    assert "› again" in shown and "↳ TTFT 50 ms" in shown  # the threads: a question, an earlier answer's figures


@pytest.mark.fast_path  # about choosing the path, which runs no app
@pytest.mark.parametrize("environ, textual_version, fast, reason", [
    ({}, "8.2.8", True, ""),
    ({}, "8.3.0", False, "Textual 8.3.0: fast path not tested on it"),
    ({"VLLM_PANES_STOCK_RENDER": "1"}, "8.2.8", False, "VLLM_PANES_STOCK_RENDER is set"),
    ({"VLLM_PANES_STOCK_RENDER": "0"}, "8.2.8", True, ""),
])
def test_the_fast_path_runs_only_on_a_tested_textual_unless_told_not_to(environ, textual_version, fast, reason):
    from tui import render

    path = render.choose_path(environ, textual_version)
    assert path.fast is fast and reason in path.why_stock
    assert path.why_stock.startswith("stock drawing") or fast


@pytest.mark.fast_path
def test_the_fast_path_is_refused_on_an_untested_textual(monkeypatch):
    from tui import render

    monkeypatch.setattr(render, "version", lambda name: "9.0.1")
    with pytest.raises(RuntimeError, match="Textual 9.0.1"):
        render.use_path(True)
    assert render.fast()  # unchanged
