"""Export the current comparison: Markdown (panes side by side in one table) and JSON.

Pure functions over `ComparisonPane`s, so the format is tested without a UI. Files go to the
platformdirs data dir (`exports/comparison-YYYYmmdd-HHMMSS.{md,json}`), written atomically.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tui import __version__, locations
from tui.figures import Figures
from tui.storage import atomic_write_text


@dataclass
class ComparisonPane:
    number: int
    prompt: str
    params: dict[str, Any] | None  # None: the pane's settings are invalid
    text: str
    state: str
    tokens: int
    ttft_ms: float | None
    tok_s: float | None
    finish_reason: str | None
    message: str = ""
    fork: str | None = None  # where the prompt was forked from ("fork of 1 @ 4 ␣the")
    # Per recorded token: text, id, logprob, rank, top alternatives (tui.engine.logprobs.token_record).
    token_logprobs: list[dict[str, Any]] | None = None
    mean_logprob: float | None = None
    perplexity: float | None = None
    # Where it ran: {"server": None (the engine in this process) or host:port, "model", "adapter"}.
    target: dict[str, Any] | None = None
    label: str = ""  # what set it apart in a sweep


def _target(p: ComparisonPane, model: str) -> str:
    t = p.target or {"server": None, "model": model, "adapter": None}
    text = str(t.get("model") or model)
    if t.get("adapter"):
        text += f" + adapter {t['adapter']}"
    return text + (f" on {t['server']}" if t.get("server") else " (in-process engine)")


def to_json(panes: list[ComparisonPane], model: str, when: float | None = None) -> str:
    when = time.time() if when is None else when
    doc = {
        "tool": f"vllm-panes {__version__}",
        "model": model,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(when)),
        "panes": [asdict(p) for p in panes],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks as <br>."""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "<br>".join(line if line.strip() else "&nbsp;" for line in text.split("\n")) or " "


def _settings(params: dict[str, Any] | None) -> str:
    """The four main knobs always; the others only where they differ from their defaults."""
    if params is None:
        return "(invalid settings)"
    from tui.engine.params import PARAM_SPECS

    shown = []
    for spec in PARAM_SPECS:
        value = params.get(spec.name, spec.default)
        if spec.main or value != spec.default:
            shown.append(f"{spec.name} {'random' if value is None else spec.format(value)}")
    if not params.get("chat_template", True):
        shown.append("raw prompt (no chat template)")
    if params.get("system_prompt"):
        shown.append(f"system prompt: {params['system_prompt']}")
    return ", ".join(shown)


def _figures(p: ComparisonPane) -> str:
    return Figures(p.state, p.tokens, p.ttft_ms, p.tok_s, p.finish_reason, p.message).line()


def _probabilities(p: ComparisonPane) -> str:
    if not p.token_logprobs or p.mean_logprob is None or p.perplexity is None:
        return "not recorded"
    return (f"{len(p.token_logprobs)} tokens · mean logprob {p.mean_logprob:.3f} · "
            f"perplexity {p.perplexity:.2f} (per token in the JSON)")


def to_markdown(panes: list[ComparisonPane], model: str, when: float | None = None) -> str:
    when = time.time() if when is None else when
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when))
    lines = [f"# Comparison — {model}", "", f"Exported by vllm-panes {__version__} on {stamp}.", ""]
    lines.append("| | " + " | ".join(f"Pane {p.number}" for p in panes) + " |")
    lines.append("|---|" + "---|" * len(panes))
    rows = (("Prompt", lambda p: _cell(p.prompt if p.fork is None else f"({p.fork}) {p.prompt}")),
            ("Target", lambda p: _cell(_target(p, model))),
            ("Settings", lambda p: _cell((f"{p.label}: " if p.label else "") + _settings(p.params))),
            ("Answer", lambda p: _cell(p.text)), ("Figures", lambda p: _cell(_figures(p))),
            ("Probabilities", lambda p: _cell(_probabilities(p))))
    for title, cell in rows:
        lines.append(f"| **{title}** | " + " | ".join(cell(p) for p in panes) + " |")
    return "\n".join(lines) + "\n"


def export_comparison(panes: list[ComparisonPane], model: str, directory: Path | None = None,
                      when: float | None = None) -> tuple[Path, Path]:
    """Write both files; return their paths. OSError reaches the caller (shown in the UI)."""
    when = time.time() if when is None else when
    directory = directory or (locations.data_dir() / "exports")
    stem = "comparison-" + time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    md, js = directory / f"{stem}.md", directory / f"{stem}.json"
    n = 1
    while md.exists() or js.exists():  # two exports in one second
        n += 1
        md, js = directory / f"{stem}-{n}.md", directory / f"{stem}-{n}.json"
    atomic_write_text(md, to_markdown(panes, model, when))
    atomic_write_text(js, to_json(panes, model, when))
    return md, js
