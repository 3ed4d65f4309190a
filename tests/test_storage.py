"""Session and config files: atomic writes, and bad files moved aside instead of lost."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.app import saved_pane, session_of
from tui.config import load_config, save_theme
from tui.session import SessionRecord, load_session, save_session


def test_session_round_trip(tmp_path):
    path = tmp_path / "session.json"
    record = SessionRecord(defaults={"temperature": "0.5"}, system_prompt="be brief",
                           panes=[saved_pane(prompt="hi", overrides={"seed": "7"}, output="hello", state="done")])
    save_session(record, path)
    loaded, notice = load_session(path)
    assert notice is None and loaded == record


def test_corrupt_session_is_moved_aside(tmp_path):
    path = tmp_path / "session.json"
    path.write_text('{"version": 1, "panes": [')
    loaded, notice = load_session(path)
    assert loaded is None and "the saved session is not JSON" in notice
    assert not path.exists()
    moved = list(tmp_path.glob("session.json.bad-*"))
    assert len(moved) == 1 and moved[0].read_text() == '{"version": 1, "panes": ['


def test_save_interrupted_mid_write_keeps_the_previous_session(tmp_path):
    path = tmp_path / "session.json"
    save_session(session_of([saved_pane(prompt="old")]), path)
    # A process killed while writing a big session: it never reaches the rename.
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "import tui.storage as s\n"
        "real_replace = os.replace\n"
        "def die(*a): os.kill(os.getpid(), 9)\n"
        "s.os.replace = die\n"
        "from tui.session import SessionRecord, save_session\n"
        f"save_session(session_of([saved_pane(prompt='new' * 100000)]), Path({str(path)!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code])
    assert result.returncode == -9
    loaded, notice = load_session(path)
    assert notice is None and loaded.panes[0].prompt == "old"


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
