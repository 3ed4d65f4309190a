"""A thread as the answer view shows it: one text, with what to style where.

With a chat template each message is a block: a question starts with "› ", an answer that is not
the last one ends with a line of its figures; the last answer's figures are on the pane's status
line, and its text is the end of the view's text, so that streaming only appends. Without a chat
template (raw mode) the thread is one text the model continues: the parts the person wrote are
styled, nothing is added between them.

The text has passed the gate (tui/text.py) and its tabs are spaces, so offsets here are offsets in
the view; a token span of the shown answer is found at `base` plus its offset in the answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tui.core.conversation import USER, Message
from tui.figures import Figures
from tui.text import one_line, printable

USER_MARK = "› "
# Styles the view gives these kinds (tui/widgets/output_view.py).
USER, META, SELECTED, THINKING = "user", "meta", "selected", "thinking"


@dataclass
class ThreadText:
    text: str = ""
    decorations: list[tuple[int, int, str]] = field(default_factory=list)  # (start, end, kind), in order
    base: int = 0  # where the shown answer's text starts
    thinking_start: int | None = None  # where the shown answer's thinking starts, when its text is shown
    starts: dict[int, int] = field(default_factory=dict)  # each message's start, by id


def shown(text: str) -> str:
    """Outside text as the view holds it: through the gate, tabs as four spaces."""
    return printable(text).replace("\t", "    ")


def thread_text(thread: list[Message], shown_answer: Message | None, *, chat: bool = True,
                cursor: int | None = None, siblings: Callable[[Message], tuple[int, int]] | None = None,
                label: Callable[[Message], str] = lambda message: "", thinking: bool = False) -> ThreadText:
    """The thread's text. `cursor`: the message under the message cursor (styled as selected);
    `siblings(message)` gives (place, count) for the ‹ 2/3 › marks; `label(answer)`: who wrote it;
    `thinking`: the answers' thinking unfolded above them (folded to a line otherwise)."""
    out = ThreadText()
    pieces: list[str] = []
    length = 0

    def put(text: str, kind: str | None = None) -> int:
        """Add `text`; where it starts."""
        nonlocal length
        if not text:
            return length
        if kind is not None:
            out.decorations.append((length, length + len(text), kind))
        pieces.append(text)
        length += len(text)
        return length - len(text)

    last = len(thread) - 1
    for index, message in enumerate(thread):
        place, count = siblings(message) if siblings is not None else (1, 1)
        branch = f"  ‹ {place}/{count} ›" if count > 1 else ""
        if chat and message.role == USER and index:
            put("\n\n")
        start = out.starts[message.id] = length
        if not chat:
            if message is shown_answer:
                out.base = length
            put(shown(message.content), USER if message.role == USER else None)
        elif message.role == USER:
            put(USER_MARK + shown(message.content), USER)
            put(branch, META)
            put("\n\n")
        else:
            thinking_start = put_thinking(message, put, unfolded=thinking)
            if message is shown_answer:
                out.base = length  # after its thinking: the answer's tokens are offsets in its text
                # Before its answer, a thinking yet to come streams here.
                out.thinking_start = length if thinking_start is None and not message.content else thinking_start
            put(shown(message.content))
            footer = answer_footer(message, label(message), branch) if index != last else ""
            if footer:
                put("\n" + footer, META)
        if message.id == cursor:
            out.decorations.append((start, length, SELECTED))
    out.text = "".join(pieces)
    out.decorations.sort()
    return out


def put_thinking(message: Message, put: Callable[..., int], unfolded: bool = False) -> int | None:
    """An answer's thinking above it: the whole of it, dimmed, until the answer starts; then one
    line that says how long it thought (so that streaming the thinking only appends, and the
    answer, once it comes, is what the pane shows), or, `unfolded`, that line and the thinking.
    Where the thinking's text starts, when it is shown."""
    reasoning = message.reasoning
    if not reasoning:
        return None
    # Models lay thinking out as `<think>\n…\n</think>\n\nanswer`: the newlines around the thinking
    # are not shown (leading ones as it streams too), and an answer that opens with its own newline
    # is not pushed down by ours.
    if not message.content:
        return put(shown(reasoning).lstrip("\n"), THINKING)
    answer_opens_a_line = message.content.startswith("\n")
    put(thought_line(message) + ("" if answer_opens_a_line and not unfolded else "\n"), META)
    if not unfolded:
        return None
    start = put(shown(reasoning).strip("\n"), THINKING)
    put("" if answer_opens_a_line else "\n\n")
    return start


def thought_line(message: Message) -> str:
    """'thought 3.2 s · 412 tokens' (chars when the tokens are not known)."""
    figures = message.reply.figures if message.reply is not None else Figures()
    parts = ["thought"]
    if figures.thinking_ms is not None:
        parts[0] += f" {figures.thinking_ms / 1000:.1f} s"
    recorded = len(message.reply.thinking_tokens) if message.reply is not None else 0
    if recorded:  # every token of it, given (a fork's) or written: as the token cursor counts them
        parts.append(f"{recorded} tokens")
    else:
        parts.append(f"{figures.thought_tokens} tokens" if figures.thought_tokens is not None
                     else f"{len(message.reasoning)} chars")
    return " · ".join(parts)


def answer_footer(message: Message, who: str, branch: str) -> str:
    """'↳ demo · TTFT 49 ms · 84 tok · 266 tok/s · stop · choice ✓  ‹ 1/2 ›' under an earlier
    answer: its verdict stays with it when the next turn takes the status line."""
    reply = message.reply
    if reply is None and not who and not branch:
        return ""  # an answer of a file with nothing recorded
    figures = reply.figures if reply is not None else Figures()
    parts = [who] if who else []
    parts += [figures.state] if figures.state != "done" else []
    parts += figures.parts()
    if reply is not None and reply.verdict is not None and reply.verdict.shown:
        parts.append(reply.verdict.shown)
    if not parts and not branch:
        return ""  # nothing recorded (an earlier answer of a run reopened from the history): no bare arrow
    # A model's name, a finish reason and a verdict are a server's words (or a file's): through the gate.
    return "↳ " + " · ".join(one_line(part) for part in parts) + branch
