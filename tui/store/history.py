"""The history's runs in and out: a run that ended becomes a row (the conversation it continued,
its settings, target, answer, figures and tokens), and a row becomes a run again, to show, to
export, or to reopen in a pane.

A `RunEntry` is made on the event loop from the finished `Message` (references to immutable
values and copies of the small mutable ones); `RecordRun` turns it into rows on the writer thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from tui import validate as V
from tui.core.conversation import ASSISTANT, USER, Conversation, ForkOrigin, Message, Reply
from tui.core.output_format import FREE_FORMAT, OutputFormat
from tui.core.pane_state import PaneState
from tui.core.records import figures_record, openai_messages, reply_from_record
from tui.core.tokens import shown_length
from tui.engine.logprobs import TokenLogprob
from tui.engine.params import SPECS_BY_NAME, unset_word
from tui.engine.protocol import Target
from tui.figures import DONE, Figures
from tui.store import codec
from tui.store.db import TOKEN_COLUMNS
from tui.store.session_rows import Op, dumps
from tui.storage import writable

WORKBENCH, HEADLESS, BATCH = "workbench", "headless", "batch"
KINDS = (WORKBENCH, HEADLESS, BATCH)
_TOKEN_LIST = ", ".join(TOKEN_COLUMNS)
_TOKEN_SLOTS = ", ".join("?" for _ in TOKEN_COLUMNS)


def new_comparison() -> str:
    """An id shared by the runs started together (one ctrl+r, f7, a sweep, a batch's grid)."""
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class RunEntry:
    """One run as the history keeps it."""

    comparison: str
    kind: str
    messages: list[dict[str, str]]  # the conversation it continued (OpenAI format, the system message first)
    answer: str
    figures: Figures
    target: Target | None
    settings: dict[str, Any] | None = None
    pane: int | None = None
    label: str = ""
    reasoning: str = ""  # the answer's thinking (a server's reasoning channel), kept apart from it
    prompt_ids: list[int] | None = None
    given_ids: list[int] | None = None
    logprobs_mode: str | None = None
    forced: int = 0
    forced_chars: int = 0
    usage: dict[str, Any] | None = None  # the server's, as it sent it
    origin: ForkOrigin | None = None
    started_at: float | None = None
    ended_at: float = field(default_factory=time.time)
    tokens: list[TokenLogprob] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)

    @property
    def prompt(self) -> str:
        """The last user message: what the run answered."""
        return next((m["content"] for m in reversed(self.messages) if m["role"] == USER), "")


def run_entry(conversation: Conversation, answer: Message, *, comparison: str, kind: str,
              pane: int | None = None, label: str = "", target: Target | None = None) -> RunEntry:
    """The history's entry for `answer`, a run that ended; `target`: where it ran when its reply
    names none (the backend's own model)."""
    reply = answer.reply
    if reply is None:
        raise ValueError("a run's answer has a reply")
    settings = reply.settings or {}
    system = settings.get("system_prompt", "") if settings.get("chat_template", True) else ""
    thread = conversation.thread_to(answer)[:-1]
    spans = reply.tokens
    return RunEntry(comparison=comparison, kind=kind, messages=openai_messages(thread, system or ""),
                    answer=answer.content, reasoning=answer.reasoning, figures=replace(reply.figures), target=reply.target or target,
                    settings=dict(settings) if reply.settings is not None else None, pane=pane, label=label,
                    prompt_ids=reply.prompt_ids, given_ids=reply.given_ids, logprobs_mode=reply.logprobs_mode,
                    forced=reply.forced, forced_chars=reply.forced_chars, origin=reply.origin,
                    started_at=reply.started_at, tokens=list(spans.tokens), ends=list(spans.ends), usage=reply.usage)


class RecordRun(Op):
    def __init__(self, entry: RunEntry) -> None:
        self.entry = entry

    def apply(self, conn: sqlite3.Connection) -> None:
        e = self.entry
        target = e.target
        messages = dumps(e.messages, "a run's messages")
        prompt, answer = writable(e.prompt, "a run's prompt"), writable(e.answer, "a run's answer")
        reply = dumps({"logprobs_mode": e.logprobs_mode, "forced": e.forced, "forced_chars": e.forced_chars,
                       "origin": None if e.origin is None else asdict(e.origin),
                       **({"usage": e.usage} if e.usage is not None else {})}, "a run")
        columns = codec.encode(e.tokens, e.ends) if e.tokens else None
        prompt_ids, given_ids = codec.encode_ids(e.prompt_ids), codec.encode_ids(e.given_ids)
        settings = None if e.settings is None else dumps(e.settings, "a run's settings")
        reasoning = writable(e.reasoning, "a run's reasoning")
        size = (len(messages) + len(prompt) + len(answer) * 2 + len(reasoning) + len(reply) + len(settings or "") + 200
                + (columns.size if columns else 0) + len(prompt_ids or b"") + len(given_ids or b""))
        cursor = conn.execute(
            "INSERT INTO runs (comparison, kind, pane, label, started_at, ended_at, state, finish_reason, tokens, "
            "ttft_ms, tok_s, figures, target, target_label, model, adapter, source, settings, messages, prompt, "
            "answer, reasoning, reply, prompt_ids, given_ids, size) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (e.comparison, e.kind, e.pane, writable(e.label, "a run's label"), e.started_at, e.ended_at,
             e.figures.state, e.figures.finish_reason, e.figures.tokens, e.figures.ttft_ms, e.figures.tok_s,
             dumps(figures_record(e.figures), "a run's figures"),
             None if target is None else dumps(target.record(), "a target"),
             writable(target.label if target else "", "a target"), writable(target.model if target else "", "a model"),
             None if target is None else target.adapter, target.source if target else "",
             settings, messages, prompt, answer, reasoning, reply,
             prompt_ids, given_ids, size))
        if columns is not None:
            conn.execute(f"INSERT INTO run_tokens (run, {_TOKEN_LIST}) VALUES (?, {_TOKEN_SLOTS})",
                         (cursor.lastrowid, *columns.row()))


# -- reading runs back -------------------------------------------------------------------------------
@dataclass
class StoredRun:
    """A run read back from the history, its reply rebuilt."""

    id: int
    comparison: str
    kind: str
    pane: int | None
    label: str
    ended_at: float
    messages: list[dict[str, str]]
    answer: str
    reasoning: str
    reply: Reply

    @property
    def prompt(self) -> str:
        return next((m["content"] for m in reversed(self.messages) if m["role"] == USER), "")


_RUN_COLUMNS = ("id, comparison, kind, pane, label, started_at, ended_at, figures, target, settings, messages, "
                "answer, reasoning, reply, prompt_ids, given_ids")


def load_run(conn: sqlite3.Connection, run_id: int, tokens: bool = True) -> StoredRun | None:
    """The run with id `run_id` (None if there is none); V.FieldError or codec.CodecError when its
    row does not make a run."""
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else _stored(conn, row, tokens)


def load_comparison(conn: sqlite3.Connection, comparison: str) -> list[StoredRun]:
    """Every run started with the one whose comparison this is, in the panes' order."""
    rows = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE comparison = ? ORDER BY pane, id", (comparison,))
    return [_stored(conn, row, True) for row in rows.fetchall()]


def stored_runs(conn: sqlite3.Connection, ids: list[int], tokens: bool = True):
    """The runs with these ids, in this order (for an export), one at a time."""
    for run_id in ids:
        run = load_run(conn, run_id, tokens)
        if run is not None:
            yield run


def _stored(conn: sqlite3.Connection, row: tuple, with_tokens: bool) -> StoredRun:
    (run_id, comparison, kind, pane, label, started_at, ended_at, figures, target, settings, messages, answer,
     reasoning, reply_json, prompt_ids, given_ids) = row
    where = f"run {run_id}"
    extra = V.table(json.loads(reply_json), f"{where}.reply")
    data = {"figures": json.loads(figures), "target": None if target is None else json.loads(target),
            "settings": None if settings is None else json.loads(settings), "started_at": started_at, **extra}
    reply = reply_from_record(data, where, answer)
    reply.prompt_ids = codec.decode_ids(prompt_ids)
    reply.given_ids = codec.decode_ids(given_ids)
    if with_tokens:
        found = conn.execute(f"SELECT {_TOKEN_LIST} FROM run_tokens WHERE run = ?", (run_id,)).fetchone()
        if found is not None:
            tokens, ends = codec.decode(found)
            length = shown_length(answer)
            if any(b < a for a, b in zip([0, *ends], ends)) or (ends and ends[-1] > length):
                raise V.FieldError(f"{where}.tokens", "the spans do not fit the answer")
            reply.tokens.restore(tokens, ends, length)
    return StoredRun(run_id, comparison, kind, pane, label, ended_at, _messages(json.loads(messages), where),
                     answer, V.string(reasoning, f"{where}.reasoning"), reply)


def _messages(value: Any, where: str) -> list[dict[str, str]]:
    def message(item: Any, at: str) -> dict[str, str]:
        data = V.table(item, at)
        V.known_keys(data, at, {"role", "content"})
        return {"role": V.one_of(data.get("role"), f"{at}.role", ("system", USER, ASSISTANT)),
                "content": V.string(data.get("content", ""), f"{at}.content")}

    return V.list_of(value, f"{where}.messages", message)


def run_record(run: StoredRun) -> dict[str, Any]:
    """A run as one JSON object (the history's JSONL export)."""
    from tui.core.records import reply_record

    reply = reply_record(run.reply)
    return {"id": run.id, "comparison": run.comparison, "kind": run.kind, "pane": run.pane, "label": run.label,
            "ended_at": run.ended_at, "ended": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(run.ended_at)),
            "messages": run.messages, "prompt": run.prompt, "answer": run.answer, "reasoning": run.reasoning,
            **reply}


# -- reopening --------------------------------------------------------------------------------------
def pane_state_of(run: StoredRun, number: int, defaults: dict[str, Any] | None = None,
                  default_format: OutputFormat | None = None) -> PaneState:
    """A pane that shows the run again: its conversation, then its answer with its figures and
    tokens; its target; and as its own knobs and output format the settings it ran with that
    differ from `defaults` and `default_format` (the workbench's now), so that running it again
    asks the same."""
    conversation = Conversation()
    parent = None
    for message in run.messages:
        if message["role"] == "system":
            continue
        reply = Reply(figures=Figures(DONE)) if message["role"] == ASSISTANT else None
        parent = conversation.add(parent, message["role"], message["content"], reply)
    reply = run.reply.copy()
    conversation.add(parent, ASSISTANT, run.answer, reply).set_reasoning(run.reasoning)
    return PaneState(number, conversation, overrides=overrides_of(reply.settings, defaults),
                     target=reply.target, label=run.label, output_format=format_of(reply.settings, default_format))


def format_of(settings: dict[str, Any] | None, default: OutputFormat | None) -> OutputFormat | None:
    """The output format a run was asked with, for a pane of its own when it differs from `default`
    (None: the pane takes the defaults'). A run opened again from the history lost its regex, and
    asked again for free text."""
    if not settings or "format" not in settings:
        return None  # not recorded: nothing to say
    record = settings["format"]
    try:
        asked = FREE_FORMAT if record is None else OutputFormat.from_record(record, "format")
    except V.FieldError:
        return None
    return None if default is not None and asked == default else asked


def overrides_of(settings: dict[str, Any] | None, defaults: dict[str, Any] | None) -> dict[str, str]:
    """The knobs of `settings` that differ from `defaults`, as a pane's fields hold them."""
    overrides = {}
    for name, value in (settings or {}).items():
        spec = SPECS_BY_NAME.get(name)
        if spec is None or (defaults is not None and defaults.get(name) == value):
            continue
        overrides[name] = unset_word(spec) if value is None and spec.optional else spec.format(value)
    return overrides
