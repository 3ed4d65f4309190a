"""The workbench's session (prompts, settings, outputs), saved atomically and restored on start."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from tui import locations
from tui import validate as V
from tui.engine.params import MAX_LOGPROBS, SPECS_BY_NAME
from tui.heat import shown_length
from tui.figures import IDLE, STATES
from tui.storage import atomic_write_text, keep_copy, move_aside
from tui.targets import target_from_record
from tui.text import one_line

SESSION_VERSION = 1
MAX_PANES = 32  # the workbench holds at most this many panes


@dataclass
class PaneRecord:
    prompt: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    output: str = ""
    state: str = IDLE
    tokens: int = 0
    ttft_ms: float | None = None
    tok_s: float | None = None
    finish_reason: str | None = None
    message: str = ""
    heat: bool = False
    # The answer's recorded tokens (tui.engine.logprobs.token_record, with "end": where the token
    # ends in the shown answer), the prompt's token ids, and where a fork came from.
    token_logprobs: list[dict[str, Any]] = field(default_factory=list)
    logprobs_mode: str | None = None
    prompt_ids: list[int] | None = None
    fork: dict[str, Any] | None = None
    target: dict[str, Any] | None = None  # Target.record(); None: the default target
    label: str = ""  # what sets this pane apart in a sweep, shown in its title


@dataclass
class SessionRecord:
    defaults: dict[str, str] = field(default_factory=dict)  # as typed in the settings bar
    chat_template: bool = True
    system_prompt: str = ""
    panes: list[PaneRecord] = field(default_factory=list)
    default_target: dict[str, Any] | None = None  # Target.record(); None: the backend's own model
    version: int = SESSION_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_data(cls, data: Any) -> SessionRecord:
        """A record from a file's JSON, every field checked; FieldError names the first bad one."""
        data = V.table(data, "session")
        if data.get("version") != SESSION_VERSION:
            raise V.FieldError("version", f"must be {SESSION_VERSION}, not {V.describe(data.get('version'))}")
        V.known_keys(data, "", {f.name for f in fields(cls)})
        return cls(defaults=_settings(data.get("defaults", {}), "defaults"),
                   chat_template=V.boolean(data.get("chat_template", True), "chat_template"),
                   system_prompt=V.string(data.get("system_prompt", ""), "system_prompt"),
                   panes=V.list_of(data.get("panes", []), "panes", _pane),
                   default_target=_target(data.get("default_target"), "default_target"))


def _settings(value: Any, field: str) -> dict[str, str]:
    """Knobs as typed: {name: text}; the text is checked when it is used, as when it is typed."""
    settings = V.table(value, field)
    V.known_keys(settings, field, set(SPECS_BY_NAME))
    return {name: V.string(text, f"{field}.{name}", limit=100) for name, text in settings.items()}


def _pane(value: Any, field: str) -> PaneRecord:
    data = V.table(value, field)
    V.known_keys(data, field, {f.name for f in fields(PaneRecord)})
    return PaneRecord(
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


def save_session(record: SessionRecord, path: Path | None = None) -> None:
    atomic_write_text(path or locations.session_file(), record.to_json())


def load_session(path: Path | None = None) -> tuple[SessionRecord | None, str | None]:
    """(record, notice). A file that cannot be used is moved aside and named in the notice, never
    silently dropped; a session of more panes than the workbench holds is cut to MAX_PANES, and
    the whole file is kept beside it."""
    path = path or locations.session_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, _set_aside(path, f"could not be read ({one_line(exc, 120)})")
    try:
        record = SessionRecord.from_data(json.loads(text))
    except json.JSONDecodeError as exc:
        return None, _set_aside(path, f"is not JSON ({exc.msg}, line {exc.lineno})")
    except V.FieldError as exc:
        return None, _set_aside(path, f"has a bad value: {exc}")
    except RecursionError:
        return None, _set_aside(path, "is nested too deeply")
    if len(record.panes) <= MAX_PANES:
        return record, None
    kept = keep_copy(path)
    count = len(record.panes)
    record.panes = record.panes[:MAX_PANES]
    where = f"; the whole file is kept as {kept}" if kept else ""
    return record, f"the saved session has {count} panes: the first {MAX_PANES} are open{where}"


def _set_aside(path: Path, reason: str) -> str:
    moved = move_aside(path)
    where = f"; moved to {moved}" if moved else ""
    return one_line(f"the saved session {reason}{where}", 600)


class SessionLock:
    """One app saves a session file at a time: a second one on the same file is told, and does not
    save it (it would overwrite the first one's work). A lock file beside the session (filelock);
    the operating system lets it go when the process ends, however it ends."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = FileLock(str(path.with_name(path.name + ".lock")))

    def acquire(self) -> bool:
        """False when another process holds the session. Where no lock can be made at all (the
        data directory cannot be written), True: saving will say what is wrong."""
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._lock.acquire(timeout=0)
            return True
        except Timeout:
            return False
        except OSError:
            return True

    def release(self) -> None:
        self._lock.release()
