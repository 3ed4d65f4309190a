"""Export the panes: Markdown to read (turn by turn, each pane's answer under the question it
answers) and JSON to process (each pane's thread as OpenAI messages, its answers' figures and
tokens, and every branch).

Made from the panes' states (`ExportedPane`) by pure functions, so the formats are tested without
a UI. Files go to the platformdirs data dir (`exports/comparison-YYYYmmdd-HHMMSS.{md,json}`),
written atomically.
"""

from __future__ import annotations

import json
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui import __version__, locations
from tui.core.conversation import USER, Message, Reply
from tui.core.pane_state import PaneState
from tui.core.records import conversation_record, openai_messages, tokens_record
from tui.core.run import settings_record
from tui.engine.logprobs import mean_logprob, perplexity
from tui.engine.params import PARAM_SPECS, Sampling
from tui.engine.protocol import Target
from tui.storage import atomic_write_text


QUOTE_WIDTH = 100  # model text is folded at spaces to lines of about this many characters


@dataclass(frozen=True)
class ExportedPane:
    """A pane as exported: its state, where it runs and with which settings now (None: invalid)."""

    state: PaneState
    target: Target | None
    sampling: Sampling | None


def reply_record(message: Message) -> dict[str, Any]:
    """An answer's figures, target, settings and tokens (JSON)."""
    reply = message.reply
    mean = mean_logprob(reply.tokens.tokens)
    return {"message_id": message.id, "reasoning": message.reasoning, **reply.figures.record(engine=True),
            "state": reply.state,
            "error": reply.figures.message or None,
            "target": None if reply.target is None else reply.target.record(), "settings": reply.settings,
            "fork": None if reply.origin is None else reply.origin.title,
            "tokens_recorded": tokens_record(reply.tokens),
            "mean_logprob": None if mean is None else round(mean, 6),
            "perplexity": None if mean is None else round(perplexity(mean), 6),
            **format_fields(reply), "usage": reply.usage}


def format_fields(reply: Reply) -> dict[str, Any]:
    """The answer's output format and whether it took it: `format` (None: free text), `valid`
    (None: not judged) and `validation_error`."""
    verdict = reply.verdict
    return {"format": (reply.settings or {}).get("format"),
            "valid": None if verdict is None else verdict.valid,
            "validation_error": None if verdict is None else verdict.reason}


def pane_record(pane: ExportedPane) -> dict[str, Any]:
    state = pane.state
    thread = state.thread()
    system = pane.sampling.system_prompt if pane.sampling is not None and pane.sampling.chat_template else ""
    return {"number": state.number, "label": state.label,
            "target": None if pane.target is None else pane.target.record(),
            "settings": None if pane.sampling is None else settings_record(pane.sampling),
            "messages": openai_messages(thread, system),
            "replies": [reply_record(m) for m in thread if m.is_reply],
            "draft": state.draft or None,
            "conversation": conversation_record(state.conversation)}


def to_json(panes: list[ExportedPane], model: str, when: float | None = None) -> str:
    when = time.time() if when is None else when
    doc = {"tool": f"vllm-panes {__version__}", "model": model,
           "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(when)),
           "panes": [pane_record(p) for p in panes]}
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


# -- Markdown ---------------------------------------------------------------------------------------
def _target(target: Target | None, model: str) -> str:
    if target is None:
        return f"{model} (in-process engine)"
    text = target.model + (f" + adapter {target.adapter}" if target.adapter else "")
    return text + (" (in-process engine)" if target.is_local else f" on {target.source}")


def _settings(sampling: Sampling | None) -> str:
    """The four main knobs always; the others only where they differ from their defaults."""
    if sampling is None:
        return "(invalid settings)"
    shown = []
    for spec in PARAM_SPECS:
        value = sampling[spec.name]
        if spec.main or value != spec.default:
            shown.append(f"{spec.name} {'random' if value is None else spec.format(value)}")
    if not sampling.chat_template:
        shown.append("raw text (no chat template)")
    if not sampling.output_format.is_free:
        shown.append(f"output format {sampling.output_format.describe()}")
    return ", ".join(shown)


def _cell(text: str) -> str:
    """Short text safe inside a Markdown table cell."""
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split()) or " "


def _quote(text: str) -> str:
    """Model text as a block quote: its line breaks kept (hard breaks), long lines folded at spaces
    (a soft break reads as a space: the text renders the same, and the file reads well too), no
    HTML let through. The JSON has the text exactly."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    # Blank lines around the text (a thinking's, an answer's after it) would quote as empty lines.
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    quoted = []
    for index, line in enumerate(lines):
        # A hard break only before more text: before a blank line the paragraph ends, and
        # Markdown shows the backslash itself.
        hard = "\\" if index < len(lines) - 1 and line.strip() and lines[index + 1].strip() else ""
        folded = textwrap.wrap(line, QUOTE_WIDTH, break_long_words=False, break_on_hyphens=False,
                               drop_whitespace=True) if len(line) > QUOTE_WIDTH else []
        folded = folded or [line.strip() if len(line) > QUOTE_WIDTH else line]
        quoted += ["> " + part for part in folded[:-1]] + ["> " + folded[-1] + hard]
    return "\n".join(quoted) if text.strip() else "> *(nothing)*"


def _thinking(message: Message) -> list[str]:
    """An answer's thinking, folded away before it (the same gate as the answer: quoted, no HTML
    let through); nothing when it did not think."""
    if not message.reasoning:
        return []
    return ["", "<details><summary>thinking</summary>", "", _quote(message.reasoning), "", "</details>"]


def _figures(message: Message) -> str:
    reply = message.reply
    line = reply.figures.line()
    mean = mean_logprob(reply.tokens.tokens)
    if mean is not None:
        line += f" · {len(reply.tokens)} tokens recorded · mean logprob {mean:.3f} · perplexity {perplexity(mean):.2f}"
    if reply.origin is not None:
        line += f" · {reply.origin.title}"
    if reply.verdict is not None:  # may quote the answer: no HTML let through
        line += " · " + reply.verdict.shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return line


def _turns(thread: list[Message]) -> list[tuple[Message | None, list[Message]]]:
    """A thread cut into turns: a question (None before the first) and the answers after it."""
    turns: list[tuple[Message | None, list[Message]]] = []
    for message in thread:
        if message.role == USER or not turns:
            turns.append((message if message.role == USER else None, []))
            if message.role == USER:
                continue
        turns[-1][1].append(message)
    return turns


def to_markdown(panes: list[ExportedPane], model: str, when: float | None = None) -> str:
    when = time.time() if when is None else when
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(when))
    lines = [f"# Comparison — {model}", "", f"Exported by vllm-panes {__version__} on {stamp}.", "",
             "| pane | target | settings | answers | last answer |", "|---|---|---|---|---|"]
    threads = {p.state.number: _turns(p.state.thread()) for p in panes}
    for pane in panes:
        replies = [m for m in pane.state.thread() if m.is_reply]
        last = replies[-1].reply.figures.line() if replies else "not run"
        label = f"{pane.state.label}: " if pane.state.label else ""
        lines.append(f"| {pane.state.number} | {_cell(_target(pane.target, model))} | "
                     f"{_cell(label + _settings(pane.sampling))} | {len(replies)} | {_cell(last)} |")
    turn_count = max((len(turns) for turns in threads.values()), default=0)
    for index in range(turn_count):
        lines += ["", f"## Turn {index + 1}"]
        present = [(p, threads[p.state.number][index]) for p in panes if index < len(threads[p.state.number])]
        questions: dict[str, list[int]] = {}
        for pane, (question, _) in present:
            if question is not None:
                questions.setdefault(question.content, []).append(pane.state.number)
        for text, numbers in questions.items():
            who = "pane" if len(numbers) == 1 else "panes"
            lines += ["", f"**You** ({who} {', '.join(map(str, numbers))}):", "", _quote(text)]
        for pane, (_, answers) in present:
            for answer in answers:
                target = answer.reply.target or pane.target
                lines += ["", f"### Pane {pane.state.number} · {_cell(_target(target, model))}", "",
                          f"*{_cell(_figures(answer))}*", *_thinking(answer), "", _quote(answer.content)]
    drafts = [p for p in panes if p.state.draft.strip()]
    if drafts:
        lines += ["", "## Not sent yet"]
        for pane in drafts:
            lines += ["", f"**Pane {pane.state.number}:**", "", _quote(pane.state.draft)]
    return "\n".join(lines) + "\n"


def export_comparison(panes: list[ExportedPane], model: str, directory: Path | None = None,
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
