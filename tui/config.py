"""The config file (TOML, in the platformdirs config dir): defaults for model, engine flags, sampling, theme.

```toml
theme = "panes-dark"
backend = "vllm"                        # or "openai": a remote OpenAI-compatible server
[engine]
model = "Qwen/Qwen2.5-1.5B-Instruct"
flags = ["--max-model-len", "4096"]   # any of vLLM's engine flags
[remote]                                # `backend = "openai"` at the top level selects it
base_url = "http://127.0.0.1:8000/v1"
model = "Qwen/Qwen2.5-1.5B-Instruct"    # optional: the first model the server lists
[sampling]
temperature = 0.8
seed = 42
chat_template = true
system_prompt = ""
```
A file that cannot be read is moved aside (with a notice) and defaults are used.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tui import locations
from tui.engine.params import SPECS_BY_NAME, ParamError, Sampling
from tui.storage import atomic_write_text, move_aside


@dataclass
class Config:
    theme: str | None = None
    backend: str = "vllm"  # or "openai"
    model: str | None = None
    remote_url: str | None = None
    remote_model: str | None = None
    engine_flags: list[str] = field(default_factory=list)
    sampling: Sampling = field(default_factory=Sampling)
    notices: list[str] = field(default_factory=list)  # what went wrong while loading, for the UI


def load_config(path: Path | None = None) -> Config:
    path = path or locations.config_file()
    config = Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return config
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        config.notices.append(_aside(path, f"config file unreadable ({exc})"))
        return config
    try:
        _apply(config, data)
    except (TypeError, ValueError, ParamError) as exc:
        config.notices.append(_aside(path, f"config file has a bad value ({exc})"))
        return Config(notices=config.notices)
    return config


def _apply(config: Config, data: dict[str, Any]) -> None:
    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        raise TypeError("theme must be a string")
    config.theme = theme
    backend = data.get("backend", "vllm")
    if backend not in ("vllm", "openai"):
        raise ValueError(f"backend must be 'vllm' or 'openai', not {backend!r}")
    config.backend = backend
    remote = data.get("remote", {})
    if not isinstance(remote, dict):
        raise TypeError("[remote] must be a table")
    for key in ("base_url", "model"):
        if remote.get(key) is not None and not isinstance(remote[key], str):
            raise TypeError(f"remote.{key} must be a string")
    config.remote_url = remote.get("base_url")
    config.remote_model = remote.get("model")
    engine = data.get("engine", {})
    if not isinstance(engine, dict):
        raise TypeError("[engine] must be a table")
    config.model = engine.get("model")
    flags = engine.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise TypeError("engine.flags must be a list of strings")
    config.engine_flags = flags
    sampling = dict(data.get("sampling", {}))
    chat = sampling.pop("chat_template", True)
    system = sampling.pop("system_prompt", "")
    values = {}
    for name, value in sampling.items():
        if name not in SPECS_BY_NAME:
            raise ValueError(f"unknown sampling setting {name!r}")
        values[name] = value
    config.sampling = Sampling(values, chat_template=bool(chat), system_prompt=str(system))


def save_theme(theme: str, path: Path | None = None) -> None:
    """Persist the theme choice, keeping whatever else the file holds."""
    path = path or locations.config_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return  # never overwrite a file the person may be fixing by hand
    # Any other OSError (a file where the directory should be, no permission) reaches the caller.
    data["theme"] = theme
    atomic_write_text(path, tomli_w.dumps(data))


def _aside(path: Path, reason: str) -> str:
    moved = move_aside(path)
    where = f"; moved to {moved}" if moved else ""
    return f"{reason}{where}; using defaults"
