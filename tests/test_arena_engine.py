"""The blind arena on the real engine: the demo model against its proverbs adapter, voted from the
keyboard, in the store and on the leaderboard."""

from __future__ import annotations

import io
import json

import pytest

from tests.support.app import make_app, wait_until
from tui.arena.command import leaderboard_main
from tui.demo_model import DEMO_ADAPTER_NAME
from tui.screens.arena_screens import LeaderboardScreen

pytestmark = pytest.mark.engine


async def test_a_battle_of_the_base_model_and_its_adapter_reaches_the_leaderboard(engine, tmp_path):
    app = make_app(engine, session_path=tmp_path / "s.db")
    async with app.run_test(size=(200, 50)) as pilot:
        screen = app.screen
        await pilot.press("f10")
        await pilot.pause()
        app.screen.query_one("Input").value = "*; seed=3"
        await pilot.press("enter")
        await wait_until(lambda: app.screen is screen and screen.battle_panes is not None)
        a, b = screen.battle_panes
        names = {c.name for c in screen.arena.contestants}
        assert len(names) == 2 and any(DEMO_ADAPTER_NAME in name for name in names)
        await pilot.press("alt+a", *"Wisdom is", "ctrl+r")
        await wait_until(lambda: all(p.reply is not None and p.reply.reply.state == "done" for p in (a, b)),
                         timeout=120)
        await pilot.pause()
        assert str(a.border_title) == "A" and str(b.border_title) == "B"
        assert a.answer and b.answer and a.answer != b.answer  # two targets, one seed: two answers
        await pilot.press("alt+v", "a")
        await pilot.pause()
        battle = screen.arena.current
        assert battle.outcomes == ["a"] and a.blind is None
        assert (screen.target_of(a).label, screen.target_of(b).label) == (battle.left.name, battle.right.name)
        await pilot.press("alt+l")
        await wait_until(lambda: isinstance(app.screen, LeaderboardScreen) and app.screen.board is not None)
        assert [row.name for row in app.screen.board.rows] == [battle.left.name, battle.right.name]
        await pilot.press("escape", "ctrl+q")
    assert app.return_code == 0
    out = io.StringIO()
    assert leaderboard_main(["--json", "--db", str(tmp_path / "s.db")], out, io.StringIO()) == 0
    board = json.loads(out.getvalue())
    assert board["votes"] == 1 and board["leaderboard"][0]["name"] == battle.left.name
    assert board["leaderboard"][0]["wins"] == 1 and board["leaderboard"][1]["losses"] == 1
