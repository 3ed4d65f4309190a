"""Every answer stays on screen through any sequence of terminal resizes, on both render paths.

A resize changes each answer's width (it is wrapped again) and its height, often in several steps:
the panes are laid out at the new size in the grid of the old one first, then in their new grid,
and a terminal being dragged sends many sizes. After each, an answer that follows its end shows
the end, and one the person scrolled up in shows what they were reading. (A person reported
panes gone blank after 200×50 → 100×30 → 200×50: Textual clamped the scroll to the new size
before the view placed itself again, so the view took itself for scrolled up, kept line numbers
of the old wrapping, and pointed past a shorter text.)
"""

from __future__ import annotations

import asyncio

import pytest

from tui.figures import DONE
from tui.session import SessionRecord
from tests.support.app import saved_pane, session_of

from tests.support.app import make_app, send_key, wait_until
from tests.support.scripted import ScriptedBackend
from tests.support.terminal import terminal_copy
from tests.support.views import answer_problem, drawn_rows, shows_end, terminal_rows

pytestmark = [pytest.mark.ui, pytest.mark.draws]

REPORTED = (92, 71, 22)  # the answers' lengths in tokens, as reported
LONG = 400  # an answer longer than any view here: scrolled to its top, it does not follow


def session(lengths) -> SessionRecord:
    return session_of([saved_pane(prompt=f"p{i}", overrides={"max_tokens": str(n)})
                                for i, n in enumerate(lengths)])


def misplaced(pane, rows: list[str] | None, reading: dict, where: str = "") -> str | None:
    """What is wrong with the rows shown of a pane's answer (None: nothing, or no rows in sight):
    its end, or for a pane scrolled up, the word that was at the top (`reading`), at the top."""
    if rows is None:
        return None
    word = reading.get(pane.number)
    ok = shows_end(rows, pane.output.text) if word is None else bool(rows) and word in rows[0].split()
    return None if ok else f"pane {pane.number}{where} ({'end' if word is None else word!r}): {rows}"


async def settled(predicate, pilot) -> None:
    """`predicate()` (a list of problems) comes to nothing once the resize is through, and stays so."""
    try:
        await wait_until(lambda: not predicate(), timeout=5)
    except AssertionError:
        pass
    await pilot.pause(0.05)
    assert predicate() == []


async def check_all(app, pilot, terminal, reading: dict) -> None:
    """Each pane shows its end, or what was read (`misplaced`), in its own drawing and on the
    terminal, and draws the lines of its answer as they are wrapped (`answer_problem`)."""
    panes = app.workbench.panes()
    await settled(lambda: [p for p in (misplaced(pane, drawn_rows(pane.output), reading) for pane in panes) if p],
                  pilot)
    await settled(lambda: [p for p in (misplaced(pane, terminal_rows(terminal, pane.output), reading,
                                                 " on the terminal") for pane in panes) if p], pilot)
    assert [answer_problem(pane.output) for pane in panes] == [None] * len(panes)


async def finished(app, pilot, *, to_top=(), scroll_up=()):
    """Run every pane to its end; scroll the panes numbered in `to_top` to their top and
    those in `scroll_up` a third of the way down. Returns {pane number: word at its top}."""
    panes = app.workbench.panes()
    send_key(app, "ctrl+r")
    await wait_until(lambda: all(p.figures.state == DONE for p in panes))
    await pilot.pause()
    reading = {}
    for pane in panes:
        view = pane.output
        if pane.number in to_top:
            view.scroll_home(animate=False, immediate=True)
        elif pane.number in scroll_up:
            view.scroll_to(y=view.line_count // 3, animate=False, immediate=True)
        else:
            continue
        await pilot.pause()
        assert not view.following  # the answer is longer than the view: this is scrolled up
        reading[pane.number] = drawn_rows(view)[0].split()[0]
    return reading


SEQUENCES = {
    "reported": [(100, 30), (200, 50), (100, 30), (200, 50)],
    "smaller and smaller": [(80, 24), (60, 20), (200, 50)],
    "lower only, then narrower only": [(200, 24), (200, 50), (120, 50), (200, 50)],
}


@pytest.mark.parametrize("sizes", SEQUENCES.values(), ids=SEQUENCES.keys())
async def test_answers_stay_in_view_through_resizes(sizes, tmp_path):
    lengths = (*REPORTED, LONG, LONG)  # the last two scrolled up: one to its top, one a third down
    app = make_app(ScriptedBackend(), session=session(lengths), session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(200, 50)) as pilot:
            reading = await finished(app, pilot, to_top={4}, scroll_up={5})
            assert reading[4] == "›"  # the question line, at the top of the thread
            for size in sizes:
                await pilot.resize_terminal(*size)
                await check_all(app, pilot, terminal, reading)


async def test_answers_stay_in_view_through_rapid_resizes(tmp_path):
    """Sizes that arrive one after the other, before the views have placed themselves for the
    last one (a terminal being dragged)."""
    lengths = (*REPORTED, LONG)
    app = make_app(ScriptedBackend(), session=session(lengths), session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(200, 50)) as pilot:
            reading = await finished(app, pilot, scroll_up={4})
            for sizes in ([(100, 30), (200, 50), (100, 30)], [(80, 24), (60, 20), (150, 40), (200, 50)],
                          [(190, 48), (170, 44), (150, 40), (130, 36), (110, 32), (100, 30)],
                          [(110, 32), (130, 36), (150, 40), (170, 44), (190, 48), (200, 50)]):
                await asyncio.gather(*(pilot.resize_terminal(*size) for size in sizes))
                await check_all(app, pilot, terminal, reading)


async def test_a_grid_of_answers_stays_in_view_through_resizes(tmp_path):
    """Seven panes: a grid of rows that share the height, or of rows that scroll (the answers out
    of sight are checked in their own drawing)."""
    lengths = (300, 92, 71, 22, 150, 40, 10)
    app = make_app(ScriptedBackend(), session=session(lengths), session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(200, 50)) as pilot:
            reading = await finished(app, pilot, to_top={1}, scroll_up={5})
            for size in [(100, 30), (200, 50), (120, 40), (90, 30), (200, 50), (160, 40), (200, 50)]:
                await pilot.resize_terminal(*size)
                await check_all(app, pilot, terminal, reading)


async def test_streaming_answers_follow_their_end_through_resizes(tmp_path):
    lengths = (LONG, 300, 200)
    app = make_app(ScriptedBackend(delay_s=0.002), session=session(lengths), session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(200, 50)) as pilot:
            panes = app.workbench.panes()
            send_key(app, "ctrl+r")
            for size in [(100, 30), (200, 50), (80, 24), (60, 20), (200, 50), (100, 30)]:
                await wait_until(lambda: panes[0].tokens_received > 0)
                await pilot.resize_terminal(*size)
                # While they stream, their own drawing (the terminal is a frame behind it).
                await settled(lambda: [p for p in (answer_problem(pane.output) for pane in panes) if p], pilot)
            await wait_until(lambda: all(p.figures.state == DONE for p in panes))
            await check_all(app, pilot, terminal, {})


async def test_a_one_row_view_shows_the_last_line_of_its_answer(tmp_path):
    """A terminal 10 rows high leaves each answer one row: the view jumps a line at a time, and
    the row shows the last line (it used to jump one past it, and show nothing)."""
    app = make_app(ScriptedBackend(delay_s=0.002), session=session((LONG,)), session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(100, 40)) as pilot:
            pane = app.workbench.panes()[0]
            await finished(app, pilot)
            await pilot.resize_terminal(100, 10)
            await settled(lambda: [] if pane.output.size.height == 1 else ["not one row yet"], pilot)
            await check_all(app, pilot, terminal, {})
            send_key(app, "f5")  # again, streamed into the one row
            await wait_until(lambda: pane.figures.state != DONE)
            await wait_until(lambda: pane.output.line_count > 3)
            assert answer_problem(pane.output) is None
            await wait_until(lambda: pane.figures.state == DONE)
            await check_all(app, pilot, terminal, {})


async def test_text_that_arrives_during_a_resize_is_placed_for_the_new_size(tmp_path):
    """Answers stream while the layout changes: text can reach a view after Textual has given it
    its new size and before the view has placed itself for it. It is placed then, for the new
    size: placed for the old height, a view that grew took itself for scrolled up, and stopped
    following its answer."""
    app = make_app(ScriptedBackend(), session=session((LONG,)), session_path=tmp_path / "s.json")
    async with app.run_test(size=(100, 20)) as pilot:
        view = app.workbench.panes()[0].output
        await finished(app, pilot)
        assert view.following
        small = view.size
        late = [" ".join(f"late{i}" for i in range(n, n + 100)) + " " for n in (0, 100)]

        def after_layout(screen) -> None:  # called by each layout, before the views hear of it
            if view.size != small and late:
                view.append(late.pop(0))

        app.screen.screen_layout_refresh_signal.subscribe(app.screen, after_layout, immediate=True)
        await pilot.resize_terminal(100, 40)  # taller, and still lower than the answer
        await settled(lambda: [p for p in [answer_problem(view)] if p], pilot)
        assert not late and view.line_count > view.size.height  # it arrived, in two layouts
        assert view.following and shows_end(drawn_rows(view), view.text)
        assert view.text.split()[-1] == "late199"
        view.append("after the resize " * 40)  # followed still
        await pilot.pause()
        assert view.following and shows_end(drawn_rows(view), view.text)


async def test_an_empty_message_box_squeezed_to_its_padding_draws_instead_of_ending_the_app():
    """The key storm squeezed a pane's box to its padding: Textual wrapped the placeholder to a
    width of 0, and Rich's wrap raised (the app ended)."""
    from textual.app import App
    from textual.geometry import Region

    from tui.widgets.pane import PromptEditor

    class Squeezed(App):
        CSS = "PromptEditor { width: 2; }"

        def compose(self):
            yield PromptEditor(placeholder="A message: f5 sends")

    app = Squeezed()
    async with app.run_test(size=(20, 8)) as pilot:
        await pilot.pause()
        editor = app.query_one(PromptEditor)
        width, height = editor.outer_size
        assert width == 2 and editor.content_size.width == 0
        assert [strip.cell_length for strip in editor.render_lines(Region(0, 0, width, height))] == [2] * height


async def test_the_pane_typed_in_stays_in_view_through_a_resize(tmp_path):
    """A new user typed in the third pane (the grid's second row), made the terminal smaller, and
    kept typing into a pane out of view: the grid stayed scrolled to its first row."""
    app = make_app(ScriptedBackend(), session=session_of([saved_pane(prompt=f"p{i}") for i in range(6)]),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 45)) as pilot:
        panes = app.workbench.panes()
        panes[4].editor.focus()
        await pilot.pause()
        for size in ((90, 24), (30, 12), (45, 13), (160, 45)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            container = app.workbench.panes_container
            assert container.region.contains_region(panes[4].editor.region), size


async def test_a_place_read_is_kept_through_a_size_that_shows_the_whole_answer(tmp_path):
    """A view scrolled up to read, resized to a size with room for all of its answer (the grid
    laid out again shows a pane wide for a moment), then back: it showed its end. Where all of
    the text is in view it shows its end whether the person reads or follows, and took itself for
    following from then on; the place read was lost at the next resize (the key storm found it)."""
    app = make_app(ScriptedBackend(), session=session((120,)), session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(60, 20)) as pilot:
            reading = await finished(app, pilot, scroll_up={1})
            for size in ((200, 50), (60, 20), (200, 50), (70, 22)):
                await pilot.resize_terminal(*size)
                await check_all(app, pilot, terminal, reading if size[1] < 50 else {})
