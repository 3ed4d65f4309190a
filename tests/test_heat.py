"""The heat view and the token cursor, on the scripted backend (its tokens cycle through every
probability band, see tests/support/scripted.py)."""

from __future__ import annotations

import pytest
from rich.segment import Segment
from textual.geometry import Region

from tests.support.app import make_app, mark_parting, run_with_heat, send_key, type_prompt, wait_until, saved_pane, session_of
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

    def stream(self, request):
        self.asked.append(request.sampling.logprobs)
        return super().stream(request)


def session(count: int = 1, max_tokens: int = 30) -> SessionRecord:
    return session_of([saved_pane(prompt=f"prompt {i}", overrides={"max_tokens": str(max_tokens)})
                                for i in range(count)])


def background(segments: list[Segment], text: str):
    """The background colour of the segment holding `text`."""
    for segment in segments:
        if text in segment.text:
            return segment.style.bgcolor if segment.style else None
    raise AssertionError(f"{text!r} not drawn in {segments!r}")


def drawn(view, line: int) -> list[Segment]:
    """The segments of line `line` of a view's text, as drawn where the view is scrolled now."""
    return list(view.render_line(line - round(view.scroll_y)))


async def run_and_wait(app, pilot, pane) -> None:
    send_key(app, "f5")
    await wait_until(lambda: pane.figures.state == DONE, timeout=10)
    await pilot.pause(0.1)


async def test_logprobs_are_asked_for_only_while_the_heat_view_is_on():
    backend = Recording()
    app = make_app(backend, session=session())
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.workbench.panes()[0]
        await run_and_wait(app, pilot, pane)  # sends the draft
        first = pane.reply
        assert backend.asked == [0] and len(pane.spans) == 0  # off costs nothing
        send_key(app, "f3")
        await pilot.pause()
        assert pane.heat
        legend = pane.query_one(".pane-legend")
        assert legend.display and "no probabilities recorded" in str(legend.render())
        await run_and_wait(app, pilot, pane)  # nothing typed: a new answer to the same question
        assert pane.reply is not first and pane.reply.parent is first.parent
        assert backend.asked == [0, 5] and len(pane.spans) == 30 and len(first.reply.tokens) == 0
        assert "‹ 2/2 ›" in pane.query_one(".pane-status").text.plain
        assert all(label in str(legend.render()) for label in BAND_LABELS)
        assert "before temperature/top-p" in str(legend.render())
        send_key(app, "f3")
        await pilot.pause()
        assert not pane.heat and not legend.display


@pytest.mark.draws
async def test_each_token_is_drawn_in_its_band():
    app = make_app(Recording(), session=session())
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.workbench.panes()[0]
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        styles = band_styles(app.get_css_variables())
        view = pane.output
        assert view.text == "› prompt 0\n\n" + pane.answer and view.base == len("› prompt 0\n\n")
        line = drawn(view, view.line_at(view.base))  # the answer's first line, under the question
        pieces = echo_script("prompt 0", app.workbench.defaults().with_values(max_tokens=30))
        plain = view.rich_style.bgcolor  # the most likely tokens keep the answer's background
        for index in range(5):  # one token of each band
            expected = styles[band(SCRIPTED_PROBABILITIES[index])].bgcolor or plain
            assert background(line, pieces[index].strip()) == expected, (index, pieces[index])
        assert styles[0].bgcolor is None and len({s.bgcolor for s in styles}) == 5
        question = drawn(view, 0)  # the question is the person's text: never coloured by probability
        assert background(question, "prompt 0") == plain and background(question, "›") == plain


@pytest.mark.fast_path
async def test_heat_lines_are_what_textual_draws(tmp_path):
    """The fast path's lines with heat and a cursor are Textual's own, cell by cell: in a long
    answer, and in threads of two turns (styled questions, an earlier answer's dim figures line,
    the message cursor on a question or on the earlier answer, heat on the answer shown)."""
    counts = (30, 200, 30)
    panes = [saved_pane(prompt=f"prompt {i}", overrides={"max_tokens": str(n)}) for i, n in enumerate(counts)]
    app = make_app(Recording(), session=session_of(panes), session_path=tmp_path / "s.json")
    async with app.run_test(size=(150, 40)) as pilot:
        panes = app.workbench.panes()
        for pane in panes:
            pane.heat = True
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in panes), timeout=10)
        for pane in (panes[0], panes[2]):
            pane.set_draft("and then?")
            app.workbench.run_pane(pane)
        await wait_until(lambda: all(len(p.state.thread()) == 4 and p.figures.state == DONE
                                     for p in (panes[0], panes[2])), timeout=10)
        panes[1].enter_token_cursor()
        panes[1].move_token_cursor(3)
        for pane, steps in ((panes[0], 2), (panes[2], 3)):  # on the second question; on the first answer
            pane.editor.focus()
            for _ in range(steps):
                send_key(app, "alt+up")
        await pilot.pause(0.1)
        assert panes[0].state.cursor == panes[0].state.thread()[2].id
        assert panes[2].reply is panes[2].state.thread()[1]
        for pane in panes:
            widget = pane.output
            width, height = widget.region.size
            assert widget.line_count < height or pane is panes[1]  # the whole thread in view
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
        assert pane.token_cursor == 0 and pane.output.has_focus  # the answer's first token, not the question
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
        first_line = pane.output.line_at(pane.output.base)  # under the question
        assert pane.token_cursor == 0 and pane.output.lines_of(0)[0] == first_line == 2
        assert pane.output.scroll_y == 0  # in view, with its question above it
        send_key(app, "escape")  # leaves the cursor; does not cancel anything
        await pilot.pause()
        assert pane.token_cursor is None and not panel.display and pane.figures.state == DONE


async def test_the_heat_view_and_the_token_cursor_act_on_the_answer_under_the_message_cursor():
    """In a thread of two turns the heat view colours the answer shown (the last one), not the
    earlier one; with the message cursor on the earlier answer, the heat view, the status line,
    the token cursor and a fork are about that one."""
    backend = Recording()
    app = make_app(backend, session=session(1, 12))
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.workbench.panes()[0]
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        pane.set_draft("and then?")
        await run_and_wait(app, pilot, pane)
        q1, a1, q2, a2 = pane.state.thread()
        view = pane.output
        footer = "↳ TTFT 50 ms · 12 tok · 100 tok/s · length"
        assert view.text == f"› prompt 0\n\n{a1.content}\n{footer}\n\n› and then?\n\n{a2.content}"
        assert pane.reply is a2 and view.base == view.text.index(a2.content) and pane.answer == a2.content
        styles = band_styles(app.get_css_variables())
        plain = view.rich_style.bgcolor
        pieces = {m.id: echo_script(q.content, app.workbench.defaults().with_values(max_tokens=12))
                  for q, m in ((q1, a1), (q2, a2))}
        token = 3  # a token in the 5–20% band, tinted
        tinted = styles[band(SCRIPTED_PROBABILITIES[token])].bgcolor
        later, earlier = drawn(view, view.line_at(view.base)), drawn(view, view.line_at(0) + 2)
        assert background(later, pieces[a2.id][token].strip()) == tinted
        assert background(earlier, pieces[a1.id][token].strip()) == plain  # not the answer shown
        figures_line = drawn(view, view.line_at(view.text.index(footer)))
        assert all(s.style.dim for s in figures_line if s.text.strip())  # the earlier answer's figures, dim
        for _ in range(3):  # the message cursor: the last answer, its question, the earlier answer
            send_key(app, "alt+up")
        await pilot.pause()
        assert pane.state.cursor == a1.id and pane.reply is a1 and pane.answer == a1.content
        assert view.base == len("› prompt 0\n\n") and pane.spans is a1.reply.tokens
        later, earlier = drawn(view, view.line_at(view.text.index(a2.content))), drawn(view, 2)
        assert background(earlier, pieces[a1.id][token].strip()) == tinted
        assert background(later, pieces[a2.id][token].strip()) == plain
        send_key(app, "f4")
        await pilot.pause()
        panel = pane.query_one(".pane-token")
        assert pane.token_cursor == 0 and str(panel.render()).startswith("token 1 of 12")
        pane.move_token_cursor(5)
        send_key(app, "enter")
        await wait_until(lambda: len(app.workbench.panes()) == 2, timeout=10)
        fork = app.workbench.panes()[1]
        await wait_until(lambda: fork.figures.state == DONE, timeout=10)
        ids = [t.token_id for t in a1.reply.tokens.tokens]
        assert backend.sent[-1].prompt_ids == a1.reply.prompt_ids + ids[:6]
        assert [m.content for m in fork.state.thread()[:-1]] == ["prompt 0"]  # the earlier turn's branch
        assert fork.answer.startswith(a1.content[:a1.reply.tokens.span(5)[1]])
        assert fork.border_title.startswith("2 · fork of 1 @ 6")
        await type_prompt(pilot, fork, "and then?")  # a follow-up: the thread is still the fork's
        send_key(app, "f5")
        await wait_until(lambda: fork.runs == 2 and fork.figures.state == DONE, timeout=10)
        await pilot.pause()
        assert fork.reply.reply.origin is None and fork.border_title.startswith("2 · fork of 1 @ 6")
        pane.editor.focus()
        send_key(app, "escape")  # the message cursor goes: the last answer is shown again
        await pilot.pause()
        assert pane.state.cursor is None and pane.reply is a2


async def test_alt_h_turns_heat_on_in_every_pane():
    app = make_app(Recording(), session=session(3))
    async with app.run_test(size=(150, 30)) as pilot:
        app.workbench.panes()[1].heat = True  # on in some: alt+h turns it on in all
        send_key(app, "alt+h")
        await pilot.pause()
        assert all(p.heat for p in app.workbench.panes())
        send_key(app, "alt+h")
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


@pytest.mark.parametrize("theme", [name for name in every_theme() if name.startswith(("ansi", "panes-dark"))])
async def test_the_token_panel_draws_in_every_kind_of_theme(theme):
    """The chosen alternative's bar is in the theme's accent: an ANSI theme's is a Textual colour
    name ('ansi_green') that Rich cannot read: drawing the panel crashed the app (the real
    engine's key storm, seed STORM_SEED + 1, chose ansi-dark in the palette, then pressed f4)."""
    app = make_app(Recording(), session=session(1, 20), theme=theme)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.workbench.panes()[0]
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        send_key(app, "f4")
        await pilot.pause()
        panel = pane.query_one(".pane-token")
        assert pane.token_cursor == 0 and panel.display
        chosen = next(line for line in panel.render().split() if "← chosen" in line.plain)
        (bar,) = [span for span in chosen.spans if set(chosen.plain[span.start:span.end]) <= set("█▏▎▍▌▋▊▉")]
        assert app.console.get_style(bar.style).color is not None  # a colour Rich can draw


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


async def fork_at(app, pane, index: int, key: str):
    """Fork `pane`'s shown answer at token `index` (`key`: enter for the token itself, a digit for
    an alternative); the fork pane, once its answer is done."""
    bench = app.workbench
    before = list(bench.panes())
    pane.enter_token_cursor()
    pane.move_token_cursor(index)
    send_key(app, key)
    await wait_until(lambda: len(bench.panes()) == len(before) + 1, timeout=10)
    (fork,) = [p for p in bench.panes() if p not in before]
    # Its last text reaches the view with the flush after the run ended (a loaded machine: later).
    await wait_until(lambda: fork.figures.state == DONE and not fork.pending, timeout=10)
    return fork


async def test_a_fork_is_a_branch_that_starts_with_its_parents_tokens_and_forks_of_forks():
    backend = Recording()
    app = make_app(backend, session=session(1, 40))
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        (first,) = await run_with_heat(app, timeout=10)
        parent_ids = first.reply.reply.prompt_ids
        assert parent_ids == [ord(c) for c in backend.sent[0].text()]  # the prompt as the engine got it
        token = first.spans.tokens[3]
        fork = await fork_at(app, first, 3, "2")  # the second most likely alternative at token 4
        chosen = token.top[1]
        assert bench.panes() == [first, fork]  # beside it, after it
        before = [t.token_id for t in first.spans.tokens[:3]]
        request = backend.sent[-1]
        expected = parent_ids + before + [chosen.token_id]
        # the request sends the parent's prompt ids, its tokens before the cursor and the chosen one
        assert request.prompt_ids == expected == fork.reply.reply.given_ids == backend.sent_ids[-1]
        assert fork.reply.reply.prompt_ids == expected  # what the backend says it got
        assert fork.reply.reply.question_ids == parent_ids and fork.reply.reply.forced == 4
        # a branch of the parent's thread: the same question, then the fork's answer
        assert request.messages == ({"role": "user", "content": "prompt 0"},)
        assert [m.content for m in fork.state.thread()[:-1]] == ["prompt 0"]
        assert fork.number == 2 and fork.border_title.startswith(f"2 · fork of 1 @ 4 {chosen.text.strip()}")
        # its answer begins with the given text (the parent's answer up to the token, then the
        # chosen one), then what the model wrote from there
        given = first.answer[:first.spans.span(3)[0]] + chosen.text
        sampling = app.workbench.defaults().with_values(max_tokens=40)
        assert fork.answer == given + "".join(echo_script("prompt 0", sampling))
        assert fork.output.text == "› prompt 0\n\n" + fork.answer
        assert [t.token_id for t in fork.spans.tokens[:4]] == before + [chosen.token_id]
        assert fork.spans.span(3) == (first.spans.span(3)[0], len(given))
        assert fork.heat and len(fork.spans) == 4 + 40  # the given tokens, then the 40 it wrote
        assert first.answer == "".join(echo_script("prompt 0", sampling))  # the parent is untouched
        # a fork of the fork, past its given tokens, with the token itself (enter)
        second = await fork_at(app, fork, 6, "enter")
        fork_ids = [t.token_id for t in fork.spans.tokens]
        assert backend.sent[-1].prompt_ids == parent_ids + fork_ids[:7]
        assert second.answer.startswith(fork.answer[:fork.spans.span(6)[1]])
        assert second.border_title.startswith("3 · fork of 2 @ 7")
        assert bench.panes() == [first, fork, second]
        # and one within the fork's given tokens, at its first
        third = await fork_at(app, fork, 0, "enter")
        assert backend.sent[-1].prompt_ids == parent_ids + [fork_ids[0]]
        assert third.reply.reply.forced == 1 and third.answer.startswith(fork.spans.tokens[0].text)


async def test_a_fork_regenerated_keeps_its_given_start_and_a_follow_up_sends_its_whole_answer():
    backend = Recording()
    app = make_app(backend, session=session(1, 20))
    async with app.run_test(size=(200, 40)) as pilot:
        (first,) = await run_with_heat(app, timeout=10)
        fork = await fork_at(app, first, 3, "1")
        given_ids, given = fork.reply.reply.given_ids, fork.answer[:fork.spans.span(3)[1]]
        old = fork.reply
        fork.editor.focus()
        send_key(app, "alt+r")  # a new answer from the same given tokens; the old one is kept
        await wait_until(lambda: fork.reply is not old and fork.figures.state == DONE, timeout=10)
        await pilot.pause(0.1)
        assert backend.sent[-1].prompt_ids == given_ids and fork.answer.startswith(given)
        assert fork.reply.reply.forced == 4 and len(fork.spans) == 4 + 20
        assert fork.reply.reply.origin == old.reply.origin and fork.reply.parent is old.parent
        assert "‹ 2/2 ›" in fork.query_one(".pane-status").text.plain
        # a follow-up: the thread as text, the fork's answer whole (its given start included)
        fork.set_draft("and then?")
        send_key(app, "f5")
        await wait_until(lambda: len(fork.state.thread()) == 4 and fork.figures.state == DONE, timeout=10)
        request = backend.sent[-1]
        assert request.prompt_ids is None
        assert [(m["role"], m["content"]) for m in request.messages] == [
            ("user", "prompt 0"), ("assistant", fork.state.thread()[1].content), ("user", "and then?")]
        assert fork.state.thread()[1].content.startswith(given)
        assert fork.reply.reply.origin is None and fork.reply.reply.forced == 0  # a new answer, not a fork
        await pilot.pause(0.1)
        # The title is about the thread shown: a new user lost sight of the fork once it had a
        # follow-up, when the title was about the last answer only.
        assert fork.border_title.startswith("2 · fork of 1 @ 4")


async def test_fork_without_token_ids_says_why():
    class NoIds(Recording):
        async def stream(self, request):
            async for delta in super().stream(request):
                delta.prompt_ids = None
                yield delta

    app = make_app(NoIds(), session=session(1, 10))
    async with app.run_test(size=(160, 30)) as pilot:
        notices = []
        original = app.notify
        app.notify = lambda message, **kw: (notices.append(message), original(message, **kw))
        pane = app.workbench.panes()[0]
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        pane.enter_token_cursor()
        send_key(app, "enter")
        await pilot.pause()
        assert len(app.workbench.panes()) == 1
        assert notices == ["Cannot fork here: the backend did not give the token ids a fork needs."]


async def test_sessions_keep_recorded_tokens_heat_and_forks(tmp_path):
    from tui.session import load_session, save_session

    def kept(pane):
        reply = pane.reply.reply
        return (pane.number, pane.spans.ends[:], [t.token_id for t in pane.spans.tokens], reply.prompt_ids,
                reply.given_ids, reply.forced, reply.forced_chars, reply.origin, pane.answer, pane.heat)

    app = make_app(Recording(), session=session(1, 40))
    async with app.run_test(size=(200, 40)):
        bench = app.workbench
        (first,) = await run_with_heat(app, timeout=10)
        await fork_at(app, first, 3, "2")
        saved = [kept(p) for p in bench.panes()]
        written = bench.session_record()
        save_session(written, tmp_path / "session.json")
    record, notice = load_session(tmp_path / "session.json")
    assert notice is None and record.to_data() == written.to_data()
    backend = Recording()
    app = make_app(backend, session=record)
    async with app.run_test(size=(200, 40)):
        panes = app.workbench.panes()
        assert [kept(p) for p in panes] == saved
        assert panes[1].border_title.startswith("2 · fork of 1 @ 4")
        assert "perplexity" not in str(panes[0].query_one(".pane-legend").render())  # the legend's scale
        assert all(label in str(panes[0].query_one(".pane-legend").render()) for label in BAND_LABELS)
        # a restored answer can be forked again: its prompt ids came back too
        await fork_at(app, panes[0], 5, "enter")
        assert backend.sent[-1].prompt_ids == saved[0][3] + saved[0][2][:6]
        # and a restored fork, past its given tokens: from its question's ids, not its own given ones
        await fork_at(app, panes[1], 5, "enter")
        assert backend.sent[-1].prompt_ids == saved[0][3] + saved[1][2][:6]
        assert [p.number for p in app.workbench.panes()] == [1, 3, 2, 4]  # each beside its parent; new numbers


@pytest.mark.parametrize("change, field", [
    (lambda t: t.update(logprob=[0.5]), "tokens[0].logprob"),
    (lambda t: t.update(end=[10_000]), "tokens[0].end"),
    (lambda t: t.update(id=[-3]), "tokens[0].id"),
    (lambda t: t.update(top=[[[1, "x", "high"]]]), "tokens[0].top[0][2]"),
    (lambda t: t.update(top=[[[1, "x"]]]), "tokens[0].top[0]"),
    (lambda t: t.update(rank=[]), "tokens.rank"),
    (lambda t: t.update(colour=["red"]), "tokens.colour"),
])
def test_a_hand_edited_token_is_named_and_the_file_kept(tmp_path, change, field):
    import json

    from tui.engine.logprobs import Alternative, TokenLogprob
    from tui.session import load_session

    pane = saved_pane("p", output="abc", state=DONE)
    pane.thread()[1].reply.tokens.add("a", [TokenLogprob(1, "a", -0.5, 1, (Alternative(1, "a", -0.5),))])
    data = session_of([pane]).to_data()
    change(data["panes"][0]["conversation"]["messages"][1]["reply"]["tokens"])
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    record, notice = load_session(path)
    assert record is None and f"panes[0].conversation.messages[1].reply.{field}:" in notice
    assert "moved to" in notice
    assert not path.exists() and len(list(tmp_path.iterdir())) == 1  # moved aside, not lost


@pytest.mark.parametrize("change, field", [
    (lambda t: t.update(logprob=0.5), "panes[0].token_logprobs[0].logprob"),
    (lambda t: t.update(end=10_000), "panes[0].token_logprobs[0].end"),
    (lambda t: t.update(id=-3), "panes[0].token_logprobs[0].id"),
    (lambda t: t.update(top=[{"text": "x", "id": 1, "logprob": "high"}]), "panes[0].token_logprobs[0].top[0].logprob"),
    (lambda t: t.update(colour="red"), "panes[0].token_logprobs[0].colour"),
])
def test_a_hand_edited_token_of_a_version_1_session_is_named_and_the_file_kept(tmp_path, change, field):
    import json

    from tui.session import load_session

    token = {"text": "a", "id": 1, "logprob": -0.5, "rank": 1, "top": [], "end": 1}
    change(token)
    path = tmp_path / "session.json"
    path.write_text(json.dumps({"version": 1, "panes": [
        {"prompt": "p", "output": "abc", "token_logprobs": [token]}]}))
    record, notice = load_session(path)
    assert record is None and field in notice and "moved to" in notice
    assert not path.exists() and len(list(tmp_path.iterdir())) == 1  # moved aside, not lost


async def test_export_carries_the_tokens_of_every_answer():
    import json
    import math

    from tui.export import to_json, to_markdown

    app = make_app(Recording(), session=session(2, 12))
    async with app.run_test(size=(160, 30)):
        bench = app.workbench
        first, second = bench.panes()
        first.heat = True
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(p.figures.state == DONE for p in bench.panes()), timeout=10)
        first.set_draft("and then?")  # a second turn, with its own tokens
        first.editor.focus()
        send_key(app, "f5")
        await wait_until(lambda: len(first.state.thread()) == 4 and first.figures.state == DONE, timeout=10)
        rows = bench.comparison()
    answers = [m for m in first.state.thread() if m.is_reply]
    data = json.loads(to_json(rows, "m"))
    replies = data["panes"][0]["replies"]
    assert [r["message_id"] for r in replies] == [m.id for m in answers]
    for reply, answer in zip(replies, answers):
        tokens = reply["tokens_recorded"]
        assert set(tokens) == {"text", "id", "logprob", "rank", "end", "top"}
        assert tokens["id"] == [t.token_id for t in answer.reply.tokens.tokens] and len(tokens["id"]) == 12
        assert tokens["end"] == answer.reply.tokens.ends and "".join(tokens["text"]) == answer.content
        assert all(len(top) == 5 for top in tokens["top"])
    mean = sum(math.log(SCRIPTED_PROBABILITIES[i % 5]) for i in range(12)) / 12
    assert replies[0]["mean_logprob"] == pytest.approx(mean, abs=1e-6)
    assert data["panes"][1]["replies"][0]["tokens_recorded"] is None  # heat off: none recorded
    assert data["panes"][1]["replies"][0]["mean_logprob"] is None
    markdown = to_markdown(rows, "m")
    assert markdown.count(f"12 tokens recorded · mean logprob {mean:.3f}") == 2  # each answer of pane 1
    assert markdown.count("tokens recorded") == 2  # and none for pane 2


def test_parting_by_tokens_and_by_words():
    from tui.divergence import find_divergence
    from tui.engine.logprobs import TokenLogprob

    ids: dict[str, int] = {}  # one id per piece, the same in every run (hash() of a str is not)

    def spans(pieces):
        result = TokenSpans()
        for piece in pieces:
            result.add(piece, [TokenLogprob(ids.setdefault(piece, len(ids)), piece, -0.1, 1)])
        return result

    a = spans(["The ", "cat ", "sat ", "on ", "the ", "mat"])
    b = spans(["The ", "cat ", "lay ", "on ", "a ", "mat"])
    result = find_divergence(a, "The cat sat on the mat", b, "The cat lay on a mat")
    assert result.by_tokens and result.place == 3 and result.a.token == 2
    assert result.a.first == (8, 12) and result.b.first == (8, 12)
    assert result.a.later == [a.span(4)] and result.b.later == [b.span(4)]
    assert find_divergence(a, "", a, "") is None  # the same answer
    words = find_divergence(TokenSpans(), "The cat sat on the mat", TokenSpans(), "The cat lay on a mat")
    assert not words.by_tokens and words.place == 3
    assert words.a.first == (8, 11) and words.a.later == [(15, 18)] and words.b.later == [(15, 16)]
    shorter = find_divergence(TokenSpans(), "The cat", TokenSpans(), "The cat sat")
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
        # the marks are where the answer is in the view's text, under its question
        base = len("› same prompt\n\n")
        assert a.output.base == b.output.base == base
        start, end = a.spans.span(first)
        assert (start + base, end + base, "part") in a.output.marks
        assert a.output.text[start + base:end + base] == "1 "
        assert (*(x + base for x in b.spans.span(first)), "part") in b.output.marks
        line = str(a.query_one(".pane-parting").render())
        assert line.startswith(f"parts from pane 2 at token {first + 1}: here 1␣ (p ")
        assert "pane 2 has 2␣, not in the top 5 here" in line
        drawn_line = drawn(a.output, a.output.lines_of(first)[0])
        marked = "".join(s.text for s in drawn_line if s.style and s.style.reverse and s.style.bold)
        assert marked == "1 "  # drawn bold, reversed: that token only
        send_key(app, "f6")  # again: the marks go
        await pilot.pause()
        assert a.output.marks == [] and b.output.marks == [] and not a.query_one(".pane-parting").display


async def test_f6_between_a_fork_and_its_origin_names_the_forks_token():
    """A fork parts from its origin where it chose another token: token 4 here, not token 1 (its
    answer starts with the origin's tokens, given, not sampled)."""
    from tui.text import token_text

    app = make_app(Recording(), session=session(1, 30))
    async with app.run_test(size=(200, 40)) as pilot:
        (origin,) = await run_with_heat(app, timeout=10)
        fork = await fork_at(app, origin, 3, "2")
        mine, chosen = origin.spans.tokens[3], fork.spans.tokens[3]
        assert chosen.token_id == mine.top[1].token_id
        await mark_parting(app, pilot, origin, fork)
        here = str(origin.query_one(".pane-parting").render())
        there = str(fork.query_one(".pane-parting").render())
        assert here == (f"parts from pane 2 at token 4: here {token_text(mine.text, 16)} (p {mine.probability:.3f}); "
                        f"pane 2 has {token_text(chosen.text, 16)}, p {chosen.probability:.3f} here")
        assert there.startswith(f"parts from pane 1 at token 4: here {token_text(chosen.text, 16)} (p ")
        assert there.endswith(f"pane 1 has {token_text(mine.text, 16)}, not in the top 5 here")
        for pane in (origin, fork):
            start, end = pane.spans.span(3)
            assert (start + pane.output.base, end + pane.output.base, "part") in pane.output.marks
        assert origin.spans.span(3)[0] == fork.spans.span(3)[0]  # the same place in both answers


async def test_f6_compares_the_answers_shown_in_threads():
    """Two panes with two turns each: the later answers are compared, and marked where they are in
    the thread; with the message cursor on the earlier answers, those are."""
    panes = [saved_pane(prompt="same prompt", overrides={"max_tokens": "20", "seed": str(seed)}) for seed in (1, 2)]
    app = make_app(Recording(), session=session_of(panes))
    async with app.run_test(size=(200, 40)) as pilot:
        a, b = await run_with_heat(app, timeout=10)
        send_key(app, "alt+a")  # the message box: one message to both panes
        await pilot.pause()
        app.workbench.composer.editor.text = "tell me more"
        send_key(app, "ctrl+r")
        await wait_until(lambda: all(len(p.state.thread()) == 4 and p.figures.state == DONE for p in (a, b)),
                         timeout=10)
        assert app.workbench.composer.text == ""
        await mark_parting(app, pilot, a, b)
        later = a.state.thread()[3]
        assert a.reply is later and a.output.text.endswith("› tell me more\n\n" + later.content)
        base = a.output.base
        assert base == a.output.text.rindex("› tell me more") + len("› tell me more\n\n")
        first = next(i for i, (x, y) in enumerate(zip(a.spans.tokens, b.spans.tokens)) if x.token_id != y.token_id)
        assert first == 7  # "You asked: tell me more. With seed 1"
        start, end = a.spans.span(first)
        assert (start + base, end + base, "part") in a.output.marks
        assert a.output.text[start + base:end + base] == "1 "
        line = str(a.query_one(".pane-parting").render())
        assert line.startswith(f"parts from pane 2 at token {first + 1}: here 1␣")
        send_key(app, "f6")  # the marks go
        await pilot.pause()
        for pane in (a, b):  # the message cursor up to the earlier answer (the last answer, its question, …)
            pane.editor.focus()
            for _ in range(3):
                send_key(app, "alt+up")
            await pilot.pause()
            assert pane.reply is pane.state.thread()[1]
        await mark_parting(app, pilot, a, b)
        earlier_base = len("› same prompt\n\n")
        assert a.output.base == earlier_base
        first = next(i for i, (x, y) in enumerate(zip(a.spans.tokens, b.spans.tokens)) if x.token_id != y.token_id)
        assert first == 6  # "You asked: same prompt. With seed 1": one token less than "tell me more"
        start, end = a.spans.span(first)
        assert (start + earlier_base, end + earlier_base, "part") in a.output.marks
        assert a.output.text[start + earlier_base:end + earlier_base] == "1 "


def test_byte_pieces_read_as_the_character_they_join_into():
    from tui.engine.logprobs import TokenLogprob
    from tui.widgets.token_panel import shown_piece

    spans = TokenSpans()
    # "é" split over two byte tokens: the first decodes to U+FFFD and brings no text of its own,
    # the second brings the whole character to the answer
    spans.add("", [TokenLogprob(1, "\ufffd", -0.1, 1)])
    spans.add("é", [TokenLogprob(2, "\ufffd", -0.1, 1)])
    assert shown_piece("\ufffd", spans.span(1), "é") == "é"
    assert shown_piece("\ufffd", spans.span(0), "é") == "\ufffd (a piece of the next character)"
    assert shown_piece(" the", spans.span(1), "é") == " the"


@pytest.mark.parametrize("max_tokens", [20, 34, 60, 120])
async def test_the_token_cursor_starts_in_sight(max_tokens):
    """f4 puts the cursor on a token the person can see: its line is in the view once the token
    panel has taken its room (the issue #25 trial: 'token 1 of 34', with the view left at the end
    and token 1 above it until → was pressed)."""
    app = make_app(Recording(), session=session(1, max_tokens))
    async with app.run_test(size=(60, 24)) as pilot:
        pane = app.workbench.panes()[0]
        pane.heat = True
        await run_and_wait(app, pilot, pane)
        pane.editor.focus()
        send_key(app, "f4")
        await pilot.pause(0.2)
        view = pane.output
        lines = view.lines_of(pane.token_cursor)
        top, height = round(view.scroll_y), view.scrollable_content_region.height
        assert pane.query_one(".pane-token").display and lines
        assert top <= lines[0] < top + height, (lines, top, height)
