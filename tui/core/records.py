"""The core's objects as JSON records, and back, every field checked (files may be hand-edited).

One function makes each kind of record: a conversation (every branch), a pane, an answer's tokens
(kept compactly: one list per field, not one object per token), and the OpenAI-format messages of
a thread. The session file, the export, the batch output and the history are made of these.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any

from tui import validate as V
from tui.core.conversation import (ASSISTANT, ROLES, USAGE_LIMIT_BYTES, Conversation, ForkOrigin, Message, Reply,
                                   usage_size)
from tui.core.output_format import OutputFormat, Verdict
from tui.core.pane_state import PaneState
from tui.core.tokens import TokenSpans, shown_length
from tui.engine.logprobs import Alternative, TokenLogprob
from tui.engine.params import MAX_LOGPROBS, SPECS_BY_NAME
from tui.figures import IDLE, RUNNING_STATES, CANCELLED, STATES, Figures
from tui.targets import target_from_record

MAX_MESSAGES = 10_000  # in one conversation


# -- tokens --------------------------------------------------------------------------------------
def tokens_record(spans: TokenSpans) -> dict[str, list[Any]] | None:
    """An answer's recorded tokens, one list per field (None: none recorded)."""
    if not spans.tokens:
        return None
    tokens = spans.tokens
    return {"text": [t.text for t in tokens], "id": [t.token_id for t in tokens],
            "logprob": [_number(t.logprob) for t in tokens], "rank": [t.rank for t in tokens],
            "end": list(spans.ends),
            "top": [[[a.token_id, a.text, _number(a.logprob)] for a in t.top] for t in tokens]}


def tokens_from_record(value: Any, field: str, text: str) -> TokenSpans:
    """The inverse of `tokens_record`; each span must end within `text` (the answer), in order."""
    spans = TokenSpans()
    if value is None:
        spans.length = shown_length(text)
        return spans
    data = V.table(value, field)
    V.known_keys(data, field, {"text", "id", "logprob", "rank", "end", "top"})
    columns = {name: V.list_of(data.get(name, []), f"{field}.{name}", lambda item, where: item)
               for name in ("text", "id", "logprob", "rank", "end", "top")}
    count = len(columns["text"])
    for name, column in columns.items():
        if len(column) != count:
            raise V.FieldError(f"{field}.{name}", f"has {len(column)} items, not {count} (one per token)")
    limit = shown_length(text)
    tokens, ends, previous = [], [], 0
    for index in range(count):
        where = f"{field}[{index}]"
        end = V.integer(columns["end"][index], f"{where}.end", low=previous, high=limit)
        previous = end
        rank = columns["rank"][index]
        tokens.append(TokenLogprob(
            _token_id(columns["id"][index], f"{where}.id"),
            V.string(columns["text"][index], f"{where}.text", limit=1000),
            _logprob(columns["logprob"][index], f"{where}.logprob"),
            None if rank is None else V.integer(rank, f"{where}.rank", low=1),
            tuple(V.list_of(columns["top"][index], f"{where}.top", _alternative, limit=MAX_LOGPROBS))))
        ends.append(end)
    spans.restore(tokens, ends, limit)
    return spans


def _alternative(value: Any, field: str) -> Alternative:
    items = V.list_of(value, field, lambda item, where: item)
    if len(items) != 3:
        raise V.FieldError(field, "must be [id, text, logprob]")
    return Alternative(_token_id(items[0], f"{field}[0]"), V.string(items[1], f"{field}[1]", limit=1000),
                       _logprob(items[2], f"{field}[2]"))


def _number(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def _logprob(value: Any, field: str) -> float:
    number = V.number(value, field, high=0, optional=True)
    return -math.inf if number is None else number


def _token_id(value: Any, field: str) -> int | None:
    return None if value is None else V.integer(value, field, low=0)


def _ids(value: Any, field: str) -> list[int] | None:
    if value is None:
        return None
    return V.list_of(value, field, lambda item, where: V.integer(item, where, low=0))


# -- figures and replies ------------------------------------------------------------------------
_FIGURE_NUMBERS = ("ttft_ms", "tok_s", "queued_ms", "prefill_ms", "decode_ms", "thought_ms", "answered_ms")
_FIGURE_COUNTS = ("prompt_tokens", "cached_tokens", "thought_tokens")


def figures_record(figures: Figures) -> dict[str, Any]:
    return asdict(figures)


def figures_from_record(value: Any, field: str) -> Figures:
    data = V.table(value, field)
    V.known_keys(data, field, {f.name for f in fields(Figures)})
    state = V.one_of(data.get("state", IDLE), f"{field}.state", STATES)
    figures = Figures(
        CANCELLED if state in RUNNING_STATES else state,  # a run the app did not see end
        tokens=V.integer(data.get("tokens", 0), f"{field}.tokens", low=0),
        finish_reason=V.optional_string(data.get("finish_reason"), f"{field}.finish_reason"),
        message=V.string(data.get("message", ""), f"{field}.message", limit=2000))
    for name in _FIGURE_NUMBERS:
        setattr(figures, name, V.number(data.get(name), f"{field}.{name}", low=0, optional=True))
    for name in _FIGURE_COUNTS:
        count = data.get(name)
        setattr(figures, name, None if count is None else V.integer(count, f"{field}.{name}", low=0))
    return figures


def reply_record(reply: Reply) -> dict[str, Any]:
    record = {"figures": figures_record(reply.figures), "tokens": tokens_record(reply.tokens),
              "prompt_ids": reply.prompt_ids, "given_ids": reply.given_ids, **reply_fields(reply)}
    thinking = tokens_record(reply.thinking_tokens)
    if thinking is not None:  # a thinking model's, recorded with the heat view on
        record["thinking_tokens"] = thinking
    return record


def reply_fields(reply: Reply) -> dict[str, Any]:
    """A reply's record but its figures, tokens and token ids (which grow, or are kept apart by the
    store): what it is given when it starts, and its verdict. Cheap: compared on every save."""
    return {"target": None if reply.target is None else reply.target.record(), "settings": reply.settings,
            "logprobs_mode": reply.logprobs_mode, "forced": reply.forced, "forced_chars": reply.forced_chars,
            "origin": None if reply.origin is None else asdict(reply.origin), "started_at": reply.started_at,
            "verdict": None if reply.verdict is None else reply.verdict.record(),
            **({"forced_thinking": reply.forced_thinking, "forced_thinking_chars": reply.forced_thinking_chars}
               if reply.forced_thinking else {}),
            **({"usage": reply.usage} if reply.usage is not None else {})}


_REPLY_KEYS = {"figures", "tokens", "target", "settings", "prompt_ids", "logprobs_mode", "forced", "forced_chars",
               "given_ids", "origin", "started_at", "verdict", "thinking_tokens", "forced_thinking",
               "forced_thinking_chars", "usage"}


def reply_from_record(value: Any, field: str, text: str, tokens: TokenSpans | None = None, *, reasoning: str = "",
                      thinking: TokenSpans | None = None) -> Reply:
    """The inverse of `reply_record`; `tokens`, `thinking`: the reply's tokens, read apart (the
    store's); `reasoning`: the message's thinking, which the thinking's tokens are offsets in."""
    data = V.table(value, field)
    V.known_keys(data, field, _REPLY_KEYS)
    if tokens is None:
        tokens = tokens_from_record(data.get("tokens"), f"{field}.tokens", text)
    if thinking is None:
        thinking = tokens_from_record(data.get("thinking_tokens"), f"{field}.thinking_tokens", reasoning)
    return Reply(
        thinking_tokens=thinking,
        forced_thinking=V.integer(data.get("forced_thinking", 0), f"{field}.forced_thinking", low=0,
                                  high=len(thinking)),
        forced_thinking_chars=V.integer(data.get("forced_thinking_chars", 0), f"{field}.forced_thinking_chars",
                                        low=0, high=len(reasoning)),
        figures=figures_from_record(data.get("figures", {}), f"{field}.figures"),
        tokens=tokens,
        target=target_from_record(data.get("target"), f"{field}.target"),
        settings=_settings(data.get("settings"), f"{field}.settings"),
        prompt_ids=_ids(data.get("prompt_ids"), f"{field}.prompt_ids"),
        logprobs_mode=V.optional_string(data.get("logprobs_mode"), f"{field}.logprobs_mode"),
        # The given tokens are the first of its recorded ones (regenerating copies them).
        forced=V.integer(data.get("forced", 0), f"{field}.forced", low=0, high=len(tokens)),
        forced_chars=V.integer(data.get("forced_chars", 0), f"{field}.forced_chars", low=0, high=len(text)),
        given_ids=_ids(data.get("given_ids"), f"{field}.given_ids"),
        origin=_origin(data.get("origin"), f"{field}.origin"),
        started_at=V.number(data.get("started_at"), f"{field}.started_at", low=0, optional=True),
        verdict=_verdict(data.get("verdict"), f"{field}.verdict"),
        usage=_usage(data.get("usage"), f"{field}.usage"))


def _usage(value: Any, field: str) -> dict[str, Any] | None:
    """A server's usage, kept as it was sent (never used to compute anything): an object of a few
    counts."""
    if value is None:
        return None
    data = dict(V.table(value, field))
    if usage_size(data) > USAGE_LIMIT_BYTES:
        raise V.FieldError(field, f"is more than {USAGE_LIMIT_BYTES} bytes of JSON")
    return data


def _verdict(value: Any, field: str) -> Verdict | None:
    return None if value is None else Verdict.from_record(value, field)


def _settings(value: Any, field: str) -> dict[str, Any] | None:
    """What an answer was asked with; kept as recorded (it is shown, never sent again)."""
    if value is None:
        return None
    data = V.table(value, field)
    V.known_keys(data, field, set(SPECS_BY_NAME) | {"chat_template", "system_prompt", "logprobs", "format"})
    settings: dict[str, Any] = {}
    for name, item in data.items():
        if name == "format":
            settings[name] = None if item is None else OutputFormat.from_record(item, f"{field}.{name}").record()
        elif name == "chat_template":
            settings[name] = V.boolean(item, f"{field}.{name}")
        elif name == "system_prompt":
            settings[name] = V.string(item, f"{field}.{name}")
        elif item is None:
            settings[name] = None
        elif name in SPECS_BY_NAME and SPECS_BY_NAME[name].kind is bool:  # a switch (enable_thinking)
            settings[name] = V.boolean(item, f"{field}.{name}")
        else:
            settings[name] = V.number(item, f"{field}.{name}")
            if isinstance(item, int):
                settings[name] = item
    return settings


def _origin(value: Any, field: str) -> ForkOrigin | None:
    if value is None:
        return None
    data = V.table(value, field)
    V.known_keys(data, field, {"pane", "at", "token"})
    return ForkOrigin(V.integer(data.get("pane"), f"{field}.pane", low=1),
                      V.integer(data.get("at"), f"{field}.at", low=1),
                      V.string(data.get("token", ""), f"{field}.token", limit=1000))


# -- conversations ------------------------------------------------------------------------------
def conversation_record(conversation: Conversation) -> dict[str, Any]:
    """Every message of every branch, parents first; `chosen` says which child the path follows."""
    messages = []
    for message in conversation.messages():
        record: dict[str, Any] = {"id": message.id, "parent": _parent_id(message), "role": message.role,
                                  "content": message.content}
        if message.children:
            record["chosen"] = message.chosen
        if message.reasoning:  # an answer's thinking, when it had any
            record["reasoning"] = message.reasoning
        if message.reply is not None:
            record["reply"] = reply_record(message.reply)
        messages.append(record)
    return {"chosen": conversation.root.chosen, "messages": messages}


def conversation_from_record(value: Any, field: str) -> Conversation:
    data = V.table(value, field)
    V.known_keys(data, field, {"chosen", "messages"})
    conversation = Conversation()
    items = V.list_of(data.get("messages", []), f"{field}.messages", lambda item, where: item, limit=MAX_MESSAGES)
    chosen: list[tuple[Message, int]] = []
    for index, item in enumerate(items):
        where = f"{field}.messages[{index}]"
        message_data = V.table(item, where)
        V.known_keys(message_data, where, {"id", "parent", "role", "content", "reasoning", "chosen", "reply"})
        message_id = V.integer(message_data.get("id"), f"{where}.id", low=1)
        if conversation.get(message_id) is not None:
            raise V.FieldError(f"{where}.id", f"{message_id} is given twice")
        parent_id = message_data.get("parent")
        parent = None
        if parent_id is not None:
            parent = conversation.get(V.integer(parent_id, f"{where}.parent", low=1))
            if parent is None:
                raise V.FieldError(f"{where}.parent", f"no earlier message {parent_id}")
        role = V.one_of(message_data.get("role"), f"{where}.role", ROLES)
        content = V.string(message_data.get("content", ""), f"{where}.content")
        reasoning = reasoning_from_record(message_data.get("reasoning", ""), f"{where}.reasoning", role)
        reply = None
        if "reply" in message_data:
            if role != ASSISTANT:
                raise V.FieldError(f"{where}.reply", "only an assistant message has one")
            reply = reply_from_record(message_data["reply"], f"{where}.reply", content, reasoning=reasoning)
        message = conversation.add(parent, role, content, reply, message_id)
        message.set_reasoning(reasoning)
        if "chosen" in message_data:
            chosen.append((message, V.integer(message_data["chosen"], f"{where}.chosen", low=0)))
    for message, index in chosen:  # children come later in the list than their parent
        message.chosen = min(index, max(0, len(message.children) - 1))
    conversation.root.chosen = min(V.integer(data.get("chosen", 0), f"{field}.chosen", low=0),
                                   max(0, len(conversation.root.children) - 1))
    return conversation


def reasoning_from_record(value: Any, field: str, role: str) -> str:
    """An answer's thinking as recorded; only an assistant message has any."""
    reasoning = V.string(value, field)
    if reasoning and role != ASSISTANT:
        raise V.FieldError(field, "only an assistant message has one")
    return reasoning


def _parent_id(message: Message) -> int | None:
    parent = message.parent
    return None if parent is None or parent.parent is None else parent.id


# -- panes ----------------------------------------------------------------------------------------
def pane_record(state: PaneState) -> dict[str, Any]:
    """A pane as the session keeps it."""
    return {"number": state.number, "conversation": conversation_record(state.conversation), **pane_fields(state)}


def pane_fields(state: PaneState) -> dict[str, Any]:
    """A pane's record but its number and conversation (the store keeps those apart)."""
    return {"draft": state.draft, "overrides": dict(state.overrides),
            "target": None if state.target is None else state.target.record(), "label": state.label,
            "heat": state.heat, "editing": state.editing, "output_format": format_record(state.output_format),
            **({"set_aside": state.set_aside} if state.set_aside else {})}


_PANE_KEYS = {"number", "draft", "overrides", "target", "label", "heat", "editing", "conversation", "output_format",
              "set_aside"}


def pane_from_record(value: Any, field: str, conversation: Conversation | None = None,
                     number: int | None = None) -> PaneState:
    """The inverse of `pane_record`; `conversation` and `number`: read apart (the store's)."""
    data = V.table(value, field)
    V.known_keys(data, field, _PANE_KEYS)
    if conversation is None:
        conversation = conversation_from_record(data.get("conversation", {}), f"{field}.conversation")
    editing = data.get("editing")
    if editing is not None and conversation.get(V.integer(editing, f"{field}.editing", low=1)) is None:
        editing = None  # the message it edited is gone: the draft stays, as a new message
    return PaneState(
        number=V.integer(data.get("number") if number is None else number, f"{field}.number", low=1),
        conversation=conversation,
        draft=V.string(data.get("draft", ""), f"{field}.draft"),
        overrides=knobs_from_record(data.get("overrides", {}), f"{field}.overrides"),
        target=target_from_record(data.get("target"), f"{field}.target"),
        label=V.string(data.get("label", ""), f"{field}.label", limit=200),
        heat=V.boolean(data.get("heat", False), f"{field}.heat"),
        editing=editing,
        set_aside=V.string(data.get("set_aside", ""), f"{field}.set_aside"),
        output_format=format_from_record(data.get("output_format"), f"{field}.output_format"))


def format_record(fmt: OutputFormat | None) -> dict[str, Any] | None:
    """An output format as files keep it (None: the defaults')."""
    return None if fmt is None else fmt.record()


def format_from_record(value: Any, field: str) -> OutputFormat | None:
    return None if value is None else OutputFormat.from_record(value, field)


def knobs_from_record(value: Any, field: str) -> dict[str, str]:
    """Knobs as typed: {name: text}; the text is checked when it is used, as when it is typed."""
    settings = V.table(value, field)
    V.known_keys(settings, field, set(SPECS_BY_NAME))
    return {name: V.string(text, f"{field}.{name}", limit=100) for name, text in settings.items()}


# -- OpenAI format --------------------------------------------------------------------------------
def openai_messages(thread: list[Message], system_prompt: str = "") -> list[dict[str, str]]:
    """A thread as OpenAI's chat format: what a server would be sent to continue it (the answers'
    text only: their thinking is not sent back, as reasoning models expect)."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    return system + [{"role": m.role, "content": m.content} for m in thread]
