"""Saving the session a little at a time: on the event loop, a cheap walk over the panes finds what
changed since the last save, and hands the writer thread only that.

The walk remembers, per pane, its fields and the conversation it wrote; per message, its place,
its `chosen`, the text written (a reference to the string, so that a streamed answer is saved as
its new tail) and, for an answer, its figures and how many tokens were written (the new ones are
passed on as they are: `TokenLogprob`s are immutable). What it compares are references and
small values; nothing is serialized here. Messages and panes that are gone are dropped.

When a write fails, the writer says so (`invalidate`) and the next walk writes the whole session
again, in one transaction that starts by clearing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tui.core.conversation import Conversation, Message, Reply
from tui.core.pane_state import PaneState
from tui.core.tokens import TokenSpans
from tui.engine.logprobs import TokenLogprob
from tui.figures import Figures
from tui.session import SessionRecord
from tui.store.session_rows import (
    AppendText,
    AppendTokens,
    ClearSession,
    DropMessage,
    DropPane,
    DropReply,
    Op,
    PutFigures,
    PutMessage,
    PutPane,
    PutReply,
    PutSettings,
    pane_fields,
    reply_figures,
    reply_fixed,
    session_settings,
)


@dataclass
class _TokensWritten:
    spans: TokenSpans | None = None
    count: int = 0  # tokens written
    last: TokenLogprob | None = None  # the last of them (to see that the ones written are still there)


@dataclass
class _ReplyWritten:
    reply: Reply
    fixed: dict[str, Any]
    figures: Figures
    prompt_ids: list[int] | None
    given_ids: list[int] | None
    answer: _TokensWritten = field(default_factory=_TokensWritten)
    thinking: _TokensWritten = field(default_factory=_TokensWritten)


@dataclass
class _MessageWritten:
    message: Message
    shape: tuple = ()  # (parent, place, role, chosen)
    text: str = ""  # the text written, as the string it was
    reasoning: str = ""  # the thinking written (with the reply's row), as the string it was
    reply: _ReplyWritten | None = None


@dataclass
class _PaneWritten:
    conversation: Conversation
    place: int = -1
    fields: dict[str, Any] | None = None
    messages: dict[int, _MessageWritten] = field(default_factory=dict)


class SessionSync:
    def __init__(self) -> None:
        self._settings: dict[str, Any] | None = None
        self._panes: dict[int, _PaneWritten] = {}
        self._whole = True  # the next walk writes everything (nothing is known to be written)

    def invalidate(self) -> None:
        """A write failed: the database's session is not what the walk remembers. (Called from the
        writer thread; the next walk on the event loop reads it.)"""
        self._whole = True

    def adopt(self, record: SessionRecord) -> None:
        """The database holds `record` as it is (it was read from it): the next walk writes only
        what changes after this."""
        self._forget()
        self._whole = False
        self.changes(record)

    def changes(self, record: SessionRecord) -> tuple[list[Op], bool]:
        """What to write for the session to be `record`, and whether it is the whole session
        (it begins by clearing it)."""
        whole = self._whole
        ops: list[Op] = []
        if whole:
            self._whole = False
            self._forget()
            ops.append(ClearSession())
        settings = session_settings(record)
        if settings != self._settings:
            ops.append(PutSettings(settings))
            self._settings = settings
        seen = set()
        for place, state in enumerate(record.panes):
            seen.add(state.number)
            self._pane(state, place, ops)
        for number in [n for n in self._panes if n not in seen]:
            del self._panes[number]
            ops.append(DropPane(number))
        return ops, whole

    def _forget(self) -> None:
        self._settings = None
        self._panes.clear()

    # -- panes ------------------------------------------------------------------------------------------
    def _pane(self, state: PaneState, place: int, ops: list[Op]) -> None:
        number = state.number
        written = self._panes.get(number)
        if written is None or written.conversation is not state.conversation:
            if written is not None:  # another conversation under the same number: written anew
                ops.append(DropPane(number, keep_row=True))
            written = self._panes[number] = _PaneWritten(state.conversation)
        fields = pane_fields(state)
        if fields != written.fields or place != written.place:
            ops.append(PutPane(number, place, fields))
            written.fields, written.place = fields, place
        seen = set()
        stack = [(message, index) for index, message in reversed(list(enumerate(state.conversation.root.children)))]
        while stack:
            message, index = stack.pop()
            seen.add(message.id)
            self._message(number, message, index, written.messages, ops)
            stack.extend((child, i) for i, child in reversed(list(enumerate(message.children))))
        for message_id in [m for m in written.messages if m not in seen]:
            del written.messages[message_id]
            ops.append(DropMessage(number, message_id))

    # -- messages -------------------------------------------------------------------------------------
    def _message(self, pane: int, message: Message, place: int, messages: dict[int, _MessageWritten],
                 ops: list[Op]) -> None:
        written = messages.get(message.id)
        if written is None or written.message is not message:
            if written is not None:
                ops.append(DropMessage(pane, message.id))
            written = messages[message.id] = _MessageWritten(message)
        parent = message.parent
        shape = (None if parent is None or parent.parent is None else parent.id, place, message.role, message.chosen)
        if shape != written.shape:
            ops.append(PutMessage(pane, message.id, *shape))
            written.shape = shape
        content = message.content
        if content is not written.text:
            had = written.text
            if content.startswith(had):
                if len(content) > len(had):
                    ops.append(AppendText(pane, message.id, content[len(had):]))
            else:
                ops.append(AppendText(pane, message.id, content, replace=True))
            written.text = content
        self._reply(pane, message, written, ops)

    def _reply(self, pane: int, message: Message, written: _MessageWritten, ops: list[Op]) -> None:
        reply = message.reply
        had = written.reply
        if reply is None:
            if had is not None:
                ops.append(DropReply(pane, message.id))
                written.reply = None
            return
        fixed = reply_fixed(reply)
        reasoning = message.reasoning
        if had is None or had.reply is not reply or fixed != had.fixed or reply.prompt_ids is not had.prompt_ids \
                or reply.given_ids is not had.given_ids or reasoning is not written.reasoning:
            ops.append(PutReply(pane, message.id, reply, reasoning))
            written.reasoning = reasoning
            same = had is not None and had.reply is reply  # its tokens as written stay (else written anew)
            had = written.reply = _ReplyWritten(reply, fixed, reply_figures(reply), reply.prompt_ids, reply.given_ids,
                                                *((had.answer, had.thinking) if same else ()))
        elif reply.figures != had.figures:
            had.figures = reply_figures(reply)
            ops.append(PutFigures(pane, message.id, had.figures))
        self._tokens(pane, message.id, reply.tokens, had.answer, ops)
        if reply.thinking_tokens.tokens or had.thinking.count:
            self._tokens(pane, message.id, reply.thinking_tokens, had.thinking, ops, thinking=True)

    @staticmethod
    def _tokens(pane: int, message_id: int, spans: TokenSpans, had: _TokensWritten, ops: list[Op],
                thinking: bool = False) -> None:
        tokens = spans.tokens
        count = len(tokens)
        kept = spans is had.spans and count >= had.count and (had.count == 0 or tokens[had.count - 1] is had.last)
        if kept and count == had.count:
            return
        if kept:
            ops.append(AppendTokens(pane, message_id, tokens[had.count:], spans.ends[had.count:], thinking=thinking))
        else:
            ops.append(AppendTokens(pane, message_id, list(tokens), list(spans.ends), replace=True, thinking=thinking))
        had.spans, had.count, had.last = spans, count, tokens[-1] if count else None
