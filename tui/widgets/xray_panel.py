"""The engine X-ray: what the engine is doing while the panes stream (f2).

Two lines above the panes, never over them: the scheduler's figures on the first, and the
generation and prompt token rates with their recent history (Textual's `Sparkline`) on the second.
With other servers beside the engine, a line each follows: their figures and generation rate.
A figure the source does not report is left out.

A sparkline costs milliseconds to draw (a style per bar), taken from the panes' streaming: they are
kept short and redrawn at most once a second.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from tui.engine.stats import EngineSnapshot
from tui.figures import snapshot_parts
from tui.text import one_line

RATE_LABEL_WIDTH = 22
SPARKLINE_WIDTH = 40
SPARKLINE_EVERY_S = 1.0


_EMPHASIS = {"": "", "warn": "bold yellow", "bad": "bold red"}


def figures_text(snapshot: EngineSnapshot, name: str = "engine") -> Text:
    """The first line: 'engine · 4 running · 4 waiting · KV 12% of 320 blocks · …'."""
    text = Text()
    text.append(one_line(name, 60), style="bold")
    if snapshot.unavailable:
        text.append(f" · {one_line(snapshot.unavailable)}", style="dim")
        return text
    parts = snapshot_parts(snapshot)
    if not parts:
        text.append(" · no figures yet", style="dim")
    for part, emphasis in parts:
        text.append(" · ")
        text.append(part, style=_EMPHASIS[emphasis])
    return text


def rate_label(name: str, rate: float | None) -> str:
    return f"{name} {rate:.0f} tok/s" if rate is not None else f"{name} –"


def servers_text(others: list[tuple[str, EngineSnapshot]]) -> Text:
    """A line per other server (several backends): its figures and its generation rate."""
    text = Text()
    for number, (name, snapshot) in enumerate(others):
        if number:
            text.append("\n")
        text.append_text(figures_text(snapshot, name))
        if not snapshot.unavailable and snapshot.gen_tok_s is not None:
            text.append(f" · {rate_label('generation', snapshot.gen_tok_s)}")
    return text


class XrayPanel(Vertical):
    DEFAULT_CSS = """
    XrayPanel { height: auto; background: $panel; padding: 0 1; display: none; }
    XrayPanel .servers { display: none; }
    XrayPanel .servers.-some { display: block; }
    XrayPanel.-shown { display: block; }
    XrayPanel Horizontal { height: 1; }
    XrayPanel .rate { width: %d; color: $text-muted; }
    XrayPanel Sparkline { width: %d; margin-right: 3; }
    """ % (RATE_LABEL_WIDTH, SPARKLINE_WIDTH)

    def __init__(self) -> None:
        super().__init__()
        self.snapshot = EngineSnapshot()
        self.others: list[tuple[str, EngineSnapshot]] = []  # other servers (several backends)
        self._drawn_history_at = float("-inf")

    def compose(self) -> ComposeResult:
        yield Static(figures_text(self.snapshot), classes="figures", markup=False)
        with Horizontal():
            yield Static(rate_label("generation", None), classes="rate gen-rate", markup=False)
            yield Sparkline([], id="gen-history")
            yield Static(rate_label("prompt", None), classes="rate prompt-rate", markup=False)
            yield Sparkline([], id="prompt-history")
        yield Static(Text(), classes="servers", markup=False)

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    def show(self, snapshot: EngineSnapshot, others: list[tuple[str, EngineSnapshot]] | None = None,
             now: float | None = None) -> None:
        """Draw a new snapshot, and the other servers' (only what changed; the histories at most
        once a SPARKLINE_EVERY_S)."""
        self.snapshot = snapshot
        self.others = list(others or [])
        if not self.is_mounted:
            return
        servers = self.query_one(".servers", Static)
        servers.set_class(bool(self.others), "-some")
        self._set(".servers", servers_text(self.others))
        self._set(".figures", figures_text(snapshot))
        self._set(".gen-rate", Text(rate_label("generation", snapshot.gen_tok_s)))
        self._set(".prompt-rate", Text(rate_label("prompt", snapshot.prompt_tok_s)))
        now = time.monotonic() if now is None else now
        if now - self._drawn_history_at < SPARKLINE_EVERY_S:
            return
        self._drawn_history_at = now
        for name, history in (("#gen-history", snapshot.gen_history), ("#prompt-history", snapshot.prompt_history)):
            sparkline = self.query_one(name, Sparkline)
            if list(sparkline.data or ()) != history:
                sparkline.data = history

    def _set(self, selector: str, text: Text) -> None:
        static = self.query_one(selector, Static)
        if static.content != text:
            static.update(text, layout=False)
