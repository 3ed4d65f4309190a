"""The session as rows: the small writes the writer thread applies (each an `Op`), and the session
read back into `tui.core` objects.

An op carries immutable values taken on the event loop (strings, frozen tokens, copies of
figures); turning them into JSON and arrays is the writer thread's work. Rows are checked when
they are read back with the same validators as the session file (tui/core/records.py): a row that
does not make a pane (a damaged or hand-edited database) raises `SessionUnreadable`.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Any

from tui import validate as V
from tui.core.conversation import ASSISTANT, ROLES, Conversation, Message, Reply
from tui.core.pane_state import PaneState
from tui.core.records import figures_record, knobs_from_record, pane_from_record, reply_fields, reply_from_record
from tui.core.records import pane_fields as core_pane_fields
from tui.core.tokens import TokenSpans, shown_length
from tui.engine.logprobs import TokenLogprob
from tui.figures import Figures
from tui.session import MAX_PANES, SESSION_VERSION, SessionRecord
from tui.storage import writable
from tui.store import codec
from tui.store.db import TOKEN_COLUMNS
from tui.targets import target_from_record

SESSION_KEY = "session"
_TOKEN_LIST = ", ".join(TOKEN_COLUMNS)
_TOKEN_SLOTS = ", ".join("?" for _ in TOKEN_COLUMNS)


class SessionUnreadable(Exception):
    """The saved session's rows do not make a workbench (the reason names the row)."""


# An answer's rows: its reply, its tokens, its thinking's tokens (dropped together).
REPLY_TABLES = ("replies", "reply_tokens", "reply_thinking_tokens")


def dumps(value: Any, where: str) -> str:
    return writable(json.dumps(value, ensure_ascii=False, separators=(",", ":")), where)


def _text(value: str, where: str) -> str:
    return writable(value, where)


# -- writes ---------------------------------------------------------------------------------------
class Op:
    """One change, applied by the writer inside a transaction."""

    def apply(self, conn: sqlite3.Connection) -> None:
        raise NotImplementedError


class ClearSession(Op):
    """Every session row gone (before the whole session is written again)."""

    def apply(self, conn: sqlite3.Connection) -> None:
        for table in ("panes", "messages", "message_text", *REPLY_TABLES):
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM meta WHERE key = ?", (SESSION_KEY,))


class PutSettings(Op):
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     (SESSION_KEY, dumps(self.settings, "session settings")))


class PutPane(Op):
    def __init__(self, number: int, place: int, fields: dict[str, Any]) -> None:
        self.number, self.place, self.fields = number, place, fields

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO panes (number, place, record) VALUES (?, ?, ?)",
                     (self.number, self.place, dumps(self.fields, f"pane {self.number}")))


class DropPane(Op):
    """A pane gone, with its whole conversation; `keep_row`: only the conversation (it is written
    again)."""

    def __init__(self, number: int, keep_row: bool = False) -> None:
        self.number, self.keep_row = number, keep_row

    def apply(self, conn: sqlite3.Connection) -> None:
        tables = ("messages", "message_text", *REPLY_TABLES)
        for table in tables:
            conn.execute(f"DELETE FROM {table} WHERE pane = ?", (self.number,))
        if not self.keep_row:
            conn.execute("DELETE FROM panes WHERE number = ?", (self.number,))


class PutMessage(Op):
    def __init__(self, pane: int, message: int, parent: int | None, place: int, role: str, chosen: int) -> None:
        self.row = (pane, message, parent, place, role, chosen)

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO messages (pane, id, parent, place, role, chosen) VALUES (?, ?, ?, ?, ?, ?)",
                     self.row)


class DropMessage(Op):
    def __init__(self, pane: int, message: int) -> None:
        self.key = (pane, message)

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM messages WHERE pane = ? AND id = ?", self.key)
        for table in ("message_text", *REPLY_TABLES):
            conn.execute(f"DELETE FROM {table} WHERE pane = ? AND message = ?", self.key)


class AppendText(Op):
    """More of a message's text (a streamed answer's tail); `replace`: its whole text instead."""

    def __init__(self, pane: int, message: int, text: str, replace: bool = False) -> None:
        self.pane, self.message, self.text, self.replace = pane, message, text, replace

    def apply(self, conn: sqlite3.Connection) -> None:
        if self.replace:
            conn.execute("DELETE FROM message_text WHERE pane = ? AND message = ?", (self.pane, self.message))
        if self.text:
            conn.execute("INSERT INTO message_text (pane, message, text) VALUES (?, ?, ?)",
                         (self.pane, self.message, _text(self.text, "a message")))


class PutReply(Op):
    """A reply's row: what is set when it starts, its figures, its prompt's ids, and the answer's
    thinking (kept in the record, under "reasoning", when there is any)."""

    def __init__(self, pane: int, message: int, reply: Reply, reasoning: str = "") -> None:
        self.key = (pane, message)
        self.fixed = reply_fixed(reply)
        self.figures = reply_figures(reply)
        self.prompt_ids, self.given_ids = reply.prompt_ids, reply.given_ids
        self.reasoning = reasoning

    def apply(self, conn: sqlite3.Connection) -> None:
        fixed = {**self.fixed, "reasoning": self.reasoning} if self.reasoning else self.fixed
        conn.execute("INSERT OR REPLACE INTO replies (pane, message, record, figures, prompt_ids, given_ids) "
                     "VALUES (?, ?, ?, ?, ?, ?)",
                     (*self.key, dumps(fixed, "a reply"), dumps(figures_record(self.figures), "figures"),
                      codec.encode_ids(self.prompt_ids), codec.encode_ids(self.given_ids)))


class PutFigures(Op):
    def __init__(self, pane: int, message: int, figures: Figures) -> None:
        self.key, self.figures = (pane, message), figures

    def apply(self, conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE replies SET figures = ? WHERE pane = ? AND message = ?",
                     (dumps(figures_record(self.figures), "figures"), *self.key))


class DropReply(Op):
    def __init__(self, pane: int, message: int) -> None:
        self.key = (pane, message)

    def apply(self, conn: sqlite3.Connection) -> None:
        for table in REPLY_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE pane = ? AND message = ?", self.key)


class AppendTokens(Op):
    """Recorded tokens after those written (with the ends of their spans); `replace`: all of them
    instead; `thinking`: the thinking's tokens (else the answer's)."""

    def __init__(self, pane: int, message: int, tokens: list[TokenLogprob], ends: list[int],
                 replace: bool = False, thinking: bool = False) -> None:
        self.pane, self.message, self.tokens, self.ends, self.replace = pane, message, tokens, ends, replace
        self.table = "reply_thinking_tokens" if thinking else "reply_tokens"

    def apply(self, conn: sqlite3.Connection) -> None:
        if self.replace:
            conn.execute(f"DELETE FROM {self.table} WHERE pane = ? AND message = ?", (self.pane, self.message))
        if self.tokens:
            columns = codec.encode(self.tokens, self.ends)
            conn.execute(f"INSERT INTO {self.table} (pane, message, {_TOKEN_LIST}) VALUES (?, ?, {_TOKEN_SLOTS})",
                         (self.pane, self.message, *columns.row()))


def reply_fixed(reply: Reply) -> dict[str, Any]:
    """What a reply is given when it starts, and its verdict (compared on each save: it rarely
    changes): the core's record of it (tui/core/records.py), so a field added there is kept here."""
    return reply_fields(reply)


def reply_figures(reply: Reply) -> Figures:
    """A copy: the reply's own figures change while it streams."""
    return replace(reply.figures)


def session_settings(record: SessionRecord) -> dict[str, Any]:
    """The session's record but its panes (the session file's: tui/session.py, so a setting added
    there is kept here)."""
    data = record.to_data()
    del data["panes"], data["version"]
    return data


def pane_fields(state: PaneState) -> dict[str, Any]:
    """The pane's record but its number and messages (the core's: tui/core/records.py), and which
    first message its thread goes through."""
    return {**core_pane_fields(state), "chosen": state.conversation.root.chosen}


# -- reading back -----------------------------------------------------------------------------------
def has_session(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM meta WHERE key = ?", (SESSION_KEY,)).fetchone() is not None


def read_session(conn: sqlite3.Connection) -> tuple[SessionRecord | None, int]:
    """(the saved session, or None when none was saved; how many panes it had beyond MAX_PANES,
    left out). SessionUnreadable names the first row that does not make sense; sqlite3 errors
    (a damaged file) pass through."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (SESSION_KEY,)).fetchone()
    if row is None:
        return None, 0
    try:
        record = _settings(json.loads(row[0]))
        texts = _texts(conn)
        tokens = (_tokens(conn), _tokens(conn, "reply_thinking_tokens"))  # the answers', the thinking's
        replies = _replies(conn)
        messages = _messages(conn)
        panes = []
        for number, place, pane_json in conn.execute("SELECT number, place, record FROM panes ORDER BY place, number"):
            where = f"pane {number}"
            conversation = _conversation(messages.get(number, []), texts, replies, tokens, number, where)
            panes.append(_pane(number, json.loads(pane_json), conversation, where))
    except (V.FieldError, codec.CodecError) as exc:
        raise SessionUnreadable(str(exc)) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise SessionUnreadable(f"a row is not JSON ({exc})") from None
    record.panes = panes[:MAX_PANES]
    return record, max(0, len(panes) - MAX_PANES)


def _settings(data: Any) -> SessionRecord:
    data = dict(V.table(data, "session"))
    if "panes" in data or "version" in data:
        raise V.FieldError("session", "holds its panes in rows of their own")
    return SessionRecord.from_data({**data, "version": SESSION_VERSION, "panes": []})


def _texts(conn: sqlite3.Connection) -> dict[tuple[int, int], str]:
    pieces: dict[tuple[int, int], list[str]] = {}
    for pane, message, text in conn.execute("SELECT pane, message, text FROM message_text ORDER BY rowid"):
        pieces.setdefault((pane, message), []).append(V.string(text, f"pane {pane} message {message}.text"))
    return {key: "".join(parts) for key, parts in pieces.items()}


def _tokens(conn: sqlite3.Connection, table: str = "reply_tokens") -> dict[tuple[int, int], tuple[list[TokenLogprob], list[int]]]:
    found: dict[tuple[int, int], tuple[list[TokenLogprob], list[int]]] = {}
    for row in conn.execute(f"SELECT pane, message, {_TOKEN_LIST} FROM {table} ORDER BY rowid"):
        tokens, ends = codec.decode(row[2:])
        had = found.setdefault((row[0], row[1]), ([], []))
        had[0].extend(tokens)
        had[1].extend(ends)
    return found


def _replies(conn: sqlite3.Connection) -> dict[tuple[int, int], tuple]:
    return {(row[0], row[1]): row[2:] for row in
            conn.execute("SELECT pane, message, record, figures, prompt_ids, given_ids FROM replies")}


def _messages(conn: sqlite3.Connection) -> dict[int, list[tuple]]:
    by_pane: dict[int, list[tuple]] = {}
    for row in conn.execute("SELECT pane, id, parent, place, role, chosen FROM messages ORDER BY pane, place, id"):
        by_pane.setdefault(row[0], []).append(row[1:])
    return by_pane


def _conversation(rows: list[tuple], texts, replies, tokens, pane: int, where: str) -> Conversation:
    """The pane's messages, each added after its parent, siblings in their places."""
    children: dict[int | None, list[tuple]] = {}
    for row in rows:
        children.setdefault(row[1], []).append(row)
    conversation = Conversation()
    chosen: list[tuple[Message, int]] = []
    stack = [(None, row) for row in reversed(children.get(None, []))]
    while stack:
        parent, (message_id, _, _, role, index) = stack.pop()
        at = f"{where} message {message_id}"
        V.one_of(role, f"{at}.role", ROLES)
        content = texts.get((pane, message_id), "")
        reply = None
        if (pane, message_id) in replies:
            if role != ASSISTANT:
                raise V.FieldError(f"{at}.reply", "only an assistant message has one")
            reply, reasoning = _reply(replies[(pane, message_id)], tokens[0].get((pane, message_id)),
                                      tokens[1].get((pane, message_id)), content, at)
        try:
            message = conversation.add(parent, role, content, reply, V.integer(message_id, f"{at}.id", low=1))
        except ValueError as exc:
            raise V.FieldError(at, str(exc)) from None
        if reply is not None:
            message.set_reasoning(reasoning)
        chosen.append((message, V.integer(index, f"{at}.chosen", low=0)))
        stack.extend((message, row) for row in reversed(children.get(message_id, [])))
    if len(conversation) != len(rows):
        raise V.FieldError(where, f"{len(rows) - len(conversation)} message(s) hang from no message")
    for message, index in chosen:
        message.chosen = min(index, max(0, len(message.children) - 1))
    return conversation


def _reply(row: tuple, tokens: tuple[list[TokenLogprob], list[int]] | None,
           thinking: tuple[list[TokenLogprob], list[int]] | None, content: str, where: str) -> tuple[Reply, str]:
    """An answer's reply and its thinking ("" when none), from its row."""
    fixed, figures, prompt_ids, given_ids = row
    data = dict(V.table(json.loads(fixed), f"{where}.reply"))
    reasoning = V.string(data.pop("reasoning", ""), f"{where}.reply.reasoning")
    data["figures"] = json.loads(figures)
    reply = reply_from_record(data, f"{where}.reply", content, tokens=_spans(tokens, content, f"{where}.tokens"),
                              reasoning=reasoning,
                              thinking=_spans(thinking, reasoning, f"{where}.thinking_tokens"))
    reply.prompt_ids = codec.decode_ids(prompt_ids)
    reply.given_ids = codec.decode_ids(given_ids)
    return reply, reasoning


def _spans(tokens: tuple[list[TokenLogprob], list[int]] | None, text: str, where: str) -> TokenSpans:
    """Tokens as read, their spans checked against the text they are offsets in."""
    spans = TokenSpans()
    length = shown_length(text)
    spans.length = length
    if tokens is not None:
        recorded, ends = tokens
        previous = 0
        for index, end in enumerate(ends):
            if not previous <= end <= length:
                raise V.FieldError(f"{where}[{index}]", f"ends at {end}, outside {previous}..{length}")
            previous = end
        spans.restore(recorded, ends, length)
    return spans


def _pane(number: int, data: Any, conversation: Conversation, where: str) -> PaneState:
    data = dict(V.table(data, where))
    chosen = V.integer(data.pop("chosen", 0), f"{where}.chosen", low=0)
    conversation.root.chosen = min(chosen, max(0, len(conversation.root.children) - 1))
    return pane_from_record(data, where, conversation, number)
