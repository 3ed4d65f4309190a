"""The global line: engine state and model, with a spinner while the engine loads."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from tui.engine.protocol import EngineState
from tui.text import one_line

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class EngineLine(Static):
    DEFAULT_CSS = """
    EngineLine { height: 1; width: 1fr; background: $panel; color: $text; padding: 0 1; }
    """

    def __init__(self, model: str, log_path: str | None, state: EngineState = EngineState.STOPPED,
                 note: str = "") -> None:
        super().__init__()
        self.model = one_line(model, 120)
        self.log_path = one_line(log_path) if log_path else None
        self.note = one_line(note)  # e.g. that the stock drawing path runs
        self.state = state
        self.detail = ""
        self.servers = ""  # the other servers and their states (several backends)
        self.running = 0  # requests the engine runs and keeps waiting (see set_load)
        self.waiting = 0
        self._since = time.monotonic()
        self._frame = 0
        self._timer = None
        self.update(self._line(), layout=False)  # in the first frame, not one frame later

    def on_mount(self) -> None:
        self._timer = self.set_interval(0.1, self._tick, pause=self.state is not EngineState.LOADING)

    def set_state(self, state: EngineState, detail: str = "", model: str | None = None) -> None:
        if state is not self.state:
            self._since = time.monotonic()
        self.state = state
        self.detail = one_line(detail)
        if model:
            self.model = one_line(model, 120)
        if self._timer is not None:
            if state is EngineState.LOADING:
                self._timer.resume()
            else:
                self._timer.pause()
        self._render_line()

    def set_load(self, running: int | None, waiting: int | None) -> None:
        """How many requests the engine runs and how many wait for a place: waiting ones are
        why a pane has no answer yet."""
        running, waiting = running or 0, waiting or 0
        if (running, waiting) != (self.running, self.waiting):
            self.running, self.waiting = running, waiting
            self._render_line()

    def set_servers(self, text: str) -> None:
        """The other servers beside the main backend, e.g. 'gpu-box:8000 ● · 10.0.0.2:8000 ✖'."""
        text = one_line(text, 200)
        if text != self.servers:
            self.servers = text
            self._render_line()

    def _tick(self) -> None:
        self._frame += 1
        self._render_line()

    def _render_line(self) -> None:
        self.update(self._line(), layout=False)  # one line, full width: no reflow

    def _line(self) -> Text:
        line = Text()
        line.append("vllm-panes ", style="bold")
        if self.state is EngineState.LOADING:
            line.append(f"{SPINNER[self._frame % len(SPINNER)]} loading engine", style="bold yellow")
            line.append(f" ({time.monotonic() - self._since:.0f} s) {self.detail}")
        elif self.state is EngineState.READY:
            line.append("● ready", style="bold green")
            if self.running:
                line.append(f" · {self.running} running")
            if self.waiting:
                line.append(f" · {self.waiting} waiting: the engine is full", style="bold yellow")
        elif self.state is EngineState.ERROR:
            line.append("✖ engine error: ", style="bold red")
            line.append(self.detail)
        else:
            line.append("○ stopped", style="dim")
        line.append("  │  ")
        line.append(self.model, style="italic")
        if self.servers:
            line.append("  │  servers: ", style="dim")
            line.append(self.servers)
        if self.note:
            line.append("  │  ", style="dim")
            line.append(self.note, style="dim")
        if self.log_path:
            line.append("  │  log: ", style="dim")
            line.append(self.log_path, style="dim")
        return line
