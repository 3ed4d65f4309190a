"""The heat view and the token cursor, on the scripted backend (its tokens cycle through every
probability band, see tests/support/scripted.py)."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from textual.geometry import Region

from tests.support.app import make_app, mark_parting, run_with_heat, send_key, wait_until, saved_pane, session_of
from tests.support.scripted import SCRIPTED_PROBABILITIES, ScriptedBackend, echo_script
from tests.support.terminal import cells
from tui.figures import DONE
from tui.core.tokens import BAND_LABELS, TokenSpans, band
from tui.heat import band_styles, contrast_ratio
from tui.render import probes
from tui.session import SessionRecord
from tui.themes import discover_themes

pytestmark = pytest.mark.ui


class Recording(ScriptedBackend):
    """Remembers what each request asked for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[int] = []

    def stream(self, prompt, sampling, request_id, **kwargs):
        self.asked.append(sampling.logprobs)
        return super().stream(prompt, sampling, request_id, **kwargs)


def session(count: int = 1, max_tokens: int = 30) -> SessionRecord:
    return session_of([saved_pane(prompt=f"prompt {i}", overrides={"max_tokens": str(max_tokens)})
                                for i in range(count)])


def background(segments: list[Segment], text: str):
    """The background colour of the segment holding `text`."""
    for segment in segments:
        if text in segment.text:
            return segment.style.bgcolor if segment.style else None
    raise AssertionError(f"{text!r} not drawn in {segments!r}")


async def run_and_wait(app, pilot, pane) -> None:
    send_key(app, "f5")
    await wait_until(lambda: pane.figures.state == DONE, timeout=10)
    await pilot.pause(0.1)


async def test_logprobs_are_asked_for_only_while_the_heat_view_is_on():
    backend = Recording()
    app = make_app(backend, session=session())
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.workbench.panes()[0]
        await run_and_wait(app, pilot, pane)
        assert backend.asked == [0] and len(pane.spans) == 0  # off costs nothing
        send_key(app, "f3")
        await pilot.pause()
        assert pane.heat
        legend = pane.query_one(".pane-legend")
        assert legend.display and "no probabilities recorded" in str(legend.render())
        await run_and_wait(app, pilot, pane)
        assert backend.asked == [0, 5] and len(pane.spans) == 30
        assert all(label in str(legend.render()) for label in BAND_LABELS)
        assert "before temperature/top-p" in str(legend.render())
        send_key(app, "f3")
        await pilot.pause()
        assert not pane.heat and not legend.display


async def test_each_token_is_drawn_in_its_band():
    app = make_app(Recording(), session=session())
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.workbench.panes()[0]
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        styles = band_styles(app.get_css_variables())
        line = list(pane.output.render_line(0))
        pieces = echo_script("prompt 0", app.workbench.defaults().with_values(max_tokens=30))
        plain = pane.output.rich_style.bgcolor  # the most likely tokens keep the answer's background
        for index in range(5):  # one token of each band
            expected = styles[band(SCRIPTED_PROBABILITIES[index])].bgcolor or plain
            assert background(line, pieces[index].strip()) == expected, (index, pieces[index])
        assert styles[0].bgcolor is None and len({s.bgcolor for s in styles}) == 5


@pytest.mark.fast_path
async def test_heat_lines_are_what_textual_draws(tmp_path):
    """The fast path's lines with heat and a cursor are Textual's own, cell by cell."""
    app = make_app(Recording(), session=session(2, 200), session_path=tmp_path / "s.json")
    async with app.run_test(size=(150, 40)) as pilot:
        panes = app.workbench.panes()
        for pane in panes:
            pane.heat = True
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in panes), timeout=10)
        panes[1].enter_token_cursor()
        panes[1].move_token_cursor(3)
        await pilot.pause(0.1)
        for pane in panes:
            widget = pane.output
            width, height = widget.region.size
            for crop in (Region(0, 0, width, height), Region(3, 0, width - 7, height)):
                assert cells(widget.render_lines(crop)) == cells(probes.lines_textuals_way(widget, crop))


async def test_the_token_cursor_moves_and_shows_the_alternatives():
    app = make_app(Recording(), session=session(1, 200))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.workbench.panes()[0]
        send_key(app, "f4")
        await pilot.pause()
        assert pane.token_cursor is None  # nothing recorded yet: a notice, no cursor
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        pane.output.scroll_to(y=0, animate=False, immediate=True)
        send_key(app, "f4")
        await pilot.pause()
        assert pane.token_cursor == 0 and pane.output.has_focus
        panel = pane.query_one(".pane-token")
        assert panel.display
        send_key(app, "right")
        send_key(app, "right")
        await pilot.pause()
        assert pane.token_cursor == 2
        text = str(panel.render())
        assert text.startswith("token 3 of 200")
        assert "p 0.300" in text and "← chosen" in text and "perplexity" in text
        assert len([line for line in text.splitlines() if line.startswith(("  1 ", "  2 "))]) == 2
        send_key(app, "down")  # a line down: the first token of the next line
        await pilot.pause()
        below = pane.token_cursor
        assert below > 2 and pane.output.lines_of(below)[0] == pane.output.lines_of(2)[0] + 1
        send_key(app, "end")
        await pilot.pause()
        assert pane.token_cursor == 199
        last_line = pane.output.lines_of(199)[-1]
        assert pane.output.scroll_y <= last_line < pane.output.scroll_y + pane.output.size.height  # in view
        send_key(app, "home")
        await pilot.pause()
        assert pane.token_cursor == 0 and pane.output.scroll_y == 0
        send_key(app, "escape")  # leaves the cursor; does not cancel anything
        await pilot.pause()
        assert pane.token_cursor is None and not panel.display and pane.figures.state == DONE


async def test_shift_f3_turns_heat_on_in_every_pane():
    app = make_app(Recording(), session=session(3))
    async with app.run_test(size=(150, 30)) as pilot:
        send_key(app, "shift+f3")
        await pilot.pause()
        assert all(p.heat for p in app.workbench.panes())
        send_key(app, "shift+f3")
        await pilot.pause()
        assert not any(p.heat for p in app.workbench.panes())


def every_theme() -> list[str]:
    from textual.theme import BUILTIN_THEMES

    themes, _ = discover_themes()
    return sorted(BUILTIN_THEMES) + sorted(t.name for t in themes)


@pytest.mark.parametrize("theme", every_theme())
async def test_the_scale_reads_in_every_built_in_theme(theme):
    """Four tints that differ, each with text at WCAG AA contrast (the tints are made from the
    theme's own colours, so a new theme is checked here too)."""
    from textual.color import Color

    app = make_app(theme=theme)
    async with app.run_test(size=(80, 20)):
        styles = band_styles(app.get_css_variables())
    tinted = styles[1:]
    assert len({s.bgcolor for s in tinted}) == 4
    if theme.startswith("ansi"):
        return  # the terminal's palette: its colours are not known here
    for style in tinted:
        ratio = contrast_ratio(Color.from_rich_color(style.color), Color.from_rich_color(style.bgcolor))
        assert ratio >= 4.5, (theme, style)


def test_spans_give_each_token_its_share():
    from tui.engine.logprobs import TokenLogprob

    def token(text):
        return TokenLogprob(1, text, -0.1, 1)

    spans = TokenSpans()
    spans.add("Hello", [token("Hel"), token("lo")])
    spans.add(" world\t", [token(" world\t")])
    spans.add("!!", [token("?"), token("!!")])  # pieces that do not add up: all to the last
    spans.add("", None)
    assert [spans.span(i) for i in range(len(spans))] == [(0, 3), (3, 5), (5, 15), (15, 15), (15, 17)]
    assert [i for i, _, _ in spans.within(4, 16)] == [1, 2, 4]  # the empty one is not drawn
    assert spans.index_at(4) == 1 and spans.index_at(17) is None


async def test_fork_at_a_token_and_at_an_alternative_and_forks_of_forks():
    backend = Recording()
    app = make_app(backend, session=session(1, 40))
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        (first,) = await run_with_heat(app, timeout=10)
        first.enter_token_cursor()
        first.move_token_cursor(3)
        await pilot.pause()
        token = first.spans.tokens[3]
        send_key(app, "2")  # the second most likely alternative
        await wait_until(lambda: len(bench.panes()) == 2 and bench.panes()[1].figures.state == DONE, timeout=10)
        fork = bench.panes()[1]
        assert bench.panes()[0] is first  # beside it, after it
        before = [t.token_id for t in first.spans.tokens[:3]]
        expected = [ord(c) for c in first.prompt] + before + [token.top[1].token_id]
        assert backend.sent_ids[-1] == expected == fork.fork.ids
        assert fork.prompt_ids == expected  # what the backend says it got
        assert fork.border_title.startswith(f"2 · fork of 1 @ 4 {token.top[1].text.strip()}")
        assert fork.prompt == f"{first.prompt}\n↳ {first.answer[:first.spans.span(3)[0]]}{token.top[1].text}"
        assert fork.heat and len(fork.spans) == 40
        # a fork of the fork, at its first token, with the token itself (enter)
        fork.enter_token_cursor()
        fork.move_token_cursor(0)
        send_key(app, "enter")
        await wait_until(lambda: len(bench.panes()) == 3 and bench.panes()[2].figures.state == DONE, timeout=10)
        assert backend.sent_ids[-1] == expected + [fork.spans.tokens[0].token_id]
        # editing a fork's prompt makes it a text prompt again
        second = bench.panes()[2]
        second.editor.text = "something else"
        await pilot.pause()
        assert second.fork is None
        # titles are refreshed once after the next screen refresh (coalesced); under load, later
        await wait_until(lambda: "fork" not in second.border_title, timeout=5)


async def test_fork_without_token_ids_says_why():
    class NoIds(Recording):
        async def stream(self, prompt, sampling, request_id, **kwargs):
            async for delta in super().stream(prompt, sampling, request_id, **kwargs):
                delta.prompt_ids = None
                yield delta

    app = make_app(NoIds(), session=session(1, 10))
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.workbench.panes()[0]
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        pane.enter_token_cursor()
        send_key(app, "enter")
        await pilot.pause()
        assert len(app.workbench.panes()) == 1
        assert pane.fork_point(None) == "the backend did not give the token ids a fork needs"


async def test_sessions_keep_recorded_tokens_heat_and_forks(tmp_path):
    from tui.session import load_session, save_session

    app = make_app(Recording(), session=session(1, 40))
    async with app.run_test(size=(200, 40)):
        bench = app.workbench
        (first,) = await run_with_heat(app, timeout=10)
        first.enter_token_cursor()
        first.move_token_cursor(3)
        send_key(app, "2")
        await wait_until(lambda: len(bench.panes()) == 2 and bench.panes()[1].figures.state == DONE, timeout=10)
        saved = [(p.spans.ends[:], [t.token_id for t in p.spans.tokens], p.prompt_ids, p.fork, p.heat)
                 for p in bench.panes()]
        save_session(bench.session_record(), tmp_path / "session.json")
    record, notice = load_session(tmp_path / "session.json")
    assert notice is None
    backend = Recording()
    app = make_app(backend, session=record)
    async with app.run_test(size=(200, 40)):
        panes = app.workbench.panes()
        restored = [(p.spans.ends, [t.token_id for t in p.spans.tokens], p.prompt_ids, p.fork, p.heat)
                    for p in panes]
        assert restored == saved
        assert panes[1].border_title.startswith("2 · fork of 1 @ 4")
        assert "perplexity" not in str(panes[0].query_one(".pane-legend").render())  # the legend's scale
        assert all(label in str(panes[0].query_one(".pane-legend").render()) for label in BAND_LABELS)
        # a restored answer can be forked again: its prompt ids came back too
        panes[0].enter_token_cursor()
        panes[0].move_token_cursor(5)
        send_key(app, "enter")
        await wait_until(lambda: len(app.workbench.panes()) == 3 and backend.sent_ids, timeout=10)
        assert backend.sent_ids[-1] == saved[0][2] + saved[0][1][:6]


@pytest.mark.parametrize("change, field", [
    (lambda t: t.update(logprob=0.5), "panes[0].token_logprobs[0].logprob"),
    (lambda t: t.update(end=10_000), "panes[0].token_logprobs[0].end"),
    (lambda t: t.update(id=-3), "panes[0].token_logprobs[0].id"),
    (lambda t: t.update(top=[{"text": "x", "id": 1, "logprob": "high"}]), "panes[0].token_logprobs[0].top[0].logprob"),
    (lambda t: t.update(colour="red"), "panes[0].token_logprobs[0].colour"),
])
def test_a_hand_edited_token_is_named_and_the_file_kept(tmp_path, change, field):
    import json

    from tui.session import SESSION_VERSION, load_session

    token = {"text": "a", "id": 1, "logprob": -0.5, "rank": 1, "top": [], "end": 1}
    change(token)
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"version": SESSION_VERSION, "panes": [
        {"prompt": "p", "output": "abc", "token_logprobs": [token]}]}))
    record, notice = load_session(path)
    assert record is None and field in notice and "moved to" in notice
    assert not path.exists() and len(list(tmp_path.iterdir())) == 1  # moved aside, not lost


async def test_export_carries_the_tokens():
    app = make_app(Recording(), session=session(2, 12))
    async with app.run_test(size=(160, 30)):
        bench = app.workbench
        bench.panes()[0].heat = True
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in bench.panes()), timeout=10)
        rows = bench.comparison()
    from tui.export import to_json, to_markdown

    assert len(rows[0].token_logprobs) == 12 and rows[1].token_logprobs is None
    first = rows[0].token_logprobs[0]
    assert set(first) == {"text", "id", "logprob", "rank", "top"} and len(first["top"]) == 5
    assert "12 tokens · mean logprob" in to_markdown(rows, "m") and "not recorded" in to_markdown(rows, "m")
    assert '"token_logprobs"' in to_json(rows, "m")


def test_parting_by_tokens_and_by_words():
    from tui.divergence import part
    from tui.engine.logprobs import TokenLogprob

    def spans(pieces):
        result = TokenSpans()
        for piece in pieces:
            result.add(piece, [TokenLogprob(hash(piece) % 1000, piece, -0.1, 1)])
        return result

    a = spans(["The ", "cat ", "sat ", "on ", "the ", "mat"])
    b = spans(["The ", "cat ", "lay ", "on ", "a ", "mat"])
    result = part(a, "The cat sat on the mat", b, "The cat lay on a mat")
    assert result.by_tokens and result.place == 3 and result.a.token == 2
    assert result.a.first == (8, 12) and result.b.first == (8, 12)
    assert result.a.later == [a.span(4)] and result.b.later == [b.span(4)]
    assert part(a, "", a, "") is None  # the same answer
    words = part(TokenSpans(), "The cat sat on the mat", TokenSpans(), "The cat lay on a mat")
    assert not words.by_tokens and words.place == 3
    assert words.a.first == (8, 11) and words.a.later == [(15, 18)] and words.b.later == [(15, 16)]
    shorter = part(TokenSpans(), "The cat", TokenSpans(), "The cat sat")
    assert shorter.a.first is None and shorter.b.first == (8, 11)


async def test_f6_marks_where_two_panes_part():
    panes = [saved_pane(prompt="same prompt", overrides={"max_tokens": "20", "seed": str(seed)}) for seed in (1, 2)]
    app = make_app(Recording(), session=session_of(panes))
    async with app.run_test(size=(200, 40)) as pilot:
        a, b = await run_with_heat(app, timeout=10)
        await mark_parting(app, pilot, a, b)
        ids_a = [t.token_id for t in a.spans.tokens]
        ids_b = [t.token_id for t in b.spans.tokens]
        first = next(i for i, (x, y) in enumerate(zip(ids_a, ids_b)) if x != y)
        assert a.spans.tokens[first].text == "1 " and b.spans.tokens[first].text == "2 "  # the seeds
        assert (*a.spans.span(first), "part") in a.output.marks
        assert (*b.spans.span(first), "part") in b.output.marks
        line = str(a.query_one(".pane-parting").render())
        assert line.startswith(f"parts from pane 2 at token {first + 1}: here 1␣ (p ")
        assert "pane 2 has 2␣, not in the top 5 here" in line
        drawn = "".join(s.text for s in a.output.render_line(a.output.lines_of(first)[0])
                        if s.style and s.style.reverse and s.style.bold)
        assert "1" in drawn  # drawn bold, reversed
        send_key(app, "f6")  # again: the marks go
        await pilot.pause()
        assert a.output.marks == [] and b.output.marks == [] and not a.query_one(".pane-parting").display


def test_byte_pieces_read_as_the_character_they_join_into():
    from tui.engine.logprobs import TokenLogprob
    from tui.widgets.token_panel import shown_piece

    spans = TokenSpans()
    # "é" split over two byte tokens: the first decodes to U+FFFD and brings no text of its own,
    # the second brings the whole character to the answer
    spans.add("", [TokenLogprob(1, "\ufffd", -0.1, 1)])
    spans.add("é", [TokenLogprob(2, "\ufffd", -0.1, 1)])
    assert shown_piece("\ufffd", spans, 1, "é") == "é"
    assert shown_piece("\ufffd", spans, 0, "é") == "\ufffd (a piece of the next character)"
    assert shown_piece(" the", spans, 1, "é") == " the"
