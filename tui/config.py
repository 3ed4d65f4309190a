"""The config file (TOML, in the platformdirs config dir): defaults for model, engine flags, sampling, theme.

```toml
theme = "panes-dark"
backend = "vllm"                        # or "openai": a remote OpenAI-compatible server
history_max_mb = 1024                   # the history's size: beyond it the oldest runs are dropped
[engine]
model = "Qwen/Qwen2.5-1.5B-Instruct"
flags = ["--max-model-len", "4096"]   # any of vLLM's engine flags
[remote]                                # `backend = "openai"` at the top level selects it
base_url = "http://127.0.0.1:8000/v1"
model = "Qwen/Qwen2.5-1.5B-Instruct"    # optional: the first model the server lists
read_timeout = 120                      # optional: seconds a stream may stay quiet
[[remotes]]                             # more servers, whose models are targets beside the engine's
url = "http://gpu-box:8000/v1"
api_key_env = "GPU_BOX_KEY"             # optional: the environment variable holding its API key
models = "qwen*"                        # optional: which of its models to offer (shell pattern)
[[adapters]]                            # LoRA adapters for the in-process engine (as --lora NAME=PATH)
name = "proverbs"
path = "~/adapters/proverbs"
[keys]                                  # other keys for the workbench's actions (see f1 for their names)
close_pane = "alt+w"
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
from tui.store.upkeep import DEFAULT_MAX_MB
from tui.text import one_line


@dataclass(frozen=True)
class Remote:
    """A server named in the config file or with --base-url."""

    url: str
    api_key_env: str | None = None
    models: str | None = None


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
    remotes: list[Remote] = field(default_factory=list)
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA adapters by name: folder paths
    keys: dict[str, str] = field(default_factory=dict)  # other keys for actions (tui/keymap.py): action = "keys"
    history_max_mb: float = DEFAULT_MAX_MB  # the store's size limit (tui/store/upkeep.py)
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
    V.known_keys(data, "", ("theme", "backend", "engine", "remote", "sampling", "remotes", "adapters", "keys",
                            "history_max_mb"))
    config = Config(theme=V.optional_string(data.get("theme"), "theme"),
                    backend=V.one_of(data.get("backend", "vllm"), "backend", ("vllm", "openai")),
                    history_max_mb=V.number(data.get("history_max_mb", DEFAULT_MAX_MB), "history_max_mb", low=1))
    remote = V.table(data.get("remote", {}), "remote")
    V.known_keys(remote, "remote", ("base_url", "model", "read_timeout"))
    config.remote_url = V.optional_string(remote.get("base_url"), "remote.base_url")
    config.remote_model = V.optional_string(remote.get("model"), "remote.model")
    config.read_timeout = V.number(remote.get("read_timeout"), "remote.read_timeout", low=0.1, optional=True)
    engine = V.table(data.get("engine", {}), "engine")
    V.known_keys(engine, "engine", ("model", "flags"))
    config.model = V.optional_string(engine.get("model"), "engine.model")
    config.engine_flags = V.list_of(engine.get("flags", []), "engine.flags", V.string)
    config.remotes = V.list_of(data.get("remotes", []), "remotes", _remote, limit=32)
    config.adapters = _adapters(data.get("adapters", []))
    keys = V.table(data.get("keys", {}), "keys")
    config.keys = {name: V.string(value, f"keys.{name}", limit=100) for name, value in keys.items()}
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


def _remote(value: Any, name: str) -> Remote:
    table = V.table(value, name)
    V.known_keys(table, name, ("url", "api_key_env", "models"))
    url = V.string(table.get("url"), f"{name}.url")
    if not url.startswith(("http://", "https://")):
        raise V.FieldError(f"{name}.url", "must start with http:// or https://")
    return Remote(url, V.optional_string(table.get("api_key_env"), f"{name}.api_key_env"),
                  V.optional_string(table.get("models"), f"{name}.models"))


def _adapters(value: Any) -> dict[str, str]:
    from tui.engine.lora import LoraSpecError, check_name

    adapters: dict[str, str] = {}
    for index, item in enumerate(V.list_of(value, "adapters", V.table, limit=64)):
        name = f"adapters[{index}]"
        V.known_keys(item, name, ("name", "path"))
        adapter = V.string(item.get("name"), f"{name}.name")
        try:
            check_name(adapter)
        except LoraSpecError as exc:
            raise V.FieldError(f"{name}.name", str(exc)) from None
        if adapter in adapters:
            raise V.FieldError(f"{name}.name", f"{adapter!r} is named twice")
        adapters[adapter] = str(Path(V.string(item.get("path"), f"{name}.path")).expanduser())
    return adapters


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
