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
from tui.session import MAX_PANES, SessionRecord, load_session, save_session
from tui.themes import discover_themes, load_theme_file
from tui.validate import FieldError

# Any JSON value (TOML: without null), nested a little.
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=12)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=12)
toml_scalars = st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=12)
toml_values = st.recursive(toml_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(min_size=1, max_size=10), inner, max_size=4), max_leaves=12)
SESSION_KEYS = ["version", "defaults", "chat_template", "system_prompt", "panes", "default_target"]
PANE_KEYS = ["prompt", "overrides", "output", "state", "tokens", "ttft_ms", "tok_s", "finish_reason", "message",
             "target", "label"]


def session_like():
    """Session-shaped JSON with any value anywhere: the validator meets the right keys."""
    pane = st.dictionaries(st.sampled_from(PANE_KEYS + ["extra"]), json_values, max_size=6)
    return st.fixed_dictionaries({"version": st.just(1) | json_values},
                                 optional={"defaults": json_values, "chat_template": json_values,
                                           "system_prompt": json_values, "default_target": json_values,
                                           "panes": st.lists(pane, max_size=3) | json_values})


def config_like():
    item = st.dictionaries(st.sampled_from(["url", "api_key_env", "models", "name", "path", "other"]),
                           toml_values, max_size=3)
    return st.dictionaries(st.sampled_from(["theme", "backend", "engine", "remote", "sampling", "other",
                                            "remotes", "adapters"]),
                           toml_values | st.lists(item, max_size=2) | st.dictionaries(st.sampled_from(
                               ["model", "flags", "base_url", "read_timeout", "temperature", "seed",
                                "chat_template", "system_prompt", "top_k"]), toml_values, max_size=4),
                           max_size=5)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(session_like(), json_values))
def test_any_session_file_is_read_or_set_aside_with_a_notice(tmp_path, data):
    path = tmp_path / "session.json"
    for old in tmp_path.glob("session.json*"):
        old.unlink()
    path.write_text(json.dumps(data), encoding="utf-8")
    record, notice = load_session(path)
    if record is None:
        assert notice and "the saved session" in notice
        assert not path.exists() and len(list(tmp_path.glob("session.json.bad-*"))) == 1
    else:
        assert len(record.panes) <= MAX_PANES
        save_session(record, path)  # what was read can be written again
        assert load_session(path)[0] == record


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(config_like())
def test_any_config_file_is_read_or_set_aside_with_a_notice(tmp_path, data):
    path = tmp_path / "config.toml"
    for old in tmp_path.glob("config.toml*"):
        old.unlink()
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    config = load_config(path)
    if config.notices:
        assert "the config file has a bad value" in config.notices[0] and not path.exists()


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
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


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(json_values, st.dictionaries(st.sampled_from(["prompt", "prompts", "temperature",
                                                                          "seed", "max_tokens", "chat_template",
                                                                          "system_prompt"]),
                                                         json_values, max_size=4)), min_size=1, max_size=3))
def test_any_batch_file_is_run_or_refused_with_its_line(tmp_path, lines):
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    try:
        jobs = load_batch(path)
    except BatchError as exc:
        assert str(exc).startswith(f"{path}:") and "Traceback" not in str(exc)
    else:
        assert jobs and all(isinstance(job.prompt, str) for job in jobs)


@pytest.mark.parametrize("change, field", [
    (lambda d: d["panes"][0].update(overrides={"seed": 42}), "panes[0].overrides.seed: must be a string"),
    (lambda d: d["panes"][0].update(ttft_ms="12"), "panes[0].ttft_ms: must be a number or null, not '12'"),
    (lambda d: d["panes"][0].update(state="exploded"), "panes[0].state: must be one of"),
    (lambda d: d["panes"][0].update(tokens=-3), "panes[0].tokens: must be ≥ 0"),
    (lambda d: d.update(chat_template="yes"), "chat_template: must be true or false"),
    (lambda d: d.update(panes={"a": 1}), "panes: must be a list"),
    (lambda d: d["panes"][0].update(promt="typo"), "panes[0].promt: is not a setting here"),
    (lambda d: d["panes"][0].update(target={"model": 3}), "panes[0].target.model: must be a string"),
    (lambda d: d["panes"][0].update(target={"model": "m", "lora": "x"}), "panes[0].target.lora: is not a setting"),
    (lambda d: d["panes"][0].update(label=["a"]), "panes[0].label: must be a string"),
    (lambda d: d.update(default_target="demo"), "default_target: must be a table"),
])
def test_a_bad_session_field_is_named_and_the_file_kept(tmp_path, change, field):
    data = {"version": 1, "defaults": {"temperature": "0.5"}, "chat_template": True, "system_prompt": "",
            "panes": [{"prompt": "keep me", "overrides": {}, "output": "answer", "state": "done", "tokens": 3,
                       "ttft_ms": 12.0, "tok_s": 100.0, "finish_reason": "stop", "message": ""}]}
    change(data)
    path = tmp_path / "session.json"
    path.write_text(json.dumps(data))
    record, notice = load_session(path)
    assert record is None and field in notice
    (kept,) = tmp_path.glob("session.json.bad-*")
    assert json.loads(kept.read_text()) == data and str(kept) in notice


def test_a_session_larger_than_the_workbench_is_cut_and_the_whole_file_kept(tmp_path):
    path = tmp_path / "session.json"
    save_session(session_of([saved_pane(prompt=f"p{i}") for i in range(MAX_PANES + 8)]), path)
    record, notice = load_session(path)
    assert len(record.panes) == MAX_PANES and record.panes[-1].prompt == f"p{MAX_PANES - 1}"
    assert f"has {MAX_PANES + 8} panes" in notice
    (kept,) = tmp_path.glob("session.json.kept-*")
    assert len(json.loads(kept.read_text())["panes"]) == MAX_PANES + 8


def test_a_lone_surrogate_is_written_as_a_replacement_character_and_logged(tmp_path, caplog):
    path = tmp_path / "session.json"
    save_session(session_of([saved_pane(prompt="p", output="half \ud83d emoji")]), path)
    record, notice = load_session(path)
    assert notice is None and record.panes[0].output == "half \ufffd emoji"
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
