"""The workbench's session (every pane's conversation, draft, settings and target), saved
atomically and restored on start. Version 2 keeps each pane's whole conversation tree; a version-1
file (one prompt and one answer per pane, tui/session_v1.py) opens as one-turn conversations and
is kept beside the new file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from tui import locations
from tui import validate as V
from tui.arena.battle import ArenaState
from tui.core.output_format import FREE_FORMAT, OutputFormat
from tui.core.pane_state import PaneState
from tui.core.records import knobs_from_record, pane_from_record, pane_record
from tui.engine.protocol import Target
from tui.session_v1 import panes_of_version_1
from tui.storage import atomic_write_text, keep_copy, move_aside
from tui.targets import target_from_record
from tui.text import one_line

SESSION_VERSION = 2
MAX_PANES = 32  # the workbench holds at most this many panes
_KEYS = {"version", "defaults", "chat_template", "system_prompt", "panes", "default_target", "next_number",
         "composer", "output_format", "arena", "focus", "composer_sent"}
COMPOSER_SENT_KEPT = 50  # the message box's messages `up` brings back after a restart


@dataclass
class SessionRecord:
    defaults: dict[str, str] = field(default_factory=dict)  # as typed in the settings bar
    chat_template: bool = True
    system_prompt: str = ""
    panes: list[PaneState] = field(default_factory=list)
    default_target: Target | None = None  # None: the backend's own model
    next_number: int = 1  # the next new pane's number (numbers are never given twice)
    composer: str = ""  # the message box's text, not sent yet
    composer_sent: list[str] = field(default_factory=list)  # what it sent, oldest first (`up` brings them back)
    output_format: OutputFormat = FREE_FORMAT  # the defaults' output format
    arena: ArenaState | None = None  # the blind arena, when on (a battle waiting for its vote too)
    focus: int | None = None  # where the person typed: a pane's number, 0 the message box (None: the first pane)
    version: int = SESSION_VERSION

    def to_data(self) -> dict[str, Any]:
        return {"version": SESSION_VERSION, "defaults": self.defaults, "chat_template": self.chat_template,
                "system_prompt": self.system_prompt,
                "default_target": None if self.default_target is None else self.default_target.record(),
                "next_number": self.next_number, "composer": self.composer,
                "composer_sent": self.composer_sent[-COMPOSER_SENT_KEPT:],
                "output_format": self.output_format.record(),
                **({"arena": self.arena.record()} if self.arena is not None else {}),
                **({"focus": self.focus} if self.focus is not None else {}),
                "panes": [pane_record(state) for state in self.panes]}

    def to_json(self) -> str:
        return json.dumps(self.to_data(), ensure_ascii=False, indent=1)

    @classmethod
    def from_data(cls, data: Any) -> SessionRecord:
        """A record from a file's JSON (version 2, or 1), every field checked; FieldError names the
        first bad one."""
        data = V.table(data, "session")
        version = data.get("version")
        if version not in (1, SESSION_VERSION):
            raise V.FieldError("version", f"must be 1 or {SESSION_VERSION}, not {V.describe(version)}")
        V.known_keys(data, "", _KEYS)
        if version == 1:
            panes = panes_of_version_1(data.get("panes", []))
        else:
            panes = V.list_of(data.get("panes", []), "panes", pane_from_record)
        numbers = [state.number for state in panes]
        if len(set(numbers)) != len(numbers):
            raise V.FieldError("panes", "two panes have the same number")
        return cls(defaults=knobs_from_record(data.get("defaults", {}), "defaults"),
                   chat_template=V.boolean(data.get("chat_template", True), "chat_template"),
                   system_prompt=V.string(data.get("system_prompt", ""), "system_prompt"),
                   panes=panes,
                   default_target=target_from_record(data.get("default_target"), "default_target"),
                   next_number=V.integer(data.get("next_number", 1), "next_number", low=1),
                   composer=V.string(data.get("composer", ""), "composer"),
                   composer_sent=V.list_of(data.get("composer_sent", []), "composer_sent", V.string,
                                           limit=COMPOSER_SENT_KEPT),
                   output_format=OutputFormat.from_record(data.get("output_format", {}), "output_format"),
                   arena=None if data.get("arena") is None else ArenaState.from_record(data["arena"], "arena"),
                   focus=None if data.get("focus") is None else V.integer(data["focus"], "focus", low=0),
                   version=version)


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
    notice = None
    if record.version != SESSION_VERSION:
        kept = keep_copy(path)
        where = f" (the old file is kept as {kept})" if kept else ""
        notice = f"the saved session was opened as conversations{where}"
    if len(record.panes) <= MAX_PANES:
        return record, notice
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
