"""A conversation: a tree of messages, of which a pane shows one path.

Every message but the first has a parent; siblings are the other answers to the same message (a
regenerated answer, an edited question). Each message remembers which of its children the path
follows (`chosen`), so stepping to another branch and back finds the same thread again. Messages
are in OpenAI's chat format (role and content); an assistant message also holds what its run
recorded (`Reply`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from tui.core.output_format import Verdict
from tui.core.tokens import TokenSpans
from tui.engine.protocol import Target
from tui.figures import Figures

USER, ASSISTANT = "user", "assistant"
ROLES = (USER, ASSISTANT)
ROOT = "root"  # the invisible message every conversation hangs from

# Bumped by every change to the shape of any conversation (a child added or taken out, a branch
# chosen): a path kept since the last bump is still the path. Streamed text does not change a
# shape, so a pane reads its thread many times a frame without walking it each time.
_shape_changes = 0


def _shape_changed() -> None:
    global _shape_changes
    _shape_changes += 1


@dataclass(frozen=True)
class ForkOrigin:
    """Where a fork was made: in pane `pane`'s answer, at token `at` (1 = its first), choosing
    `token` (the token itself or one of its alternatives)."""

    pane: int
    at: int
    token: str

    @property
    def title(self) -> str:
        from tui.text import token_text

        return f"fork of {self.pane} @ {self.at} {token_text(self.token, 12)}"


# A server's usage is a few counts: one larger than this is not kept (and is named in the log).
USAGE_LIMIT_BYTES = 8192


def usage_size(usage: dict) -> int:
    """A usage's size as the limit counts it, the same wherever it is checked: its JSON text with
    its characters as they are (escaped, one accented letter counted 6, a usage the backend kept
    was refused by the session reader, and the whole session was set aside)."""
    return len(json.dumps(usage, ensure_ascii=False, default=str))


@dataclass(eq=False)
class Reply:
    """What an assistant message's run recorded: its figures (state, TTFT, tokens…), its tokens with
    their probabilities, where it ran and with which settings (its output format among them), the
    prompt as the engine got it, and whether the answer took its format.

    A fork's answer starts with `forced` tokens that were given, not sampled (its parent's answer
    up to the chosen token); the request then sends `given_ids` (the prompt and those tokens) as
    they are. A thinking model's tokens are recorded in two parts: `thinking_tokens` (offsets in
    the message's reasoning; its markers too, as empty spans) before `tokens` (the answer's); the
    model wrote them in that order. A fork gives the first `forced_thinking` of the thinking's
    (all of them when it forks the answer)."""

    figures: Figures = field(default_factory=Figures)
    tokens: TokenSpans = field(default_factory=TokenSpans)
    target: Target | None = None
    settings: dict[str, Any] | None = None  # the sampling values, chat_template, system_prompt, logprobs
    prompt_ids: list[int] | None = None  # the prompt's token ids as the engine got it
    logprobs_mode: str | None = None  # what the recorded numbers are (vLLM's --logprobs-mode)
    forced: int = 0
    forced_chars: int = 0  # how much of the message's text those tokens are
    given_ids: list[int] | None = None
    origin: ForkOrigin | None = None
    started_at: float | None = None  # wall-clock time of the request (time.time())
    verdict: Verdict | None = None  # whether the answer took its output format (None: free text)
    thinking_tokens: TokenSpans = field(default_factory=TokenSpans)
    forced_thinking: int = 0  # the thinking's tokens a fork gave
    forced_thinking_chars: int = 0  # how much of the reasoning they are
    # What the server said the run used, as it said it (its token counts and their details, such as
    # the thinking's reasoning_tokens): kept and exported, not shown. None in process.
    usage: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        return self.figures.state

    @property
    def question_ids(self) -> list[int] | None:
        """The prompt's token ids before the answer: a fork's prompt, as the engine got it, ends
        with the answer's given tokens."""
        ids = self.prompt_ids
        if ids is None or self.given_ids is None:
            return ids
        return ids[:len(ids) - self.forced - self.forced_thinking]

    @property
    def ids_before_answer(self) -> list[int] | None:
        """The token ids the answer's first token follows: the question's, then the thinking's (the
        model wrote it first); None when one of them is not known."""
        question = self.question_ids
        thought = [t.token_id for t in self.thinking_tokens.tokens]
        return None if question is None or None in thought else question + thought

    def wrote_nothing(self, message: Message) -> bool:
        """The run added no text to what it was given, and no thinking (a run that failed while it
        thought is kept, as one that wrote part of its answer)."""
        return len(message.content) <= self.forced_chars and len(message.reasoning) <= self.forced_thinking_chars

    def copy(self) -> Reply:
        return replace(self, figures=replace(self.figures), tokens=self.tokens.copy(),
                       thinking_tokens=self.thinking_tokens.copy())


class Message:
    __slots__ = ("id", "role", "parent", "children", "_chosen", "_chunks", "_thinking", "reply")

    def __init__(self, id: int, role: str, content: str = "", parent: Message | None = None,
                 reply: Reply | None = None) -> None:
        self.id = id
        self.role = role
        self.parent = parent
        self.children: list[Message] = []
        self._chosen = 0  # the child the path follows (no children yet: no path changes)
        # Streamed text arrives in many small pieces: joined when read, not on every piece.
        self._chunks = [content] if content else []
        # An answer's thinking (a server's reasoning channel), kept apart from its text: it is
        # recorded and shown, never sent back as part of the conversation.
        self._thinking: list[str] = []
        self.reply = reply

    @property
    def chosen(self) -> int:
        """The child the path follows."""
        return self._chosen

    @chosen.setter
    def chosen(self, index: int) -> None:
        self._chosen = index
        _shape_changed()

    @property
    def content(self) -> str:
        if len(self._chunks) > 1:
            self._chunks = ["".join(self._chunks)]
        return self._chunks[0] if self._chunks else ""

    @property
    def has_content(self) -> bool:
        """Any text yet (asked on every streamed piece: `content` would join them all each time)."""
        return bool(self._chunks)  # pieces are never empty

    def append(self, text: str) -> None:
        if text:
            self._chunks.append(text)

    def set_content(self, text: str) -> None:
        self._chunks = [text] if text else []

    @property
    def reasoning(self) -> str:
        """The thinking before the answer ("" when there was none)."""
        if len(self._thinking) > 1:
            self._thinking = ["".join(self._thinking)]
        return self._thinking[0] if self._thinking else ""

    def append_reasoning(self, text: str) -> None:
        if text:
            self._thinking.append(text)

    def set_reasoning(self, text: str) -> None:
        self._thinking = [text] if text else []

    @property
    def is_reply(self) -> bool:
        return self.role == ASSISTANT and self.reply is not None

    def __repr__(self) -> str:
        return f"Message({self.id}, {self.role}, {self.content[:20]!r})"


class Conversation:
    def __init__(self) -> None:
        self.root = Message(0, ROOT)
        self._by_id: dict[int, Message] = {0: self.root}
        self._next_id = 1
        self._path: list[Message] = []
        self._path_as_of = -1  # the `_shape_changes` the kept path was walked at

    # -- reading ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._by_id) - 1

    def __bool__(self) -> bool:
        return len(self._by_id) > 1

    def get(self, message_id: int | None) -> Message | None:
        return None if message_id is None or message_id == 0 else self._by_id.get(message_id)

    def messages(self) -> Iterator[Message]:
        """Every message (every branch), parents before their children, siblings in order."""
        stack = list(reversed(self.root.children))
        while stack:
            message = stack.pop()
            yield message
            stack.extend(reversed(message.children))

    def path(self) -> list[Message]:
        """The thread the pane shows: from the first message, following each one's chosen child
        (a list of the caller's own)."""
        if self._path_as_of != _shape_changes:
            self._path = self._walk_path()
            self._path_as_of = _shape_changes
        return list(self._path)

    def _walk_path(self) -> list[Message]:
        thread = []
        node = self.root
        while node.children:
            node = node.children[min(node.chosen, len(node.children) - 1)]
            thread.append(node)
        return thread

    def last(self) -> Message | None:
        thread = self.path()
        return thread[-1] if thread else None

    def thread_to(self, message: Message) -> list[Message]:
        """The messages from the first one down to `message`, included."""
        thread = []
        node: Message | None = message
        while node is not None and node is not self.root:
            thread.append(node)
            node = node.parent
        thread.reverse()
        return thread

    def siblings(self, message: Message) -> tuple[int, int]:
        """(its place among its siblings, 1-based; how many there are)."""
        family = (message.parent or self.root).children
        return family.index(message) + 1, len(family)

    def fork_of(self, message: Message | None) -> ForkOrigin | None:
        """Where the thread down to `message` was forked: the origin of its lowest answer that is a
        fork (a follow-up after a fork is still on the forked thread), or None."""
        while message is not None:
            if message.reply is not None and message.reply.origin is not None:
                return message.reply.origin
            message = message.parent
        return None

    def lowest_branch(self) -> Message | None:
        """The last message of the thread shown that has siblings (the lowest `‹ n/m ›`), or None."""
        return next((m for m in reversed(self.path()) if len((m.parent or self.root).children) > 1), None)

    def repeats_a_sibling(self, message: Message) -> bool:
        """Whether an answer has exactly the text of an earlier answer beside it (a regenerated
        answer the same as before)."""
        family = (message.parent or self.root).children
        earlier = family[:family.index(message)]
        return bool(message.content) and any(m.is_reply and m.content == message.content for m in earlier)

    def replies(self) -> list[Message]:
        """The assistant messages on the path, oldest first."""
        return [m for m in self.path() if m.is_reply]

    # -- changing --------------------------------------------------------------------------------
    def add(self, parent: Message | None, role: str, content: str = "", reply: Reply | None = None,
            message_id: int | None = None) -> Message:
        """A new message under `parent` (None: a first message), after its siblings; the path goes
        through it from now on."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {role!r}")
        parent = parent or self.root
        if message_id is None:
            message_id = self._next_id
        elif message_id in self._by_id:
            raise ValueError(f"message {message_id} is there already")
        message = Message(message_id, role, content, parent, reply)
        self._next_id = max(self._next_id, message_id + 1)
        self._by_id[message_id] = message
        parent.children.append(message)
        _shape_changed()
        self.choose(message)
        return message

    def choose(self, message: Message) -> None:
        """Make the path go through `message` (each ancestor chooses the child on the way)."""
        node = message
        while node.parent is not None:
            node.parent.chosen = node.parent.children.index(node)
            node = node.parent

    def step(self, message: Message, step: int) -> Message | None:
        """The sibling `step` places from `message` (None past the ends), chosen."""
        family = (message.parent or self.root).children
        index = family.index(message) + step
        if not 0 <= index < len(family):
            return None
        self.choose(family[index])
        return family[index]

    def remove(self, message: Message) -> None:
        """Take a message and everything under it out (a failed answer that wrote nothing, replaced
        by the next run)."""
        parent = message.parent or self.root
        index = parent.children.index(message)
        del parent.children[index]
        _shape_changed()
        if parent.chosen >= index and parent.chosen > 0:
            parent.chosen -= 1
        stack = [message]
        while stack:
            node = stack.pop()
            self._by_id.pop(node.id, None)
            stack.extend(node.children)

    def copy(self, upto: Message | None = None) -> Conversation:
        """A conversation of its own with the same messages: the whole tree, or only the thread
        down to `upto`. Replies are copied too (one may still be streaming)."""
        copied = Conversation()
        source = self.messages() if upto is None else iter(self.thread_to(upto))
        for message in source:
            parent = copied.get(message.parent.id) if message.parent is not None else None
            reply = None if message.reply is None else message.reply.copy()
            copied.add(parent, message.role, message.content, reply, message.id).set_reasoning(message.reasoning)
        if upto is None:
            for message in self.messages():
                copied._by_id[message.id].chosen = message.chosen
            copied.root.chosen = self.root.chosen
        return copied
