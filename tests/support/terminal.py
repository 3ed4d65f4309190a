"""What reaches the terminal: the cells an update writes, a copy of the terminal kept from every
update the app sends, and a full redraw done Textual's way to compare it with."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from rich.cells import cell_len
from rich.console import Console
from rich.segment import ControlType

from tui.render import probes

from tests.support.app import make_app, send_key, wait_until, saved_pane, session_of
from tests.support.scripted import ScriptedBackend

CONSOLE = Console(force_terminal=True, color_system="truecolor", width=200, legacy_windows=False)
Cells = dict[tuple[int, int], tuple[str, object]]

_ESCAPE = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])")


def cells(strips) -> list[list[tuple[str, object]]]:
    """Each strip as (character, style) per cell: how strips are split into segments does not count."""
    return [[(char, segment.style) for segment in strip for char in segment.text] for strip in strips]


def sent(update, console: Console = CONSOLE) -> str:
    """The escape sequences a real terminal gets for an update (Textual's driver writes this),
    less cursor moves that write nothing (Textual's own compositor makes some for cells outside
    the changed spans)."""
    return re.sub(r"\x1b\[\d+;\d+H(?=\x1b\[\d+;\d+H|\n|$)", "", update.render_segments(console))


def cells_sent(update, console: Console = CONSOLE) -> Cells:
    """What an update does to a real terminal: its escape sequences as Textual's driver writes them
    (`render_segments`), applied cell by cell (character and the colour/attribute sequence in
    force). `cells_written` reads the update as a Rich renderable instead, which writes whole
    segments where the terminal path crops them to the changed cells."""
    result = {}
    x = y = 0
    sgr = ""
    text = update.render_segments(console)
    position = 0
    for match in _ESCAPE.finditer(text + "\x1b[0m"):
        for char in text[position:match.start()]:
            if char != "\n":  # every line of an update starts with a cursor move
                result[(x, y)] = (char, sgr)
                x += cell_len(char)
        position = match.end()
        parameters, command = match.groups()
        if command == "H":
            row, column = (int(n) for n in parameters.split(";"))
            x, y = column - 1, row - 1
        elif command == "m":
            sgr = "" if parameters in ("", "0") else parameters
    return result


def cells_written(update, console: Console = CONSOLE) -> Cells:
    """What an update does to the terminal: the character and style it leaves in each cell
    (moves that write nothing, and how strips are split into segments, do not count)."""
    result = {}
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
            result[(x, y)] = (char, segment.style)
            x += cell_len(char)
    return result


@contextlib.contextmanager
def terminal_copy(after_update=None) -> Iterator[Cells]:
    """A copy of the terminal: every update the app writes is applied to it (the app runs
    headless), then `after_update(app, screen)` is called."""
    terminal: Cells = {}

    def on_update(app, screen, update) -> None:
        terminal.update(cells_sent(update))
        if after_update is not None:
            after_update(app, screen)

    with probes.updates_written(on_update):
        yield terminal


def full_redraw(screen) -> Cells:
    """What the terminal would show after a full redraw done Textual's way, cell by cell."""
    return cells_sent(probes.full_update_textuals_way(screen))


def row_text(terminal: Cells, y: int, x1: int, x2: int) -> str:
    return "".join(terminal.get((x, y), (" ",))[0] for x in range(x1, x2))


def script(prompt: str, sampling) -> list[str]:
    """Lines of different lengths and paragraph breaks: wrapping, new lines and view jumps."""
    pieces = []
    for i in range(int(sampling["max_tokens"])):
        pieces.append(f"w{i}" + ("\n\n" if i % 23 == 22 else "\n" if i % 11 == 10 else " "))
    return pieces


def mixed_script(prompt: str, sampling) -> list[str]:
    """Plain words, or (prompt "wide") wide characters, control characters and tabs as well."""
    if prompt != "wide":
        return script(prompt, sampling)
    pieces = ["漢字", "かな ", "\x1b[31m", "red? ", "\t", "tab ", "é", "🙂 ", "w" * 70, " end\n"]
    return (pieces * 40)[: int(sampling["max_tokens"])]


@contextlib.asynccontextmanager
async def streaming(tmp_path, lengths: list[int], earlier: tuple[int, ...] = (), heat: tuple[int, ...] = ()):
    """The workbench with a pane per answer length (`script`, a delta every 2 ms), run until the
    first answer has a few lines: yields (app, pilot, panes) while the answers stream. The panes
    numbered in `earlier` (0-based) have a turn already, which their answer follows in the thread;
    those in `heat` record their tokens and colour them."""
    panes = [thread_pane(f"prompt {i}", earlier=i in earlier, overrides={"max_tokens": str(n)}, heat=i in heat)
             for i, n in enumerate(lengths)]
    app = make_app(ScriptedBackend(script, delay_s=0.002), session=session_of(panes),
                   session_path=tmp_path / "s.json")
    async with app.run_test(size=(160, 40)) as pilot:
        all_panes = app.workbench.panes()
        await pilot.pause()
        send_key(app, "ctrl+r")
        await wait_until(lambda: all_panes[0].output.line_count > 3)
        yield app, pilot, all_panes


def thread_pane(draft: str, *, earlier: bool = True, **settings):
    """A pane's state whose next run sends `draft`: after an earlier turn (a question and its done
    answer of a few lines, with its figures) when `earlier`, else as its first message."""
    from tui.figures import Figures

    if not earlier:
        return saved_pane(draft, **settings)
    answer = "".join(script("", {"max_tokens": 30}))
    state = saved_pane("an earlier question", output=answer, state="done", **settings)
    state.thread()[1].reply.figures = Figures("done", tokens=30, ttft_ms=50.0, tok_s=100.0, finish_reason="length")
    state.draft = draft
    return state
