"""The domain core (tui/core) on its own: what running a pane does, conversations as trees, forks,
stale answers and where a comparison starts. No app, no engine: plain objects."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core.conversation import ASSISTANT, USER, Conversation, ForkOrigin, Message, Reply
from tui.core.pane_state import (
    PaneState,
    Turn,
    begin_turn,
    comparison_start,
    fork_reply,
    fork_state,
    next_turn,
    request_for,
    stale_reason,
)
from tui.core.records import conversation_record
from tui.core.run import new_reply, settings_record
from tui.core.tokens import TokenSpans
from tui.engine.logprobs import Alternative, TokenLogprob
from tui.engine.params import Sampling
from tui.engine.protocol import LOCAL, Target
from tui.figures import CANCELLED, DONE, ERROR, IDLE, STREAMING, Figures

CHAT = Sampling()
RAW = Sampling(chat_template=False)


def answered(conversation: Conversation, parent: Message | None, question: str, answer: str,
             state: str = DONE) -> tuple[Message, Message]:
    """A question under `parent` and its answer, in `state`."""
    asked = conversation.add(parent, USER, question)
    return asked, conversation.add(asked, ASSISTANT, answer, Reply(figures=Figures(state)))


def texts(conversation: Conversation) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in conversation.path()]


def run_next(state: PaneState, chat: bool = True, **kw) -> Message:
    """What the workbench does on f5: the turn, then its answer (empty, streaming) in the thread."""
    turn = next_turn(state, chat, **kw)
    assert isinstance(turn, Turn), turn
    return begin_turn(state, turn, new_reply(CHAT if chat else RAW, None, STREAMING))


# -- next_turn / begin_turn ------------------------------------------------------------------------
def test_nothing_to_run_says_why():
    assert next_turn(PaneState(1), True) == "the prompt is empty"
    assert next_turn(PaneState(1, draft="  \n "), True) == "the prompt is empty"
    assert next_turn(PaneState(1), False, regenerate=True) == "the prompt is empty"


def test_the_draft_is_sent_as_the_next_message_and_the_box_empties():
    state = PaneState(1, draft="hello")
    turn = next_turn(state, True)
    assert turn == Turn(None, user="hello", from_draft=True)
    reply = new_reply(CHAT, None, STREAMING)
    answer = begin_turn(state, turn, reply)
    assert answer.reply is reply and answer.content == "" and answer.role == ASSISTANT
    assert texts(state.conversation) == [(USER, "hello"), (ASSISTANT, "")]
    assert state.draft == "" and state.conversation.last() is answer

    answer.append("hi there")
    answer.reply.figures.state = DONE
    state.draft = "and then?"
    second = run_next(state)
    assert texts(state.conversation) == [(USER, "hello"), (ASSISTANT, "hi there"), (USER, "and then?"),
                                         (ASSISTANT, "")]
    assert second.parent.parent is answer and state.draft == ""


def test_a_question_left_unanswered_is_answered():
    state = PaneState(1)
    question = state.conversation.add(None, USER, "why?")
    assert next_turn(state, True) == Turn(question)
    answer = run_next(state)
    assert answer.parent is question and texts(state.conversation) == [(USER, "why?"), (ASSISTANT, "")]
    assert state.conversation.siblings(answer) == (1, 1)


def test_an_answer_written_by_hand_is_followed_by_a_new_answer():
    """An assistant message without a run (from a file) is not regenerated: there is nothing to
    keep as its sibling that a run wrote; the model's answer follows it."""
    state = PaneState(1)
    question = state.conversation.add(None, USER, "q")
    written = state.conversation.add(question, ASSISTANT, "written by hand")
    assert next_turn(state, True) == Turn(written)


def test_with_nothing_typed_the_last_answer_is_regenerated_and_kept_as_a_sibling():
    state = PaneState(1)
    question, old = answered(state.conversation, None, "q", "first answer")
    turn = next_turn(state, True)
    assert turn == Turn(question, like=old)
    new = run_next(state)
    assert new.parent is question and question.children == [old, new]
    assert state.conversation.siblings(new) == (2, 2) and state.conversation.siblings(old) == (1, 2)
    assert state.conversation.path() == [question, new]
    assert old.content == "first answer" and old.reply.state == DONE  # kept as it was
    assert state.conversation.step(new, -1) is old and state.conversation.path() == [question, old]


def test_regenerate_leaves_the_draft_and_regenerates_even_in_raw_mode():
    state = PaneState(1, draft="not yet")
    question, old = answered(state.conversation, None, "q", "a")
    for chat in (True, False):
        turn = next_turn(state, chat, regenerate=True)
        assert turn == Turn(question, like=state.conversation.last())
    new = run_next(state, chat=False, regenerate=True)
    assert state.draft == "not yet" and question.children == [old, new]


@pytest.mark.parametrize("state", [ERROR, CANCELLED])
def test_a_failed_answer_that_wrote_nothing_is_replaced_not_kept(state):
    pane = PaneState(1)
    question, failed = answered(pane.conversation, None, "q", "", state)
    turn = next_turn(pane, True)
    assert turn == Turn(question, replaces=failed, like=failed)
    new = run_next(pane)
    assert question.children == [new] and pane.conversation.siblings(new) == (1, 1)
    assert pane.conversation.get(failed.id) is None and len(pane.conversation) == 2


@pytest.mark.parametrize("state", [ERROR, CANCELLED])
def test_a_failed_answer_that_wrote_something_is_kept_as_a_sibling(state):
    pane = PaneState(1)
    question, failed = answered(pane.conversation, None, "q", "half an", state)
    assert next_turn(pane, True) == Turn(question, like=failed)
    new = run_next(pane)
    assert question.children == [failed, new]


def test_raw_mode_with_nothing_typed_continues_the_text():
    state = PaneState(1)
    question, answer = answered(state.conversation, None, "Once upon", " a time")
    assert next_turn(state, False) == Turn(answer)
    more = run_next(state, chat=False)
    assert more.parent is answer and state.conversation.path() == [question, answer, more]
    request = request_for(state.conversation, more, RAW, "r1", None)
    assert request.text() == "Once upon a time" and not request.chat
    # A failed answer is not continued: it is answered again.
    more.reply.figures.state = ERROR
    assert next_turn(state, False) == Turn(answer, replaces=more, like=more)


def test_editing_an_earlier_message_sends_it_as_a_new_branch():
    state = PaneState(1)
    q1, a1 = answered(state.conversation, None, "first", "one")
    q2, a2 = answered(state.conversation, a1, "second", "two")
    state.editing, state.draft = q1.id, "first, again"
    turn = next_turn(state, True)
    assert turn == Turn(q1.parent, user="first, again", from_draft=True)
    answer = run_next(state)
    edited = answer.parent
    assert texts(state.conversation) == [(USER, "first, again"), (ASSISTANT, "")]
    assert state.conversation.siblings(edited) == (2, 2) and state.draft == "" and state.editing is None
    # The old branch is all there, and stepping back to it finds its whole thread again.
    assert state.conversation.step(edited, -1) is q1
    assert state.conversation.path() == [q1, a1, q2, a2]
    assert len(state.conversation) == 6


def test_an_edit_of_a_later_message_branches_there_only():
    state = PaneState(1)
    q1, a1 = answered(state.conversation, None, "first", "one")
    q2, a2 = answered(state.conversation, a1, "second", "two")
    state.editing, state.draft = q2.id, "second, again"
    run_next(state)
    assert texts(state.conversation)[:3] == [(USER, "first"), (ASSISTANT, "one"), (USER, "second, again")]
    assert a1.children[0] is q2 and len(a1.children) == 2


def test_editing_names_a_message_that_is_gone_or_not_a_question():
    state = PaneState(1)
    q1, a1 = answered(state.conversation, None, "first", "one")
    for editing in (a1.id, 99):  # an answer is not edited; a message no longer there
        state.editing, state.draft = editing, "next"
        assert next_turn(state, True) == Turn(a1, user="next", from_draft=True)


def test_a_message_from_the_message_box_is_sent_and_the_draft_stays():
    state = PaneState(1, draft="my own, not sent")
    question, answer = answered(state.conversation, None, "q", "a")
    assert next_turn(state, True, message="to every pane") == Turn(answer, user="to every pane")
    sent = run_next(state, message="to every pane")
    assert texts(state.conversation)[2:] == [(USER, "to every pane"), (ASSISTANT, "")]
    assert sent.parent.parent is answer and state.draft == "my own, not sent"
    # A blank message is no message: the pane's own draft goes.
    assert next_turn(state, True, message="  ") == Turn(sent, user="my own, not sent", from_draft=True)


def test_beginning_a_turn_leaves_the_message_cursor():
    state = PaneState(1, draft="next")
    question, answer = answered(state.conversation, None, "q", "a")
    state.cursor = question.id
    run_next(state)
    assert state.cursor is None


# -- forks ------------------------------------------------------------------------------------------
def tokens_of(pieces: list[tuple[str, int]], k: int = 2) -> TokenSpans:
    """Recorded tokens: each piece with its id, probability 0.5 and `k` alternatives (ids 900+)."""
    spans = TokenSpans()
    for index, (text, token_id) in enumerate(pieces):
        top = tuple(Alternative(900 + index * 10 + j, f"alt{j}", math.log(0.4 / (j + 1))) for j in range(k))
        spans.add(text, [TokenLogprob(token_id, text, math.log(0.5), 1, top)])
    return spans


def forkable_pane(number: int = 2) -> tuple[PaneState, Message, Message]:
    """A pane with two turns; its last answer "The\tcat sat" has recorded tokens and prompt ids."""
    state = PaneState(number, overrides={"seed": "3"}, target=Target(LOCAL, "demo"), label="cold", heat=True)
    q1, a1 = answered(state.conversation, None, "first", "one")
    q2 = state.conversation.add(a1, USER, "second")
    pieces = [("The", 10), ("\t", 11), ("cat", 12), (" sat", 13)]
    reply = Reply(figures=Figures(DONE, 4), tokens=tokens_of(pieces), prompt_ids=[1, 2, 3],
                  target=Target(LOCAL, "demo"))
    answer = state.conversation.add(q2, ASSISTANT, "The\tcat sat", reply)
    state.conversation.add(q2, ASSISTANT, "another answer, a sibling", Reply(figures=Figures(DONE)))
    state.conversation.choose(answer)
    return state, q2, answer


def test_a_fork_with_the_token_itself_starts_with_the_parents_tokens_up_to_it():
    state, _, parent = forkable_pane()
    fork = fork_reply(parent, 2, None, None, state.number, CHAT, state.target)
    assert isinstance(fork, Reply) and fork.state == IDLE
    assert [t.text for t in fork.tokens.tokens] == ["The", "\t", "cat"]
    assert fork.forced == 3 and fork.tokens.ends == [3, 7, 10]  # a tab takes four cells
    assert fork.forced_chars == len("The\tcat")  # in characters of the text, not cells
    assert fork.given_ids == [1, 2, 3, 10, 11, 12]
    assert fork.origin == ForkOrigin(2, 3, "cat") and fork.origin.title == "fork of 2 @ 3 cat"
    assert fork.target == state.target and fork.settings == settings_record(CHAT)
    assert len(parent.reply.tokens) == 4  # the parent's tokens are not touched


def test_a_fork_with_an_alternative_takes_its_id_or_the_one_looked_up():
    state, _, parent = forkable_pane()
    fork = fork_reply(parent, 1, 2, None, 5, CHAT, None)
    chosen = fork.tokens.tokens[-1]
    assert (chosen.text, chosen.token_id, chosen.rank) == ("alt1", 911, 2)
    assert fork.given_ids == [1, 2, 3, 10, 911] and fork.origin == ForkOrigin(5, 2, "alt1")
    assert fork.origin.title == "fork of 5 @ 2 alt1"
    assert fork.forced_chars == len("The") + len("alt1")
    # A server names alternatives by text only: the id the backend looked up is used.
    nameless = parent.reply.tokens.tokens[1]
    parent.reply.tokens.tokens[1] = TokenLogprob(
        nameless.token_id, nameless.text, nameless.logprob, 1, (Alternative(None, " dog", -0.5),))
    fork = fork_reply(parent, 1, 1, 4242, 5, CHAT, None)
    assert fork.given_ids == [1, 2, 3, 10, 4242] and fork.tokens.tokens[-1].token_id == 4242


def test_a_fork_says_why_it_cannot_be_made():
    state, _, parent = forkable_pane()
    assert fork_reply(parent, 0, 3, None, 2, CHAT, None) == "this token has 2 alternatives"
    assert fork_reply(parent, 0, 0, None, 2, CHAT, None) == "this token has 2 alternatives"
    no_id = "the backend did not give the token ids a fork needs"
    parent.reply.tokens.tokens[1] = TokenLogprob(None, "\t", -0.7, 1, ())  # a token before the chosen one
    assert fork_reply(parent, 2, None, None, 2, CHAT, None) == no_id
    assert isinstance(fork_reply(parent, 0, None, None, 2, CHAT, None), Reply)  # before it: fine
    parent.reply.tokens.tokens[0] = TokenLogprob(10, "The", -0.7, 1, (Alternative(None, "A", -1.0),))
    assert fork_reply(parent, 0, 1, None, 2, CHAT, None) == no_id  # an alternative without its id
    parent.reply.prompt_ids = None  # the prompt's ids were never given
    assert fork_reply(parent, 0, None, None, 2, CHAT, None) == no_id


def test_a_fork_of_a_fork_keeps_the_prompt_before_its_given_tokens():
    state, _, parent = forkable_pane()
    fork = fork_reply(parent, 1, None, None, 2, CHAT, None)
    child = fork_state(state, parent, fork, 3)
    answer = child.conversation.last()
    answer.append("more")
    answer.reply.tokens.add("more", [TokenLogprob(50, "more", -0.1, 1, ())])
    answer.reply.prompt_ids = list(fork.given_ids)  # as the engine got it: the prompt and the given tokens
    again = fork_reply(answer, 2, None, None, 3, CHAT, None)
    assert again.given_ids == [1, 2, 3, 10, 11, 50] and again.forced == 3


def test_the_fork_pane_holds_the_thread_up_to_the_question_then_the_given_start():
    state, question, parent = forkable_pane()
    fork = fork_reply(parent, 2, 1, None, 2, CHAT, state.target)
    child = fork_state(state, parent, fork, 7)
    assert child.number == 7 and child.draft == "" and child.overrides == {"seed": "3"}
    assert (child.target, child.label, child.heat) == (state.target, "cold", True)
    assert texts(child.conversation) == [(USER, "first"), (ASSISTANT, "one"), (USER, "second"),
                                         (ASSISTANT, "The\talt0")]
    assert len(child.conversation) == 4  # the parent's other branches are not copied
    answer = child.conversation.last()
    assert answer.reply is fork and answer.reply.wrote_nothing(answer)
    child.overrides["seed"] = "4"
    assert state.overrides == {"seed": "3"}  # a pane of its own

    # Running it continues the given start from its token ids.
    turn = next_turn(child, True)
    assert turn == Turn(answer.parent, into=answer)
    running = new_reply(CHAT, state.target, STREAMING)
    written = begin_turn(child, turn, running)
    assert written is answer and answer.reply is running
    assert (running.forced, running.forced_chars, running.given_ids, running.origin) == \
        (3, len("The\talt0"), [1, 2, 3, 10, 11, 920], ForkOrigin(2, 3, "alt0"))
    assert [t.text for t in running.tokens.tokens] == ["The", "\t", "alt0"]
    request = request_for(child.conversation, answer, CHAT, "r", None)
    assert request.prompt_ids == [1, 2, 3, 10, 11, 920] and not request.chat
    assert [m["content"] for m in request.messages] == ["first", "one", "second"]
    # The parent's own thread is as it was.
    assert state.conversation.last() is parent and parent.content == "The\tcat sat"


def test_regenerating_a_forks_answer_keeps_its_given_start():
    state, _, parent = forkable_pane()
    child = fork_state(state, parent, fork_reply(parent, 1, None, None, 2, CHAT, None), 3)
    first = run_next(child)
    first.append("dog ran")
    first.reply.tokens.add("dog ran", None)
    first.reply.figures.state = DONE
    again = run_next(child)
    assert again is not first and first.parent.children == [first, again]
    assert again.content == "The\t" and again.reply.forced == 2 and len(again.reply.tokens) == 2
    assert again.reply.given_ids == [1, 2, 3, 10, 11] and again.reply.origin == ForkOrigin(2, 2, "\t")
    assert first.content == "The\tdog ran"  # the old answer is kept whole
    # A fork's answer that failed before writing past its given start is replaced.
    again.reply.figures.state = ERROR
    turn = next_turn(child, True)
    assert turn.replaces is again


def test_a_fork_of_a_first_answer_without_a_question():
    """A raw text answered with nothing before it (a file's answer without its question)."""
    state = PaneState(1)
    reply = Reply(figures=Figures(DONE), tokens=tokens_of([("a", 5), ("b", 6)]), prompt_ids=[])
    lone = state.conversation.add(None, ASSISTANT, "ab", reply)
    fork = fork_reply(lone, 1, None, None, 1, RAW, None)
    child = fork_state(state, lone, fork, 2)
    assert texts(child.conversation) == [(ASSISTANT, "ab")] and fork.given_ids == [5, 6]


# -- stale answers and comparisons ----------------------------------------------------------------
def test_an_answer_is_stale_when_its_target_or_settings_changed():
    demo, other = Target(LOCAL, "demo"), Target("gpu:8000", "big")
    reply = new_reply(CHAT, demo, DONE)
    assert stale_reason(reply, demo, CHAT) is None
    assert stale_reason(reply, Target(LOCAL, "renamed-demo"), CHAT) is None  # the engine's model is the same
    assert stale_reason(reply, other, CHAT) == "written by demo"
    assert stale_reason(reply, demo, CHAT.with_values(temperature=0.1, seed=9)) == \
        "written with other settings (temperature, seed)"
    assert stale_reason(reply, demo, Sampling(chat_template=False)) == "written with other settings (chat_template)"
    assert stale_reason(reply, demo, Sampling(system_prompt="be brief")) == \
        "written with other settings (system_prompt)"
    assert stale_reason(reply, demo, Sampling(logprobs=5)) is None  # the heat view asks for more: not stale
    assert stale_reason(reply, None, None) is None
    assert stale_reason(Reply(), other, CHAT.with_values(seed=1)) is None  # nothing recorded: nothing to compare


def test_a_comparison_starts_from_the_last_question_or_the_draft():
    state = PaneState(1)
    assert (len(comparison_start(state)[0]), comparison_start(state)[1]) == (0, "")
    q1, a1 = answered(state.conversation, None, "first", "one")
    q2, a2 = answered(state.conversation, a1, "second", "two")
    start, draft = comparison_start(state)
    assert texts(start) == [(USER, "first"), (ASSISTANT, "one"), (USER, "second")] and draft == ""
    start.add(start.last(), ASSISTANT, "elsewhere")
    assert state.conversation.last() is a2 and len(state.conversation) == 4  # a copy of its own
    state.draft = "third"
    start, draft = comparison_start(state)
    assert texts(start) == texts(state.conversation) and draft == "third"
    assert comparison_start(PaneState(2, draft="only a draft"))[1] == "only a draft"
    # Stepped to another branch: the comparison is of the thread shown.
    q2b = state.conversation.add(a1, USER, "second, other")
    state.draft = ""
    assert texts(comparison_start(state)[0])[-1] == (USER, "second, other")
    assert state.conversation.step(q2b, -1) is q2
    assert texts(comparison_start(state)[0])[-1] == (USER, "second")


# -- the conversation tree ---------------------------------------------------------------------------
def test_add_choose_step_and_siblings():
    conversation = Conversation()
    assert not conversation and conversation.path() == [] and conversation.last() is None
    q, a = answered(conversation, None, "q", "a")
    b = conversation.add(q, ASSISTANT, "b", Reply())
    c = conversation.add(q, ASSISTANT, "c", Reply())
    assert conversation.path() == [q, c] and [conversation.siblings(m) for m in (a, b, c)] == [(1, 3), (2, 3), (3, 3)]
    assert conversation.step(c, 1) is None and conversation.path() == [q, c]
    assert conversation.step(c, -2) is a and conversation.path() == [q, a]
    follow = conversation.add(a, USER, "more")
    conversation.choose(b)
    assert conversation.path() == [q, b]
    conversation.choose(follow)
    assert conversation.path() == [q, a, follow]  # choosing a message chooses its ancestors
    assert conversation.thread_to(follow) == [q, a, follow] and conversation.replies() == [a]
    assert [m.content for m in conversation.messages()] == ["q", "a", "more", "b", "c"]
    with pytest.raises(ValueError):
        conversation.add(q, "system", "no")
    with pytest.raises(ValueError):
        conversation.add(q, USER, "again", message_id=a.id)


def test_the_lowest_branch_is_the_last_message_shown_with_siblings():
    conversation = Conversation()
    assert conversation.lowest_branch() is None
    q, a = answered(conversation, None, "q", "a")
    assert conversation.lowest_branch() is None
    edited = conversation.add(None, USER, "q edited")  # an edit: a sibling of the first question
    answer = conversation.add(edited, ASSISTANT, "its answer", Reply())
    conversation.choose(answer)
    assert conversation.lowest_branch() is edited  # its answer has none: the question's ‹ 2/2 ›
    again = conversation.add(edited, ASSISTANT, "regenerated", Reply())
    conversation.choose(again)
    assert conversation.lowest_branch() is again
    conversation.choose(a)
    assert conversation.lowest_branch() is q


def test_the_path_follows_every_change_after_it_was_read():
    """The path is kept between changes of shape: a branch chosen by setting `chosen` (as the
    store does when it loads a session), or a message added, shows in the next read, and a caller
    changing the list it got changes nothing."""
    conversation = Conversation()
    q, a = answered(conversation, None, "q", "a")
    b = conversation.add(q, ASSISTANT, "b", Reply())
    read = conversation.path()
    assert read == [q, b]
    read.append(a)
    assert conversation.path() == [q, b]
    q.chosen = 0
    assert conversation.path() == [q, a]
    follow = conversation.add(a, USER, "more")
    assert conversation.path() == [q, a, follow]
    conversation.remove(follow)
    assert conversation.path() == [q, a] and [m.id for m in conversation.copy().path()] == [q.id, a.id]


def test_remove_keeps_the_path_on_the_chosen_branch():
    conversation = Conversation()
    q, a = answered(conversation, None, "q", "a")
    b = conversation.add(q, ASSISTANT, "b", Reply())
    c = conversation.add(q, ASSISTANT, "c", Reply())
    conversation.add(b, USER, "under b")
    conversation.choose(c)
    conversation.remove(b)  # not the chosen one: the path stays on c
    assert conversation.path() == [q, c] and conversation.siblings(c) == (2, 2) and len(conversation) == 3
    conversation.remove(c)  # the chosen one: the one before it is shown
    assert conversation.path() == [q, a] and conversation.siblings(a) == (1, 1)
    conversation.remove(a)
    assert conversation.path() == [q] and q.chosen == 0
    assert conversation.get(b.id) is None and [m.content for m in conversation.messages()] == ["q"]


def test_a_message_joins_its_streamed_pieces():
    message = Message(1, ASSISTANT)
    for piece in ["a", "", "b", "c"]:
        message.append(piece)
    assert message.content == "abc"
    message.append("d")
    assert message.content == "abcd" and not message.is_reply
    message.set_content("")
    assert message.content == ""


def test_a_copy_is_a_conversation_of_its_own():
    conversation = Conversation()
    q, a = answered(conversation, None, "q", "a")
    b = conversation.add(q, ASSISTANT, "b", Reply(tokens=tokens_of([("b", 7)])))
    conversation.step(b, -1)
    copied = conversation.copy()
    assert conversation_record(copied) == conversation_record(conversation)
    assert [m.id for m in copied.path()] == [q.id, a.id]
    copied.get(b.id).reply.tokens.add("x", [TokenLogprob(8, "x", -1.0, 1)])
    copied.get(b.id).reply.figures.state = ERROR
    copied.add(copied.get(a.id), USER, "only in the copy")
    assert len(b.reply.tokens) == 1 and b.reply.state == IDLE and len(conversation) == 3
    upto = conversation.copy(b)
    assert [m.content for m in upto.messages()] == ["q", "b"]
    assert upto.add(upto.get(b.id), USER, "next").id == b.id + 1  # new ids never repeat old ones


# The tree under random operations: path(), siblings() and the counts always agree with the tree.
operations = st.lists(st.tuples(st.sampled_from(["add", "add", "add", "choose", "step", "remove", "copy"]),
                                st.integers(0, 50), st.integers(-2, 2)), max_size=40)


def check_tree(conversation: Conversation) -> None:
    messages = list(conversation.messages())
    assert len(messages) == len(conversation) and bool(conversation) == bool(messages)
    seen = set()
    for message in messages:
        assert conversation.get(message.id) is message
        family = (message.parent or conversation.root).children
        assert conversation.siblings(message) == (family.index(message) + 1, len(family))
        assert message.parent is conversation.root or message.parent.id in seen  # parents first
        seen.add(message.id)
        assert message.chosen == 0 or message.chosen < len(message.children)
    path = conversation.path()
    node = conversation.root
    for message in path:  # each one is its parent's chosen child, down to a message without children
        assert message.parent is node and node.children[node.chosen] is message
        node = message
    assert not node.children
    if path:
        assert conversation.thread_to(path[-1]) == path


@settings(max_examples=300, deadline=None)
@given(operations)
def test_random_tree_operations_keep_path_and_siblings_right(steps):
    conversation = Conversation()
    for operation, pick, step in steps:
        messages = list(conversation.messages())
        target = messages[pick % len(messages)] if messages else None
        if operation == "add" or target is None:
            role = USER if target is None or target.role == ASSISTANT else ASSISTANT
            added = conversation.add(target, role, f"m{pick}", Reply() if role == ASSISTANT else None)
            assert conversation.path()[-1] is added and conversation.thread_to(added) == conversation.path()
        elif operation == "choose":
            conversation.choose(target)
            assert conversation.path()[:len(conversation.thread_to(target))] == conversation.thread_to(target)
        elif operation == "step":
            place, count = conversation.siblings(target)
            stepped = conversation.step(target, step)
            if 1 <= place + step <= count:
                assert conversation.siblings(stepped) == (place + step, count) and stepped in conversation.path()
            else:
                assert stepped is None
        elif operation == "remove":
            parent = target.parent
            shown_before = parent.children[parent.chosen]
            gone = {m.id for m in conversation.messages() if target in conversation.thread_to(m)}
            count = len(conversation)
            conversation.remove(target)
            assert len(conversation) == count - len(gone)
            assert all(conversation.get(message_id) is None for message_id in gone)
            if shown_before is not target:  # the branch shown under its parent stays shown
                assert parent.children[parent.chosen] is shown_before
        else:
            copied = conversation.copy()
            assert conversation_record(copied) == conversation_record(conversation)
            assert [m.id for m in copied.path()] == [m.id for m in conversation.path()]
            assert json.dumps(conversation_record(copied))  # JSON all the way down
        check_tree(conversation)


# -- the core alone ------------------------------------------------------------------------------------
def test_the_core_loads_neither_textual_nor_vllm():
    code = ("import json, sys, tui.core.conversation, tui.core.pane_state, tui.core.records, tui.core.run, "
            "tui.core.tokens\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(result.stdout))
    assert "tui" in loaded  # the check ran where the core was imported
    assert not loaded & {"textual", "vllm", "torch"}, sorted(loaded & {"textual", "vllm", "torch"})


def test_a_message_has_content_once_a_piece_of_text_arrives():
    message = Message(1, ASSISTANT)
    message.append("")
    assert not message.has_content and message.content == ""
    message.append("An")
    message.append(" answer")
    assert message.has_content and message.content == "An answer"
    message.set_content("")
    assert not message.has_content


def test_an_earlier_answer_with_nothing_recorded_has_no_footer_line():
    """An earlier answer of a run reopened from the history has no figures: its footer was a bare
    `↳`. One with figures keeps its line."""
    from tui.thread_text import thread_text

    conversation = Conversation()
    q1 = conversation.add(None, USER, "first")
    a1 = conversation.add(q1, ASSISTANT, "an answer with nothing recorded")
    q2 = conversation.add(a1, USER, "second")
    a2 = conversation.add(q2, ASSISTANT, "the last answer", Reply(figures=Figures(DONE, 3, 12.3)))
    thread = conversation.thread_to(a2)
    assert "↳" not in thread_text(thread, a2).text
    a1.reply = Reply(figures=Figures(DONE))  # as the history reopens it: done, no figures
    assert "↳" not in thread_text(thread, a2).text
    a1.reply = Reply(figures=Figures(DONE, 3, 12.3))
    assert "↳ TTFT 12 ms · 3 tok" in thread_text(thread, a2).text
