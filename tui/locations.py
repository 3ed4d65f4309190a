"""Every directory the app touches on disk, in one place (platformdirs; XDG variables honoured)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "vllm-panes"


def _dirs() -> platformdirs.PlatformDirs:
    # Built on each call so that tests may point XDG_* variables elsewhere.
    return platformdirs.PlatformDirs(APP_NAME, appauthor=False)


def cache_dir() -> Path:
    return Path(_dirs().user_cache_dir)


def config_dir() -> Path:
    return Path(_dirs().user_config_dir)


def data_dir() -> Path:
    return Path(_dirs().user_data_dir)


def log_dir() -> Path:
    return Path(_dirs().user_log_dir)


def log_file() -> Path:
    return log_dir() / "vllm-panes.log"


def config_file() -> Path:
    return config_dir() / "config.toml"


def session_file() -> Path:
    """The session file of earlier versions (imported into the store once); its lock stays the
    session's lock."""
    return data_dir() / "session.json"


def store_file() -> Path:
    """The SQLite database of the session and the history of every run (tui/store/)."""
    return data_dir() / "vllm-panes.db"


def user_themes_dir() -> Path:
    return config_dir() / "themes"


def builtin_themes_dir() -> Path:
    """themes/ of a source checkout; installed from a wheel, they are tui/builtin_themes/."""
    package = Path(__file__).resolve().parent
    installed = package / "builtin_themes"
    return installed if installed.is_dir() else package.parent / "themes"
