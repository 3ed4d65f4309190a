"""Why the engine did not start, when vLLM's own message only points at its log.

When EngineCore or a Worker fails while starting, this process is told only "Engine core
initialization failed. See root cause above."; the cause was logged by the process that failed,
into the log file. It is the first exception logged since the start began: the later ones wrap it
("Worker failed with error '…'", "WorkerProc initialization failed …").
"""

from __future__ import annotations

from pathlib import Path

TRACEBACK = "Traceback (most recent call last):"
# vLLM's messages that say the reason is elsewhere.
POINTS_ELSEWHERE = ("See root cause above", "See stack trace for root cause", "check the stack trace above")
READ_AT_MOST = 4_000_000  # bytes of log from the mark: a start logs some tens of kilobytes


class LogMark:
    """Where the log file ended when the engine began to start."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.offset = path.stat().st_size
        except OSError:
            self.offset = 0

    def text_since(self) -> str:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                return handle.read(READ_AT_MOST).decode("utf-8", errors="replace")
        except OSError:
            return ""


def points_elsewhere(message: str) -> bool:
    return any(words in message for words in POINTS_ELSEWHERE)


def first_exception(log_text: str) -> str | None:
    """The first traceback's exception line ("ValueError: Available memory …"), or None."""
    lines = log_text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith(TRACEBACK):
            for following in lines[number + 1:]:
                if following.strip() and not following[0].isspace():
                    return following.strip()
            return None
    return None


def root_cause(message: str, mark: LogMark | None) -> str | None:
    """The logged cause behind vLLM's `message`, when the message points at the log; else None."""
    if mark is None or not points_elsewhere(message):
        return None
    return first_exception(mark.text_since())
