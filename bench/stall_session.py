"""What the save-stall measurement streams: a session of panes each with an answer just started,
and the scripted tokens fed into them (5 alternatives each), made before any clock starts. The
long history (bench/long_history.py) is built from the same tokens."""

from __future__ import annotations

import random

PANES = 32
WORDS = ("the key to happiness is a quiet mind and a garden of patience where every morning brings "
         "light over the sea of stars in a galaxy far away that no one has seen before").split()
ALTERNATIVES = 5  # per token, as the heat view asks


def streaming_session(count: int):
    """`count` panes, each a question and an answer streaming (an empty reply, as a run starts)."""
    from tui.core.conversation import ASSISTANT, USER
    from tui.core.pane_state import PaneState
    from tui.core.run import new_reply
    from tui.engine.params import Sampling
    from tui.figures import STREAMING
    from tui.session import SessionRecord

    panes = []
    sampling = Sampling(logprobs=ALTERNATIVES)
    for number in range(1, count + 1):
        state = PaneState(number, heat=True)
        question = state.conversation.add(None, USER, f"question {number}: tell me about the sea")
        state.conversation.add(question, ASSISTANT, reply=new_reply(sampling, None, STREAMING))
        panes.append(state)
    return SessionRecord(panes=panes, next_number=count + 1)


def scripted_tokens(count: int) -> list:
    """`count` pieces of text and their tokens (with their alternatives), the same every time."""
    from tui.engine.scripted import scripted_logprob

    rng = random.Random(7)
    pieces = [rng.choice(WORDS) + (" " if i % 17 else ".\n") for i in range(count)]
    return [(piece, scripted_logprob(i, piece, ALTERNATIVES)) for i, piece in enumerate(pieces)]
