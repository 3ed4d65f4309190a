"""What a pane holds: its conversation, the message being written, its own settings and target.

The pane widget shows a `PaneState` and writes what the person types into it; the session, the
export and the history are made from it, so a pane that is not on the screen yet (or any more)
is saved all the same. What running a pane means is decided here (`next_turn`): send the draft as
the next message, answer a question left unanswered, regenerate the last answer (kept as a
sibling), or, without a chat template, continue the text.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tui.core.conversation import ASSISTANT, USER, Conversation, ForkOrigin, Message, Reply
from tui.core.output_format import OutputFormat
from tui.core.run import new_reply, settings_record
from tui.core.tokens import TokenSpans
from tui.engine.logprobs import TokenLogprob
from tui.engine.params import SPECS_BY_NAME, ParamError, Sampling
from tui.engine.protocol import Request, Target
from tui.figures import CANCELLED, DONE, ERROR, IDLE, RUNNING_STATES


@dataclass(eq=False)
class PaneState:
    number: int  # the pane's identity: titles, forks and exports name it; kept across restarts
    conversation: Conversation = field(default_factory=Conversation)
    draft: str = ""  # the next message, as typed
    overrides: dict[str, str] = field(default_factory=dict)  # knobs as typed in the pane
    target: Target | None = None  # None: the workbench's default target
    label: str = ""  # what sets the pane apart in a sweep
    heat: bool = False
    editing: int | None = None  # a user message the draft is an edit of (sending makes a sibling)
    set_aside: str = ""  # the draft an edit (alt+e) took the box from: back in it when the edit ends
    cursor: int | None = None  # the message the message cursor is on (None: no cursor)
    # The message alt+pageup/alt+pagedown last stepped without the message cursor: they keep stepping
    # it (back where they came from) until the next turn. Not saved.
    branch_stepped: int | None = None
    output_format: OutputFormat | None = None  # the form its answers must take (None: the defaults')
    thinking_shown: bool = False  # the answers' thinking unfolded (alt+t): kept while the app runs, not saved

    # -- what it shows ----------------------------------------------------------------------------
    def labelled_knobs(self) -> frozenset[str]:
        """The knobs its sweep label names ('temperature=0 · seed=2') that the pane still has at
        the value the label says: the title says them once, in the label."""
        knobs = set()
        for part in self.label.split(" · "):
            name, sep, value = part.partition("=")
            if sep and name in SPECS_BY_NAME and self.overrides.get(name, "").strip() == value.strip():
                knobs.add(name)
        return frozenset(knobs)

    def thread(self) -> list[Message]:
        return self.conversation.path()

    def last_reply(self) -> Message | None:
        for message in reversed(self.conversation.path()):
            if message.is_reply:
                return message
        return None

    def shown_reply(self) -> Message | None:
        """The answer the heat view, the token cursor and the status line are about: the one under
        the message cursor, else the last one."""
        chosen = self.conversation.get(self.cursor)
        if chosen is not None and chosen.is_reply:
            return chosen
        return self.last_reply()

    @property
    def running(self) -> bool:
        reply = self.last_reply()
        return reply is not None and reply.reply.state in RUNNING_STATES

    def settle(self) -> None:
        """Answers left running (a session saved mid-stream, a pane restored) are cancelled: no
        run of this app writes them any more."""
        for message in self.conversation.messages():
            if message.reply is not None and message.reply.state in RUNNING_STATES:
                message.reply.figures.state = CANCELLED

    def holds_nothing(self) -> bool:
        """Nothing a person made: no message, no draft, no knob, target, label or format of its own
        (the empty pane the workbench opens when the last one closes)."""
        return (not self.conversation and not self.draft.strip() and not any(v.strip() for v in self.overrides.values())
                and self.target is None and not self.label and self.output_format is None)

    def copy(self, number: int) -> PaneState:
        """Another pane like this one (its whole conversation, branches and all); an answer still
        streaming here is copied as it is now, cancelled: the copy has no run of its own."""
        copied = PaneState(number, self.conversation.copy(), self.draft, dict(self.overrides), self.target,
                           self.label, self.heat, output_format=self.output_format, thinking_shown=self.thinking_shown)
        copied.settle()
        return copied


@dataclass(frozen=True)
class Turn:
    """What running a pane does: add `user` (a message) under `parent` when there is one, then an
    answer under it; or write on into `into`, an answer prepared but not run (a fork). `replaces`,
    an answer that failed before writing anything, goes first; `like` is the answer being
    regenerated (a fork's answer keeps its given start)."""

    parent: Message | None
    user: str | None = None
    from_draft: bool = False  # `user` is the pane's draft: emptied once sent
    into: Message | None = None
    replaces: Message | None = None
    like: Message | None = None


def next_turn(state: PaneState, chat: bool, message: str | None = None, regenerate: bool = False) -> Turn | str:
    """What running the pane does now, or why nothing can run. `message`: a message for this pane
    from elsewhere (the message box under the panes), sent after the thread; the draft stays.
    `regenerate`: a new answer to the last question, whatever the draft holds (it stays)."""
    conversation = state.conversation
    if message is not None and message.strip():
        return Turn(conversation.last(), user=_as_sent(message, chat))
    draft = state.draft
    if draft.strip() and not regenerate:
        edited = conversation.get(state.editing)
        if edited is not None and edited.role == USER:
            return Turn(edited.parent, user=_as_sent(draft, chat), from_draft=True)
        return Turn(conversation.last(), user=_as_sent(draft, chat), from_draft=True)
    last = conversation.last()
    if last is None:
        return "the prompt is empty"
    if last.role == USER or last.reply is None:
        return Turn(last)
    reply = last.reply
    if reply.state == IDLE:
        return Turn(last.parent, into=last)
    if not chat and not regenerate and reply.state == DONE:
        return Turn(last)  # raw text: a notebook, continued
    failed_empty = reply.state in (ERROR, CANCELLED) and reply.wrote_nothing(last)
    return Turn(last.parent, replaces=last if failed_empty else None, like=last)


def _as_sent(text: str, chat: bool) -> str:
    """A chat message without the blank lines and spaces typed after it (enter adds a line in the
    box, and a user who pressed it by habit did not mean one); raw text is the model's input as
    typed, trailing space and all."""
    return text.rstrip() if chat else text


def begin_turn(state: PaneState, turn: Turn, reply: Reply) -> Message:
    """Put the turn's messages into the conversation; the answer to write (empty, or starting with
    a fork's given tokens), on the path. A sent draft is emptied."""
    conversation = state.conversation
    state.cursor = state.branch_stepped = None
    if turn.into is not None:
        _give(reply, turn.into.reply, turn.into.reply.tokens, turn.into.reply.thinking_tokens)
        turn.into.reply = reply
        conversation.choose(turn.into)
        return turn.into
    if turn.replaces is not None:
        conversation.remove(turn.replaces)
    parent = turn.parent
    if turn.user is not None:
        parent = conversation.add(parent, USER, turn.user)
        if turn.from_draft:
            state.draft, state.set_aside = state.set_aside, ""  # an edit sent: the draft it set aside
            state.editing = None
    answer = conversation.add(parent, ASSISTANT, reply=reply)
    like = turn.like.reply if turn.like is not None else None
    if like is not None and (like.forced or like.forced_thinking):
        _give(reply, like, like.tokens.copy(like.forced), like.thinking_tokens.copy(like.forced_thinking))
        answer.set_content(turn.like.content[:like.forced_chars])
        answer.set_reasoning(turn.like.reasoning[:like.forced_thinking_chars])
    return answer


def _give(reply: Reply, given: Reply, tokens: TokenSpans, thinking: TokenSpans) -> None:
    """A fork's given start (its tokens, thinking and answer, and their ids) for a new run of it."""
    reply.tokens, reply.thinking_tokens = tokens, thinking
    reply.forced, reply.forced_chars = given.forced, given.forced_chars
    reply.forced_thinking, reply.forced_thinking_chars = given.forced_thinking, given.forced_thinking_chars
    reply.given_ids, reply.origin = given.given_ids, given.origin


def _chars_for_cells(content: str, cells: int) -> int:
    """How many characters of `content` take `cells` cells in the answer view (a tab takes 4)."""
    used = 0
    for index, char in enumerate(content):
        if used >= cells:
            return index
        used += 4 if char == "\t" else 1
    return len(content)


def fork_reply(parent: Message, at: int, choice: int | None, alternative_id: int | None,
               pane_number: int, sampling: Sampling, target: Target | None, *,
               in_thinking: bool = False) -> Reply | str:
    """An answer that starts with `parent`'s tokens before token `at` (0-based) and the token
    chosen there (itself, or alternative `choice`, 1 = most likely; `alternative_id` when the backend
    named it by text only), for the model to continue from exactly those token ids; or why not.
    `in_thinking`: `at` is a token of the thinking (the fork goes on thinking from there); else of
    the answer, after the whole thinking."""
    reply = parent.reply
    tokens = reply.thinking_tokens if in_thinking else reply.tokens
    token = tokens.tokens[at]
    if choice is None:
        chosen = token
    elif 1 <= choice <= len(token.top):
        alternative = token.top[choice - 1]
        chosen_id = alternative_id if alternative.token_id is None else alternative.token_id
        chosen = TokenLogprob(chosen_id, alternative.text, alternative.logprob, choice, token.top)
    else:
        return f"this token has {len(token.top)} alternatives"
    thinking = reply.thinking_tokens
    if in_thinking and tokens.span(at)[0] == tokens.span(at)[1]:
        return "that token shows no text of the thinking (a piece of its <think> or </think>): fork at one that does"
    if parent.reasoning and not in_thinking and len(thinking) == 0:
        return "its thinking's tokens were not recorded (the heat view was off while it thought)"
    before = [t.token_id for t in tokens.tokens[:at]]
    context = reply.question_ids if in_thinking else reply.ids_before_answer
    if context is None or chosen.token_id is None or None in before:
        return "the backend did not give the token ids a fork needs"
    start, _ = tokens.span(at)
    fork = new_reply(sampling, target, IDLE)
    given = tokens.copy(at)
    given.add(chosen.text, [chosen])
    if in_thinking:
        fork.thinking_tokens, fork.forced_thinking = given, at + 1
        fork.forced_thinking_chars = _chars_for_cells(parent.reasoning, start) + len(chosen.text)
    else:
        fork.tokens, fork.forced = given, at + 1
        fork.forced_chars = _chars_for_cells(parent.content, start) + len(chosen.text)
        fork.thinking_tokens, fork.forced_thinking = thinking.copy(), len(thinking)
        fork.forced_thinking_chars = len(parent.reasoning)
    fork.given_ids = [*context, *before, chosen.token_id]
    fork.origin = ForkOrigin(pane_number, at + 1, chosen.text)
    return fork


def fork_state(parent_state: PaneState, parent: Message, fork: Reply, number: int) -> PaneState:
    """A new pane whose thread is `parent`'s up to its question, then the fork's answer, prepared
    with its given text: the pane's next run continues it."""
    question = parent.parent
    conversation = parent_state.conversation.copy(question) if question is not None else Conversation()
    # The given text ends with the chosen token's, which may not be the parent's there.
    if fork.forced:  # in the answer, after the whole thinking
        content, reasoning = _given(parent.content, fork.forced_chars, fork.tokens), parent.reasoning
    else:  # in the thinking
        content, reasoning = "", _given(parent.reasoning, fork.forced_thinking_chars, fork.thinking_tokens)
    answer = conversation.add(conversation.last(), ASSISTANT, content, reply=fork)
    answer.set_reasoning(reasoning)
    return PaneState(number, conversation, "", dict(parent_state.overrides), parent_state.target,
                     parent_state.label, parent_state.heat, output_format=parent_state.output_format)


def _given(text: str, chars: int, given: TokenSpans) -> str:
    """The parent's `text` up to the chosen token (the last given), then that token's text."""
    chosen = given.tokens[-1].text
    return text[:chars - len(chosen)] + chosen


def request_for(conversation: Conversation, answer: Message, sampling: Sampling, request_id: str,
                target: Target | None) -> Request:
    """The request that writes `answer`: the conversation before it (a fork's answer: its given
    token ids, as they are)."""
    reply = answer.reply
    thread = conversation.thread_to(answer)[:-1]
    turns = [(m.role, m.content) for m in thread]
    if reply.given_ids is not None:
        return Request.of(turns, sampling, request_id, prompt_ids=list(reply.given_ids), target=target)
    return Request.of(turns, sampling, request_id, target=target)


def comparison_start(state: PaneState) -> tuple[Conversation, str]:
    """What a pane compared with this one starts from (f7, a sweep): the thread up to its last
    question, which the new pane answers on its own target and settings, or the whole thread and
    the draft when a message is being written."""
    thread = state.conversation.path()
    if state.draft.strip():
        return (state.conversation.copy(thread[-1]) if thread else Conversation()), state.draft
    questions = [m for m in thread if m.role == USER]
    if not questions:
        return Conversation(), ""
    return state.conversation.copy(questions[-1]), ""


def effective_sampling(defaults: Sampling, overrides: dict[str, str],
                       output_format: OutputFormat | None = None) -> Sampling:
    """The defaults with a pane's own knobs (blank: the default; "random"/"none": unset) and its own
    output format (None: the defaults'); ParamError names the first bad knob, or why the format
    cannot be sent (nothing is sent then)."""
    values = {}
    for name, raw in overrides.items():
        spec = SPECS_BY_NAME[name]
        text = raw.strip()
        if text:
            values[name] = None if spec.means_unset(text) else spec.parse(text)
    sampling = defaults.with_values(**values)
    if output_format is not None:
        sampling = replace(sampling, output_format=output_format)
    problem = sampling.output_format.problem()
    if problem is not None:
        raise ParamError(f"output format: {problem}")
    return sampling


def stale_reason(reply: Reply, target: Target | None, sampling: Sampling | None) -> str | None:
    """Why an answer no longer matches its pane (the target or the settings changed since it was
    written), or None when it does."""
    if reply.target is not None and target is not None and reply.target.key != target.key:
        return f"written by {reply.target.label}"
    if sampling is not None and reply.settings is not None:
        now = settings_record(sampling)
        changed = [name for name, value in now.items() if name != "logprobs" and reply.settings.get(name) != value]
        if changed:
            return "written with other settings (" + ", ".join(changed) + ")"
    return None
