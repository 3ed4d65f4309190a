"""A remote server's engine figures, from its Prometheus `/metrics` (as `vllm serve` exposes them).

The text is parsed by `prometheus_client`'s parser; counters become rates between polls. The server
is outside: an answer that is not Prometheus text, too long, or missing figures gives a snapshot
that says so (`unavailable`) or leaves those figures out, never an exception.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tui.engine.stats import EngineSnapshot, Rates
from tui.text import one_line

log = logging.getLogger(__name__)

POLL_S = 1.0  # at most one request to /metrics per second, however often the UI asks
TIMEOUT_S = 5.0
MAX_BYTES = 8 * 1024 * 1024  # a /metrics page larger than this is not read


def server_root(base_url: str) -> str:
    """http://host:8000/v1 → http://host:8000: vLLM serves /metrics and /tokenize beside /v1."""
    parts = urlsplit(base_url.rstrip("/"))
    path = parts.path[: -len("/v1")] if parts.path.endswith("/v1") else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def metrics_url(base_url: str) -> str:
    return f"{server_root(base_url)}/metrics"


def sample_totals(text: str) -> dict[str, float]:
    """Every sample of the page summed over its labels, by sample name (e.g.
    'vllm:generation_tokens_total'), plus 'kv_blocks' from vLLM's cache_config_info.
    ValueError when the text is not Prometheus text."""
    from prometheus_client.parser import text_string_to_metric_families

    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = float(sample.value)
            if value != value:  # NaN: not a figure
                continue
            totals[sample.name] = totals.get(sample.name, 0.0) + value
            if sample.name == "vllm:cache_config_info":
                blocks = sample.labels.get("num_gpu_blocks", "")
                if blocks.isdigit():
                    totals["kv_blocks"] = totals.get("kv_blocks", 0.0) + int(blocks)
    return totals


class MetricsPoller:
    """The X-ray panel's source for a remote backend."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.url = metrics_url(base_url)
        self.api_key = api_key
        self._client: Any = None
        self._rates = Rates()
        self._last: EngineSnapshot | None = None
        self._last_at = 0.0

    async def snapshot(self) -> EngineSnapshot:
        now = time.monotonic()
        if self._last is not None and now - self._last_at < POLL_S:
            return self._last
        self._last_at = now
        try:
            text = await self._fetch()
        except _NoFigures as exc:
            self._last = EngineSnapshot(unavailable=str(exc))
            return self._last
        try:
            totals = sample_totals(text)
        except Exception as exc:  # the parser raises ValueError, and worse on odd input
            log.info("the server's /metrics is not Prometheus text: %s", one_line(exc, 200))
            self._last = EngineSnapshot(unavailable="the server's /metrics is not Prometheus text")
            return self._last
        self._last = self.figures(totals, now)
        return self._last

    def figures(self, totals: dict[str, float], now: float) -> EngineSnapshot:
        """A snapshot of the sums of one page (`sample_totals`) read at `now`."""
        def get(name: str) -> float | None:
            return totals.get(name)

        if not any(name.startswith("vllm:") for name in totals):
            return EngineSnapshot(unavailable="the server's /metrics has no vLLM figures")
        counters = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                    "vllm:iteration_tokens_total_count")
        known = [get(name) for name in counters]
        rates = None
        if all(value is not None for value in known):
            self._rates.add(now, tuple(known))  # type: ignore[arg-type]
            rates = self._rates.rates(now)
        queries, hits = get("vllm:prefix_cache_queries_total"), get("vllm:prefix_cache_hits_total")
        drafted, accepted = (get("vllm:spec_decode_num_draft_tokens_total"),
                             get("vllm:spec_decode_num_accepted_tokens_total"))
        kv_blocks = get("kv_blocks")
        history = self._rates.history
        return EngineSnapshot(
            running=_count(get("vllm:num_requests_running")),
            waiting=_count(get("vllm:num_requests_waiting")),
            kv_usage=get("vllm:kv_cache_usage_perc"),
            kv_blocks=int(kv_blocks) if kv_blocks else None,
            prefix_hit_rate=hits / queries if queries and hits is not None else None,
            preemptions=_count(get("vllm:num_preemptions_total")),
            prompt_tok_s=rates[0] if rates else None, gen_tok_s=rates[1] if rates else None,
            steps_s=rates[2] if rates else None,
            spec_acceptance=accepted / drafted if drafted and accepted is not None else None,
            prompt_tokens=_count(known[0]), gen_tokens=_count(known[1]),
            gen_history=list(history.get(1, ())), prompt_history=list(history.get(0, ())))

    async def _fetch(self) -> str:
        import httpx

        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(timeout=TIMEOUT_S, headers=headers, follow_redirects=True)
        try:
            async with self._client.stream("GET", self.url) as response:
                if response.status_code == 404:
                    raise _NoFigures("the server has no /metrics")
                if response.status_code != 200:
                    raise _NoFigures(f"the server's /metrics answered {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise _NoFigures("the server's /metrics is too long to read")
                return body.decode("utf-8", errors="replace")
        except httpx.HTTPError as exc:
            raise _NoFigures(f"cannot read the server's /metrics ({type(exc).__name__})") from exc

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


class _NoFigures(Exception):
    """The server gave no figures; the message says why."""


def _count(value: float | None) -> int | None:
    return None if value is None else int(value)
