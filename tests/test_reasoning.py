"""A server's thinking (vLLM's `--reasoning-parser`: `delta.reasoning`, or `delta.reasoning_content`
on older servers) is never dropped: a run keeps it apart from the answer, records keep it (session,
history, export, batch), it is never sent back to a server, and the output format judges the
answer alone. The remote half streams it from the fault server (tests/support/fault_server.py)."""

from __future__ import annotations

import io
import json
import time

import pytest

from tests.support.app import saved_pane, session_of, stored_session
from tests.support.fault_server import ANSWERS, THOUGHTS, FaultServer, answer, thought
from tui.batch import Job, batch_record
from tui.core.conversation import ASSISTANT, USER, Conversation
from tui.core.output_format import CHOICE, OutputFormat
from tui.core.pane_state import PaneState, fork_reply, fork_state, request_for
from tui.core.records import conversation_record, conversation_from_record, openai_messages
from tui.core.run import Run, new_reply
from tui.engine.logprobs import Alternative, TokenLogprob
from tui.engine.openai_backend import OpenAIBackend
from tui.engine.params import Sampling
from tui.engine.protocol import BackendError, Request, StreamAccount
from tui.export import ExportedPane, to_json, to_markdown
from tui.figures import DONE, STREAMING
from tui.store.history import WORKBENCH, load_run, pane_state_of, run_entry
from tui.store.store import Store
from tui.validate import FieldError

CHAT = Sampling()
THINKING = "Is it yes? <b>Surely</b> & so: yes."
ANSWER = "yes"


def asked(sampling: Sampling = CHAT, question: str = "Well?"):
    conversation = Conversation()
    q = conversation.add(None, USER, question)
    message = conversation.add(q, ASSISTANT, reply=new_reply(sampling, None, STREAMING))
    return conversation, message, Run(message, Request.of_prompt(question, sampling, f"r{time.monotonic_ns()}"))


def thought_then_answered(sampling: Sampling = CHAT, logprobs: bool = False):
    """A run that thinks in three pieces (the last with the answer's first piece), then answers."""
    conversation, message, run = asked(sampling)
    account = StreamAccount()
    pieces = [THINKING[:10], THINKING[10:20]]
    for index, piece in enumerate(pieces):
        run.take(account.delta("", None, new_tokens=1, reasoning=piece,
                               logprobs=[TokenLogprob(index, piece, -0.5, 1)] if logprobs else None))
    last = THINKING[20:]
    tokens = [TokenLogprob(7, last, -0.1, 1), TokenLogprob(8, ANSWER[:1], -0.2, 1)] if logprobs else None
    run.take(account.delta(ANSWER[:1], None, new_tokens=2, reasoning=last, logprobs=tokens))
    run.take(account.delta(ANSWER[1:], "stop", new_tokens=1,
                           logprobs=[TokenLogprob(9, ANSWER[1:], -0.3, 1)] if logprobs else None))
    run.end(DONE)
    return conversation, message


# -- the run ----------------------------------------------------------------------------------------
def test_a_run_keeps_the_thinking_apart_from_the_answer():
    _, message = thought_then_answered()
    assert message.content == ANSWER and message.reasoning == THINKING
    figures = message.reply.figures
    assert figures.tokens == 5 and figures.thought_tokens == 2  # counted before the answer began
    assert figures.thought_ms is not None and figures.answered_ms is not None
    assert figures.thought_ms <= figures.answered_ms and figures.thinking_ms == figures.answered_ms - figures.thought_ms


def test_a_thinking_count_read_off_the_ids_is_the_one_kept():
    """A backend that found where the thinking ended in the token ids says how many it took; the
    delta that ends it and starts the answer then counts right."""
    _, message, run = asked()
    account = StreamAccount()
    run.take(account.delta("", None, new_tokens=1, reasoning=THINKING[:10]))
    run.take(account.delta(ANSWER[:1], None, new_tokens=3, reasoning=THINKING[10:], thought_tokens=3))
    run.take(account.delta(ANSWER[1:], "stop", new_tokens=1, thought_tokens=3))
    run.end(DONE)
    assert message.reply.figures.thought_tokens == 3 and message.reply.figures.tokens == 5


def test_the_answers_tokens_are_the_answers_alone():
    _, message = thought_then_answered(logprobs=True)
    spans = message.reply.tokens
    assert [t.token_id for t in spans.tokens] == [8, 9] and spans.ends == [1, 3]


def test_the_thinkings_tokens_are_kept_apart_with_their_markers_in_the_order_written():
    """Markers come as tokens with no text (`<think>`, `</think>`): they wait until the next text
    says whose they are, and every token is in one of the two parts, the thinking's first."""
    _, message, run = asked()
    account = StreamAccount()

    def token(number: int, text: str) -> TokenLogprob:
        return TokenLogprob(number, text, -0.5, 1)

    run.take(account.delta("", None, new_tokens=1, logprobs=[token(1, "<think>")]))
    run.take(account.delta("", None, new_tokens=1, reasoning="Hm,", logprobs=[token(2, "Hm,")]))
    run.take(account.delta("", None, new_tokens=2, reasoning=" yes", logprobs=[token(3, " y"), token(4, "es")]))
    run.take(account.delta("", None, new_tokens=1, logprobs=[token(5, "</think>")]))
    run.take(account.delta("Yes", None, new_tokens=2, logprobs=[token(6, "\n"), token(7, "Yes")]))
    run.take(account.delta(".", "stop", new_tokens=1, logprobs=[token(8, ".")]))
    run.end(DONE)
    thinking, answer = message.reply.thinking_tokens, message.reply.tokens
    assert [t.token_id for t in thinking.tokens] == [1, 2, 3, 4, 5, 6]
    assert thinking.ends == [0, 3, 5, 7, 7, 7]  # the markers and the newline take no room in the reasoning
    assert [t.token_id for t in answer.tokens] == [7, 8] and answer.ends == [3, 4]


def test_tokens_with_no_text_are_the_answers_when_there_is_no_thinking():
    _, message, run = asked()
    account = StreamAccount()
    run.take(account.delta("", None, new_tokens=1, logprobs=[TokenLogprob(1, "\xe2", -0.1, 1)]))
    run.take(account.delta("é!", "stop", new_tokens=1, logprobs=[TokenLogprob(2, "é!", -0.1, 1)]))
    run.end(DONE)
    assert [t.token_id for t in message.reply.tokens.tokens] == [1, 2] and not message.reply.thinking_tokens.tokens


def thinking_conversation():
    """An answer that thought (its tokens recorded, ids 1-5 with the markers) then answered (6-8)."""
    conversation, message, run = asked()
    account = StreamAccount()
    pieces = [(1, "<think>", ""), (2, "Hm", "Hm"), (3, " yes", " yes"), (4, "</think>", "")]
    for number, piece, reasoning in pieces:
        run.take(account.delta("", None, new_tokens=1, reasoning=reasoning,
                               logprobs=[TokenLogprob(number, piece, -0.5, 1,
                                                      (Alternative(number, piece, -0.5), Alternative(90, "No", -2.0)))]))
    for number, piece in ((6, "Yes"), (7, ","), (8, " sure")):
        run.take(account.delta(piece, None, new_tokens=1,
                               logprobs=[TokenLogprob(number, piece, -0.5, 1,
                                                      (Alternative(number, piece, -0.5), Alternative(91, "!", -2.0)))]))
    run.take(account.delta("", "stop", new_tokens=0))
    run.end(DONE)
    message.reply.prompt_ids = [100, 101]
    return conversation, message


def test_a_fork_of_an_answer_that_thought_gives_the_model_its_thinking_back():
    conversation, message = thinking_conversation()
    fork = fork_reply(message, 1, 2, None, 1, CHAT, None)
    assert fork.given_ids == [100, 101, 1, 2, 3, 4, 6, 91]  # the prompt, the whole thinking, "Yes", then "!"
    assert fork.forced == 2 and fork.forced_thinking == 4 and fork.forced_thinking_chars == len("Hm yes")
    state = fork_state(PaneState(1, conversation), message, fork, 2)
    answer = state.conversation.last()
    assert answer.content == "Yes!" and answer.reasoning == "Hm yes"
    # its own fork, later, finds the question where it was
    fork.prompt_ids = list(fork.given_ids)
    assert fork.question_ids == [100, 101]


def test_a_fork_inside_the_thinking_goes_on_thinking_from_the_chosen_token():
    conversation, message = thinking_conversation()
    fork = fork_reply(message, 2, 2, None, 1, CHAT, None, in_thinking=True)
    assert fork.given_ids == [100, 101, 1, 2, 90]  # <think>, "Hm", then the alternative "No"
    assert fork.forced == 0 and fork.forced_thinking == 3 and fork.forced_thinking_chars == len("HmNo")
    answer = fork_state(PaneState(1, conversation), message, fork, 2).conversation.last()
    assert answer.content == "" and answer.reasoning == "HmNo"
    record = conversation_record(fork_state(PaneState(1, conversation), message, fork, 2).conversation)
    again = conversation_from_record(json.loads(json.dumps(record)), "c").last()
    assert again.reply.forced_thinking == 3 and [t.token_id for t in again.reply.thinking_tokens.tokens] == [1, 2, 90]


def test_an_answer_whose_thinking_was_not_recorded_is_not_forked_without_it():
    _, message = thought_then_answered(logprobs=False)
    message.reply.tokens.add("", [TokenLogprob(9, "x", -0.1, 1)])
    message.reply.prompt_ids = [1]
    assert "thinking's tokens were not recorded" in fork_reply(message, 0, None, None, 1, CHAT, None)


def test_the_session_store_keeps_the_thinkings_tokens(tmp_path):
    conversation, message = thinking_conversation()
    store = Store.open(tmp_path / "s.db")
    try:
        store.save_session(session_of([PaneState(1, conversation)]))
    finally:
        store.close()
    back = stored_session(tmp_path / "s.db").panes[0].conversation.last()
    assert [t.token_id for t in back.reply.thinking_tokens.tokens] == [1, 2, 3, 4]
    assert back.reply.thinking_tokens.ends == message.reply.thinking_tokens.ends
    assert [t.token_id for t in back.reply.tokens.tokens] == [6, 7, 8]


def test_the_output_format_judges_the_answer_not_the_thinking():
    fmt = OutputFormat(CHOICE, ("yes", "no"))
    _, message = thought_then_answered(Sampling(output_format=fmt))
    assert message.reply.verdict is not None and message.reply.verdict.valid


def test_thinking_that_never_reached_an_answer_is_kept_with_its_tokens():
    _, message, run = asked()
    account = StreamAccount()
    for piece in ("hmm ", "let me see "):
        run.take(account.delta("", None, total=account.tokens + 3, reasoning=piece))
    run.take(account.delta("", "length", total=account.tokens))
    run.end(DONE)
    figures = message.reply.figures
    assert message.content == "" and message.reasoning == "hmm let me see "
    assert figures.answered_ms is None and figures.thinking_ms is None and figures.thought_tokens == 6


def test_an_answer_without_thinking_has_no_thinking_figures():
    _, message, run = asked()
    account = StreamAccount()
    run.take(account.delta(ANSWER, "stop", new_tokens=1))
    run.end(DONE)
    figures = message.reply.figures
    assert message.reasoning == "" and figures.thought_ms is None and figures.thought_tokens is None
    assert figures.answered_ms is not None


def test_a_run_that_failed_while_it_thought_is_kept_when_the_pane_runs_again():
    from tui.core.pane_state import Turn, next_turn
    from tui.figures import ERROR

    pane = PaneState(1)
    pane.conversation, message, run = asked()
    run.take(StreamAccount().delta("", None, new_tokens=1, reasoning="so far "))
    run.end(ERROR, "the server went quiet")
    assert next_turn(pane, True) == Turn(message.parent, like=message)  # beside it, not in its place


def test_the_thread_sent_back_to_a_server_holds_no_thinking():
    conversation, message = thought_then_answered()
    follow_up = conversation.add(message, USER, "Why?")
    nxt = conversation.add(follow_up, ASSISTANT, reply=new_reply(CHAT, None, STREAMING))
    request = request_for(conversation, nxt, CHAT, "r-next", None)
    assert [m["content"] for m in request.messages] == ["Well?", ANSWER, "Why?"]
    assert all(THINKING not in m["content"] for m in openai_messages(conversation.thread_to(follow_up)))
    raw = request_for(conversation, nxt, Sampling(chat_template=False), "r-raw", None)
    assert raw.text() == "Well?" + ANSWER + "Why?"  # raw text: the answers as written, no thinking


# -- records -----------------------------------------------------------------------------------------
def test_a_conversation_record_keeps_the_thinking_and_reads_it_back():
    conversation, message = thought_then_answered()
    record = conversation_record(conversation)
    (_, kept) = record["messages"]
    assert kept["reasoning"] == THINKING and kept["content"] == ANSWER
    assert "reasoning" not in record["messages"][0]  # only when there is some
    again = conversation_from_record(json.loads(json.dumps(record)), "c")
    assert again.get(message.id).reasoning == THINKING and again.copy().get(message.id).reasoning == THINKING
    record["messages"][0]["reasoning"] = "a question does not think"
    with pytest.raises(FieldError, match="only an assistant message"):
        conversation_from_record(record, "c")


def test_the_session_store_keeps_a_streaming_answers_thinking(tmp_path):
    pane = saved_pane("q", output="", state=STREAMING)
    message = pane.conversation.last()
    record = session_of([pane])
    store = Store.open(tmp_path / "store.db")
    try:
        message.append_reasoning("first \ud83d half ")  # a lone surrogate, as a server's JSON may hold
        store.save_session(record)
        message.append_reasoning("then more")
        message.append("the answer")
        store.save_session(record)
        assert store.flush() and store.take_problems() == []
    finally:
        store.close()
    restored = stored_session(tmp_path / "store.db").panes[0].conversation.last()
    assert restored.reasoning == "first \ufffd half then more" and restored.content == "the answer"


def test_the_history_keeps_the_thinking_and_a_reopened_run_shows_it(tmp_path):
    conversation, message = thought_then_answered()
    store = Store.open(tmp_path / "store.db")
    try:
        store.record_run(run_entry(conversation, message, comparison="c", kind=WORKBENCH, pane=1))
        assert store.flush()
        with store.reading() as conn:
            run = load_run(conn, 1)
    finally:
        store.close()
    assert run.reasoning == THINKING and run.answer == ANSWER
    assert all(THINKING not in m["content"] for m in run.messages)
    reopened = pane_state_of(run, 1).conversation.last()
    assert reopened.reasoning == THINKING and reopened.content == ANSWER
    assert reopened.reply.figures.thought_tokens == message.reply.figures.thought_tokens


def exported() -> list[ExportedPane]:
    thinking = PaneState(1)
    thinking.conversation, _ = thought_then_answered()
    plain = PaneState(2)
    plain.conversation, _, run = asked()
    run.take(StreamAccount().delta("no", "stop", new_tokens=1))
    run.end(DONE)
    return [ExportedPane(thinking, None, CHAT), ExportedPane(plain, None, CHAT)]


def test_the_json_export_has_each_answers_thinking():
    panes = json.loads(to_json(exported(), "m"))["panes"]
    assert [r["reasoning"] for p in panes for r in p["replies"]] == [THINKING, ""]  # always there
    assert [m["content"] for m in panes[0]["messages"]] == ["Well?", ANSWER]


def test_the_markdown_export_folds_the_thinking_before_the_answer_as_quoted_text():
    text = to_markdown(exported(), "m")
    assert text.count("<details><summary>thinking</summary>") == 1  # the plain answer has none
    folded = text.index("<details><summary>thinking</summary>")
    assert folded < text.index("</details>") < text.index(f"> {ANSWER}")
    assert "<b>" not in text and "&lt;b&gt;Surely&lt;/b&gt; &amp; so" in text


def test_a_batch_line_carries_the_thinking():
    conversation, message = thought_then_answered()
    line = batch_record(Job(0, "Well?", CHAT), conversation, [message], None)
    assert line["reasoning"] == THINKING and line["text"] == ANSWER
    assert line["thought_tokens"] == 2 and line["answered_ms"] >= line["thought_ms"]


# -- from a server ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    srv = FaultServer().start()
    yield srv
    srv.stop()


@pytest.fixture
async def remote(server):
    backend = OpenAIBackend(server.url(), read_timeout=5)
    await backend.start()
    yield backend
    await backend.shutdown()


async def answered_by(backend, fault: str, sampling: Sampling = CHAT):
    """The deltas of `fault:NAME`, and the run that took them."""
    conversation, message, _ = asked(sampling, f"fault:{fault} please")
    run = Run(message, request_for(conversation, message, sampling, f"t-{time.monotonic_ns()}", None))
    deltas = []
    async for delta in backend.stream(run.request):
        deltas.append(delta)
        run.take(delta)
    run.end(DONE)
    return deltas, message


ALL_THOUGHTS = "".join(thought(i) for i in range(1, THOUGHTS + 1))
WHOLE_ANSWER = "".join(answer(i) for i in range(1, ANSWERS + 1))


@pytest.mark.remote
@pytest.mark.parametrize("fault", ["think", "think_old"])
async def test_a_servers_thinking_arrives_apart_from_its_answer(remote, fault):
    deltas, message = await answered_by(remote, fault)
    assert "".join(d.reasoning for d in deltas) == ALL_THOUGHTS and "".join(d.text for d in deltas) == WHOLE_ANSWER
    assert [d.tokens for d in deltas][:THOUGHTS - 1] == list(range(1, THOUGHTS))  # thinking-only chunks count
    assert message.reasoning == ALL_THOUGHTS and message.content == WHOLE_ANSWER
    figures = message.reply.figures
    assert figures.tokens == THOUGHTS + ANSWERS - 1 and figures.thought_tokens == THOUGHTS - 1  # as the server says
    assert figures.finish_reason == "stop"


@pytest.mark.remote
async def test_the_thinking_budget_goes_to_a_server_only_when_set(remote):
    """vLLM's `thinking_token_budget` is a knob like the others: in the request body when set,
    absent (not a null a server might refuse) when not."""
    def asked_with(sampling: Sampling) -> dict:
        return remote.request_body(Request.of_prompt("q", sampling, "r")).get("extra_body", {})

    assert asked_with(CHAT.with_values(thinking_token_budget=64))["thinking_token_budget"] == 64
    assert asked_with(CHAT.with_values(thinking_token_budget=0))["thinking_token_budget"] == 0
    assert "thinking_token_budget" not in asked_with(CHAT)


@pytest.mark.remote
async def test_the_thinking_switch_goes_as_the_chat_templates_argument_only_when_set(remote):
    """`enable_thinking` is the chat template's switch, not a sampling knob: vLLM's
    `chat_template_kwargs` when set, nothing when unset, and nothing for raw prompts (no template)."""
    from dataclasses import replace

    def asked_with(sampling: Sampling) -> dict:
        body = remote.request_body(Request.of_prompt("q", sampling, "r"))
        assert "enable_thinking" not in body and "enable_thinking" not in body.get("extra_body", {})
        return body.get("extra_body", {})

    assert asked_with(CHAT.with_values(enable_thinking=False))["chat_template_kwargs"] == {"enable_thinking": False}
    assert asked_with(CHAT.with_values(enable_thinking=True))["chat_template_kwargs"] == {"enable_thinking": True}
    assert "chat_template_kwargs" not in asked_with(CHAT)
    raw = replace(CHAT.with_values(enable_thinking=False), chat_template=False)
    assert "chat_template_kwargs" not in asked_with(raw)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.remote
@pytest.mark.parametrize(("fault", "out", "shown"), [
    ("think", io.StringIO, f"Response: \n[thinking] {ALL_THOUGHTS}\n[answer] {WHOLE_ANSWER}"),
    ("think", _Terminal, f"Response: \n[thinking] \x1b[2m{ALL_THOUGHTS}\x1b[22m\n[answer] {WHOLE_ANSWER}"),
    ("think_only", _Terminal, f"Response: \n[thinking] \x1b[2m{ALL_THOUGHTS}\x1b[22m"),
    ("no_thinking", _Terminal, f"Response: {WHOLE_ANSWER}"),
])
async def test_headless_sets_the_thinking_apart_before_the_answer(remote, fault, out, shown):
    """--headless printed the answer alone, as if nothing came before it: the thinking has a line
    of its own, labelled (and dimmed on a terminal), then the answer on its own line."""
    from tui.headless import stream_to

    conversation, message, _ = asked(CHAT, f"fault:{fault} please")
    run = Run(message, request_for(conversation, message, CHAT, f"t-{time.monotonic_ns()}", None))
    written = out()
    await stream_to(remote, run, written)
    assert written.getvalue() == shown


@pytest.mark.remote
async def test_thinking_with_no_answer_and_an_answer_with_no_thinking(remote):
    deltas, message = await answered_by(remote, "think_only")
    assert message.reasoning == ALL_THOUGHTS and message.content == ""
    assert message.reply.figures.finish_reason == "length" and message.reply.figures.thought_tokens == THOUGHTS
    deltas, message = await answered_by(remote, "no_thinking")
    assert message.reasoning == "" and message.content == WHOLE_ANSWER and all(d.reasoning == "" for d in deltas)
    assert message.reply.figures.thought_tokens is None


@pytest.mark.remote
async def test_thinking_that_is_not_text_fails_its_request_only(remote):
    with pytest.raises(BackendError, match="the reasoning of a chunk is int"):
        await answered_by(remote, "think_number")
    _, message = await answered_by(remote, "think")
    assert message.reasoning == ALL_THOUGHTS


@pytest.mark.remote
async def test_raw_text_has_no_reasoning_channel(remote):
    deltas, message = await answered_by(remote, "think", Sampling(chat_template=False))
    assert message.reasoning == "" and all(d.reasoning == "" for d in deltas)


# -- the pane ----------------------------------------------------------------------------------------------
def styles_of(terminal, view, text: str) -> set:
    """The styles the terminal shows `text` in, where it first appears on a row of the view."""
    area = view.scrollable_content_region
    for y in area.line_range:
        row = "".join(terminal.get((x, y), (" ",))[0] for x in range(area.x, area.right))
        if text in row:
            start = area.x + row.index(text)
            return {terminal[(x, y)][1] for x in range(start, start + len(text))}
    raise AssertionError(f"{text!r} is not on the terminal")


@pytest.mark.draws
@pytest.mark.remote
@pytest.mark.ui
async def test_the_pane_shows_the_thinking_dimmed_then_folds_it_when_the_answer_starts(server, tmp_path):
    from tests.support.app import make_app, send_key, wait_until
    from tests.support.terminal import terminal_copy
    from tests.support.views import answer_problem, terminal_rows

    backend = OpenAIBackend(server.url(), read_timeout=5)
    await backend.start()
    faults = ["think", "think_only", "no_thinking"]
    session = session_of([saved_pane(prompt=f"fault:{fault}") for fault in faults])
    try:
        with terminal_copy() as terminal:
            app = make_app(backend, session=session, session_path=tmp_path / "store.db")
            async with app.run_test(size=(180, 30)) as pilot:
                panes = app.workbench.panes()
                send_key(app, "ctrl+r")
                await wait_until(lambda: all(p.runs == 1 and not p.running for p in panes), timeout=30)
                await pilot.pause(0.2)
                thinking, only, plain = (p.output for p in panes)
                rows = terminal_rows(terminal, thinking)
                folded = next(row for row in rows if row.startswith("thought "))
                assert folded.endswith(f" s · {THOUGHTS - 1} tokens") and ALL_THOUGHTS.split()[0] not in thinking.text
                assert thinking.text.endswith(WHOLE_ANSWER) and thinking.base == thinking.text.index(WHOLE_ANSWER)
                answer_style = styles_of(terminal, plain, "word1")
                assert styles_of(terminal, thinking, "word1") == answer_style and len(answer_style) == 1
                assert styles_of(terminal, thinking, folded).isdisjoint(answer_style)  # dimmed
                assert only.text.endswith(ALL_THOUGHTS)
                assert styles_of(terminal, only, ALL_THOUGHTS.strip()).isdisjoint(answer_style)
                assert "thought" not in plain.text
                assert all(answer_problem(view) is None for view in (thinking, only, plain))
                streamed = (only.text, styles_of(terminal, only, ALL_THOUGHTS.strip()))
                panes[1].redraw()  # drawn whole from the state: the same as it streamed
                await pilot.pause(0.2)
                assert (only.text, styles_of(terminal, only, ALL_THOUGHTS.strip())) == streamed
    finally:
        await backend.shutdown()


@pytest.mark.draws
@pytest.mark.remote
@pytest.mark.ui
async def test_alt_t_unfolds_the_thinking_in_one_pane_and_alt_shift_t_in_all(server, tmp_path):
    """The folded `thought …` line opens to the whole thinking, dimmed, above the answer (alt+t: the
    focused pane; alt+shift+t: every pane), and folds again; the answer's tokens keep their place."""
    from tests.support.app import make_app, send_key, wait_until
    from tests.support.views import answer_problem

    backend = OpenAIBackend(server.url(), read_timeout=5)
    await backend.start()
    session = session_of([saved_pane(prompt="fault:think"), saved_pane(prompt="fault:think")])
    try:
        app = make_app(backend, session=session, session_path=tmp_path / "store.db")
        async with app.run_test(size=(180, 30)) as pilot:
            panes = app.workbench.panes()
            send_key(app, "ctrl+r")
            # Ended, and their last text flushed to the view (a loaded machine delays that flush).
            await wait_until(lambda: all(p.runs == 1 and not p.running and p.output.text.endswith(WHOLE_ANSWER)
                                         for p in panes), timeout=30)
            folded = [pane.output.text for pane in panes]  # their times differ
            assert all(ALL_THOUGHTS.split()[0] not in text for text in folded)

            def unfolded(pane) -> bool:
                view = pane.output
                ok = view.text.index(ALL_THOUGHTS) < view.base == view.text.index(WHOLE_ANSWER)
                return ok and view.text.startswith("› fault:think") and answer_problem(view) is None

            app.set_focus(panes[0].editor)
            await pilot.press("alt+t")
            assert unfolded(panes[0]) and panes[1].output.text == folded[1]
            await pilot.press("alt+shift+t")  # not in all yet: in all
            assert all(unfolded(pane) for pane in panes)
            await pilot.press("alt+shift+t")
            assert [pane.output.text for pane in panes] == folded
            assert panes[0].output.base == folded[0].index(WHOLE_ANSWER)
    finally:
        await backend.shutdown()


class _LaidOutThinker:
    """Streams thinking as models lay it out (`<think>\n…\n</think>\n\n answer`, split into its
    parts), and waits at `gate` after the thinking."""

    PIECES = [("\n", ""), ("Thou ", ""), ("askest.", ""), ("\n", ""), ("", "\n\n"), ("", "Amen.")]

    def __init__(self) -> None:
        from tests.support.scripted import ScriptedBackend

        self.backend = ScriptedBackend()
        self.gate = None
        self.backend.stream = self.stream

    async def stream(self, request):
        import asyncio

        from tui.engine.protocol import Delta

        for index, (reasoning, text) in enumerate(self.PIECES):
            if index == 4:
                await self.gate.wait()
            await asyncio.sleep(0.01)
            last = index == len(self.PIECES) - 1
            yield Delta(text, index + 1, 1, "stop" if last else None, started=0.0, first_token=0.05,
                        now=0.05 + 0.01 * index, reasoning=reasoning)


@pytest.mark.ui
@pytest.mark.parametrize("unfold", [False, True])
async def test_the_newlines_around_the_thinking_are_not_shown_streamed_or_redrawn(tmp_path, unfold):
    """A thinking that opens and ends with a newline, then an answer that opens with two: while it
    thinks the pane shows the thinking from its first word; then one blank line between the
    `thought …` line (or the unfolded thinking) and the answer; drawn whole, the same."""
    import asyncio
    import re

    from tests.support.app import make_app, wait_until

    thinker = _LaidOutThinker()
    thinker.gate = asyncio.Event()
    app = make_app(thinker.backend, session=session_of([saved_pane(prompt="q")]), session_path=tmp_path / "s.db")
    async with app.run_test(size=(120, 30)) as pilot:
        (pane,) = app.workbench.panes()
        pane.show_thinking(unfold)
        await pilot.press("f5")
        await wait_until(lambda: "askest." in pane.output.text)
        await pilot.pause(0.1)
        thinking = pane.output.text
        assert thinking.endswith("\nThou askest.\n") and "\n\n\nThou" not in thinking, repr(thinking)
        pane.redraw()
        assert pane.output.text == thinking
        thinker.gate.set()
        await wait_until(lambda: not pane.running)
        await pilot.pause(0.1)
        shown = pane.output.text
        layout = r"thought [^\n]*\nThou askest\.\n\nAmen\." if unfold else r"thought [^\n]*\n\nAmen\."
        assert re.search(layout, shown), repr(shown)
        pane.redraw()
        assert pane.output.text == shown and shown.endswith("Amen.")


class _ThinkerWithTokens(_LaidOutThinker):
    """The same thinking and answer with a token each, and `<think>`, `</think>` as tokens with no
    text of their own (as the demo's parser streams them)."""

    PIECES = [("", "", "<think>"), ("\n", "", "\n"), ("Thou ", "", "Thou "), ("askest.", "", "askest."),
              ("\n", "", "\n"), ("", "", "</think>"), ("", "\n\n", "\n\n"), ("", "Amen.", "Amen.")]

    async def stream(self, request):
        import asyncio

        from tui.engine.protocol import Delta

        for index, (reasoning, text, piece) in enumerate(self.PIECES):
            if index == 5:
                await self.gate.wait()
            await asyncio.sleep(0.01)
            last = index == len(self.PIECES) - 1
            yield Delta(text, index + 1, 1, "stop" if last else None, started=0.0, first_token=0.05,
                        now=0.05 + 0.01 * index, reasoning=reasoning,
                        logprobs=[TokenLogprob(500 + index, piece, -0.7, 1)])


@pytest.mark.ui
@pytest.mark.parametrize("unfold", [False, True])
async def test_the_thinkings_tokens_sit_on_its_text_while_it_streams_and_unfolded(tmp_path, unfold):
    """With the heat view on, each token of a streaming thinking is on its own text in the view
    (its leading newline not shown, the markers empty); once answered, on the unfolded thinking,
    or none when it folds."""
    import asyncio

    from tests.support.app import make_app, wait_until

    thinker = _ThinkerWithTokens()
    thinker.gate = asyncio.Event()
    app = make_app(thinker.backend, session=session_of([saved_pane(prompt="q", heat=True)]))

    def aligned(pane) -> list[str]:
        shown = pane.shown_tokens
        return [pane.output.text[slice(*shown.span(i))] for i in range(shown.thinking_count)]

    async with app.run_test(size=(120, 30)) as pilot:
        (pane,) = app.workbench.panes()
        pane.show_thinking(unfold)
        await pilot.press("f5")
        await wait_until(lambda: "askest." in pane.output.text and pane.shown_tokens.thinking_count == 5)
        await pilot.pause(0.1)
        assert aligned(pane) == ["", "", "Thou ", "askest.", "\n"]  # the "\n" it opens with is not shown
        thinker.gate.set()
        await wait_until(lambda: not pane.running)
        await pilot.pause(0.1)
        shown = pane.shown_tokens
        if unfold:
            assert aligned(pane)[:4] == ["", "", "Thou ", "askest."]
            assert shown.thinking_count == 6  # </think> too
        else:
            assert shown.thinking_count == 0
        answer = [pane.output.text[slice(*shown.span(i))] for i in range(shown.thinking_count, len(shown))]
        assert answer == ["\n\n", "Amen."]
        await pilot.press("ctrl+q")


def test_a_fork_at_a_marker_of_the_thinking_is_refused_with_the_reason():
    """A fork at `<think>` or `</think>` would give the model half a marker and show it as thinking
    (found by a new user's trial: a stray `>`, a `</think>` in the answer)."""
    _, message = thinking_conversation()
    assert "shows no text of the thinking" in fork_reply(message, 0, None, None, 1, CHAT, None, in_thinking=True)
    assert "shows no text of the thinking" in fork_reply(message, 3, 2, None, 1, CHAT, None, in_thinking=True)


@pytest.mark.ui
async def test_the_token_cursor_steps_over_the_markers_and_stays_on_through_alt_t(tmp_path):
    """Found by a new user's trial: the cursor stopped on tokens that show nothing (the markers),
    and alt+t with the cursor on left it frozen on a token no longer shown."""
    import asyncio

    from tests.support.app import make_app, wait_until

    thinker = _ThinkerWithTokens()
    thinker.gate = asyncio.Event()
    thinker.gate.set()
    app = make_app(thinker.backend, session=session_of([saved_pane(prompt="q", heat=True)]))
    async with app.run_test(size=(120, 30)) as pilot:
        (pane,) = app.workbench.panes()
        await pilot.press("f5")
        await wait_until(lambda: not pane.running)
        await pilot.press("alt+t", "f4", "home")
        await pilot.pause()
        shown = pane.shown_tokens
        assert shown.token(pane.token_cursor).text == "Thou "  # not <think>, nor the newline it opens with
        await pilot.press("right", "right", "right")
        await pilot.pause()
        assert not shown.in_thinking(pane.token_cursor)  # askest., "\n", then over </think> into the answer
        await pilot.press("alt+t")  # folded: the cursor is still on, on a token shown
        await pilot.pause(0.1)
        assert pane.token_cursor is not None and pane.shown_tokens.thinking_count == 0
        await pilot.press("end")
        await pilot.pause()
        assert pane.shown_tokens.token(pane.token_cursor).text == "Amen."
        await pilot.press("ctrl+q")


@pytest.mark.ui
async def test_alt_t_brings_the_unfolded_thinking_into_view(tmp_path):
    """A new user pressed alt+t and saw nothing change: the view followed its end, and the thinking
    unfolded above the rows shown. It now shows the thinking from its start."""
    from tests.support.app import make_app
    from tests.support.scripted import ScriptedBackend
    from tests.support.views import drawn_rows
    from tui.figures import DONE

    state = saved_pane(prompt="why?", output="Because. " * 30, state=DONE)
    state.conversation.last().set_reasoning("Firstly " + "and then some more thought " * 60)
    app = make_app(ScriptedBackend(), session=session_of([state]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.workbench.panes()[0]
        pane.editor.focus()
        await pilot.pause()
        assert "Firstly" not in " ".join(drawn_rows(pane.output))
        await pilot.press("alt+t")
        await pilot.pause()
        assert "Firstly" in " ".join(drawn_rows(pane.output))
        await pilot.press("alt+w", "alt+u")  # closed and brought back: still unfolded
        await pilot.pause()
        back = app.workbench.panes()[0]
        assert back is not pane and back.thinking_shown and "Firstly" in back.output.text
