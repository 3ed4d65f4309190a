"""The workbench's compositor renders only the widgets that own changed cells; what it sends to the
terminal must be exactly what Textual's own compositor would send, update by update."""

from __future__ import annotations

import contextlib
import re

import pytest
from rich.cells import cell_len
from rich.console import Console
from rich.segment import ControlType
from textual._compositor import Compositor

import tui.screens.workbench as workbench_module
from tui.engine.scripted import ScriptedBackend
from tui.session import PaneRecord, SessionRecord
from tui.testing import make_app, send_key, wait_until
from tui.widgets.compositor import ChangedCellsCompositor


class CheckedCompositor(ChangedCellsCompositor):
    """Computes every partial update twice: Textual's way, then ours, and records differences."""

    console = Console(force_terminal=True, color_system="truecolor", width=200, legacy_windows=False)
    updates: list[tuple[dict, dict]] = []
    renders: list[int] = []
    sent: list[bool] = []  # the escape sequences a real terminal gets are the same

    def render_partial_update(self):
        regions = set(self._dirty_regions)
        reference = Compositor.render_partial_update(self)  # Textual's own (consumes the regions)
        self._dirty_regions.update(regions)
        calls = [0]
        original = self._get_renders

        def counted(crop=None):
            for render in original(crop):
                calls[0] += 1
                yield render

        self._get_renders = counted
        try:
            ours = super().render_partial_update()
        finally:
            del self._get_renders
        if reference is None or ours is None:
            assert reference is None and ours is None
            return ours
        self.updates.append((cells_written(reference, self.console), cells_written(ours, self.console)))
        self.sent.append(sent(reference, self.console) == sent(ours, self.console))
        self.renders.append(calls[0])
        return ours


def sent(update, console: Console) -> str:
    """The escape sequences a real terminal gets for an update (Textual's driver writes this),
    less cursor moves that write nothing (Textual's own compositor makes some for cells outside
    the changed spans)."""
    return re.sub(r"\x1b\[\d+;\d+H(?=\x1b\[\d+;\d+H|\n|$)", "", update.render_segments(console))


_ESCAPE = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


def cells_sent(update, console: Console) -> dict[tuple[int, int], tuple[str, str]]:
    """What an update does to a real terminal: its escape sequences as Textual's driver writes them
    (`render_segments`), applied cell by cell (character and the colour/attribute sequence in
    force). `cells_written` reads the update as a Rich renderable instead, which writes whole
    segments where the terminal path crops them to the changed cells."""
    cells = {}
    x = y = 0
    sgr = ""
    text = update.render_segments(console)
    position = 0
    for match in _ESCAPE.finditer(text + "\x1b[0m"):
        for char in text[position:match.start()]:
            if char != "\n":  # every line of an update starts with a cursor move
                cells[(x, y)] = (char, sgr)
                x += cell_len(char)
        position = match.end()
        parameters, command = match.groups()
        if command == "H":
            row, column = (int(n) for n in parameters.split(";"))
            x, y = column - 1, row - 1
        elif command == "m":
            sgr = "" if parameters in ("", "0") else parameters
    return cells


def cells_written(update, console: Console) -> dict[tuple[int, int], tuple[str, object]]:
    """What an update does to the terminal: the character and style it leaves in each cell
    (moves that write nothing, and how strips are split into segments, do not count)."""
    cells = {}
    x = y = 0
    for segment in console.render(update):
        if segment.control:
            for control in segment.control:
                if control[0] == ControlType.CURSOR_MOVE_TO:
                    x, y = control[1], control[2]
            continue
        if segment.text == "\n":
            continue
        for char in segment.text:
            cells[(x, y)] = (char, segment.style)
            x += cell_len(char)
    return cells


def script(prompt: str, sampling) -> list[str]:
    # Lines of different lengths and paragraph breaks: wrapping, new lines and view jumps.
    pieces = []
    for i in range(int(sampling["max_tokens"])):
        pieces.append(f"w{i}" + ("\n\n" if i % 23 == 22 else "\n" if i % 11 == 10 else " "))
    return pieces


@contextlib.asynccontextmanager
async def streaming(tmp_path, lengths: list[int]):
    """The workbench with a pane per answer length (`script`, a delta every 2 ms), run until the
    first answer has a few lines: yields (app, pilot, panes) while the answers stream."""
    panes = [PaneRecord(prompt=f"prompt {i}", overrides={"max_tokens": str(n)}) for i, n in enumerate(lengths)]
    app = make_app(ScriptedBackend(script, delay_s=0.002), session=SessionRecord(panes=panes),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        all_panes = app.workbench.panes()
        await pilot.pause()
        send_key(app, "ctrl+r")
        await wait_until(lambda: all_panes[0].output.line_count > 3)
        yield app, pilot, all_panes


@pytest.fixture
def checked(monkeypatch):
    CheckedCompositor.updates = []
    CheckedCompositor.renders = []
    CheckedCompositor.sent = []
    monkeypatch.setattr(workbench_module, "ChangedCellsCompositor", CheckedCompositor)
    return CheckedCompositor


async def test_partial_updates_equal_textuals_own_while_panes_stream_and_the_person_works(checked, tmp_path):
    async with streaming(tmp_path, [400 + 50 * i for i in range(5)]) as (app, pilot, all_panes):
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
        assert all_panes[0].prompt == "typingprompt 0"  # typed at the cursor, before the text
    assert len(checked.updates) > 30
    different = [i for i, (reference, ours) in enumerate(checked.updates) if reference != ours]
    assert different == [], f"{len(different)} of {len(checked.updates)} updates differ"
    assert checked.sent.count(False) == 0 and len(checked.sent) == len(checked.updates)
    # and it is cheaper: Textual's own renders every widget on screen, 40 or more, each update
    assert sorted(checked.renders)[len(checked.renders) // 2] <= 12, checked.renders
