"""The key map: every action has a key a real terminal sends, no action takes a key a person
edits text with, and README's keys table, the guide's and the help screen agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.app import make_app
from tui.keymap import ACTIONS, APP_ACTIONS, EDITING_KEYS, with_keys
from tui.render.probes import keys_read_from

ROOT = Path(__file__).resolve().parent.parent
CSI_LETTER = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
CSI_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6, "f5": 15, "f6": 17, "f7": 18, "f8": 19,
             "f9": 20, "f10": 21, "f11": 23, "f12": 24}
SS3 = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
MODIFIERS = {2: "shift+", 3: "alt+", 4: "alt+shift+", 5: "ctrl+", 6: "ctrl+shift+", 7: "ctrl+alt+"}


def terminal_sequences() -> dict[str, str]:
    """What xterm (and tmux with its default xterm-keys, and kitty) send, by what was pressed."""
    sent = {"escape": "\x1b", "enter": "\r", "tab": "\t", "backspace": "\x7f", "ctrl+enter": "\x1b[13;5u"}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        sent[f"ctrl+{letter}"] = chr(ord(letter) - 96)
        sent[f"alt+{letter}"] = "\x1b" + letter
        sent[f"alt+shift+{letter}"] = "\x1b" + letter.upper()
    for key, final in SS3.items():
        sent[key] = "\x1bO" + final
        for number, modifier in MODIFIERS.items():
            sent[modifier + key] = f"\x1b[1;{number}{final}"
    for key, code in CSI_TILDE.items():
        sent[key] = f"\x1b[{code}~"
        for number, modifier in MODIFIERS.items():
            sent[modifier + key] = f"\x1b[{code};{number}~"
    for key, final in CSI_LETTER.items():
        sent[key] = "\x1b[" + final
        for number, modifier in MODIFIERS.items():
            sent[modifier + key] = f"\x1b[1;{number}{final}"
    return sent


SENT = terminal_sequences()
READABLE = {key for key, sequence in SENT.items() if key in keys_read_from(sequence)}


def test_the_table_of_sequences_reads_as_textual_reads_them():
    """Else the checks below would pass or fail for the table's sake."""
    assert {"f5", "escape", "ctrl+r", "alt+w", "alt+shift+left", "alt+pageup", "f7", "shift+f5"} <= READABLE
    assert "shift+f3" not in READABLE  # ESC[1;2R is a cursor position report to Textual
    assert keys_read_from(SENT["shift+f3"]) == []


def test_alt_keys_typed_together_are_read_as_alt_keys():
    """Typed faster than the escape delay (alt+w alt+w to close two panes, a held alt+n, ssh, a busy
    app reading late), alt keys arrive in one read: Textual alone reads all but the last as '^' and
    the letter, typed into the prompt. The app's start installs the reading that fixes it."""
    make_app()
    alt_keys = sorted({key for action in ACTIONS + APP_ACTIONS for key in action.key_list
                       if key.startswith("alt+") and key in READABLE})
    assert {"alt+n", "alt+w", "alt+u", "alt+right"} <= set(alt_keys)
    assert keys_read_from("".join(SENT[key] * 2 for key in alt_keys)) == [key for key in alt_keys for _ in (1, 2)]
    # Between reads too, and beside the keys they must not change.
    assert keys_read_from("\x1b", "n", "\x1bn", "a\x1bw") == ["alt+n", "alt+n", "a", "alt+w"]
    assert keys_read_from("\x1b\x1b", "\x1b[15~\x1bu", "\x1b[1;3C") == ["escape", "escape", "f5", "alt+u", "alt+right"]


@pytest.mark.parametrize("action", ACTIONS + APP_ACTIONS, ids=lambda a: a.action)
def test_every_action_has_a_key_a_terminal_sends(action):
    assert set(action.key_list) & READABLE, f"{action.action}: no key of {action.keys} comes from a terminal"


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.action)
def test_no_action_takes_a_key_that_edits_text(action):
    assert not set(action.key_list) & EDITING_KEYS


def test_no_key_is_given_twice():
    keys = [key for action in ACTIONS + APP_ACTIONS for key in action.key_list]
    assert len(keys) == len(set(keys))


def test_the_config_can_move_a_key_and_is_told_what_it_cannot_do():
    actions, problems = with_keys(ACTIONS, {"close_pane": "f9", "sweep": "ctrl+w", "nothing": "f10",
                                            "new_pane": "f1"})
    by = {a.action: a for a in actions}
    assert by["close_pane"].keys == "f9"
    assert by["sweep"].keys == "f8" and any("ctrl+w edits text" in p for p in problems)
    assert any("nothing: no such action" in p for p in problems)
    # f1 is help's: the earlier action keeps it, and the clash is named
    assert any("f1 is given to" in p for p in problems)
    assert "f1" in by["help"].key_list or "f1" in by["new_pane"].key_list
    assert not ("f1" in by["help"].key_list and "f1" in by["new_pane"].key_list)


SHOWN_AS = {"esc": "escape", "←": "left", "→": "right", "↑": "up", "↓": "down"}


def keys_in_table(markdown: str, heading: str) -> dict[str, str]:
    """{key as bound: what the row says} of the `| key | does |` table under `heading`."""
    text = markdown.split(heading, 1)[1]
    rows = {}
    for line in text.splitlines()[1:]:
        if line.startswith("#"):
            break
        if not line.startswith("| `"):
            continue
        cell, does = line.split("|")[1:3]
        for key in re.findall(r"`([^`]+)`", cell):
            for shown, bound in SHOWN_AS.items():
                key = key.replace(shown, bound)
            rows[key] = does.strip()
    return rows


def all_keys() -> set[str]:
    return {key for action in ACTIONS + APP_ACTIONS for key in action.key_list}


def test_readme_keys_are_the_app_keys():
    listed = keys_in_table((ROOT / "README.md").read_text(), "## Keys")
    assert len(listed) >= 10
    assert set(listed) <= all_keys(), set(listed) - all_keys()


def test_the_guide_lists_every_key_and_no_other():
    listed = keys_in_table((ROOT / "docs" / "guide" / "workbench.md").read_text(), "## Keys")
    assert set(listed) == all_keys()


async def test_the_help_screen_lists_every_action_with_its_keys():
    from tests.support.app import make_app

    from rich.console import Console

    from tui.screens.help import HelpScreen

    app = make_app()
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        console = Console(width=300, record=True, file=open("/dev/null", "w"))
        for static in app.screen.query("Static"):
            console.print(static.content)
        text = console.export_text()
    for action in ACTIONS + APP_ACTIONS:
        assert action.label in text and action.key in text, action.action


# Keys the guide may name that no binding has, each where it says why: shift+f3 (workbench.md says
# it cannot be used) and ctrl+c (performance.md: stopping the benchmark in a shell).
NAMED_BUT_NOT_BOUND = {"shift+f3": "workbench.md", "ctrl+c": "performance.md"}
WRITTEN_KEY = re.compile(r"`((?:ctrl|alt|shift)\+[a-z0-9+]+|f\d{1,2})`")


def keys_written_but_not_bound(page: str, text: str) -> set[str]:
    """The keys in code spans of a page that neither a workbench action, the app, nor the text box
    (its editing keys) has: a key the app does not know, which a reader would press in vain."""
    known = all_keys() | EDITING_KEYS
    allowed = {key for key, where in NAMED_BUT_NOT_BOUND.items() if page == where}
    return set(WRITTEN_KEY.findall(text)) - known - allowed


def test_keys_written_but_not_bound_finds_a_key_the_app_lacks():
    """The check below can fail: a made-up page naming an unbound key is caught."""
    text = "`f3` for one pane, `shift+f3` for all; `ctrl+w` deletes a word; `alt+z` does nothing."
    assert keys_written_but_not_bound("why-answers-differ.md", text) == {"shift+f3", "alt+z"}
    assert keys_written_but_not_bound("workbench.md", text) == {"alt+z"}


@pytest.mark.parametrize("page", ["README.md", *sorted(p.name for p in (ROOT / "docs" / "guide").glob("*.md"))])
def test_every_key_the_docs_name_is_one_the_app_binds(page):
    path = ROOT / page if page == "README.md" else ROOT / "docs" / "guide" / page
    assert keys_written_but_not_bound(page, path.read_text(encoding="utf-8")) == set()
