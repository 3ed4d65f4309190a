"""The remote backend: any OpenAI-compatible server (`vllm serve` first), through the `openai` client.

Same protocol as the in-process engine: streamed deltas with TTFT and token counts, and cancel.
Cancelling closes the HTTP stream; vLLM's server notices the disconnect and aborts the request in
its engine ("Request … aborted." in its log). Token counts come from vLLM's continuous usage
statistics when the server offers them, otherwise one token per streamed chunk is assumed.

vLLM-only knobs (top_k, min_p, repetition_penalty, min_tokens, thinking_token_budget) are sent in the request body only
when they differ from their defaults, so servers that do not know them are not bothered. A pane's
thinking switch (enable_thinking) goes as vLLM's `chat_template_kwargs`, and only when it is set.

The server is outside: whatever it sends is checked. A malformed chunk, a stream that is not a
stream, an error event or a server that stops sending (READ_TIMEOUT_S) fails that request only,
with a reason; the server is only "lost" when it cannot be reached at all.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from tui.core.conversation import USAGE_LIMIT_BYTES, usage_size
from tui.engine.params import MAX_LOGPROBS, ParamError, Sampling
from tui.engine.logprobs import TokenLogprob, field_of, from_openai_chat, from_openai_completion
from tui.engine.remote_metrics import MetricsPoller, server_root
from tui.engine.stats import RequestTiming
from tui.engine.structured import NotExpressible, prepare, response_format, vllm_fields
from tui.text import one_line, without_credentials, without_surrogates
from tui.engine.protocol import (
    Abilities,
    BackendBase,
    BackendError,
    Delta,
    EngineDead,
    EngineState,
    ProgressCallback,
    Request,
    RequestRejected,
    StreamAccount,
    Target,
)

log = logging.getLogger(__name__)

STANDARD = ("temperature", "top_p", "seed", "max_tokens", "presence_penalty", "frequency_penalty")
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 120.0  # nothing from the server for this long while streaming: it went quiet


class OpenAIBackend(BackendBase):
    """Streams from an OpenAI-compatible server at `base_url` (e.g. http://127.0.0.1:8000/v1)."""

    name = "openai"
    abilities = Abilities(scoring=True, token_ids=True, metrics=True)

    def __init__(self, base_url: str, *, model: str | None = None, api_key: str | None = None,
                 read_timeout: float = READ_TIMEOUT_S, models: str | None = None) -> None:
        """`models`: a filter (shell-style pattern, e.g. 'qwen*') on the models offered as targets."""
        self.base_url = base_url.rstrip("/")
        self.shown_url = without_credentials(self.base_url)  # what may be shown or logged
        self.api_key = api_key
        self.read_timeout = read_timeout
        self.model = model or "(first model the server lists)"
        self._wanted_model = model
        self.state = EngineState.STOPPED
        self.error: str | None = None
        self.has_chat_template = True  # the server decides; a refusal comes back as a 400
        self.logprobs_mode: str | None = None  # the server's own --logprobs-mode: not known here
        self._max_model_len: int | None = None
        self._client: Any = None
        self._continuous_usage = True
        self._token_ids = True  # ask for token ids (vLLM's return_token_ids) until a server refuses
        self._structured_outputs = True  # formats as vLLM's field, until a server refuses it
        self._streams: dict[str, Any] = {}
        self.stats = MetricsPoller(self.base_url, api_key)  # the server's /metrics (X-ray panel)
        self.source = source_name(self.shown_url)
        self.model_filter = models
        self._served: list[Target] = []  # what the server lists (LoRA modules name their parent)

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
        report(EngineState.LOADING, f"connecting to {self.shown_url}")
        if self._client is None:
            self._client = _make_client(self.base_url, self.api_key, self.read_timeout)
        try:
            page = await asyncio.wait_for(self._client.models.list(), timeout=CONNECT_TIMEOUT_S * 2)
            served = _served_models(page)
        except Exception as exc:
            self.error = self._explain(exc)
            log.error("remote backend failed to start: %s (%s)", self.error, type(exc).__name__)
            report(EngineState.ERROR, self.error)
            raise BackendError(self.error) from exc
        ids = [card.id for card in served]
        if not ids:
            self.error = f"{self.shown_url} serves no model"
        elif self._wanted_model is not None and self._wanted_model not in ids:
            self.error = f"{self.shown_url} does not serve {self._wanted_model!r} (it serves {', '.join(ids)})"
        if self.error:
            self.error = one_line(self.error)
            report(EngineState.ERROR, self.error)
            raise BackendError(self.error)
        chosen = self._wanted_model or ids[0]
        self.model = chosen
        self._served = [target for target in (_target_of(self.source, card) for card in served)
                        if self.model_filter is None or fnmatch.fnmatchcase(target.model, self.model_filter)
                        or target.adapter is not None and fnmatch.fnmatchcase(target.adapter, self.model_filter)
                        or target.model == chosen and target.adapter is None]
        card = next(m for m in served if m.id == chosen)
        limit = (getattr(card, "model_extra", None) or {}).get("max_model_len")
        self._max_model_len = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
        report(EngineState.READY, f"{chosen} ready at {self.shown_url}")

    async def restart(self, on_progress: ProgressCallback | None = None) -> None:
        await self.shutdown()
        await self.start(on_progress)

    async def shutdown(self) -> None:
        for stream in list(self._streams.values()):
            await _close(stream)
        self._streams.clear()
        await self.stats.close()
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception:  # a connection the server broke: nothing left to close
                log.debug("closing the client failed", exc_info=True)
        if self.state is not EngineState.ERROR:
            self.state = EngineState.STOPPED

    def targets(self) -> list[Target]:
        """The server's models and LoRA modules, as listed when it was reached (its own model
        first); before that, the model asked for."""
        return list(self._served) or [Target(self.source, self.model)]

    # -- requests -------------------------------------------------------------------------
    def request_body(self, request: Request) -> dict[str, Any]:
        """The keyword arguments of `chat.completions.create` (the whole conversation) or
        `completions.create` (raw text, or a prompt of token ids, sent as they are)."""
        sampling, target = request.sampling, request.target
        values = sampling.request_values
        model = self.model if target is None else target.adapter or target.model  # an adapter is a model id
        body: dict[str, Any] = {"model": model, "stream": True}
        for name in STANDARD:
            if values[name] is not None:
                body[name] = values[name]
        extra = {name: value for name, value in values.items()
                 if name not in STANDARD and value != _default(name)}
        options: dict[str, Any] = {"include_usage": True}
        if self._continuous_usage:
            options["continuous_usage_stats"] = True
        body["stream_options"] = options
        if sampling.logprobs:
            if request.chat:
                body["logprobs"] = True
                body["top_logprobs"] = sampling.logprobs
            else:
                body["logprobs"] = sampling.logprobs
            if self._token_ids:  # vLLM's: the prompt's and the answer's token ids, for forks
                extra["return_token_ids"] = True
        self._ask_format(sampling, body, extra)
        if request.chat and request.prompt_ids is None and sampling.template_kwargs:
            extra["chat_template_kwargs"] = sampling.template_kwargs  # vLLM's field; others ignore it
        if extra:
            body["extra_body"] = extra
        if request.prompt_ids is not None:
            body["prompt"] = list(request.prompt_ids)
        elif request.chat:
            body["messages"] = [dict(message) for message in request.messages]
        else:
            body["prompt"] = request.text()
        return body

    def _ask_format(self, sampling: Sampling, body: dict[str, Any], extra: dict[str, Any]) -> None:
        """The output format: vLLM's `structured_outputs` field, or OpenAI's `response_format` once
        the server has refused that field (not a vLLM server); RequestRejected when it has no
        field for the format."""
        fmt = sampling.output_format
        if fmt.is_free:
            return
        try:
            if self._structured_outputs:
                extra["structured_outputs"] = vllm_fields(fmt)
            else:
                body["response_format"] = response_format(fmt)
        except (NotExpressible, ValueError) as exc:
            raise RequestRejected(str(exc)) from exc

    async def _open(self, request: Request) -> Any:
        import openai

        body = self.request_body(request)
        create = (self._client.chat.completions.create if "messages" in body
                  else self._client.completions.create)
        try:
            stream = await create(**body, extra_headers={"X-Request-Id": request.request_id})
        except openai.BadRequestError as exc:
            if self._continuous_usage and "continuous_usage_stats" in str(exc):
                self._continuous_usage = False  # not a vLLM server: count chunks instead
                return await self._open(request)
            if self._token_ids and "return_token_ids" in str(exc):
                self._token_ids = False  # not a vLLM server: no token ids, no forks
                return await self._open(request)
            if self._structured_outputs and refuses_field(exc, "structured_outputs"):
                self._structured_outputs = False  # not a vLLM server: JSON formats go as response_format
                return await self._open(request)
            raise RequestRejected(_server_message(exc)) from exc
        kind = _content_type(stream)
        if kind is not None and not kind.startswith("text/event-stream"):
            await _close(stream)
            raise BackendError(f"the server answered with {one_line(kind, 60)}, not a stream of events")
        return stream

    async def stream(self, request: Request) -> AsyncIterator[Delta]:
        if self._client is None or self.state is not EngineState.READY:
            raise EngineDead(f"not connected: {self.error}" if self.error else "not connected to the server")
        account = StreamAccount()
        sampling = request.sampling
        if request.target is not None:
            request.target.check_source(self.source)
        try:
            sampling.check_context(self._max_model_len)
        except ParamError as exc:
            raise RequestRejected(str(exc)) from exc
        await prepare(sampling.output_format, load_xgrammar=False)
        stream = None
        try:
            stream = await self._open(request)
            self._streams[request.request_id] = stream
            chat = request.chat
            sent_prompt: list[int] | None = None
            finished: str | None = None
            async for chunk in stream:
                piece = _piece(chunk, chat, sampling.logprobs)
                if piece is None:  # the final usage-only chunk: its counts and their details are kept
                    usage = _usage(chunk)
                    if usage is not None:  # (the last delta still says how the answer ended)
                        yield account.delta("", finished, usage=usage)
                    continue
                text, finish, used, logprobs, reasoning = piece
                finished = finish or finished
                if sent_prompt is None:
                    sent_prompt = _ids(chunk, "prompt_token_ids")  # the first chunk may have no text
                logprobs = _with_ids(logprobs, _ids(chunk, "token_ids"))
                # One token per chunk with text or thinking, unless the server counts them (vLLM's
                # usage stats).
                new = 1 if (text or reasoning) and used is None else 0
                if not (text or reasoning or finish or new or (used is not None and used > account.tokens)):
                    continue  # nothing new yet (the prompt's ids, if any, go with the next delta)
                yield account.delta(text, finish, new_tokens=new, total=used, timing=_prompt_cache(chunk),
                                    logprobs=logprobs if sampling.logprobs else None, prompt_ids=sent_prompt,
                                    reasoning=reasoning, usage=_usage(chunk) if finish else None)
        except (BackendError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise self._request_failure(exc) from exc
        finally:
            self._streams.pop(request.request_id, None)
            if stream is not None:
                await asyncio.shield(_close(stream))

    def _request_failure(self, exc: BaseException) -> BackendError:
        """What went wrong with one request, as the error that fails it (and only it)."""
        import openai

        if isinstance(exc, openai.APIStatusError):
            if exc.status_code >= 500:
                return BackendError(f"the server failed: {_server_message(exc)}")
            return RequestRejected(_server_message(exc))
        if isinstance(exc, openai.APITimeoutError) or "Timeout" in type(exc).__name__:
            return BackendError(f"the server went quiet: nothing for {self.read_timeout:g} s (--read-timeout)")
        if isinstance(exc, openai.APIConnectionError) or type(exc).__module__.startswith(("httpx", "httpcore")):
            return BackendError(f"lost the connection to {self.shown_url} ({one_line(exc, 120)})")
        if isinstance(exc, openai.APIError):  # an error event inside the stream
            return BackendError(f"the server reported an error: {_server_message(exc)}")
        return BackendError(f"the server sent a malformed stream ({one_line(f'{type(exc).__name__}: {exc}', 160)})")

    async def token_id_of(self, text: str, target: Target | None = None) -> int | None:
        """The id of the token whose text is `text` (a server names the alternatives by text only):
        vLLM's /tokenize (with the target's model), when it makes exactly one token of it."""
        model = self.model if target is None else target.model
        data = await self._post_root("/tokenize", {"model": model, "prompt": text, "add_special_tokens": False})
        ids = data.get("tokens") if isinstance(data, dict) else None
        if isinstance(ids, list) and len(ids) == 1 and _count(ids[0]) is not None:
            return ids[0]
        return None

    async def next_token_logprobs(self, prompt_ids: list[int], token_ids: list[int],
                                  target: Target | None = None) -> dict[int, float]:
        """How likely each of `token_ids` is to come next after `prompt_ids`: one step on the
        server with vLLM's logprob_token_ids, tokens named by id ("token_id:N")."""
        if self._client is None:
            raise BackendError("not connected to the server")
        model = self.model if target is None else target.adapter or target.model
        response = await self._client.completions.create(
            model=model, prompt=list(prompt_ids), max_tokens=1, logprobs=1, stream=False,
            extra_body={"logprob_token_ids": list(token_ids), "return_tokens_as_token_ids": True})
        choices = getattr(response, "choices", None) or [None]
        tops = field_of(field_of(choices[0], "logprobs"), "top_logprobs") if choices[0] is not None else None
        found: dict[int, float] = {}
        if isinstance(tops, list) and tops and isinstance(tops[0], dict):
            for key, value in tops[0].items():
                name, _, number = str(key).partition("token_id:")
                if not name and number.isdigit() and int(number) in token_ids and _is_number(value):
                    found[int(number)] = float(value)
        return found

    async def _post_root(self, path: str, body: dict[str, Any]) -> Any:
        """POST to the server's root (vLLM's /tokenize lives beside /v1, not under it): parsed
        JSON, or None when the answer is not JSON."""
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with httpx.AsyncClient(timeout=CONNECT_TIMEOUT_S, headers=headers) as client:
                response = await client.post(server_root(self.base_url) + path, json=body)
                return response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.info("%s failed: %s", path, one_line(exc, 200))
            return None

    async def abort(self, request_id: str) -> None:
        stream = self._streams.pop(request_id, None)
        if stream is not None:
            await _close(stream)

    def _explain(self, exc: BaseException) -> str:
        import openai

        url = self.shown_url
        if isinstance(exc, openai.AuthenticationError):
            return f"{url} refused the API key (401)"
        if isinstance(exc, openai.NotFoundError):
            return f"{url}/models not found (404): is it an OpenAI-compatible server? The base URL usually ends in /v1"
        if isinstance(exc, openai.APIStatusError):
            return one_line(f"{url}: {_server_message(exc)}")
        if isinstance(exc, (openai.APITimeoutError, asyncio.TimeoutError)):
            return f"{url} did not answer within {CONNECT_TIMEOUT_S * 2:.0f} s"
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f" ({one_line(cause, 160)})" if cause is not None and str(cause) else ""
            return f"cannot reach {url}{detail}"
        if isinstance(exc, NotAServer):
            return f"{url} is not an OpenAI-compatible server: {exc}"
        if isinstance(exc, openai.APIError):
            return one_line(f"{url}: {type(exc).__name__}: {exc}")
        # The client could not make sense of the answer (a web page, an odd JSON).
        return one_line(f"{url} is not an OpenAI-compatible server: its /models answer is not a list of "
                        f"models ({type(exc).__name__})")


def source_name(shown_url: str) -> str:
    """How a server is named in targets: its host:port (and path, when not the usual /v1)."""
    parsed = urllib.parse.urlsplit(shown_url)
    path = parsed.path.rstrip("/")
    return parsed.netloc + ("" if path in ("", "/v1") else path) if parsed.netloc else shown_url


def _target_of(source: str, card: Any) -> Target:
    """A /models entry as a target: vLLM lists a LoRA module with its base model as `parent`."""
    parent = (getattr(card, "model_extra", None) or {}).get("parent") or getattr(card, "parent", None)
    if isinstance(parent, str) and parent and parent != card.id:
        return Target(source, parent, card.id)
    return Target(source, card.id)


class NotAServer(ValueError):
    """The answer to /models is not a list of models."""


def _served_models(page: Any) -> list[Any]:
    """The models of a /models answer, each with a string `id`; NotAServer when it is no such list."""
    data = getattr(page, "data", None)
    if not isinstance(data, list):
        kind = "a web page" if isinstance(page, str) and "<" in page else f"{type(page).__name__}"
        raise NotAServer(f"its /models answer is {kind}, not a list of models")
    served = [card for card in data if isinstance(getattr(card, "id", None), str) and getattr(card, "id")]
    if len(served) != len(data):
        raise NotAServer("a model in its /models answer has no id")
    return served


Piece = tuple[str, str | None, int | None, list[TokenLogprob] | None, str]


def _piece(chunk: Any, chat: bool, k: int = MAX_LOGPROBS) -> Piece | None:
    """(text, finish reason, tokens so far per the server, logprobs, reasoning) of a streamed
    chunk, or None for a chunk without a choice (the final usage-only one). TypeError when a field
    has the wrong type; malformed logprobs are dropped (None), the text kept."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return None
    if not isinstance(choices, list):
        raise TypeError("'choices' is not a list")
    choice = choices[0]
    text = (getattr(getattr(choice, "delta", None), "content", None) if chat else getattr(choice, "text", None))
    text = "" if text is None else text
    finish = getattr(choice, "finish_reason", None)
    if not isinstance(text, str):
        raise TypeError(f"the text of a chunk is {type(text).__name__}, not a string")
    reasoning = _reasoning(choice) if chat else ""
    if finish is not None and not isinstance(finish, str):
        raise TypeError(f"a finish reason is {type(finish).__name__}, not a string")
    usage = getattr(chunk, "usage", None)
    used = getattr(usage, "completion_tokens", None) if usage is not None else None
    if not isinstance(used, int) or isinstance(used, bool) or used < 0:
        used = None
    raw = getattr(choice, "logprobs", None)
    logprobs = (from_openai_chat(raw, k) if chat else from_openai_completion(raw, k)) if raw is not None else None
    if raw is not None and logprobs is None:
        log.info("a chunk's logprobs were malformed; dropped")
    return text, finish, used, logprobs, reasoning


def _reasoning(choice: Any) -> str:
    """A chat chunk's thinking: vLLM's `delta.reasoning` (with --reasoning-parser), or the older
    `delta.reasoning_content`; "" when there is none. TypeError when it is not text. (Both are
    outside the openai client's types: pydantic keeps them as extra fields.)"""
    delta = getattr(choice, "delta", None)
    reasoning = field_of(delta, "reasoning") if delta is not None else None
    if reasoning is None and delta is not None:
        reasoning = field_of(delta, "reasoning_content")
    if reasoning is None:
        return ""
    if not isinstance(reasoning, str):
        raise TypeError(f"the reasoning of a chunk is {type(reasoning).__name__}, not a string")
    return reasoning


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _ids(chunk: Any, name: str) -> list[int] | None:
    """Token ids vLLM's server sends with return_token_ids (on the choice, or on the chunk), when
    they are a list of token ids."""
    choices = getattr(chunk, "choices", None) or [None]
    for holder in (choices[0], chunk):
        value = field_of(holder, name) if holder is not None else None
        if isinstance(value, list) and all(_count(v) is not None for v in value):
            return list(value)
    return None


def _with_ids(logprobs: list[TokenLogprob] | None, ids: list[int] | None) -> list[TokenLogprob] | None:
    """The chunk's tokens with their ids, when the server sent as many ids as tokens."""
    if not logprobs or ids is None or len(ids) != len(logprobs):
        return logprobs
    return [replace(token, token_id=token_id) for token, token_id in zip(logprobs, ids)]


def _prompt_cache(chunk: Any) -> RequestTiming | None:
    """The prompt's tokens and those served from the prefix cache, when the server says (vLLM with
    --enable-prompt-tokens-details); the server reports no engine timings."""
    usage = getattr(chunk, "usage", None)
    prompt = getattr(usage, "prompt_tokens", None)
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
    if not (_count(prompt) and _count(cached) is not None and cached <= prompt):
        return None
    return RequestTiming(prompt_tokens=prompt, cached_tokens=cached)


def _usage(chunk: Any) -> dict[str, Any] | None:
    """The chunk's `usage` as the server sent it (its fields only, the ones the openai client does
    not know too: vLLM's reasoning_tokens, another server's own), as plain JSON; None when there is
    none, or when it is not an object or too large to keep (then said in the log)."""
    usage = getattr(chunk, "usage", None)
    if usage is None:
        return None
    data = usage.model_dump(mode="json", exclude_unset=True) if hasattr(usage, "model_dump") else usage
    if not isinstance(data, dict):
        log.info("a chunk's usage was %s, not an object; not kept", type(data).__name__)
        return None
    # Plain JSON, whatever the client made of it; no lone surrogate (valid JSON, not UTF-8), as in
    # any text a server sends.
    text, _ = without_surrogates(json.dumps(data, default=str, ensure_ascii=False))
    kept = json.loads(text)
    size = usage_size(kept)
    if size > USAGE_LIMIT_BYTES:
        log.info("a chunk's usage was %d bytes (more than %d); not kept", size, USAGE_LIMIT_BYTES)
        return None
    return kept


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _content_type(stream: Any) -> str | None:
    response = getattr(stream, "response", None)
    headers = getattr(response, "headers", None)
    return headers.get("content-type") if headers is not None else None


def _make_client(base_url: str, api_key: str | None, read_timeout: float) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "EMPTY", max_retries=0,
                              timeout=openai.Timeout(None, connect=CONNECT_TIMEOUT_S, read=read_timeout))


def _default(name: str) -> Any:
    from tui.engine.params import SPECS_BY_NAME

    return SPECS_BY_NAME[name].default


async def _close(stream: Any) -> None:
    try:
        await stream.close()
    except Exception:
        log.debug("closing a stream failed", exc_info=True)


_REFUSALS = ("unrecognized", "unknown", "not permitted", "unexpected", "extra", "unsupported", "not supported")


def refuses_field(exc: Any, name: str) -> bool:
    """A 400 that says the server does not know the request field `name` (OpenAI: 'Unrecognized
    request argument supplied: …'; pydantic: 'Extra inputs are not permitted'), not one about its
    value (vLLM: an invalid grammar names the field too, and is the person's to fix)."""
    text = str(exc).lower()
    return name in text and any(word in text for word in _REFUSALS)


def _server_message(exc: Any) -> str:
    """The server's own message from an error response (vLLM: {"error": {"message": …}}), safe."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
    status = getattr(exc, "status_code", None)
    if message:
        return one_line(f"{message} ({status})" if status else message)
    return one_line(exc)
