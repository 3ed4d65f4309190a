"""An answer's recorded tokens: where each one is in the answer's text, and how likely it was.

The text is measured as the answer view shows it: tabs take four cells (see `shown_length`), other
characters one (tui/text.py's gate maps a character to one character). The heat view colours each
span by its probability's band, the token cursor moves over the spans, and a fork is made of the
tokens' ids.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator

from tui.engine.logprobs import TokenLogprob

BANDS = (0.9, 0.5, 0.2, 0.05)  # lower bounds of the probability bands, most likely first
BAND_LABELS = ("≥90%", "50–90%", "20–50%", "5–20%", "<5%")
SHORT_BAND_LABELS = ("90", "50", "20", "5", "<5")  # for narrow panes: each band's lower bound


def band(probability: float) -> int:
    """0 for the most likely band … 4 for the least likely."""
    for index, bound in enumerate(BANDS):
        if probability >= bound:
            return index
    return len(BANDS)


def shown_length(text: str) -> int:
    """How many characters a piece of text takes in the answer view (a tab is four spaces)."""
    return len(text) + 3 * text.count("\t")


class TokenSpans:
    """The recorded tokens of one answer, in order, with the end of each in the shown text."""

    def __init__(self) -> None:
        self.tokens: list[TokenLogprob] = []
        self.ends: list[int] = []
        self.bands: list[int] = []
        self.length = 0  # the shown text's length so far, recorded tokens or not

    def __len__(self) -> int:
        return len(self.tokens)

    def clear(self) -> None:
        self.tokens.clear()
        self.ends.clear()
        self.bands.clear()
        self.length = 0

    def add(self, text: str, tokens: list[TokenLogprob] | None) -> None:
        """A delta's text and its tokens. Their pieces give each token's share when they add up
        to the text; otherwise (a stop string cut off, pieces that decode differently together)
        the whole text goes to the last token."""
        start = self.length
        self.length += shown_length(text)
        if not tokens:
            return
        pieces = [shown_length(t.text) for t in tokens]
        if sum(pieces) != self.length - start:
            pieces = [0] * (len(tokens) - 1) + [self.length - start]
        end = start
        for token, piece in zip(tokens, pieces):
            end += piece
            self.tokens.append(token)
            self.ends.append(end)
            self.bands.append(band(token.probability))

    def restore(self, tokens: list[TokenLogprob], ends: list[int], length: int) -> None:
        """Tokens and span ends as saved (checked: ends rise and stay within `length`)."""
        self.clear()
        self.tokens.extend(tokens)
        self.ends.extend(ends)
        self.bands.extend(band(t.probability) for t in tokens)
        self.length = length

    def copy(self, count: int | None = None) -> TokenSpans:
        """The first `count` tokens (all by default), and the text up to where the last one ends
        (all of it when every token is copied)."""
        count = len(self.tokens) if count is None else count
        length = self.length if count == len(self.tokens) else (self.ends[count - 1] if count else 0)
        copied = TokenSpans()
        copied.restore(self.tokens[:count], self.ends[:count], length)
        return copied

    def span(self, index: int) -> tuple[int, int]:
        return (self.ends[index - 1] if index else 0), self.ends[index]

    def index_at(self, offset: int) -> int | None:
        """The token whose span holds `offset`, or None past the recorded ones."""
        index = bisect_right(self.ends, offset)
        return index if index < len(self.ends) else None

    def within(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """(token index, span start, span end) of the tokens that overlap [start, end), clipped."""
        index = bisect_right(self.ends, start)
        while index < len(self.ends):
            a, b = self.span(index)
            if a >= end:
                return
            if b > a:
                yield index, max(a, start), min(b, end)
            index += 1


class ShownTokens:
    """The recorded tokens an answer view shows, at their places in the view's text: the thinking's
    (when its text is shown: unfolded, or streaming before the answer) then the answer's. The heat
    view, the token cursor and its panel read them; index `i` below `thinking_count` is the
    thinking's token `i`, above it the answer's token `i - thinking_count`.

    The view does not show the newlines a model opens its thinking with (tui/thread_text.py), so
    the thinking's offsets are moved back by as many; they are counted while the thinking holds
    nothing else (it streams), then known."""

    __slots__ = ("answer", "answer_base", "thinking", "_thinking_start", "_reasoning", "_lead", "_lead_known")

    def __init__(self, answer: TokenSpans, answer_base: int, thinking: TokenSpans | None = None,
                 thinking_start: int = 0, reasoning: Callable[[], str] = str) -> None:
        """`thinking_start`: where the shown thinking starts in the view; `reasoning()`: the
        thinking's text so far."""
        self.answer, self.answer_base = answer, answer_base
        self.thinking = thinking  # kept while empty: a thinking that streams records its tokens into it
        self._thinking_start, self._reasoning = thinking_start, reasoning
        self._lead, self._lead_known = 0, False

    @property
    def thinking_count(self) -> int:
        return len(self.thinking.tokens) if self.thinking is not None else 0

    def __len__(self) -> int:
        return self.thinking_count + len(self.answer.tokens)

    def _thinking_base(self) -> int:
        if not self._lead_known:
            text = self._reasoning()
            self._lead = len(text) - len(text.lstrip("\n"))
            self._lead_known = self._lead < len(text)
        return self._thinking_start - self._lead

    def _part(self, index: int) -> tuple[TokenSpans, int, int]:
        """(spans, base, index in them) of token `index`."""
        count = self.thinking_count
        if index < count:
            return self.thinking, self._thinking_base(), index
        return self.answer, self.answer_base, index - count

    def in_thinking(self, index: int) -> bool:
        return index < self.thinking_count

    def token(self, index: int) -> TokenLogprob:
        spans, _, own = self._part(index)
        return spans.tokens[own]

    def band(self, index: int) -> int:
        spans, _, own = self._part(index)
        return spans.bands[own]

    def span(self, index: int) -> tuple[int, int]:
        spans, base, own = self._part(index)
        start, end = spans.span(own)
        if spans is self.thinking:  # the newlines it opens with are not shown: nothing of them
            floor = self._thinking_start
            return max(start + base, floor), max(end + base, floor)
        return start + base, end + base

    def index_at(self, offset: int) -> int | None:
        """The token whose span holds `offset` (a view offset), or the next one; None past them."""
        if self.thinking is not None and self.thinking.tokens:
            index = self.thinking.index_at(offset - self._thinking_base())
            if index is not None:
                return index
        index = self.answer.index_at(offset - self.answer_base)
        return None if index is None else self.thinking_count + index

    def within(self, start: int, end: int) -> Iterator[tuple[int, int, int]]:
        """(token index, span start, span end) in view offsets, of the tokens overlapping [start, end)."""
        if self.thinking is not None and self.thinking.tokens:
            base, floor = self._thinking_base(), self._thinking_start
            for index, a, b in self.thinking.within(max(start, floor) - base, end - base):
                yield index, a + base, b + base
        count, base = self.thinking_count, self.answer_base
        for index, a, b in self.answer.within(start - base, end - base):
            yield count + index, a + base, b + base
