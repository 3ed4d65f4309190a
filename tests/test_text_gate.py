"""The one gate for outside text (tui/text.py), and surfaces that the fault tests do not reach:
notifications, the status line, the engine line and the batch summary."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tui.batch import run_batch
from tui.core.output_format import Verdict
from tui.engine.params import Sampling
from tui.figures import DONE, ERROR, Figures
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


EVIL = f"{ESCAPES}[bold]"  # escape sequences and markup, as a model, a server or a file may send them
SHOWN = "␛]0;pwned␇␛[2J[bold]"  # how the gate shows them: as text


def hostile_thread():
    """A pane's thread of two turns as a session file may hold it: every question, answer, target
    name and finish reason with escape sequences and markup in it."""
    from tui.core.conversation import ASSISTANT, USER, Reply
    from tui.engine.protocol import LOCAL, Target

    state = saved_pane(f"first question {EVIL}", output=f"earlier answer {EVIL}\nits second line", state=DONE,
                       target=Target(LOCAL, "scripted-model"))
    earlier = state.thread()[1]
    earlier.reply.target = Target("127.0.0.1:8000", f"server-model{EVIL}")
    earlier.reply.figures = Figures(DONE, tokens=4, ttft_ms=50.0, tok_s=100.0, finish_reason=f"stop{EVIL}")
    earlier.reply.verdict = Verdict(False, f"✗ not JSON{EVIL}", f"a file's reason{EVIL}")
    question = state.conversation.add(earlier, USER, f"second question {EVIL}")
    state.conversation.add(question, ASSISTANT, f"last answer {EVIL}",
                           Reply(figures=Figures(DONE, tokens=3, finish_reason=f"length{EVIL}")))
    return state


@pytest.mark.draws
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
            status = pane.query_one(".pane-status").text.plain
            assert status == "error: the server said ␛]0;pwned␇␛[2J [red]x[/"
            expected = ("model␛]0;pwned", "[bold]␛]0;pwned␇␛[2J[/", "from a widget ␛",
                        "error: the server said ␛]0;pwned␇␛[2J [red]x[/")

            def shown() -> str:
                return "".join(row_text(terminal, y, 0, 160) for y in range(30))

            try:  # the stock drawing path may draw the toasts a frame or two later
                await wait_until(lambda: all(text in shown() for text in expected), timeout=5)
            except AssertionError:
                pass  # said below, with what is missing
            assert [text for text in expected if text not in shown()] == []
    assert not any(char in ("\x1b", "\x07") for char, _ in terminal.values())


@pytest.mark.draws
@pytest.mark.ui
async def test_a_thread_shows_its_questions_earlier_answers_and_their_figures_as_text(tmp_path):
    """Questions, an earlier answer, the figures line under it (a server's model name, a finish
    reason) and the last answer's status, all from a file: text on the screen, never sequences
    for the terminal or markup."""
    app = make_app(ScriptedBackend(), session=session_of([hostile_thread()]), session_path=tmp_path / "s.json")
    with terminal_copy() as terminal:
        async with app.run_test(size=(200, 30)) as pilot:
            await pilot.pause(0.3)
            pane = app.workbench.panes()[0]
            # an earlier answer's verdict stays under it (the status line has the last answer's)
            figures = (f"↳ server-model{SHOWN} @127.0.0.1:8000 · TTFT 50 ms · 4 tok · 100 tok/s · stop{SHOWN}"
                       f" · ✗ not JSON{SHOWN}")
            assert pane.output.text == (f"› first question {SHOWN}\n\nearlier answer {SHOWN}\nits second line\n"
                                        f"{figures}\n\n› second question {SHOWN}\n\nlast answer {SHOWN}")
            assert pane.query_one(".pane-status").text.plain == f"done · 3 tok · length{SHOWN}"
            rows = [row_text(terminal, y, 0, 200) for y in range(30)]
            for line in (f"› first question {SHOWN}", f"earlier answer {SHOWN}", figures,
                         f"› second question {SHOWN}", f"last answer {SHOWN}", f"done · 3 tok · length{SHOWN}"):
                assert any(line in row for row in rows), line
            # the message cursor on the earlier answer: its figures go to the status line, as text,
            pane.editor.focus()
            for _ in range(3):
                app.simulate_key("alt+up")
            await pilot.pause(0.3)
            assert pane.reply is pane.state.thread()[1]
            # written elsewhere than the pane's target: "stale", with the server's model name
            status = (f"stale (written by server-model{SHOWN} @127.0.0.1:8000) · "
                      f"done · TTFT 50 ms · 4 tok · 100 tok/s · stop{SHOWN} · ✗ not JSON{SHOWN}")
            assert pane.query_one(".pane-status").text.plain == status
            await wait_until(lambda: any(status in row_text(terminal, y, 0, 200) for y in range(30)))
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
