"""The one gate for outside text (tui/text.py), and surfaces that the fault tests do not reach:
notifications, the status line, the engine line and the batch summary."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.batch import run_batch
from tui.engine.params import Sampling
from tui.figures import ERROR, Figures
from tui.session import SessionRecord
from tui.terminal import Terminal
from tui.text import one_line, printable, without_credentials

from tests.support.app import make_app, wait_until, saved_pane, session_of
from tests.support.fault_server import ESCAPES
from tests.support.scripted import ScriptedBackend
from tests.support.terminal import row_text, terminal_copy

UNSAFE = set(map(chr, [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]))


@given(st.text())
def test_printable_leaves_no_control_character_and_always_encodes(text):
    shown = printable(text)
    assert not (set(shown) & UNSAFE)
    shown.encode("utf-8")  # lone surrogates are gone too
    assert len(shown) == len(text)  # one symbol for one character: positions stay


@given(st.text(), st.integers(min_value=2, max_value=400))
def test_one_line_is_one_short_safe_line(text, limit):
    line = one_line(text, limit)
    assert "\n" not in line and "\t" not in line and len(line) <= limit
    assert not (set(line) & UNSAFE)


def test_one_line_of_anything():
    class Hostile:
        def __str__(self):
            raise RuntimeError("no")

    assert one_line(Hostile()) == "<Hostile>"
    assert one_line(ValueError(f"bad {ESCAPES}\nthing")) == "bad ␛]0;pwned␇␛[2J thing"


@pytest.mark.parametrize("url, shown", [
    ("http://user:secret@gpu-box:8000/v1", "http://gpu-box:8000/v1"),
    ("https://token@host/v1", "https://host/v1"),
    ("http://user:p@ss@host:1/v1", "http://host:1/v1"),
    ("http://[::1]:8000/v1", "http://[::1]:8000/v1"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
])
def test_credentials_are_taken_out_of_urls(url, shown):
    assert without_credentials(url) == shown
    assert "secret" not in one_line(f"cannot reach {url}")


@pytest.mark.ui
async def test_notifications_status_lines_and_the_engine_line_show_outside_text_as_text(tmp_path):
    app = make_app(ScriptedBackend(model=f"model{ESCAPES}[bold]"), session=session_of([
        saved_pane(prompt="p", state=ERROR, message=f"the server said {ESCAPES} [red]x[/")]),
        session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(160, 30), notifications=True) as pilot:
            app.notify(f"[bold]{ESCAPES}[/", title=f"[i]{ESCAPES}")  # malformed markup: never parsed
            app.workbench.notify(f"from a widget {ESCAPES}")
            await pilot.pause(0.3)
            pane = app.workbench.panes()[0]
            assert pane.figures.message == "the server said ␛]0;pwned␇␛[2J [red]x[/"
            await wait_until(lambda: "model␛]0;pwned" in row_text(terminal, 0, 0, 160))
            shown = "".join(row_text(terminal, y, 0, 160) for y in range(30))
            assert "[bold]␛]0;pwned␇␛[2J[/" in shown and "from a widget ␛" in shown
            assert "error: the server said ␛]0;pwned␇␛[2J [red]x[/" in shown
    assert not any(char in ("\x1b", "\x07") for char, _ in terminal.values())


async def test_the_batch_summary_shows_a_file_name_as_text(tmp_path):
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"prompt": "a", "max_tokens": 3}\n')
    out = tmp_path / f"out{ESCAPES}.jsonl"
    term = Terminal(out=io.StringIO(), err=io.StringIO(), log_path=None)
    code = await run_batch(ScriptedBackend(), batch, Sampling(), term, output=out)
    assert code == 0 and out.exists()
    assert "\x1b" not in term.err.getvalue() and "out␛]0;pwned" in term.err.getvalue()


def test_figures_of_a_failed_run_carry_the_message_as_given():
    assert Figures(ERROR, message="x").line() == "error · x"
