"""The remote backend: any OpenAI-compatible server (`vllm serve` first), through the `openai` client.

Same protocol as the in-process engine: streamed deltas with TTFT and token counts, and cancel.
Cancelling closes the HTTP stream; vLLM's server notices the disconnect and aborts the request in
its engine ("Request … aborted." in its log). Token counts come from vLLM's continuous usage
statistics when the server offers them, otherwise one token per streamed chunk is assumed.

vLLM-only knobs (top_k, min_p, repetition_penalty, min_tokens) are sent in the request body only
when they differ from their defaults, so servers that do not know them are not bothered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from tui.engine.params import ParamError, Sampling
from tui.engine.protocol import (
    BackendError,
    Delta,
    EngineDead,
    EngineState,
    ProgressCallback,
    RequestRejected,
)

log = logging.getLogger(__name__)

STANDARD = ("temperature", "top_p", "seed", "max_tokens", "presence_penalty", "frequency_penalty")
CONNECT_TIMEOUT_S = 10.0


class OpenAIBackend:
    """Streams from an OpenAI-compatible server at `base_url` (e.g. http://127.0.0.1:8000/v1)."""

    name = "openai"

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model or "(first model the server lists)"
        self._wanted_model = model
        self.state = EngineState.STOPPED
        self.error: str | None = None
        self.has_chat_template = True  # the server decides; a refusal comes back as a 400
        self._max_model_len: int | None = None
        self._client: Any = None
        self._continuous_usage = True
        self._streams: dict[str, Any] = {}

    @property
    def max_model_len(self) -> int | None:
        return self._max_model_len

    # -- life cycle -----------------------------------------------------------------------
    async def start(self, on_progress: ProgressCallback | None = None) -> None:
        def report(state: EngineState, text: str) -> None:
            self.state = state
            if on_progress is not None:
                on_progress(state, text)

        self.error = None
        report(EngineState.LOADING, f"connecting to {self.base_url}")
        if self._client is None:
            self._client = _make_client(self.base_url, self.api_key)
        try:
            page = await asyncio.wait_for(self._client.models.list(), timeout=CONNECT_TIMEOUT_S * 2)
            served = list(page.data)
        except Exception as exc:
            self.error = self._explain(exc)
            log.error("remote backend failed to start: %s (%r)", self.error, exc)
            report(EngineState.ERROR, self.error)
            raise BackendError(self.error) from exc
        ids = [m.id for m in served]
        if not ids:
            self.error = f"{self.base_url} serves no model"
        elif self._wanted_model is not None and self._wanted_model not in ids:
            self.error = f"{self.base_url} does not serve {self._wanted_model!r} (it serves {', '.join(ids)})"
        if self.error:
            report(EngineState.ERROR, self.error)
            raise BackendError(self.error)
        chosen = self._wanted_model or ids[0]
        self.model = chosen
        card = next(m for m in served if m.id == chosen)
        limit = (getattr(card, "model_extra", None) or {}).get("max_model_len")
        self._max_model_len = int(limit) if isinstance(limit, int) else None
        report(EngineState.READY, f"{chosen} ready at {self.base_url}")

    async def restart(self, on_progress: ProgressCallback | None = None) -> None:
        await self.shutdown()
        await self.start(on_progress)

    async def shutdown(self) -> None:
        for stream in list(self._streams.values()):
            await _close(stream)
        self._streams.clear()
        client, self._client = self._client, None
        if client is not None:
            await client.close()
        if self.state is not EngineState.ERROR:
            self.state = EngineState.STOPPED

    # -- requests -------------------------------------------------------------------------
    def request_body(self, prompt: str, sampling: Sampling) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` or `completions.create`."""
        values = sampling.values
        body: dict[str, Any] = {"model": self.model, "stream": True}
        for name in STANDARD:
            if values[name] is not None:
                body[name] = values[name]
        extra = {name: value for name, value in values.items()
                 if name not in STANDARD and value != _default(name)}
        options: dict[str, Any] = {"include_usage": True}
        if self._continuous_usage:
            options["continuous_usage_stats"] = True
        body["stream_options"] = options
        if extra:
            body["extra_body"] = extra
        if sampling.chat_template:
            messages = []
            if sampling.system_prompt.strip():
                messages.append({"role": "system", "content": sampling.system_prompt})
            messages.append({"role": "user", "content": prompt})
            body["messages"] = messages
        else:
            body["prompt"] = prompt
        return body

    async def _open(self, prompt: str, sampling: Sampling, request_id: str) -> Any:
        import openai

        body = self.request_body(prompt, sampling)
        create = (self._client.chat.completions.create if sampling.chat_template
                  else self._client.completions.create)
        try:
            return await create(**body, extra_headers={"X-Request-Id": request_id})
        except openai.BadRequestError as exc:
            if self._continuous_usage and "continuous_usage_stats" in str(exc):
                self._continuous_usage = False  # not a vLLM server: count chunks instead
                return await self._open(prompt, sampling, request_id)
            raise RequestRejected(_server_message(exc)) from exc

    async def stream(self, prompt: str, sampling: Sampling, request_id: str) -> AsyncIterator[Delta]:
        import openai

        if self._client is None or self.state is not EngineState.READY:
            raise EngineDead(f"not connected: {self.error}" if self.error else "not connected to the server")
        started = time.perf_counter()
        try:
            sampling.check_context(self._max_model_len)
        except ParamError as exc:
            raise RequestRejected(str(exc)) from exc
        tokens = 0
        first: float | None = None
        stream = None
        try:
            stream = await self._open(prompt, sampling, request_id)
            self._streams[request_id] = stream
            async for chunk in stream:
                usage = getattr(chunk, "usage", None)
                if not chunk.choices:
                    continue  # the final usage-only chunk
                choice = chunk.choices[0]
                text = (choice.delta.content or "") if sampling.chat_template else (choice.text or "")
                now = time.perf_counter()
                before = tokens
                if usage is not None and usage.completion_tokens is not None:
                    tokens = usage.completion_tokens
                elif text:
                    tokens += 1
                if tokens > before and first is None:
                    first = now
                finish = choice.finish_reason
                if text or finish or tokens > before:
                    yield Delta(text, tokens, tokens - before, finish, started, first, now)
        except (RequestRejected, asyncio.CancelledError):
            raise
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise BackendError(f"the server failed: {_server_message(exc)}") from exc
            raise RequestRejected(_server_message(exc)) from exc
        except (openai.APIConnectionError, openai.APIError) as exc:
            self.error = f"lost the server at {self.base_url}"
            self.state = EngineState.ERROR
            raise EngineDead(f"{self.error}; restart to reconnect") from exc
        except Exception as exc:  # httpx errors that the client does not wrap while streaming
            if type(exc).__module__.startswith(("httpx", "httpcore")):
                self.error = f"lost the server at {self.base_url}"
                self.state = EngineState.ERROR
                raise EngineDead(f"{self.error}; restart to reconnect") from exc
            raise
        finally:
            self._streams.pop(request_id, None)
            if stream is not None:
                await asyncio.shield(_close(stream))

    async def abort(self, request_id: str) -> None:
        stream = self._streams.pop(request_id, None)
        if stream is not None:
            await _close(stream)

    def _explain(self, exc: BaseException) -> str:
        import openai

        if isinstance(exc, openai.AuthenticationError):
            return f"{self.base_url} refused the API key (401)"
        if isinstance(exc, openai.NotFoundError):
            return (f"{self.base_url}/models not found (404): is it an OpenAI-compatible server? "
                    "The base URL usually ends in /v1")
        if isinstance(exc, openai.APIStatusError):
            return f"{self.base_url}: {_server_message(exc)}"
        if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError)):
            return f"{self.base_url} did not answer within {CONNECT_TIMEOUT_S * 2:.0f} s"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f" ({_one_line(cause)})" if cause is not None and str(cause) else ""
            return f"cannot reach {self.base_url}{detail}"
        return f"{self.base_url}: {type(exc).__name__}: {_one_line(exc)}"


def _make_client(base_url: str, api_key: str | None) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "EMPTY", max_retries=0,
                              timeout=openai.Timeout(None, connect=CONNECT_TIMEOUT_S))


def _default(name: str) -> Any:
    from tui.engine.params import SPECS_BY_NAME

    return SPECS_BY_NAME[name].default


async def _close(stream: Any) -> None:
    try:
        await stream.close()
    except Exception:
        log.debug("closing a stream failed", exc_info=True)


def _server_message(exc: Any) -> str:
    """The server's own message from an error response (vLLM: {"error": {"message": …}})."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
    if message:
        return f"{_one_line(message)} ({getattr(exc, 'status_code', '?')})"
    return _one_line(exc)


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())[:300]
