"""Token probabilities: each generated token with its logprob, rank and the top alternatives.

The in-process engine gives them as vLLM's per-position `{token_id: Logprob}` (one position per new
token in each DELTA output); an OpenAI-compatible server as `logprobs` on each chunk, in the
completions or the chat shape. Both become `TokenLogprob`s here. A server is outside: a field of the
wrong type or an impossible value drops that chunk's logprobs, never the answer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tui.engine.params import MAX_LOGPROBS

# What the numbers are, by vLLM's --logprobs-mode (its default is raw_logprobs).
MODE_LABELS = {
    "raw_logprobs": "the model's distribution before temperature, top-p/top-k and penalties",
    "processed_logprobs": "the distribution after temperature, top-p/top-k and penalties",
    "raw_logits": "raw logits, not probabilities",
    "processed_logits": "processed logits, not probabilities",
}


@dataclass(frozen=True, slots=True)
class Alternative:
    token_id: int | None  # None when the source does not give ids (a remote server)
    text: str
    logprob: float

    @property
    def probability(self) -> float:
        return probability(self.logprob)


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    """One generated token: what it was, how likely, its rank, and the top alternatives (which
    include the token itself when it is among them)."""

    token_id: int | None
    text: str
    logprob: float
    rank: int | None
    top: tuple[Alternative, ...] = ()

    @property
    def probability(self) -> float:
        return probability(self.logprob)


SHORT_MODE_LABELS = {
    "raw_logprobs": "the model's own, before temperature/top-p",
    "processed_logprobs": "after temperature/top-p",
    "raw_logits": "raw logits",
    "processed_logits": "processed logits",
}


def probability(logprob: float) -> float:
    """exp(logprob); 0 for -inf (a token the distribution ruled out)."""
    return math.exp(logprob) if logprob > -math.inf else 0.0


def short_mode_label(mode: str | None) -> str:
    """For the heat view's legend: which distribution, in a few words."""
    return "as the server's --logprobs-mode gives them" if mode is None else SHORT_MODE_LABELS.get(mode, mode)


def mode_label(mode: str | None) -> str:
    if mode is None:
        return "as the server's --logprobs-mode gives them"
    return f"{MODE_LABELS.get(mode, 'as vLLM gives them')} (vLLM's --logprobs-mode {mode})"


def from_vllm(token_ids: Sequence[int], positions: Any, k: int) -> list[TokenLogprob]:
    """vLLM's logprobs of the new tokens of one DELTA output (`CompletionOutput.logprobs`: per
    token, `{token_id: Logprob}` of the sampled token and the `k` most likely ones; the sampled
    token is listed once, with its own rank, also when it is among them). Flat logprobs
    (`SamplingParams(flat_logprobs=True)`, which the backend asks for) are read from their lists."""
    if hasattr(positions, "start_indices"):
        return _from_flat(token_ids, positions, k)
    tokens = []
    for token_id, position in zip(token_ids, positions or ()):
        own = position.get(token_id) if position else None
        if own is None:
            continue
        top = sorted((lp.rank, tid, lp) for tid, lp in position.items()
                     if lp.rank is not None and lp.rank <= k)
        alternatives = tuple(Alternative(tid, lp.decoded_token or "", float(lp.logprob)) for _, tid, lp in top)
        tokens.append(TokenLogprob(token_id, own.decoded_token or "", float(own.logprob), own.rank, alternatives))
    return tokens


def _from_flat(token_ids: Sequence[int], flat: Any, k: int) -> list[TokenLogprob]:
    """`from_vllm` on vLLM's FlatLogprobs, without making a Logprob per entry."""
    tokens = []
    ids, values, ranks, texts = flat.token_ids, flat.logprobs, flat.ranks, flat.decoded_tokens
    for token_id, first, end in zip(token_ids, flat.start_indices, flat.end_indices):
        own = None
        top = []
        seen = set()  # the sampled token comes first, then again among the top k when it is there
        for i in range(first, end):
            if ids[i] == token_id and own is None:
                own = i
            if ranks[i] is not None and ranks[i] <= k and ids[i] not in seen:
                seen.add(ids[i])
                top.append((ranks[i], i))
        if own is None:
            continue
        top.sort()
        alternatives = tuple(Alternative(ids[i], texts[i] or "", float(values[i])) for _, i in top)
        tokens.append(TokenLogprob(token_id, texts[own] or "", float(values[own]), ranks[own], alternatives))
    return tokens


def from_openai_completion(logprobs: Any, k: int = MAX_LOGPROBS) -> list[TokenLogprob] | None:
    """`choices[0].logprobs` of a streamed /v1/completions chunk: tokens, token_logprobs and
    top_logprobs (a {text: logprob} per token; vLLM adds the sampled token when it is not among
    the `k` asked for). None when it is malformed."""
    if logprobs is None:
        return None
    tokens = field_of(logprobs, "tokens")
    values = field_of(logprobs, "token_logprobs")
    tops = field_of(logprobs, "top_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list) or len(tokens) != len(values):
        return None
    if tops is not None and (not isinstance(tops, list) or len(tops) != len(tokens)):
        return None
    result = []
    for index, (text, value) in enumerate(zip(tokens, values)):
        top = tops[index] if tops is not None else None
        if not isinstance(text, str) or not _is_logprob(value):
            return None
        if top is not None and not (isinstance(top, dict) and all(
                isinstance(k, str) and _is_logprob(v) for k, v in top.items())):
            return None
        alternatives = tuple(sorted((Alternative(None, name, float(v)) for name, v in (top or {}).items()),
                                    key=lambda a: -a.logprob))[:k]
        result.append(TokenLogprob(None, text, float(value), _rank(float(value), alternatives), alternatives))
    return result


def from_openai_chat(logprobs: Any, k: int = MAX_LOGPROBS) -> list[TokenLogprob] | None:
    """`choices[0].logprobs` of a streamed chat chunk: `content`, a list of {token, logprob,
    top_logprobs: [{token, logprob}]}. None when it is malformed."""
    if logprobs is None:
        return None
    content = field_of(logprobs, "content")
    if content is None:
        return []
    if not isinstance(content, list):
        return None
    result = []
    for item in content:
        text, value = field_of(item, "token"), field_of(item, "logprob")
        top = field_of(item, "top_logprobs") or []
        if not isinstance(text, str) or not _is_logprob(value) or not isinstance(top, list):
            return None
        alternatives = []
        for alt in top:
            alt_text, alt_value = field_of(alt, "token"), field_of(alt, "logprob")
            if not isinstance(alt_text, str) or not _is_logprob(alt_value):
                return None
            alternatives.append(Alternative(None, alt_text, float(alt_value)))
        alternatives.sort(key=lambda a: -a.logprob)
        top_k = tuple(alternatives[:k])
        result.append(TokenLogprob(None, text, float(value), _rank(float(value), top_k), top_k))
    return result


def mean_logprob(tokens: Iterable[TokenLogprob]) -> float | None:
    values = [t.logprob for t in tokens if math.isfinite(t.logprob)]
    return sum(values) / len(values) if values else None


def perplexity(mean: float | None) -> float | None:
    return None if mean is None else math.exp(-mean)


def token_record(token: TokenLogprob) -> dict[str, Any]:
    """One token as JSON (export, batch): text, id, logprob (null when -inf), top alternatives."""
    return {"text": token.text, "id": token.token_id, "logprob": _json_number(token.logprob),
            "rank": token.rank,
            "top": [{"text": a.text, "id": a.token_id, "logprob": _json_number(a.logprob)} for a in token.top]}


def token_from_record(record: dict[str, Any]) -> TokenLogprob:
    """The inverse of `token_record` (for a record already checked, see tui/session.py)."""
    def logprob(value: float | None) -> float:
        return -math.inf if value is None else float(value)

    top = tuple(Alternative(a["id"], a["text"], logprob(a["logprob"])) for a in record["top"])
    return TokenLogprob(record["id"], record["text"], logprob(record["logprob"]), record["rank"], top)


def _json_number(value: float) -> float | None:
    return round(value, 6) if math.isfinite(value) else None


def _rank(value: float, alternatives: tuple[Alternative, ...]) -> int | None:
    """The token's rank among the top alternatives a server sent (1 = most likely); None when it
    is less likely than all of them (its rank is then beyond them)."""
    for index, alt in enumerate(alternatives, 1):
        if alt.logprob <= value:
            return index
    return None


def _is_logprob(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value == -math.inf or (math.isfinite(value) and value <= 1e-6)


def field_of(obj: Any, name: str) -> Any:
    """A field of a parsed chunk: the openai client's objects keep unknown fields as attributes or
    in model_extra, plain dicts as keys."""
    if isinstance(obj, dict):
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None)
        if isinstance(extra, dict):
            value = extra.get(name)
    return value
