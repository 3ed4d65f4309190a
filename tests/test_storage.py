"""Session and config files: atomic writes, every conversation kept whole, a version-1 session opened
as conversations with nothing lost, and bad files moved aside instead of lost."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.app import make_app, saved_pane, session_of
from tui.config import load_config, save_theme
from tui.core.conversation import ASSISTANT, USER, Conversation, ForkOrigin, Reply
from tui.core.pane_state import PaneState
from tui.core.records import MAX_MESSAGES, conversation_record, pane_from_record, pane_record
from tui.core.run import settings_record
from tui.core.tokens import TokenSpans
from tui.engine.logprobs import Alternative, TokenLogprob
from tui.engine.params import MAX_LOGPROBS, SPECS_BY_NAME, Sampling
from tui.engine.protocol import LOCAL, Target
from tui.figures import CANCELLED, DONE, ERROR, IDLE, Figures
from tui.session import SESSION_VERSION, SessionRecord, load_session, save_session

ROOT = Path(__file__).resolve().parent.parent


def answer_reply(pieces: list[tuple[str, int, float]], **kw) -> Reply:
    """A finished answer's reply with recorded tokens (text, id, logprob), each with one alternative."""
    tokens = TokenSpans()
    for text, token_id, logprob in pieces:
        tokens.add(text, [TokenLogprob(token_id, text, logprob, 1, (Alternative(token_id, text, logprob),
                                                                     Alternative(None, "other", -3.0)))])
    figures = Figures(DONE, len(pieces), 41.5, 230.0, "stop", queued_ms=1.0, prefill_ms=12.5, decode_ms=80.0,
                      prompt_tokens=9, cached_tokens=4)
    return Reply(figures=figures, tokens=tokens, **kw)


def rich_session() -> SessionRecord:
    """Two turns with a regenerated answer and an edited question, a fork, a draft, every setting."""
    demo, server = Target(LOCAL, "demo", "proverbs"), Target("gpu:8000", "org/big")
    state = PaneState(3, draft="a third question", overrides={"seed": "7", "temperature": ""}, target=server,
                      label="T=0", heat=True)
    conversation = state.conversation
    q1 = conversation.add(None, USER, "hi\tthere")
    a1 = conversation.add(q1, ASSISTANT, "hello\tyou", answer_reply(
        [("hello", 5, -0.1), ("\t", 6, -math.inf), ("you", 7, -1.25)], target=server,
        settings=settings_record(Sampling(system_prompt="be brief")), prompt_ids=[1, 2, 3],
        logprobs_mode="processed_logprobs", started_at=1_700_000_000.5))
    conversation.add(q1, ASSISTANT, "", Reply(figures=Figures(ERROR, message="the server went quiet")))
    conversation.choose(a1)
    q2 = conversation.add(a1, USER, "and?")
    conversation.add(q2, ASSISTANT, "and so on", Reply(figures=Figures(CANCELLED, 3)))
    conversation.add(a1, USER, "and, edited?")
    state.editing = q2.id
    fork = PaneState(5, target=demo)
    asked = fork.conversation.add(None, USER, "hi\tthere")
    fork.conversation.add(asked, ASSISTANT, "hello", answer_reply(
        [("hello", 5, -0.1)], forced=1, forced_chars=5, given_ids=[1, 2, 3, 5], origin=ForkOrigin(3, 1, "hello"),
        prompt_ids=[1, 2, 3, 5]))
    return SessionRecord(defaults={"temperature": "0.5", "max_tokens": "64"}, chat_template=False,
                         system_prompt="be brief", panes=[state, fork, PaneState(9, draft="only a draft")],
                         default_target=demo, next_number=12, composer="to every pane")


def test_session_round_trip(tmp_path):
    path = tmp_path / "session.json"
    record = rich_session()
    save_session(record, path)
    loaded, notice = load_session(path)
    assert notice is None and loaded.to_data() == record.to_data()
    assert json.loads(path.read_text())["version"] == SESSION_VERSION == 2
    pane, fork, draft = loaded.panes
    # What the round trip is for: the panes come back as they were.
    assert [(m.role, m.content) for m in pane.conversation.path()] == [
        (USER, "hi\tthere"), (ASSISTANT, "hello\tyou"), (USER, "and, edited?")]
    q1 = pane.conversation.path()[0]
    assert [m.content for m in q1.children] == ["hello\tyou", ""]
    assert pane.conversation.siblings(pane.conversation.path()[2]) == (2, 2)
    assert pane.editing == pane.conversation.path()[1].children[0].id and pane.draft == "a third question"
    reply = pane.conversation.path()[1].reply
    assert reply.tokens.ends == [5, 9, 12] and reply.tokens.tokens[1].logprob == -math.inf
    assert reply.tokens.tokens[0].top[1] == Alternative(None, "other", -3.0)
    assert (reply.figures.cached_tokens, reply.figures.prefill_ms, reply.started_at) == (4, 12.5, 1_700_000_000.5)
    assert fork.conversation.last().reply.origin.title == "fork of 3 @ 1 hello"
    assert fork.conversation.last().reply.given_ids == [1, 2, 3, 5] and draft.draft == "only a draft"
    assert (loaded.next_number, loaded.composer, loaded.default_target) == (12, "to every pane", record.default_target)


def test_a_session_saved_mid_stream_opens_with_the_answer_cancelled(tmp_path):
    path = tmp_path / "session.json"
    save_session(session_of([saved_pane(prompt="q", output="half an", state="streaming"),
                             saved_pane(prompt="q", output="", state="queued")]), path)
    loaded, notice = load_session(path)
    assert notice is None
    assert [p.conversation.last().reply.state for p in loaded.panes] == [CANCELLED, CANCELLED]
    assert loaded.panes[0].conversation.last().content == "half an"


def test_corrupt_session_is_moved_aside(tmp_path):
    path = tmp_path / "session.json"
    path.write_text('{"version": 2, "panes": [')
    loaded, notice = load_session(path)
    assert loaded is None and "the saved session is not JSON" in notice
    assert not path.exists()
    moved = list(tmp_path.glob("session.json.bad-*"))
    assert len(moved) == 1 and moved[0].read_text() == '{"version": 2, "panes": [' and str(moved[0]) in notice


def test_save_interrupted_mid_write_keeps_the_previous_session(tmp_path):
    path = tmp_path / "session.json"
    save_session(session_of([saved_pane(prompt="old")]), path)
    # A process killed while writing a big session: it never reaches the rename.
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "import tui.storage as s\n"
        "def die(*a): os.kill(os.getpid(), 9)\n"
        "s.os.replace = die\n"
        "from tests.support.app import saved_pane, session_of\n"
        "from tui.session import save_session\n"
        f"save_session(session_of([saved_pane(prompt='new' * 100000, output='x' * 100000, state='done')]), "
        f"Path({str(path)!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == -9, result.stderr
    loaded, notice = load_session(path)
    assert notice is None and loaded.panes[0].draft == "old" and not loaded.panes[0].conversation


# -- the records: random conversation trees through JSON -----------------------------------------------
short_text = st.text(max_size=12)
ids = st.lists(st.integers(0, 2**31), max_size=5)
logprobs = st.floats(max_value=0.0, allow_nan=False, allow_infinity=False) | st.just(-math.inf)
targets = st.none() | st.builds(Target, st.just(LOCAL) | st.sampled_from(["gpu:8000", "[::1]:9"]),
                                 short_text, st.none() | short_text)


@st.composite
def token_spans(draw) -> tuple[str, TokenSpans]:
    """An answer's text and its recorded tokens, as a run records them (a tail may have none)."""
    spans = TokenSpans()
    pieces = []
    for _ in range(draw(st.integers(0, 6))):
        text = draw(st.text(alphabet=st.characters(codec="utf-8") | st.just("\t"), max_size=4))
        top = draw(st.lists(st.builds(Alternative, st.none() | st.integers(0, 10**6), short_text, logprobs),
                            max_size=3))
        token = TokenLogprob(draw(st.none() | st.integers(0, 10**6)), text, draw(logprobs),
                             draw(st.none() | st.integers(1, 50)), tuple(top))
        spans.add(text, [token])
        pieces.append(text)
    tail = draw(short_text)
    spans.add(tail, None)
    return "".join(pieces) + tail, spans


@st.composite
def replies(draw, text: str, tokens: TokenSpans) -> Reply:
    figures = Figures(draw(st.sampled_from([IDLE, DONE, CANCELLED, ERROR])), draw(st.integers(0, 10**6)),
                      *draw(st.tuples(*[st.none() | st.floats(0, 1e9)] * 2)), draw(st.none() | short_text),
                      draw(short_text), *draw(st.tuples(*[st.none() | st.floats(0, 1e9)] * 3)),
                      *draw(st.tuples(*[st.none() | st.integers(0, 10**6)] * 2)))
    sampling = Sampling(draw(st.fixed_dictionaries({}, optional={
        "temperature": st.floats(0, 2), "seed": st.none() | st.integers(0, 2**31), "max_tokens": st.integers(1, 99)})),
        draw(st.booleans()), draw(short_text), draw(st.integers(0, MAX_LOGPROBS)))
    return Reply(figures=figures, tokens=tokens, target=draw(targets),
                 settings=draw(st.none() | st.just(settings_record(sampling))),
                 prompt_ids=draw(st.none() | ids), logprobs_mode=draw(st.none() | short_text),
                 forced=draw(st.integers(0, len(tokens))), forced_chars=draw(st.integers(0, len(text))),
                 given_ids=draw(st.none() | ids),
                 origin=draw(st.none() | st.builds(ForkOrigin, st.integers(1, 99), st.integers(1, 99), short_text)),
                 started_at=draw(st.none() | st.floats(0, 2e9)))


@st.composite
def pane_states(draw) -> PaneState:
    """A pane whose conversation grew at random: questions, answers with tokens, branches anywhere,
    any branch chosen in the end."""
    conversation = Conversation()
    for _ in range(draw(st.integers(0, 12))):
        messages = list(conversation.messages())
        parent = draw(st.none() | st.sampled_from(messages)) if messages else None
        role = draw(st.sampled_from([USER, ASSISTANT]))
        if role == ASSISTANT and draw(st.booleans()):
            text, tokens = draw(token_spans())
            conversation.add(parent, role, text, draw(replies(text, tokens)))
        else:
            conversation.add(parent, role, draw(st.text(max_size=20)))
    messages = list(conversation.messages())
    if messages:
        conversation.choose(draw(st.sampled_from(messages)))
    questions = [m.id for m in messages if m.role == USER]
    return PaneState(draw(st.integers(1, 10**4)), conversation, draw(st.text(max_size=20)),
                     draw(st.dictionaries(st.sampled_from(sorted(SPECS_BY_NAME)), st.text(max_size=8), max_size=3)),
                     draw(targets), draw(st.text(max_size=10)), draw(st.booleans()),
                     draw(st.none() | st.sampled_from(questions)) if questions else None)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pane_states())
def test_random_conversation_trees_come_back_from_json_as_they_were(state):
    record = pane_record(state)
    loaded = pane_from_record(json.loads(json.dumps(record)), "pane")
    assert pane_record(loaded) == record
    # Not only the record: the tree itself, and the thread the pane shows.
    assert [m.id for m in loaded.conversation.path()] == [m.id for m in state.conversation.path()]
    assert [(m.id, loaded.conversation.siblings(m)) for m in loaded.conversation.messages()] == \
        [(m.id, state.conversation.siblings(m)) for m in state.conversation.messages()]
    for before, after in zip(state.conversation.messages(), loaded.conversation.messages()):
        assert after.content == before.content and after.role == before.role
        if before.reply is not None:
            assert after.reply.tokens.ends == before.reply.tokens.ends
            assert [t.text for t in after.reply.tokens.tokens] == [t.text for t in before.reply.tokens.tokens]
            assert after.reply.tokens.bands == before.reply.tokens.bands
            assert after.reply.origin == before.reply.origin and after.reply.target == before.reply.target


def test_a_conversation_of_more_messages_than_a_file_holds_is_refused():
    conversation = Conversation()
    parent = None
    for index in range(MAX_MESSAGES + 1):
        parent = conversation.add(parent, USER if index % 2 == 0 else ASSISTANT, "m")
    from tui.core.records import conversation_from_record
    from tui.validate import FieldError

    with pytest.raises(FieldError, match=r"^c\.messages: has more than 10000 items"):
        conversation_from_record(conversation_record(conversation), "c")


# -- a version-1 session ------------------------------------------------------------------------------
def version_1_data() -> dict:
    """A session as version 1 of the app wrote it: one prompt and one answer per pane."""
    tokens = [{"text": "The", "id": 464, "logprob": -0.25, "rank": 1,
               "top": [{"text": "The", "id": 464, "logprob": -0.25}, {"text": "A", "id": 32, "logprob": -1.75}],
               "end": 3},
              {"text": " cat", "id": 3797, "logprob": None, "rank": None,
               "top": [{"text": " dog", "id": None, "logprob": -0.5}], "end": 7}]
    return {"version": 1, "defaults": {"temperature": "0.5"}, "chat_template": True, "system_prompt": "be kind",
            "default_target": {"server": None, "model": "demo", "adapter": None},
            "panes": [
                {"prompt": "Tell me", "overrides": {"seed": "7"}, "output": "The cat sat", "state": "done",
                 "tokens": 3, "ttft_ms": 49.5, "tok_s": 266.0, "finish_reason": "length", "message": "",
                 "heat": True, "token_logprobs": tokens, "logprobs_mode": "raw_logprobs",
                 "prompt_ids": [1, 2, 3], "fork": None,
                 "target": {"server": "gpu:8000", "model": "org/big", "adapter": None}, "label": "T=0.5"},
                {"prompt": "Tell me The", "overrides": {}, "output": " dog ran", "state": "error", "tokens": 2,
                 "ttft_ms": None, "tok_s": None, "finish_reason": None, "message": "the server went quiet",
                 "heat": False, "token_logprobs": [], "logprobs_mode": None, "prompt_ids": [1, 2, 3, 464],
                 "fork": {"parent": 1, "at": 2, "token": " dog", "ids": [1, 2, 3, 464], "text": "Tell me The"},
                 "target": {"server": None, "model": "demo", "adapter": "proverbs"}, "label": ""},
                {"prompt": "not run yet", "overrides": {"max_tokens": "9"}, "output": "", "state": "idle",
                 "tokens": 0, "ttft_ms": None, "tok_s": None, "finish_reason": None, "message": "",
                 "heat": False, "target": None, "label": ""},
                {"prompt": "quit mid-stream", "output": "half", "state": "streaming", "tokens": 1},
            ]}


def test_a_version_1_session_opens_as_one_turn_conversations_and_nothing_is_lost(tmp_path):
    path = tmp_path / "session.json"
    data = version_1_data()
    text = json.dumps(data, indent=1)
    path.write_text(text)
    record, notice = load_session(path)
    (kept,) = tmp_path.glob("session.json.kept-*")
    assert kept.read_text() == text and path.read_text() == text  # nothing written over yet
    assert notice == f"the saved session was opened as conversations (the old file is kept as {kept})"
    assert (record.defaults, record.chat_template, record.system_prompt) == ({"temperature": "0.5"}, True, "be kind")
    assert record.default_target == Target(LOCAL, "demo")
    assert [p.number for p in record.panes] == [1, 2, 3, 4]

    answered, fork, draft, cut = record.panes
    assert [(m.role, m.content) for m in answered.conversation.path()] == [(USER, "Tell me"),
                                                                          (ASSISTANT, "The cat sat")]
    assert len(answered.conversation) == 2 and answered.draft == ""
    assert (answered.overrides, answered.heat, answered.label) == ({"seed": "7"}, True, "T=0.5")
    assert answered.target == Target("gpu:8000", "org/big")
    reply = answered.conversation.last().reply
    assert reply.figures == Figures(DONE, 3, 49.5, 266.0, "length", "")
    assert reply.target == answered.target and reply.prompt_ids == [1, 2, 3]
    assert reply.logprobs_mode == "raw_logprobs" and reply.origin is None and reply.given_ids is None
    assert reply.tokens.ends == [3, 7] and reply.tokens.length == len("The cat sat")
    first, second = reply.tokens.tokens
    assert first == TokenLogprob(464, "The", -0.25, 1, (Alternative(464, "The", -0.25), Alternative(32, "A", -1.75)))
    assert second == TokenLogprob(3797, " cat", -math.inf, None, (Alternative(None, " dog", -0.5),))

    assert [(m.role, m.content) for m in fork.conversation.path()] == [(USER, "Tell me The"),
                                                                      (ASSISTANT, " dog ran")]
    reply = fork.conversation.last().reply
    assert reply.origin == ForkOrigin(1, 2, " dog") and reply.origin.title == "fork of 1 @ 2 ␣dog"
    assert reply.given_ids == [1, 2, 3, 464] and reply.question_ids == [1, 2, 3, 464]
    assert reply.figures == Figures(ERROR, 2, message="the server went quiet")
    assert fork.target == reply.target == Target(LOCAL, "demo", "proverbs")

    assert draft.draft == "not run yet" and not draft.conversation and draft.overrides == {"max_tokens": "9"}
    assert cut.conversation.last().reply.state == CANCELLED and cut.conversation.last().content == "half"

    # Saved again it is a version-2 file with the same panes; the old one stays beside it.
    save_session(record, path)
    again, notice = load_session(path)
    assert notice is None and again.to_data() == record.to_data()
    assert json.loads(path.read_text())["version"] == 2 and kept.read_text() == text


def test_a_version_1_fork_keeps_the_prompt_as_it_was_typed(tmp_path):
    """Version 1 showed and saved the prompt; the fork's copy of it only told whether it had been
    edited since. The prompt is what the person sees again."""
    data = version_1_data()
    data["panes"][1]["prompt"] = "Tell me The (edited)"
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    record, _ = load_session(path)
    assert record.panes[1].conversation.path()[0].content == "Tell me The (edited)"


@pytest.mark.parametrize("change, field", [
    (lambda d: d["panes"][0]["token_logprobs"][1].update(end=99), "panes[0].token_logprobs[1].end: must be between"),
    (lambda d: d["panes"][0]["token_logprobs"][0].update(logprob=0.5), "panes[0].token_logprobs[0].logprob: must be ≤ 0"),
    (lambda d: d["panes"][1]["fork"].update(at=0), "panes[1].fork.at: must be ≥ 1"),
    (lambda d: d["panes"][1]["fork"].update(ids="1 2"), "panes[1].fork.ids: must be a list"),
    (lambda d: d["panes"][2].update(number=1), "panes[2].number: is not a setting here"),  # a v2 key in v1
])
def test_a_bad_field_of_a_version_1_session_is_named(tmp_path, change, field):
    data = version_1_data()
    change(data)
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    record, notice = load_session(path)
    assert record is None and field in notice
    (moved,) = tmp_path.glob("session.json.bad-*")
    assert json.loads(moved.read_text()) == data and not list(tmp_path.glob("session.json.kept-*"))


@pytest.mark.ui
async def test_a_version_1_session_shows_its_threads_in_the_workbench(tmp_path):
    path = tmp_path / "session.json"
    path.write_text(json.dumps(version_1_data()))
    record, _ = load_session(path)
    app = make_app(session=record)
    app.save_session_now = lambda: None
    async with app.run_test(size=(200, 40)) as pilot:
        await pilot.pause()
        answered, fork, draft, cut = app.workbench.panes()
        assert answered.output.text == "› Tell me\n\nThe cat sat" and answered.answer == "The cat sat"
        assert answered.spans.ends == [3, 7] and answered.output.lines_of(0) == [answered.output.line_at(
            answered.output.base)]
        title = str(fork.border_title)  # the fork's origin, in full or (a narrow pane) short
        assert "fork of 1 @ 2 ␣dog" in title or "⑂1@2" in title
        assert draft.draft == "not run yet" and draft.editor.text == "not run yet"
        assert cut.figures.state == CANCELLED
        # The panes are saved again as they were opened (the settings bar and the numbering add
        # the defaults the app fills in).
        assert [pane_record(s) for s in app.workbench.session_record().panes] == \
            [pane_record(s) for s in record.panes]


# -- config ---------------------------------------------------------------------------------------
def test_config_defaults_and_values(tmp_path):
    path = tmp_path / "config.toml"
    assert load_config(path).theme is None
    path.write_text('theme = "panes-light"\n[engine]\nmodel = "/m"\nflags = ["--max-model-len", "512"]\n'
                    '[sampling]\ntemperature = 0.3\nseed = 1\nchat_template = false\n')
    config = load_config(path)
    assert config.theme == "panes-light" and config.model == "/m"
    assert config.engine_flags == ["--max-model-len", "512"]
    assert config.sampling["temperature"] == 0.3 and config.sampling["seed"] == 1
    assert config.sampling.chat_template is False and config.notices == []


def test_bad_config_is_moved_aside_with_a_notice(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[sampling]\ntemperature = 9\n")
    config = load_config(path)
    assert config.sampling["temperature"] == 0.8
    assert "temperature must be in [0, 2]" in config.notices[0] and not path.exists()
    path.write_text("this is = = not toml")
    assert "the config file cannot be read" in load_config(path).notices[0]


def test_theme_choice_persists_and_keeps_other_settings(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[sampling]\nseed = 5\n')
    save_theme("panes-high-contrast", path)
    config = load_config(path)
    assert config.theme == "panes-high-contrast" and config.sampling["seed"] == 5
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
