"""The workbench's session (prompts, settings, outputs), saved atomically and restored on start."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tui import locations
from tui.storage import atomic_write_text, move_aside

SESSION_VERSION = 1


@dataclass
class PaneRecord:
    prompt: str = ""
    overrides: dict[str, str] = field(default_factory=dict)
    output: str = ""
    state: str = "idle"
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
        if not isinstance(data, dict) or data.get("version") != SESSION_VERSION:
            raise ValueError("not a session file of this version")
        panes = [PaneRecord(**pane) for pane in data.get("panes", [])]
        defaults = {str(k): str(v) for k, v in dict(data.get("defaults", {})).items()}
        return cls(defaults=defaults, chat_template=bool(data.get("chat_template", True)),
                   system_prompt=str(data.get("system_prompt", "")), panes=panes)


def save_session(record: SessionRecord, path: Path | None = None) -> None:
    atomic_write_text(path or locations.session_file(), record.to_json())


def load_session(path: Path | None = None) -> tuple[SessionRecord | None, str | None]:
    """(record, notice). A corrupt file is moved aside and reported, never silently dropped."""
    path = path or locations.session_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"could not read the session ({exc})"
    try:
        return SessionRecord.from_data(json.loads(text)), None
    except (ValueError, TypeError) as exc:
        moved = move_aside(path)
        where = f", moved to {moved}" if moved else ""
        return None, f"the saved session could not be read ({str(exc)[:80]}){where}"
