"""The blind arena in the app: set up from the keyboard, two panes titled A and B with nothing that
names their contestants until the vote, a vote with one key, the names shown, the vote in the store
with what it compared, the next prompt's new battle, and the leaderboard (screen and command)."""

from __future__ import annotations

import io
import json

from tui.arena.command import leaderboard_main
from tui.screens.arena_screens import LeaderboardScreen, VoteDialog
from tui.store.store import Store

from tests.support.app import make_app, stored_session, wait_until
from tests.support.scripted import ScriptedBackend


def quiet_script(prompt: str, sampling) -> list[str]:
    return ["An ", "answer ", "that ", "names ", "nobody."]


def screen_text(app) -> str:
    return app.export_screenshot()


async def start_arena(app, pilot, line: str) -> None:
    await pilot.press("f10")
    await pilot.pause()
    field = app.screen.query_one("Input")
    field.value = line
    await pilot.press("enter")
    await wait_until(lambda: app.screen.__class__.__name__ == "WorkbenchScreen"
                     and app.screen.battle_panes is not None)
    await pilot.pause()


async def ask(app, pilot, prompt: str) -> None:
    screen = app.screen
    await pilot.press("alt+a")
    screen.composer.editor.text = prompt
    await pilot.press("ctrl+r")
    await wait_until(lambda: screen.battle_panes is not None and all(
        p.reply is not None and p.reply.reply.state == "done" for p in screen.battle_panes))
    await pilot.pause()


async def test_a_battle_of_presets_shows_nothing_of_them_before_the_vote(tmp_path):
    app = make_app(ScriptedBackend(quiet_script), session_path=tmp_path / "s.db", xray=True)
    async with app.run_test(size=(200, 50)) as pilot:
        await start_arena(app, pilot, "Cold = temperature=0.05 top_p=0.5; Hot = temperature=1.7")
        screen = app.screen
        a, b = screen.battle_panes
        assert (a.blind, b.blind) == ("A", "B")
        await ask(app, pilot, "Say something")
        shown = screen_text(app)
        for secret in ("Cold", "Hot", "temperature", "0.05", "1.7", "top_p"):
            assert secret not in shown, secret
        assert str(a.border_title) == "A" and str(b.border_title) == "B"
        # the knobs the presets set are what the requests carried, with the battle's one seed
        sent = {round(r.sampling["temperature"], 2): r.sampling["seed"] for r in app.screen.control.backend.sent}
        assert set(sent) == {0.05, 1.7} and len(set(sent.values())) == 1
        # a blind pane does not run alone, nor show its target
        screen.set_focus(a.editor)
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert app.screen is screen
        await pilot.press("alt+v")
        await pilot.pause()
        assert isinstance(app.screen, VoteDialog)
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is screen and a.blind is None and b.blind is None
        titles = str(a.border_title) + " " + str(b.border_title)
        battle = screen.arena.current
        assert f"A {battle.left.name}" in titles and f"B {battle.right.name}" in titles
        left, right = battle.left.rated_as, battle.right.rated_as  # a preset is rated as what it is
        assert {left, right} == {"Cold [temperature=0.05 top_p=0.5 · scripted-model]",
                                 "Hot [temperature=1.7 · scripted-model]"}
        await pilot.press("ctrl+q")
    store = Store.open(tmp_path / "s.db")
    try:
        found = store.votes()
        with store.reading() as conn:
            record = json.loads(conn.execute("SELECT record FROM votes").fetchone()[0])
    finally:
        store.close()
    assert [(v.left, v.right, v.outcome, v.prompt) for v in found.votes] == [(left, right, "b", "Say something")]
    assert record["messages"] == [{"role": "user", "content": "Say something"}]
    assert [s["side"] for s in record["sides"]] == ["A", "B"]
    assert record["sides"][0]["answer"] == "An answer that names nobody."
    assert {s["contestant"] for s in record["sides"]} == {"Cold", "Hot"}
    assert record["sides"][0]["reply"]["settings"]["temperature"] in (0.05, 1.7)


async def test_battles_between_adapters_vote_reveal_and_reach_the_leaderboard(tmp_path):
    backend = ScriptedBackend(quiet_script, adapters=("proverbs", "psalms"))
    app = make_app(backend, session_path=tmp_path / "s.db")
    outcomes = ["a", "t", "x", "1"]
    async with app.run_test(size=(200, 50)) as pilot:
        await start_arena(app, pilot, "*")
        screen = app.screen
        seen_pairs = set()
        for number, key in enumerate(outcomes):
            await ask(app, pilot, f"Question {number}")
            a, b = screen.battle_panes
            assert str(a.border_title) == "A" and str(b.border_title) == "B"
            for pane in (a, b):
                assert "proverbs" not in pane.target_label or pane.blind  # the title is A or B alone
            battle = screen.arena.current
            seen_pairs.add(frozenset((battle.left.name, battle.right.name)))
            await pilot.press("alt+v")
            await pilot.pause()
            await pilot.press(key)
            await pilot.pause()
            assert battle.revealed and a.blind is None
            # each battle's requests went to its two contestants' targets
            last_two = backend.sent_targets[-2:]
            assert {t.label if t else None for t in last_two} <= {c.name for c in screen.arena.contestants}
        # the next prompt started a new battle each time: the old panes were closed
        assert len(screen.panes()) == 3  # the first empty pane and the last battle's two
        await pilot.press("alt+l")
        await wait_until(lambda: isinstance(app.screen, LeaderboardScreen) and app.screen.board is not None)
        board = app.screen.board
        assert board.votes == 4 and sum(row.battles for row in board.rows) == 8
        await pilot.press("escape")
        await pilot.press("ctrl+q")
    out, err = io.StringIO(), io.StringIO()
    assert leaderboard_main(["--json", "--db", str(tmp_path / "s.db"), "--rounds", "50"], out, err) == 0
    printed = json.loads(out.getvalue())
    assert printed["votes"] == 4
    assert {row["name"] for row in printed["leaderboard"]} <= {"scripted-model", "scripted-model+proverbs",
                                                               "scripted-model+psalms"}
    assert sum(row["ties"] + row["both_bad"] for row in printed["leaderboard"]) == 4  # t and x, each on two rows
    assert printed["position"]["decisive"] == 2 and printed["position"]["left_wins"] == 2


async def test_the_vote_waits_for_both_answers_and_a_new_prompt_waits_for_the_vote(tmp_path):
    app = make_app(ScriptedBackend(quiet_script, adapters=("proverbs",)), session_path=tmp_path / "s.db")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.screen
        await pilot.press("alt+v")  # no arena yet
        await pilot.pause()
        assert app.screen is screen
        await start_arena(app, pilot, "*; turns=2; seed=7")
        await pilot.press("alt+v")  # nothing asked yet
        await pilot.pause()
        assert app.screen is screen
        await ask(app, pilot, "First")
        a, b = screen.battle_panes
        screen.composer.editor.text = "Second, before the vote"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.composer.text == "Second, before the vote"  # not sent: vote first
        await pilot.press("alt+v", "a")
        await pilot.pause()
        assert a.blind == "A"  # two turns a battle: still blind after the first vote
        await pilot.press("ctrl+r")
        await wait_until(lambda: len(a.state.thread()) == 4 and not a.running and not b.running)
        await pilot.pause()
        assert screen.battle_panes == (a, b)  # the same pair, continuing its conversation
        assert all(r.sampling["seed"] == 7 for r in screen.control.backend.sent)
        await pilot.press("alt+v", "tab")  # a key that is no vote does nothing
        await pilot.pause()
        assert isinstance(app.screen, VoteDialog)
        await pilot.press("escape")  # later
        await pilot.pause()
        assert a.blind == "A"
        await pilot.press("alt+v", "3")
        await pilot.pause()
        assert a.blind is None and screen.arena.current.outcomes == ["a", "tie"]
        await pilot.press("f10")  # the arena ends; its panes stay
        await pilot.pause()
        assert screen.arena is None and a.is_attached
        await pilot.press("ctrl+q")


async def test_what_a_new_user_did_reveals_nothing_and_loses_nothing(tmp_path):
    """Found by a new user's trial: closing a battle's pane gave it back named by alt+u; a changed
    default marked only the side it applied to as stale (the preset was the other); f10 ended a
    battle that waited for its vote without a word; alt+v right after ctrl+r said there was no
    arena."""
    app = make_app(ScriptedBackend(quiet_script), session_path=tmp_path / "s.db")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.screen
        await start_arena(app, pilot, "Cold = temperature=0.2 top_p=0.5; Hot = temperature=1.5")
        await ask(app, pilot, "One")
        a, b = screen.battle_panes
        # a changed default: neither side says stale
        screen.settings.field("top_p").input.value = "0.7"  # the preset Cold sets its own top_p
        await pilot.pause()
        screen._do_refresh_titles()
        await pilot.pause()
        assert "stale" not in str(a._status_texts()) and "stale" not in str(b._status_texts())
        # f10 with a battle waiting: asked again first
        await pilot.press("f10")
        await pilot.pause()
        assert screen.arena is not None and a.blind == "A"
        # closing a blind pane gives the battle up: both go, no vote, no name
        screen.set_focus(a.editor)
        await pilot.press("alt+w")
        await pilot.pause()
        assert not a.is_attached and not b.is_attached and screen.battle_panes is None
        await pilot.press("alt+v")
        await pilot.pause()
        assert app.screen is screen  # nothing to vote on
        # the next prompt: a new battle; alt+v at once is told to wait, not that there is no arena
        screen.composer.editor.text = "Two"
        screen.run_all()  # ctrl+r, and at once alt+v: the new pair is being opened
        assert "being asked" in screen._vote_problem()
        await wait_until(lambda: screen.battle_panes is not None and all(
            p.reply is not None and p.reply.reply.state == "done" for p in screen.battle_panes))
        assert app.screen is screen and screen.arena is not None
        await pilot.press("alt+v", "t")
        await pilot.pause()
        assert screen.arena.current.outcomes == ["tie"]
        await pilot.press("ctrl+q")
    assert app.return_code == 0


async def test_a_battle_given_up_is_not_brought_back_by_alt_u(tmp_path):
    """Found by a second trial: alt+u after a battle given up showed each side's knobs."""
    app = make_app(ScriptedBackend(quiet_script), session_path=tmp_path / "s.db")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.screen
        await start_arena(app, pilot, "Cold = temperature=0.2; Hot = temperature=1.5")
        await ask(app, pilot, "One")
        a, _ = screen.battle_panes
        count = len(screen.panes())
        screen.set_focus(a.editor)
        await pilot.press("alt+w", "alt+u", "alt+u")
        await pilot.pause()
        assert len(screen.panes()) == count - 2  # nothing of the battle came back
        await pilot.press("ctrl+q")


async def test_the_xray_leaves_the_servers_lines_out_until_the_vote(tmp_path):
    """A server's X-ray line names it: none is shown while a battle's names are hidden, and they
    come back with the names."""
    from tests.support.scripted import ScriptedSource
    from tui.engine.stats import EngineSnapshot
    from tui.widgets.xray_panel import XrayPanel

    source = ScriptedSource(EngineSnapshot(running=1, waiting=0, kv_usage=0.1, gen_tok_s=50.0))
    app = make_app(ScriptedBackend(quiet_script, adapters=("proverbs",), stats=source), xray=True)
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.screen

        async def a_server():
            return [("gpu-box:8000", EngineSnapshot(running=3, waiting=1))]

        screen._other_snapshots = a_server
        await start_arena(app, pilot, "*")
        await ask(app, pilot, "One")
        panel = screen.query_one(XrayPanel)
        await screen._read_stats()
        assert panel.others == [] and "gpu-box" not in screen_text(app)
        await pilot.press("alt+v", "a")
        await pilot.pause()
        await screen._read_stats()
        await pilot.pause()
        assert [name for name, _ in panel.others] == ["gpu-box:8000"] and "gpu-box" in screen_text(app)
        await pilot.press("ctrl+q")


async def test_the_message_box_says_a_and_b_through_the_arena_and_the_marks_again_after(tmp_path):
    """Found in review: alt+m in the arena put 'to panes …' over a box that goes to A and B, and the
    arena's end forgot the marked panes."""
    app = make_app(ScriptedBackend(quiet_script, adapters=("proverbs",)))
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.screen
        label = screen.composer.query_one("#composer-to")
        first = screen.panes()[0]
        screen.set_focus(first.editor)
        await pilot.press("alt+m")
        assert str(label.render()) == f"to panes {first.number}"
        await start_arena(app, pilot, "*")
        assert str(label.render()) == "to A and B"
        screen.set_focus(first.editor)
        await pilot.press("alt+m", "alt+m")
        assert str(label.render()) == "to A and B"
        await pilot.press("f10")  # no battle waits for a vote: the arena ends at once
        await pilot.pause()
        assert screen.arena is None and str(label.render()) == f"to panes {first.number}"
        await pilot.press("ctrl+q")


async def test_a_battle_waiting_for_its_vote_is_kept_across_a_restart_still_blind(tmp_path):
    """A user quit mid-battle; the next start showed both panes with their names, the arena off,
    and the vote gone. The arena goes on: the same A and B, blind from the first frame, and the
    vote counts for the contestants they were."""
    path = tmp_path / "s.db"
    app = make_app(ScriptedBackend(quiet_script), session_path=path)
    async with app.run_test(size=(200, 50)) as pilot:
        await start_arena(app, pilot, "Cold = temperature=0.05 top_p=0.5; Hot = temperature=1.7")
        await ask(app, pilot, "Say something")
        battle = app.screen.arena.current
        numbers = [p.number for p in app.screen.battle_panes]
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)

    app = make_app(ScriptedBackend(quiet_script), session=stored_session(path), session_path=path)  # as a start opens it
    notes: list[str] = []
    shown_note = app.notify
    app.notify = lambda message, **kwargs: notes.append(message) or shown_note(message, **kwargs)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.arena is not None and screen.battle_panes is not None
        a, b = screen.battle_panes
        assert [a.number, b.number] == numbers and (a.blind, b.blind) == ("A", "B")
        assert str(a.border_title) == "A" and str(b.border_title) == "B"
        shown = screen_text(app)
        for secret in ("Cold", "Hot", "temperature", "0.05", "1.7", "top_p"):
            assert secret not in shown, secret
        assert any("A battle waits for your vote" in note for note in notes), notes
        kept = screen.arena.current
        assert (kept.id, kept.left.name, kept.right.name, kept.seed) == (battle.id, battle.left.name,
                                                                         battle.right.name, battle.seed)
        await pilot.press("alt+v")
        await pilot.pause()
        assert isinstance(app.screen, VoteDialog)
        await pilot.press("b")
        await pilot.pause()
        assert a.blind is None and f"B {battle.right.name}" in str(b.border_title)
        await pilot.press("ctrl+q")
    store = Store.open(path)
    try:
        (vote,) = store.votes().votes
    finally:
        store.close()
    assert (vote.battle, vote.left, vote.right, vote.outcome) == (battle.id, battle.left.rated_as,
                                                                  battle.right.rated_as, "b")


async def test_the_arenas_end_counts_the_votes_cast_before_a_restart_too(tmp_path):
    """A user voted, quit mid-battle, voted again after the restart and ended the arena: the end
    message said `0 vote(s) this session`, counting only the votes of the app's last start."""
    path = tmp_path / "s.db"
    app = make_app(ScriptedBackend(quiet_script), session_path=path)
    async with app.run_test(size=(200, 50)) as pilot:
        await start_arena(app, pilot, "Cold = temperature=0.05; Hot = temperature=1.7")
        await ask(app, pilot, "Say something")
        await pilot.press("alt+v")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        await ask(app, pilot, "Say something else")  # the next battle, waiting for its vote
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)

    app = make_app(ScriptedBackend(quiet_script), session=stored_session(path), session_path=path)
    notes: list[str] = []
    shown_note = app.notify
    app.notify = lambda message, **kwargs: notes.append(message) or shown_note(message, **kwargs)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        await pilot.press("alt+v")
        await pilot.pause()
        await pilot.press("b")
        await pilot.pause()
        await pilot.press("f10")
        await pilot.pause()
        assert app.screen.arena is None
        assert any("Arena ended after 2 vote(s)." in note for note in notes), notes
        await pilot.press("ctrl+q")
    assert app.return_code in (0, None)
