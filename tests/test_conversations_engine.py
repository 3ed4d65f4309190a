"""Conversations on the real engine (demo model, shared engine): a seeded later turn is what vLLM
itself gives the same conversation, whatever runs beside it; branches survive a restart; a thread
longer than the context fails clearly; raw mode continues a text."""

from __future__ import annotations

import asyncio
import itertools
import re

import pytest

from tests.support.app import make_app, saved_pane, send_key, session_of, stored_session, type_prompt, wait_until
from tui.batch import Job, run_job
from tui.core.conversation import ASSISTANT, USER
from tui.demo_model import DEMO_ADAPTER_NAME
from tui.engine.params import Sampling
from tui.engine.protocol import LOCAL, Request, Target
from tui.figures import DONE, ERROR
from tui.thread_text import shown

pytestmark = pytest.mark.engine
_ids = itertools.count()

SAMPLING = Sampling().with_values(max_tokens=40)  # temperature 0.8, top_p 0.95, seed 42
QUESTION, FOLLOW_UP = "The key to happiness is", "And what of wisdom?"


async def text_of(engine, request: Request) -> str:
    return "".join([d.text async for d in engine.stream(request)])


async def vllm_generate(engine, engine_input, sampling: Sampling) -> str:
    """vLLM's own AsyncLLM.generate, with the SamplingParams the backend makes (DELTA outputs)."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    params = SamplingParams(**sampling.request_values, output_kind=RequestOutputKind.DELTA)
    pieces = []
    async for output in engine._engine.generate(engine_input, params, f"vllm-{next(_ids)}"):  # noqa: SLF001
        pieces.extend(c.text for c in output.outputs)
    return "".join(pieces)


async def rendered_chat(engine, messages: list[dict[str, str]]):
    """The conversation through the engine's own renderer and chat template, as vLLM's server and
    LLM.chat render it (the assistant's turn opened)."""
    from vllm.renderers.params import ChatParams

    params = ChatParams(chat_template_kwargs={"add_generation_prompt": True})
    _, (engine_input,) = await engine._engine.renderer.render_chat_async([messages], params)  # noqa: SLF001
    return engine_input


def thread_of(pane) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in pane.state.thread()]


async def run_pane(app, pane, messages: int) -> None:
    """f5 in the pane; until its thread has `messages` messages, the last answer is done and its
    last text is in the view (it reaches the view with the flush after the run ended)."""
    pane.editor.focus()
    send_key(app, "f5")
    await wait_until(lambda: len(pane.state.thread()) == messages and pane.figures.state == DONE
                     and not pane.pending, timeout=90)


# -- 1. a seeded second turn is vLLM's answer to the same conversation ------------------------------
@pytest.mark.ui
async def test_a_seeded_second_turn_is_asyncllm_generate_on_the_same_rendered_conversation(engine):
    app = make_app(engine, session=session_of([saved_pane(prompt=QUESTION, overrides={"max_tokens": "40"})]))
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await run_pane(app, pane, 2)
        await type_prompt(pilot, pane, FOLLOW_UP)
        await run_pane(app, pane, 4)
        thread = thread_of(pane)
    assert [role for role, _ in thread] == [USER, ASSISTANT, USER, ASSISTANT]
    assert thread[0][1] == QUESTION and thread[2][1] == FOLLOW_UP
    first, second = thread[1][1], thread[3][1]
    messages = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": first},
                {"role": "user", "content": FOLLOW_UP}]
    assert first == await vllm_generate(engine, await rendered_chat(engine, messages[:1]), SAMPLING)
    assert second == await vllm_generate(engine, await rendered_chat(engine, messages), SAMPLING)
    assert first and second and first != second
    # a batch job's turns are the same conversation: the same answers
    _, answers, error = await run_job(engine, Job(0, QUESTION, SAMPLING, then=(FOLLOW_UP,)))
    assert error is None and [a.content for a in answers] == [first, second]


# -- 2. the same seeded request gives the same text, whatever runs beside it -------------------------
async def test_a_seeded_turn_gives_its_text_alone_beside_others_and_beside_an_adapters(engine):
    adapter = Target(LOCAL, engine.model, DEMO_ADAPTER_NAME)
    unseeded = SAMPLING.with_values(seed=None)

    def ask(turns, sampling=SAMPLING, target=None) -> Request:
        return Request.of(turns, sampling, f"beside-{next(_ids)}", target=target)

    first_turn = [(USER, QUESTION)]
    first = await text_of(engine, ask(first_turn))
    second_turn = [(USER, QUESTION), (ASSISTANT, first), (USER, FOLLOW_UP)]
    second = await text_of(engine, ask(second_turn))
    tuned_second = await text_of(engine, ask(second_turn, target=adapter))
    assert tuned_second != second  # the adapter answers otherwise: it is really beside
    beside_others = await asyncio.gather(
        text_of(engine, ask(second_turn)), text_of(engine, ask(first_turn)),
        text_of(engine, ask([(USER, "In a galaxy far, far away")], unseeded)),
        text_of(engine, ask(second_turn, unseeded)))
    assert beside_others[:2] == [second, first]
    beside_adapter = await asyncio.gather(
        text_of(engine, ask(second_turn)), text_of(engine, ask(second_turn, target=adapter)),
        text_of(engine, ask(first_turn, target=adapter)), text_of(engine, ask(first_turn)))
    assert beside_adapter[0] == second and beside_adapter[3] == first
    assert beside_adapter[1] == tuned_second  # the adapter's seeded answer is its own too

    async def late_joiner() -> str:
        await asyncio.sleep(0.15)  # the long requests are decoding by now
        return await text_of(engine, ask(second_turn))

    long_unseeded = SAMPLING.with_values(seed=None, max_tokens=300, min_tokens=300)
    *_, joined = await asyncio.gather(text_of(engine, ask(first_turn, long_unseeded)),
                                      text_of(engine, ask(first_turn, long_unseeded, adapter)), late_joiner())
    assert joined == second  # joining a running batch


# -- 3. branches are kept and restored ---------------------------------------------------------------
@pytest.mark.ui
async def test_regenerated_and_edited_branches_are_saved_and_stepped_through_after_a_restart(engine, tmp_path):
    path = tmp_path / "store.db"
    edited = "The key to wisdom is"
    app = make_app(engine, session=session_of([saved_pane(prompt=QUESTION, overrides={"max_tokens": "30"})]),
                   session_path=path)
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await run_pane(app, pane, 2)
        first = pane.reply.content
        pane.query_one(".param-seed Input").value = "7"  # so that the regenerated answer differs
        await pilot.pause()
        send_key(app, "alt+r")
        await wait_until(lambda: len(pane.state.thread()[0].children) == 2 and pane.figures.state == DONE, timeout=90)
        regenerated = pane.reply.content
        assert regenerated != first and "‹ 2/2 ›" in str(pane.query_one(".pane-status").text)
        send_key(app, "alt+e")  # the question into the box, as an edit
        await wait_until(lambda: pane.draft == QUESTION)
        assert pane.state.editing == pane.state.thread()[0].id
        await type_prompt(pilot, pane, edited)
        send_key(app, "f5")
        await wait_until(lambda: pane.state.thread()[0].content == edited and pane.figures.state == DONE, timeout=90)
        answer_to_edit = pane.reply.content
        assert pane.draft == "" and pane.state.editing is None
        send_key(app, "ctrl+q")
        await wait_until(lambda: not app.is_running, timeout=30)

    record = stored_session(path)  # what the next start opens
    assert len(record.panes) == 1
    conversation = record.panes[0].conversation
    questions = conversation.root.children
    assert [(m.role, m.content) for m in questions] == [(USER, QUESTION), (USER, edited)]
    assert [m.content for m in questions[0].children] == [first, regenerated]
    assert [m.content for m in questions[1].children] == [answer_to_edit]
    assert all(m.reply.state == DONE for q in questions for m in q.children)
    assert [m.reply.settings["seed"] for m in questions[0].children] == [42, 7]
    assert [m.content for m in conversation.path()] == [edited, answer_to_edit]  # as it was left

    app = make_app(engine, session=record, session_path=tmp_path / "again.db")
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.workbench.panes()[0]
        view = pane.output

        async def press(*keys: str) -> None:
            for key in keys:
                send_key(app, key)
                await pilot.pause()

        assert view.text == f"› {edited}  ‹ 2/2 ›\n\n{shown(answer_to_edit)}"
        await press("alt+up", "alt+up")  # the message cursor on the edited question
        await press("alt+pageup")  # its earlier version, and the answer last shown under it
        assert view.text == f"› {QUESTION}  ‹ 1/2 ›\n\n{shown(regenerated)}"
        assert pane.answer == shown(regenerated) and "‹ 2/2 ›" in str(pane.query_one(".pane-status").text)
        await press("alt+down", "alt+pageup")  # the cursor on the answer: the first answer
        assert view.text == f"› {QUESTION}  ‹ 1/2 ›\n\n{shown(first)}"
        assert "‹ 1/2 ›" in str(pane.query_one(".pane-status").text)
        await press("alt+pagedown")
        assert pane.answer == shown(regenerated)
        await press("alt+up", "alt+pagedown")  # back to the edited question
        assert view.text == f"› {edited}  ‹ 2/2 ›\n\n{shown(answer_to_edit)}"


# -- 4. a thread longer than the context -----------------------------------------------------------
@pytest.mark.ui
async def test_a_thread_longer_than_the_context_fails_its_pane_with_the_numbers(engine):
    """The message names the conversation's tokens and the context; running again does not pile up
    failed answers; an earlier message edited shorter is a branch that fits; the other pane and the
    app go on."""
    assert engine.max_model_len == 2048
    long = " ".join(["word"] * 700)  # as sent: a chat message goes without trailing space
    panes = [saved_pane(prompt=long, output=long, state=DONE), saved_pane(prompt=QUESTION, overrides={"max_tokens": "20"})]
    app = make_app(engine, session=session_of(panes))
    async with app.run_test(size=(200, 40)) as pilot:
        stuck, other = app.workbench.panes()
        stuck.set_draft(long)
        await pilot.pause()
        send_key(app, "ctrl+r")
        await wait_until(lambda: stuck.figures.state == ERROR and other.figures.state == DONE, timeout=90)
        tokenizer = engine._engine.get_tokenizer()  # noqa: SLF001 - the count the engine made
        messages = [{"role": role, "content": content} for role, content in thread_of(stuck)[:3]]
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        needed = len(ids["input_ids"] if hasattr(ids, "keys") else ids)
        assert needed > engine.max_model_len
        message = stuck.figures.message
        assert re.fullmatch(rf"the conversation is {needed:,} tokens and the answer needs room too, but the model's "
                            r"context is 2,048 tokens \(--max-model-len\): nothing was dropped; start a new thread or "
                            r"branch from an earlier message", message), message
        assert message in str(stuck.query_one(".pane-status").text)
        assert stuck.answer == "" and other.answer
        question = stuck.state.thread()[2]
        stuck.editor.focus()
        send_key(app, "f5")  # again, with nothing typed: the failed answer is replaced, not kept
        await wait_until(lambda: stuck.runs == 2 and stuck.figures.state == ERROR, timeout=60)
        assert len(question.children) == 1 and stuck.figures.message == message
        send_key(app, "alt+e")  # the last question, shorter: a branch that fits
        await wait_until(lambda: stuck.draft == long)
        await type_prompt(pilot, stuck, "And then?")
        send_key(app, "f5")
        await wait_until(lambda: stuck.runs == 3 and stuck.figures.state == DONE, timeout=90)
        assert stuck.answer and [m.content for m in stuck.state.thread()[1].children] == [long, "And then?"]
        assert app.is_running


# -- 5. raw mode continues the text ------------------------------------------------------------------
@pytest.mark.ui
async def test_without_the_chat_template_f5_continues_the_text(engine):
    sent: list[Request] = []
    original = engine.stream

    def recording(request: Request):
        sent.append(request)
        return original(request)

    prompt = "And God said"
    session = session_of([saved_pane(prompt=prompt, overrides={"max_tokens": "20"})], chat_template=False)
    app = make_app(engine, session=session)
    engine.stream = recording
    try:
        async with app.run_test(size=(160, 40)):
            pane = app.workbench.panes()[0]
            await run_pane(app, pane, 2)
            await run_pane(app, pane, 3)  # nothing typed: the text goes on
            thread = thread_of(pane)
            answers = pane.state.conversation.replies()
            assert pane.output.text == shown(prompt + thread[1][1] + thread[2][1])  # one text
    finally:
        engine.stream = original
    assert [role for role, _ in thread] == [USER, ASSISTANT, ASSISTANT]
    first, second = thread[1][1], thread[2][1]
    assert answers[1].parent is answers[0]  # one after the other
    assert [r.chat for r in sent] == [False, False]
    assert [r.text() for r in sent] == [prompt, prompt + first]
    raw = Sampling(SAMPLING.with_values(max_tokens=20).values, chat_template=False)
    tokenizer = engine._engine.get_tokenizer()  # noqa: SLF001
    assert tokenizer.decode(answers[1].reply.prompt_ids, skip_special_tokens=True) == prompt + first  # as the engine got it
    assert second == await vllm_generate(engine, prompt + first, raw)
    assert first == await vllm_generate(engine, prompt, raw)
