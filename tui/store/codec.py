"""An answer's recorded tokens as a few arrays: ids, logprobs, ranks, span ends and the
alternatives' ids and logprobs as machine arrays (`array` bytes, little-endian), the texts joined
with their lengths beside them. 4,000 tokens with 5 alternatives each take about 200 KB this way,
where one JSON object per token took more than a megabyte and a second to write.

Logprobs are kept as 32-bit floats (7 significant digits: far finer than the heat view's bands).
Token ids and ranks that a source did not give are kept as -1 and 0.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass

from tui.engine.logprobs import Alternative, TokenLogprob
from tui.storage import writable

_NO_ID = -1
_NO_RANK = 0


class CodecError(ValueError):
    """Arrays that do not make tokens (a damaged or hand-edited row)."""


@dataclass(frozen=True)
class TokenColumns:
    count: int
    ids: bytes
    logprobs: bytes
    ranks: bytes
    ends: bytes
    texts: str
    text_lengths: bytes
    top_counts: bytes
    top_ids: bytes
    top_logprobs: bytes
    top_texts: str
    top_lengths: bytes

    def row(self) -> tuple:
        return (self.count, self.ids, self.logprobs, self.ranks, self.ends, self.texts, self.text_lengths,
                self.top_counts, self.top_ids, self.top_logprobs, self.top_texts, self.top_lengths)

    @property
    def size(self) -> int:
        """Bytes it takes, about."""
        return sum(len(part) for part in self.row()[1:])


def _bytes(values: array) -> bytes:
    if sys.byteorder != "little":
        values.byteswap()
    return values.tobytes()


def _array(typecode: str, data: bytes, name: str) -> array:
    values = array(typecode)
    if len(data) % values.itemsize:
        raise CodecError(f"{name}: {len(data)} bytes is not a whole number of items")
    values.frombytes(data)
    if sys.byteorder != "little":
        values.byteswap()
    return values


def encode(tokens: list[TokenLogprob], ends: list[int]) -> TokenColumns:
    """Tokens and the ends of their spans in the answer, as columns."""
    ids = array("i", [_NO_ID if t.token_id is None else t.token_id for t in tokens])
    logprobs = array("f", [t.logprob for t in tokens])
    ranks = array("i", [_NO_RANK if t.rank is None else t.rank for t in tokens])
    top_counts = array("B", [len(t.top) for t in tokens])
    alternatives = [a for t in tokens for a in t.top]
    top_ids = array("i", [_NO_ID if a.token_id is None else a.token_id for a in alternatives])
    top_logprobs = array("f", [a.logprob for a in alternatives])
    return TokenColumns(
        count=len(tokens), ids=_bytes(ids), logprobs=_bytes(logprobs), ranks=_bytes(ranks),
        ends=_bytes(array("i", ends)),
        texts=writable("".join(t.text for t in tokens), "token texts"),
        text_lengths=_bytes(array("i", [len(t.text) for t in tokens])),
        top_counts=_bytes(top_counts), top_ids=_bytes(top_ids), top_logprobs=_bytes(top_logprobs),
        top_texts=writable("".join(a.text for a in alternatives), "token texts"),
        top_lengths=_bytes(array("i", [len(a.text) for a in alternatives])))


def decode(row: tuple) -> tuple[list[TokenLogprob], list[int]]:
    """The inverse of `encode(...).row()`: the tokens and their span ends. CodecError when the
    arrays do not agree with each other."""
    count, ids, logprobs, ranks, ends, texts, text_lengths, top_counts, top_ids, top_logprobs, top_texts, \
        top_lengths = row
    ids_a, logprobs_a, ranks_a = _array("i", ids, "ids"), _array("f", logprobs, "logprobs"), _array("i", ranks, "ranks")
    ends_a, lengths_a, counts_a = _array("i", ends, "ends"), _array("i", text_lengths, "text_lengths"), \
        _array("B", top_counts, "top_counts")
    for name, values in (("ids", ids_a), ("logprobs", logprobs_a), ("ranks", ranks_a), ("ends", ends_a),
                         ("text_lengths", lengths_a), ("top_counts", counts_a)):
        if len(values) != count:
            raise CodecError(f"{name}: {len(values)} items for {count} tokens")
    alternatives = _alternatives(top_ids, top_logprobs, top_texts, top_lengths, sum(counts_a))
    token_texts = _split(texts, lengths_a, "texts")
    tokens = []
    at = 0
    for index in range(count):
        n = counts_a[index]
        token_id, rank = ids_a[index], ranks_a[index]
        tokens.append(TokenLogprob(None if token_id == _NO_ID else token_id, token_texts[index], logprobs_a[index],
                                   None if rank == _NO_RANK else rank, tuple(alternatives[at:at + n])))
        at += n
    return tokens, list(ends_a)


def _alternatives(ids: bytes, logprobs: bytes, texts: str, lengths: bytes, total: int) -> list[Alternative]:
    ids_a, logprobs_a, lengths_a = _array("i", ids, "top_ids"), _array("f", logprobs, "top_logprobs"), \
        _array("i", lengths, "top_lengths")
    for name, values in (("top_ids", ids_a), ("top_logprobs", logprobs_a), ("top_lengths", lengths_a)):
        if len(values) != total:
            raise CodecError(f"{name}: {len(values)} items for {total} alternatives")
    pieces = _split(texts, lengths_a, "top_texts")
    return [Alternative(None if token_id == _NO_ID else token_id, text, logprob)
            for token_id, text, logprob in zip(ids_a, pieces, logprobs_a)]


def _split(text: str, lengths: array, name: str) -> list[str]:
    if any(length < 0 for length in lengths) or sum(lengths) != len(text):
        raise CodecError(f"{name}: the lengths do not add up to the text")
    pieces, at = [], 0
    for length in lengths:
        pieces.append(text[at:at + length])
        at += length
    return pieces


def encode_ids(ids: list[int] | None) -> bytes | None:
    """A list of token ids (a prompt's) as bytes; None stays None."""
    return None if ids is None else _bytes(array("i", ids))


def decode_ids(data: bytes | None) -> list[int] | None:
    if data is None:
        return None
    values = _array("i", data, "ids")
    if any(value < 0 for value in values):
        raise CodecError("ids: a negative token id")
    return list(values)
