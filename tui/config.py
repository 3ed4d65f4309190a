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
read_timeout = 120                      # optional: seconds a stream may stay quiet
[sampling]
temperature = 0.8
seed = 42
chat_template = true
system_prompt = ""
```
A file that cannot be used is moved aside, with a notice that names the bad field, and the
defaults are used.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from tui import locations
from tui import validate as V
from tui.engine.params import SPECS_BY_NAME, ParamError, Sampling
from tui.storage import atomic_write_text, move_aside
from tui.text import one_line


@dataclass
class Config:
    theme: str | None = None
    backend: str = "vllm"  # or "openai"
    model: str | None = None
    remote_url: str | None = None
    remote_model: str | None = None
    read_timeout: float | None = None  # seconds a remote stream may stay quiet
    engine_flags: list[str] = field(default_factory=list)
    sampling: Sampling = field(default_factory=Sampling)
    notices: list[str] = field(default_factory=list)  # what went wrong while loading, for the UI


def load_config(path: Path | None = None) -> Config:
    """The config file, every field checked. A file that cannot be used is moved aside (nothing the
    person wrote is lost) and the notice names the field; the defaults are used then."""
    path = path or locations.config_file()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Config(notices=[_aside(path, f"cannot be read ({one_line(exc, 160)})")])
    try:
        return config_from_data(data)
    except V.FieldError as exc:
        return Config(notices=[_aside(path, f"has a bad value: {exc}")])


def config_from_data(data: Any) -> Config:
    data = V.table(data, "config")
    V.known_keys(data, "", ("theme", "backend", "engine", "remote", "sampling"))
    config = Config(theme=V.optional_string(data.get("theme"), "theme"),
                    backend=V.one_of(data.get("backend", "vllm"), "backend", ("vllm", "openai")))
    remote = V.table(data.get("remote", {}), "remote")
    V.known_keys(remote, "remote", ("base_url", "model", "read_timeout"))
    config.remote_url = V.optional_string(remote.get("base_url"), "remote.base_url")
    config.remote_model = V.optional_string(remote.get("model"), "remote.model")
    config.read_timeout = V.number(remote.get("read_timeout"), "remote.read_timeout", low=0.1, optional=True)
    engine = V.table(data.get("engine", {}), "engine")
    V.known_keys(engine, "engine", ("model", "flags"))
    config.model = V.optional_string(engine.get("model"), "engine.model")
    config.engine_flags = V.list_of(engine.get("flags", []), "engine.flags", V.string)
    sampling = dict(V.table(data.get("sampling", {}), "sampling"))
    chat = V.boolean(sampling.pop("chat_template", True), "sampling.chat_template")
    system = V.string(sampling.pop("system_prompt", ""), "sampling.system_prompt")
    V.known_keys(sampling, "sampling", set(SPECS_BY_NAME) | {"chat_template", "system_prompt"})
    for name, value in sampling.items():
        try:
            SPECS_BY_NAME[name].check(value)
        except ParamError as exc:
            raise V.FieldError(f"sampling.{name}", str(exc)) from None
    try:
        config.sampling = Sampling(sampling, chat_template=chat, system_prompt=system)
    except ParamError as exc:
        raise V.FieldError("sampling", str(exc)) from None
    return config


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
    return one_line(f"the config file {reason}{where}; using the defaults", 600)
