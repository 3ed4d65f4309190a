"""The arena's votes in the store: a database of schema 1 (before the arena) gains the votes' table
and keeps its history; votes written and read back; a hand-edited vote is named and left out;
`vllm-panes leaderboard` prints, writes JSON and CSV, and says when there is nothing."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from tui.arena.command import leaderboard_main
from tui.arena.votes import Vote
from tui.store.db import SCHEMA, SCHEMA_VERSION, APPLICATION_ID, _statements, open_database
from tui.store.store import Store


def vote(left: str, right: str, outcome: str, number: int = 0) -> Vote:
    return Vote(battle=f"b{number}", time=1_700_000_000.0 + number, left=left, right=right, outcome=outcome,
                prompt=f"prompt {number}")


def schema_one_database(path) -> None:
    """A database as the version before the arena made it, with one run's row in the history."""
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(SCHEMA):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO meta (key, value) VALUES ('kept', 'yes')")
    conn.close()


def test_a_database_from_before_the_arena_gains_the_votes_table_and_keeps_what_it_had(tmp_path):
    path = tmp_path / "old.db"
    schema_one_database(path)
    conn, notices = open_database(path)
    try:
        assert notices == []  # migrated in place, not moved aside
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert conn.execute("SELECT value FROM meta WHERE key = 'kept'").fetchone() == ("yes",)
        assert conn.execute("SELECT count(*) FROM votes").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM reply_thinking_tokens").fetchone() == (0,)
    finally:
        conn.close()
    conn, notices = open_database(path)  # a second opening finds it done
    conn.close()
    assert notices == [] and not list(tmp_path.glob("*.bad-*"))


def test_a_database_at_schema_2_missing_one_of_its_tables_gains_it_and_keeps_its_votes(tmp_path):
    """As a build made between the two tables of schema 2 left it: nothing is moved aside."""
    path = tmp_path / "s.db"
    store = Store.open(path)
    store.record_vote(vote("x", "y", "a"), {})
    store.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE reply_thinking_tokens")
    conn.commit()
    conn.close()
    code, out, err = run("--json", "--db", str(path), "--rounds", "10")
    assert code == 0 and err == "" and json.loads(out)["votes"] == 1
    assert not list(tmp_path.glob("*.bad-*"))
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM reply_thinking_tokens").fetchone() == (0,)
    conn.close()


def test_votes_are_written_by_the_writer_and_read_back(tmp_path):
    store = Store.open(tmp_path / "s.db")
    try:
        written = [vote("x", "y", "a", 0), vote("y", "z", "both_bad", 1)]
        for number, v in enumerate(written):
            store.record_vote(v, {"turn": number, "text": "ünïcode \ud800"})
        assert store.flush()
        found = store.votes()
        assert found.votes == written and found.unreadable == []
        with store.reading() as conn:
            record = json.loads(conn.execute("SELECT record FROM votes ORDER BY id LIMIT 1").fetchone()[0])
        assert record == {"turn": 0, "text": "ünïcode \ufffd"}  # a lone surrogate cannot break the write
    finally:
        store.close()


def filled(tmp_path, votes) -> str:
    store = Store.open(tmp_path / "s.db")
    for v in votes:
        store.record_vote(v, {})
    store.close()
    return str(tmp_path / "s.db")


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = leaderboard_main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_hand_edited_vote_is_named_and_left_out(tmp_path):
    db = filled(tmp_path, [vote("x", "y", "a", n) for n in range(3)])
    conn = sqlite3.connect(db)
    conn.execute("UPDATE votes SET outcome = 'left' WHERE id = 2")
    conn.execute("UPDATE votes SET right_name = left_name WHERE id = 3")
    conn.commit()
    conn.close()
    code, out, err = run("--json", "--db", db, "--rounds", "20")
    assert code == 0 and json.loads(out)["votes"] == 1
    assert "votes[id=2].outcome" in err and "votes[id=3].right" in err


def test_the_command_prints_the_table_the_matrix_and_the_lean(tmp_path):
    votes = [vote("alpha", "beta", "a", n) for n in range(6)] + [vote("beta", "alpha", "tie", 6)]
    db = filled(tmp_path, votes)
    code, out, err = run("--db", db, "--rounds", "50")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["1", "alpha"] and lines[2].split()[:2] == ["2", "beta"]
    assert "6/0/1/0" in lines[1] and "0/6/1/0" in lines[2]
    assert any(line.startswith("#1") and "93% (7)" in line for line in lines)  # alpha: 6.5 of 7
    assert "A won 6 of 6 votes with a winner (100%" in out and "7 vote(s)." in out
    assert "* fewer than 10 votes" in out and "*" in lines[1]  # seven votes each: flagged
    code, out, _ = run("--csv", "--db", db, "--rounds", "50")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["name"] for r in rows] == ["alpha", "beta"] and rows[0]["battles"] == "7"
    code, out, _ = run("--json", "--db", db, "--rounds", "50")
    board = json.loads(out)
    assert code == 0 and board["position"] == {"left_wins": 6, "decisive": 6, "left_rate": 1.0}
    assert {(p["row"], p["column"], p["battles"]) for p in board["pairwise"]} == {("alpha", "beta", 7),
                                                                                   ("beta", "alpha", 7)}


def test_the_command_with_nothing_to_rate_and_with_bad_flags(tmp_path):
    code, out, err = run("--db", str(tmp_path / "none.db"))
    assert code == 2 and "No votes yet" in err  # a file named that is not there
    db = filled(tmp_path, [])
    code, out, err = run("--db", db)
    assert code == 0 and "No votes yet" in out
    assert run("--json", "--csv", "--db", db)[0] == 2
    assert run("--rounds", "0", "--db", db)[0] == 2
