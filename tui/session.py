"""The workbench's session (prompts, settings, outputs), saved atomically and restored on start."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from tui import locations
from tui import validate as V
from tui.engine.params import SPECS_BY_NAME
from tui.figures import IDLE, STATES
from tui.storage import atomic_write_text, keep_copy, move_aside
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


@dataclass
class SessionRecord:
    defaults: dict[str, str] = field(default_factory=dict)  # as typed in the settings bar
    chat_template: bool = True
    system_prompt: str = ""
    panes: list[PaneRecord] = field(default_factory=list)
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
                   panes=V.list_of(data.get("panes", []), "panes", _pane))


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
    )


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
