"""Version 1 of the session file (one prompt and one answer per pane), read to be opened as
one-turn conversations: nothing in it is lost. The loader keeps the old file beside the new one."""

from __future__ import annotations

from typing import Any

from tui import validate as V
from tui.core.conversation import ASSISTANT, USER, Conversation, ForkOrigin, Reply
from tui.core.pane_state import PaneState
from tui.core.tokens import TokenSpans, shown_length
from tui.engine.logprobs import token_from_record
from tui.engine.params import MAX_LOGPROBS, SPECS_BY_NAME
from tui.figures import CANCELLED, IDLE, RUNNING_STATES, STATES, Figures
from tui.targets import target_from_record

PANE_KEYS = {"prompt", "overrides", "output", "state", "tokens", "ttft_ms", "tok_s", "finish_reason", "message",
             "heat", "token_logprobs", "logprobs_mode", "prompt_ids", "fork", "target", "label"}


def panes_of_version_1(data: Any) -> list[PaneState]:
    """The panes of a version-1 session, numbered 1, 2, … in their order."""
    return [_pane_state(number, _pane(value, f"panes[{number - 1}]"))
            for number, value in enumerate(V.list_of(data, "panes", lambda item, where: item), 1)]


def _pane_state(number: int, record: dict[str, Any]) -> PaneState:
    target = target_from_record(record["target"], "target")
    state = PaneState(number, overrides=record["overrides"], target=target, label=record["label"],
                      heat=record["heat"])
    if record["state"] == IDLE and not record["output"]:
        state.draft = record["prompt"]
        return state
    fork = record["fork"]
    conversation = Conversation()
    # The prompt is what version 1 showed in the pane; the fork's copy of it only told whether it
    # had been edited since the fork (a hand-edited file may have the two differ).
    question = conversation.add(None, USER, record["prompt"])
    figures = Figures(CANCELLED if record["state"] in RUNNING_STATES else record["state"], record["tokens"],
                      record["ttft_ms"], record["tok_s"], record["finish_reason"], record["message"])
    tokens = TokenSpans()
    tokens.restore([token_from_record(t) for t in record["token_logprobs"]],
                   [t["end"] for t in record["token_logprobs"]], shown_length(record["output"]))
    reply = Reply(figures=figures, tokens=tokens, target=target, prompt_ids=record["prompt_ids"],
                  logprobs_mode=record["logprobs_mode"], given_ids=fork["ids"] if fork else None,
                  origin=ForkOrigin(fork["parent"], fork["at"], fork["token"]) if fork else None)
    conversation.add(question, ASSISTANT, record["output"], reply)
    state.conversation = conversation
    return state


def _pane(value: Any, field: str) -> dict[str, Any]:
    data = V.table(value, field)
    V.known_keys(data, field, PANE_KEYS)
    return dict(
        prompt=V.string(data.get("prompt", ""), f"{field}.prompt"),
        overrides=_settings(data.get("overrides", {}), f"{field}.overrides"),
        output=V.string(data.get("output", ""), f"{field}.output"),
        state=V.one_of(data.get("state", IDLE), f"{field}.state", STATES),
        tokens=V.integer(data.get("tokens", 0), f"{field}.tokens", low=0),
        ttft_ms=V.number(data.get("ttft_ms"), f"{field}.ttft_ms", low=0, optional=True),
        tok_s=V.number(data.get("tok_s"), f"{field}.tok_s", low=0, optional=True),
        finish_reason=V.optional_string(data.get("finish_reason"), f"{field}.finish_reason"),
        message=V.string(data.get("message", ""), f"{field}.message"),
        heat=V.boolean(data.get("heat", False), f"{field}.heat"),
        token_logprobs=_token_logprobs(data, field),
        logprobs_mode=V.optional_string(data.get("logprobs_mode"), f"{field}.logprobs_mode"),
        prompt_ids=_ids(data.get("prompt_ids"), f"{field}.prompt_ids", optional=True),
        fork=_fork(data.get("fork"), f"{field}.fork"),
        target=_target(data.get("target"), f"{field}.target"),
        label=V.string(data.get("label", ""), f"{field}.label", limit=200),
    )


def _settings(value: Any, field: str) -> dict[str, str]:
    """Knobs as typed: {name: text}; the text is checked when it is used, as when it is typed."""
    settings = V.table(value, field)
    V.known_keys(settings, field, set(SPECS_BY_NAME))
    return {name: V.string(text, f"{field}.{name}", limit=100) for name, text in settings.items()}


def _target(value: Any, field: str) -> dict[str, Any] | None:
    target = target_from_record(value, field)
    return None if target is None else target.record()


def _token_logprobs(pane: Any, field: str) -> list[dict[str, Any]]:
    """Recorded tokens: each with its text, id, logprob, rank, alternatives and span end; the
    ends rise and stay within the saved answer, so the heat view can find every token in it."""
    tokens = V.list_of(pane.get("token_logprobs", []), f"{field}.token_logprobs", _token)
    limit = shown_length(pane.get("output", "") if isinstance(pane.get("output", ""), str) else "")
    previous = 0
    for index, token in enumerate(tokens):
        if not previous <= token["end"] <= limit:
            raise V.FieldError(f"{field}.token_logprobs[{index}].end",
                               f"must be between {previous} and {limit} (the answer's length)")
        previous = token["end"]
    return tokens


def _token(value: Any, field: str) -> dict[str, Any]:
    data = V.table(value, field)
    V.known_keys(data, field, {"text", "id", "logprob", "rank", "top", "end"})
    return {"text": V.string(data.get("text", ""), f"{field}.text", limit=1000),
            "id": _token_id(data.get("id"), f"{field}.id"),
            "logprob": V.number(data.get("logprob"), f"{field}.logprob", high=0, optional=True),
            "rank": None if data.get("rank") is None else V.integer(data.get("rank"), f"{field}.rank", low=1),
            "top": V.list_of(data.get("top", []), f"{field}.top", _alternative, limit=MAX_LOGPROBS),
            "end": V.integer(data.get("end"), f"{field}.end", low=0)}


def _alternative(value: Any, field: str) -> dict[str, Any]:
    data = V.table(value, field)
    V.known_keys(data, field, {"text", "id", "logprob"})
    return {"text": V.string(data.get("text", ""), f"{field}.text", limit=1000),
            "id": _token_id(data.get("id"), f"{field}.id"),
            "logprob": V.number(data.get("logprob"), f"{field}.logprob", high=0, optional=True)}


def _token_id(value: Any, field: str) -> int | None:
    return None if value is None else V.integer(value, field, low=0)


def _ids(value: Any, field: str, optional: bool = False) -> list[int] | None:
    if value is None and optional:
        return None
    return V.list_of(value, field, lambda item, where: V.integer(item, where, low=0))


def _fork(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    data = V.table(value, field)
    V.known_keys(data, field, {"parent", "at", "token", "ids", "text"})
    return {"parent": V.integer(data.get("parent"), f"{field}.parent", low=1),
            "at": V.integer(data.get("at"), f"{field}.at", low=1),
            "token": V.string(data.get("token", ""), f"{field}.token", limit=1000),
            "ids": _ids(data.get("ids"), f"{field}.ids"),
            "text": V.string(data.get("text", ""), f"{field}.text")}
