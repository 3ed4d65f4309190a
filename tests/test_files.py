"""Files a person may edit by hand: every field is checked, a bad file is moved aside with a notice
that names the field, never a crash, and nothing the person wrote is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.app import saved_pane, session_of
from tui import locations
from tui.batch import BatchError, load_batch
from tui.config import load_config
from tui.engine.logprobs import Alternative, TokenLogprob
from tui.session import MAX_PANES, load_session, save_session
from tui.themes import discover_themes, load_theme_file
from tui.validate import FieldError

# Any JSON value (TOML: without null), nested a little.
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
toml_scalars = st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=12)
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=4), max_leaves=12)
SESSION_KEYS = ["version", "defaults", "chat_template", "system_prompt", "panes", "default_target", "next_number",
                "composer"]
V1_PANE_KEYS = ["prompt", "overrides", "output", "state", "tokens", "ttft_ms", "tok_s", "finish_reason", "message",
                "target", "label", "token_logprobs", "fork"]


def sometimes_extra(records):
    """Now and then a key the file format does not have."""
    return st.tuples(records, st.integers(0, 9)).map(lambda pair: {**pair[0], "extra": 1} if pair[1] == 0 else pair[0])


def either(plausible):
    """Mostly a value of the right shape, sometimes any JSON value: the validator meets both at every
    depth (odd values everywhere would stop it at the first level)."""
    return st.integers(0, 7).flatmap(lambda n: json_values if n == 0 else plausible)


small_ids = st.integers(0, 4)
tokens_like = st.fixed_dictionaries({}, optional={
    name: either(st.lists(values, max_size=3)) for name, values in {
        "text": st.text(max_size=3), "id": st.none() | small_ids, "logprob": st.none() | st.floats(-5, 1),
        "rank": st.none() | small_ids, "end": st.integers(-1, 8),
        "top": st.lists(st.tuples(st.none() | small_ids, st.text(max_size=3), st.floats(-5, 0)).map(list)
                        | json_values, max_size=2)}.items()})
reply_like = st.fixed_dictionaries({}, optional={
    "figures": either(st.fixed_dictionaries({}, optional={
        "state": either(st.sampled_from(["done", "streaming", "error", "idle"])), "tokens": either(small_ids),
        "ttft_ms": either(st.floats(0, 100)), "cached_tokens": either(small_ids)})),
    "tokens": either(tokens_like), "target": either(st.fixed_dictionaries({"model": either(st.text(max_size=4))})),
    "settings": either(st.fixed_dictionaries({}, optional={"temperature": json_values, "chat_template": json_values})),
    "forced": either(small_ids), "forced_chars": either(small_ids), "given_ids": either(st.lists(small_ids)),
    "origin": either(st.none() | st.fixed_dictionaries({"pane": either(small_ids), "at": either(small_ids),
                                                        "token": either(st.text(max_size=3))}))})
message_like = sometimes_extra(st.fixed_dictionaries({"id": either(st.integers(1, 5))}, optional={
    "parent": either(st.none() | st.integers(1, 4)), "role": either(st.sampled_from(["user", "assistant"])),
    "content": either(st.text(max_size=8)), "chosen": either(small_ids), "reply": sometimes_extra(reply_like)}))
v2_pane = sometimes_extra(st.fixed_dictionaries({"number": either(st.integers(0, 30))}, optional={
    "draft": either(st.text(max_size=4)),
    "overrides": either(st.dictionaries(st.sampled_from(["seed", "top_k"]), st.text(max_size=3))),
    "target": either(st.none()), "label": either(st.text(max_size=4)), "heat": either(st.booleans()),
    "editing": either(st.none() | small_ids),
    "conversation": either(st.fixed_dictionaries({}, optional={
        "chosen": either(small_ids), "messages": either(st.lists(message_like, max_size=4))}))}))
v1_pane = st.dictionaries(st.sampled_from(V1_PANE_KEYS + ["extra"]), json_values, max_size=6)


def version_1_file() -> dict:
    return {"version": 1, "defaults": {"temperature": "0.5"}, "chat_template": True, "system_prompt": "",
            "panes": [{"prompt": "keep me", "overrides": {}, "output": "answer", "state": "done", "tokens": 3,
                       "ttft_ms": 12.0, "tok_s": 100.0, "finish_reason": "stop", "message": ""}]}


def version_2_file() -> dict:
    """A session as the app writes it: a question, two answers (one with tokens, one a fork's), a draft."""
    tokens = {"text": ["ans", "wer"], "id": [10, 11], "logprob": [-0.5, None], "rank": [1, None],
              "end": [3, 6], "top": [[[10, "ans", -0.5], [12, "an", -1.5]], []]}
    reply = {"figures": {"state": "done", "tokens": 2, "ttft_ms": 12.0}, "tokens": tokens,
             "target": {"server": None, "model": "demo", "adapter": None}, "settings": {"temperature": 0.5},
             "prompt_ids": [1, 2], "logprobs_mode": None, "forced": 0, "forced_chars": 0, "given_ids": None,
             "origin": None, "started_at": 1.5}
    fork = {**reply, "forced": 1, "forced_chars": 3, "given_ids": [1, 2, 10],
            "origin": {"pane": 1, "at": 1, "token": "ans"},
            "usage": {"completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 0}, "own": [1]}}
    return {"version": 2, "defaults": {"temperature": "0.5"}, "chat_template": True, "system_prompt": "",
            "default_target": None, "next_number": 3, "composer": "",
            "panes": [{"number": 1, "draft": "keep me too", "overrides": {}, "target": None, "label": "",
                       "heat": True, "editing": None, "conversation": {"chosen": 0, "messages": [
                           {"id": 1, "parent": None, "role": "user", "content": "keep me", "chosen": 1},
                           {"id": 2, "parent": 1, "role": "assistant", "content": "answer", "reply": reply},
                           {"id": 3, "parent": 1, "role": "assistant", "content": "ans, again", "reply": fork}]}},
                      {"number": 2, "draft": "only a draft"}]}


def places(node, where=()):
    """Every place in a JSON tree, as the keys and indices that lead to it."""
    yield where
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield from places(value, (*where, key))


@st.composite
def edited_sessions(draw):
    """A good session file (version 2 or 1) edited by hand at one to three random places, at any
    depth: a value replaced by any JSON value, a key or item taken out, a key added."""
    data = draw(st.sampled_from([version_2_file, version_1_file]))()
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(places(data))))
        if not where:
            continue
        *outer, last = where
        parent = data
        for key in outer:
            parent = parent[key]
        change = draw(st.sampled_from(["replace", "remove", "add"]))
        if change == "replace":
            parent[last] = draw(json_values)
        elif change == "remove":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=6))] = draw(json_values)
        elif isinstance(parent[last], list):
            parent[last].append(draw(json_values))
    return data


def session_like():
    """Session-shaped JSON, version 2 or 1, with any value anywhere: the validator meets the right
    keys, down to a message's reply's tokens."""
    optional = {"defaults": either(st.dictionaries(st.sampled_from(["seed", "temperature"]), st.text(max_size=3))),
                "chat_template": either(st.booleans()), "system_prompt": either(st.text(max_size=4)),
                "default_target": either(st.none()), "next_number": either(st.integers(0, 9)),
                "composer": either(st.text(max_size=4))}
    return (st.fixed_dictionaries({"version": either(st.just(2))},
                                  optional={**optional, "panes": either(st.lists(v2_pane, max_size=3))})
            | st.fixed_dictionaries({"version": st.just(1)},
                                    optional={**optional, "panes": either(st.lists(v1_pane, max_size=3))}))


def config_like():
    item = st.dictionaries(st.sampled_from(["url", "api_key_env", "models", "name", "path", "other"]),
                           toml_values, max_size=3)
    return st.dictionaries(st.sampled_from(["theme", "backend", "engine", "remote", "sampling", "other",
                                            "remotes", "adapters"]),
                           toml_values | st.lists(item, max_size=2) | st.dictionaries(st.sampled_from(
                               ["model", "flags", "base_url", "read_timeout", "temperature", "seed",
                                "chat_template", "system_prompt", "top_k"]), toml_values, max_size=4),
                           max_size=5)


@settings(max_examples=500, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(edited_sessions(), session_like(), json_values))
def test_any_session_file_is_read_or_set_aside_with_a_notice(tmp_path, data):
    path = tmp_path / "session.json"
    for old in tmp_path.glob("session.json*"):
        old.unlink()
    text = json.dumps(data)
    path.write_text(text, encoding="utf-8")
    record, notice = load_session(path)
    if record is None:
        assert notice and notice.startswith("the saved session ") and "\n" not in notice and "\x1b" not in notice
        assert not path.exists()
        (moved,) = tmp_path.glob("session.json.bad-*")
        assert moved.read_text(encoding="utf-8") == text and str(moved) in notice
    else:
        assert len(record.panes) <= MAX_PANES
        if record.version == 1:  # opened as conversations: the old file is kept beside
            (kept,) = tmp_path.glob("session.json.kept-*")
            assert kept.read_text(encoding="utf-8") == text and "opened as conversations" in notice
        else:
            assert notice is None
        save_session(record, path)  # what was read can be written again, and read back the same
        again, notice = load_session(path)
        assert notice is None and again.to_data() == record.to_data()


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config_like())
def test_any_config_file_is_read_or_set_aside_with_a_notice(tmp_path, data):
    path = tmp_path / "config.toml"
    for old in tmp_path.glob("config.toml*"):
        old.unlink()
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    config = load_config(path)
    if config.notices:
        assert "the config file has a bad value" in config.notices[0] and not path.exists()


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["name", "primary", "dark", "variables", "text_alpha", "accent", "x"]),
                       toml_values, max_size=5))
def test_any_theme_file_is_read_or_refused_with_the_field(tmp_path, data):
    path = tmp_path / "mine.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    try:
        theme = load_theme_file(path)
    except FieldError as exc:
        assert exc.field and exc.reason
    else:
        assert theme.name


chat_message = either(st.fixed_dictionaries({"role": either(st.sampled_from(["system", "user", "assistant"])),
                                             "content": either(st.text(max_size=4))}))
# Message lists, often of the shape a batch takes (a system message first, a user message last).
openai_messages = st.tuples(st.booleans(), st.lists(chat_message, max_size=3), st.booleans()).map(
    lambda parts: [{"role": "system", "content": "s"}] * parts[0] + parts[1] + [{"role": "user", "content": "q"}] * parts[2])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(json_values, st.dictionaries(st.sampled_from(["prompt", "prompts", "temperature",
                                                                          "seed", "max_tokens", "chat_template",
                                                                          "system_prompt", "messages", "turns"]),
                                                         json_values, max_size=4),
                          st.fixed_dictionaries({"messages": either(openai_messages)},
                                                optional={"seed": either(st.integers(0, 9)), "turns": json_values}),
                          st.fixed_dictionaries({"turns": either(st.lists(st.text(max_size=4), max_size=3))},
                                                optional={"seed": either(st.integers(0, 9))})),
                min_size=1, max_size=3))
def test_any_batch_file_is_run_or_refused_with_its_line(tmp_path, lines):
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    try:
        jobs = load_batch(path)
    except BatchError as exc:
        assert str(exc).startswith(f"{path}:") and "Traceback" not in str(exc)
    else:
        assert jobs and all(isinstance(job.prompt, str) for job in jobs)
        for job in jobs:  # a conversation to continue: roles the model knows, answered from a user message
            conversation, question = job.conversation()
            assert question.role == "user" and conversation.path()[-1] is question
            assert all(role in ("user", "assistant") and isinstance(text, str) for role, text in job.before)
            assert all(isinstance(text, str) and text.strip() for text in job.then)


def test_the_files_these_tests_edit_are_good_ones(tmp_path):
    """The bad-field tests below change one field of these: unchanged, each opens."""
    for data in (version_1_file(), version_2_file()):
        path = tmp_path / "session.json"
        path.write_text(json.dumps(data))
        record, notice = load_session(path)
        assert record is not None and record.panes[0].conversation.path()[0].content == "keep me", notice
    assert [m.content for m in record.panes[0].conversation.path()] == ["keep me", "ans, again"]
    assert record.panes[0].conversation.last().reply.usage == version_2_file()["panes"][0]["conversation"][
        "messages"][2]["reply"]["usage"]  # a server's, as it sent it
    data = {**version_2_file(), "arena": arena_record({"id": "7-1", "left": "b", "right": "a", "seed": 3,
                                                       "outcomes": [], "panes": [1, 4], "turns_sent": 1},
                                                      overrides=[["temperature", "0.2"]])}
    path.write_text(json.dumps(data))
    record, notice = load_session(path)
    assert notice is None and record.to_data()["arena"] == {**data["arena"], "fixed_seed": None,
                                                            "battle": {**data["arena"]["battle"], "turns": 1},
                                                            "contestants": [data["arena"]["contestants"][0],
                                                                            {"name": "b", "target": None,
                                                                             "overrides": []}]}


def arena_record(battle=None, overrides=()) -> dict:
    """An arena as a session keeps it: contestants a and b, and `battle` when one waits."""
    return {"contestants": [{"name": "a", "target": None, "overrides": [list(p) for p in overrides]},
                            {"name": "b", "target": None}], "turns": 1, "count": 1, "votes": 2, "battle": battle}


def message(data, index):
    return data["panes"][0]["conversation"]["messages"][index]


def reply_of(data, index=1):
    return message(data, index)["reply"]


M = "panes[0].conversation.messages"


@pytest.mark.parametrize("make, change, field", [
    (version_1_file, lambda d: d["panes"][0].update(overrides={"seed": 42}), "panes[0].overrides.seed: must be a string"),
    (version_1_file, lambda d: d["panes"][0].update(ttft_ms="12"), "panes[0].ttft_ms: must be a number or null, not '12'"),
    (version_1_file, lambda d: d["panes"][0].update(state="exploded"), "panes[0].state: must be one of"),
    (version_1_file, lambda d: d["panes"][0].update(tokens=-3), "panes[0].tokens: must be ≥ 0"),
    (version_1_file, lambda d: d["panes"][0].update(promt="typo"), "panes[0].promt: is not a setting here"),
    (version_1_file, lambda d: d["panes"][0].update(target={"model": 3}), "panes[0].target.model: must be a string"),
    (version_1_file, lambda d: d["panes"][0].update(target={"model": "m", "lora": "x"}),
     "panes[0].target.lora: is not a setting"),
    (version_1_file, lambda d: d["panes"][0].update(label=["a"]), "panes[0].label: must be a string"),
    (version_2_file, lambda d: d.update(chat_template="yes"), "chat_template: must be true or false"),
    (version_2_file, lambda d: d.update(panes={"a": 1}), "panes: must be a list"),
    (version_2_file, lambda d: d.update(default_target="demo"), "default_target: must be a table"),
    (version_2_file, lambda d: d.update(version=3), "version: must be 1 or 2, not 3"),
    (version_2_file, lambda d: d.update(next_number=0), "next_number: must be ≥ 1, not 0"),
    (version_2_file, lambda d: d.update(composer=None), "composer: must be a string, not null"),
    (version_2_file, lambda d: d["panes"][1].update(number=1), "panes: two panes have the same number"),
    (version_2_file, lambda d: d["panes"][1].update(number="2"), "panes[1].number: must be a whole number"),
    (version_2_file, lambda d: d["panes"][1].update(prompt="v1 key"), "panes[1].prompt: is not a setting here"),
    (version_2_file, lambda d: d["panes"][0].update(heat="on"), "panes[0].heat: must be true or false"),
    (version_2_file, lambda d: d["panes"][0].update(editing=0), "panes[0].editing: must be ≥ 1, not 0"),
    (version_2_file, lambda d: d["panes"][0].update(overrides={"seed": 7}), "panes[0].overrides.seed: must be a string"),
    (version_2_file, lambda d: d["panes"][0]["conversation"].update(messages={}), f"{M}: must be a list"),
    (version_2_file, lambda d: d["panes"][0]["conversation"].update(chosen=-1),
     "panes[0].conversation.chosen: must be ≥ 0"),
    (version_2_file, lambda d: message(d, 0).update(role="system"), f"{M}[0].role: must be one of user, assistant"),
    (version_2_file, lambda d: message(d, 0).update(reply=reply_of(d)), f"{M}[0].reply: only an assistant message"),
    (version_2_file, lambda d: message(d, 0).update(content=None), f"{M}[0].content: must be a string"),
    (version_2_file, lambda d: message(d, 0).update(chosen=-2), f"{M}[0].chosen: must be ≥ 0"),
    (version_2_file, lambda d: message(d, 1).update(id=1), f"{M}[1].id: 1 is given twice"),
    (version_2_file, lambda d: message(d, 1).update(id=0), f"{M}[1].id: must be ≥ 1"),
    (version_2_file, lambda d: message(d, 1).update(parent="1"), f"{M}[1].parent: must be a whole number"),
    (version_2_file, lambda d: message(d, 1).update(colour="red"), f"{M}[1].colour: is not a setting here"),
    (version_2_file, lambda d: reply_of(d).update(forced=-1), f"{M}[1].reply.forced: must be ≥ 0"),
    # More given tokens than recorded ones: regenerating the answer would copy tokens that are not there.
    (version_2_file, lambda d: reply_of(d, 2).update(forced=3), f"{M}[2].reply.forced: must be ≤ 2, not 3"),
    (version_2_file, lambda d: reply_of(d, 2).update(forced_chars=11), f"{M}[2].reply.forced_chars: must be ≤ 10"),
    (version_2_file, lambda d: reply_of(d).update(given_ids=[1, "2"]), f"{M}[1].reply.given_ids[1]: must be a whole"),
    (version_2_file, lambda d: reply_of(d).update(prompt_ids=[-1]), f"{M}[1].reply.prompt_ids[0]: must be ≥ 0"),
    (version_2_file, lambda d: reply_of(d).update(started_at=-1), f"{M}[1].reply.started_at: must be ≥ 0"),
    (version_2_file, lambda d: reply_of(d).update(target={"model": 3}), f"{M}[1].reply.target.model: must be a string"),
    (version_2_file, lambda d: reply_of(d).update(settings={"temperature": "hot"}),
     f"{M}[1].reply.settings.temperature: must be a number"),
    (version_2_file, lambda d: reply_of(d).update(settings={"tempreature": 1}),
     f"{M}[1].reply.settings.tempreature: is not a setting here"),
    (version_2_file, lambda d: reply_of(d).update(settings={"enable_thinking": "off"}),
     f"{M}[1].reply.settings.enable_thinking: must be true or false"),
    (version_2_file, lambda d: reply_of(d, 2)["origin"].update(pane=0), f"{M}[2].reply.origin.pane: must be ≥ 1"),
    (version_2_file, lambda d: reply_of(d, 2)["origin"].update(token=5), f"{M}[2].reply.origin.token: must be a string"),
    (version_2_file, lambda d: d.update(arena={"contestants": [{"name": "a", "target": None}]}),
     "arena.contestants: must be two at least, each named once"),
    (version_2_file, lambda d: d.update(arena=arena_record(battle={"id": "1", "left": "a", "right": "z", "seed": 3,
                                                                    "panes": [1, 2]})),
     "arena.battle: left and right must be two of the contestants"),
    (version_2_file, lambda d: d.update(arena=arena_record(battle={"id": "1", "left": "a", "right": "b", "seed": 3,
                                                                    "panes": [1, 1]})),
     "arena.battle.panes: must be two pane numbers"),
    (version_2_file, lambda d: d.update(arena=arena_record(overrides=[["heat", "9"]])),
     "arena.contestants[0].overrides[0]: must be one of"),
    (version_2_file, lambda d: d.update(arena={**arena_record(), "votes": -1}), "arena.votes: must be ≥ 0"),
    (version_2_file, lambda d: d.update(focus=-1), "focus: must be ≥ 0"),
    (version_2_file, lambda d: d.update(composer_sent=["ok", 3]), "composer_sent[1]: must be a string"),
    (version_2_file, lambda d: reply_of(d).update(usage=[12]), f"{M}[1].reply.usage: must be a table (object)"),
    (version_2_file, lambda d: reply_of(d).update(usage={"pad": "x" * 9000}),
     f"{M}[1].reply.usage: is more than 8192 bytes of JSON"),
    (version_2_file, lambda d: reply_of(d)["figures"].update(ttft_ms="12"),
     f"{M}[1].reply.figures.ttft_ms: must be a number or null, not '12'"),
    (version_2_file, lambda d: reply_of(d)["figures"].update(state="exploded"), f"{M}[1].reply.figures.state: must be one of"),
    (version_2_file, lambda d: reply_of(d)["figures"].update(tokens=True), f"{M}[1].reply.figures.tokens: must be a whole"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(logprob=[0.5, None]),
     f"{M}[1].reply.tokens[0].logprob: must be ≤ 0, not 0.5"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(end=[3, 7]), f"{M}[1].reply.tokens[1].end: must be ≤ 6, not 7"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(end=[4, 3]), f"{M}[1].reply.tokens[1].end: must be ≥ 4, not 3"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(rank=[1]),
     f"{M}[1].reply.tokens.rank: has 1 items, not 2 (one per token)"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(id=[10, -11]), f"{M}[1].reply.tokens[1].id: must be ≥ 0"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(rank=[0, None]), f"{M}[1].reply.tokens[0].rank: must be ≥ 1"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(text=["ans", 7]), f"{M}[1].reply.tokens[1].text: must be a string"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(top=[[[10, "ans"]], []]),
     f"{M}[1].reply.tokens[0].top[0]: must be [id, text, logprob]"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(top=[[[10, "ans", 1.5]], []]),
     f"{M}[1].reply.tokens[0].top[0][2]: must be ≤ 0"),
    (version_2_file, lambda d: reply_of(d)["tokens"].update(ranks=[1, 1]), f"{M}[1].reply.tokens.ranks: is not a setting here"),
])
def test_a_bad_session_field_is_named_and_the_file_kept(tmp_path, make, change, field):
    data = make()
    change(data)
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    record, notice = load_session(path)
    assert record is None and f"the saved session has a bad value: {field}" in notice
    (kept,) = tmp_path.glob("session.json.bad-*")
    assert json.loads(kept.read_text()) == data and str(kept) in notice and not path.exists()


@pytest.mark.parametrize("messages, field", [
    ([{"id": 1, "role": "user", "content": "q"}, {"id": 2, "parent": 7, "role": "assistant", "content": "a"}],
     f"{M}[1].parent: no earlier message 7"),
    # A child before its parent: files list parents first, as the app writes them.
    ([{"id": 2, "parent": 1, "role": "assistant", "content": "a"}, {"id": 1, "role": "user", "content": "q"}],
     f"{M}[0].parent: no earlier message 1"),
    ([{"id": 1, "parent": 1, "role": "user", "content": "its own parent"}], f"{M}[0].parent: no earlier message 1"),
])
def test_a_message_whose_parent_is_missing_is_named(tmp_path, messages, field):
    data = version_2_file()
    data["panes"][0]["conversation"]["messages"] = messages
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    record, notice = load_session(path)
    assert record is None and field in notice
    (kept,) = tmp_path.glob("session.json.bad-*")
    assert json.loads(kept.read_text()) == data


def test_a_hand_edited_choice_or_edit_that_names_nothing_is_made_harmless(tmp_path):
    """A branch chosen past the last one shows the last; an edit of a message that is not there
    leaves the draft as a new message: nothing to set aside, nothing lost."""
    data = version_2_file()
    data["panes"][0]["conversation"]["chosen"] = 5
    message(data, 0)["chosen"] = 9
    data["panes"][0]["editing"] = 42
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    record, notice = load_session(path)
    assert notice is None
    pane = record.panes[0]
    assert [m.content for m in pane.conversation.path()] == ["keep me", "ans, again"]
    assert pane.editing is None and pane.draft == "keep me too"


def test_a_session_larger_than_the_workbench_is_cut_and_the_whole_file_kept(tmp_path):
    path = tmp_path / "session.json"
    save_session(session_of([saved_pane(prompt=f"p{i}") for i in range(MAX_PANES + 8)]), path)
    record, notice = load_session(path)
    assert len(record.panes) == MAX_PANES and record.panes[-1].draft == f"p{MAX_PANES - 1}"
    assert [p.number for p in record.panes] == list(range(1, MAX_PANES + 1))
    (kept,) = tmp_path.glob("session.json.kept-*")
    assert notice == f"the saved session has {MAX_PANES + 8} panes: the first {MAX_PANES} are open; " \
                     f"the whole file is kept as {kept}"
    assert len(json.loads(kept.read_text())["panes"]) == MAX_PANES + 8


def test_a_lone_surrogate_is_written_as_a_replacement_character_and_logged(tmp_path, caplog):
    path = tmp_path / "session.json"
    state = saved_pane(prompt="q \udc80", output="half \ud83d emoji", state="done")
    answer = state.conversation.last()
    answer.reply.tokens.add("half \ud83d emoji", [TokenLogprob(5, "half \ud83d emoji", -0.5, 1,
                                                             (Alternative(6, "\udfff", -1.0),))])
    state.draft = "draft \ud800"
    save_session(session_of([state], composer="all \udbff"), path)
    path.read_bytes().decode("utf-8")  # strict UTF-8: it can be read by anyone
    record, notice = load_session(path)
    assert notice is None
    question, answer = record.panes[0].conversation.path()
    assert question.content == "q \ufffd" and answer.content == "half \ufffd emoji"
    token = answer.reply.tokens.tokens[0]
    assert token.text == "half \ufffd emoji" and token.top[0].text == "\ufffd"
    assert record.panes[0].draft == "draft \ufffd" and record.composer == "all \ufffd"
    assert "lone surrogate" in caplog.text


@pytest.mark.parametrize("text, field", [
    ('[sampling]\nseed = "42"\n', "sampling.seed"),
    ('[sampling]\ntemperature = true\n', "sampling.temperature"),
    ('[sampling]\nchat_template = "no"\n', "sampling.chat_template"),
    ('[engine]\nflags = "--max-model-len 10"\n', "engine.flags"),
    ('[remote]\nread_timeout = -1\n', "remote.read_timeout"),
    ('theme = 7\n', "theme"),
])
def test_a_bad_config_field_is_named_and_the_file_kept(tmp_path, text, field):
    path = tmp_path / "config.toml"
    path.write_text(text)
    config = load_config(path)
    assert f"bad value: {field}" in config.notices[0]
    (kept,) = tmp_path.glob("config.toml.bad-*")
    assert kept.read_text() == text and config.sampling["temperature"] == 0.8


def test_a_bad_theme_of_ones_own_is_set_aside_and_the_built_in_ones_stay(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    folder = locations.user_themes_dir()
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text('primary = "not-a-colour"\n')
    (folder / "fine.toml").write_text('primary = "#112233"\ndark = false\n')
    themes, problems = discover_themes()
    names = {theme.name for theme in themes}
    assert {"panes-dark", "panes-light", "fine"} <= names and "mine" not in names
    assert len(problems) == 1 and "mine.toml" in problems[0] and "primary: is not a colour" in problems[0]
    assert not (folder / "mine.toml").exists() and list(folder.glob("mine.toml.bad-*"))


@pytest.mark.parametrize("line, reason", [
    ('{"prompt": "a", "temperature": "hot"}', "temperature must be a number"),
    ('{"prompt": "a", "seed": 1.5}', "seed must be a whole number"),
    ('{"prompt": 7}', "'prompts' must be a non-empty list of strings"),
    ('{"prompts": "abc"}', "'prompts' must be a non-empty list of strings, not 'abc'"),
    ('{"prompt": "a", "chat_template": "yes"}', "chat_template must be true or false"),
    ('{"prompt": "a", "max_tokens": true}', "max_tokens must be a whole number"),
])
def test_batch_values_of_the_wrong_type_name_the_file_and_line(tmp_path, line, reason):
    path = tmp_path / "b.jsonl"
    path.write_text('{"prompt": "fine"}\n' + line + "\n")
    with pytest.raises(BatchError, match=f"^{path}:2: .*{reason}"):
        load_batch(path)


def test_the_log_file_is_readable_by_its_owner_only(tmp_path):
    log_path = tmp_path / "log" / "vllm-panes.log"
    log_path.parent.mkdir()
    log_path.write_text("from an older version\n")
    os.chmod(log_path, 0o644)
    code = (f"from pathlib import Path; from tui.terminal import divert_output_to_log; "
            f"divert_output_to_log(Path({str(log_path)!r}))")
    subprocess.run([sys.executable, "-c", code], check=True)  # its fds 1 and 2 go to the log
    assert (log_path.stat().st_mode & 0o777) == 0o600
