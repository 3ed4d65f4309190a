"""An OpenAI-compatible server that misbehaves on request, on loopback, for the fault tests.

The path's first part picks how `/v1/models` answers (`/ok/v1`, `/inject/v1`, `/html/v1`,
`/redirect/v1`, `/slow-models/v1`; `/openai/v1` answers as OpenAI's API does: a 400 for a request
field it does not know, such as vLLM's `structured_outputs`); a prompt that starts with
`fault:NAME` picks how its completion
streams (see `STREAMS`). Anything else streams a short, well-formed answer with vLLM's continuous
usage statistics. It runs in a thread of its own (its own event loop), so that the app under test,
in the test's loop or in a subprocess, talks to it as to any server.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

from aiohttp import web

from bench.fault_thinking import THINKING
from bench.fault_usage import CLOSING

ESCAPES = "\x1b]0;pwned\x07\x1b[2J"  # set the terminal's title, clear the screen
MODEL = "fault-model"
WORDS = 12
HUGE = 10 * 2**20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chunk(request_kind: str, text, index: int, finish: str | None = None) -> dict:
    choice: dict = {"index": 0, "finish_reason": finish}
    if request_kind == "chat":
        choice["delta"] = {"content": text} if text is not None else {}
    else:
        choice["text"] = text
    return {"id": "cmpl-fault", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
            "choices": [choice],
            "usage": {"prompt_tokens": 3, "completion_tokens": index, "total_tokens": 3 + index,
                      "prompt_tokens_details": {"cached_tokens": 2}}}


def _data(payload) -> bytes:
    return b"data: " + (payload if isinstance(payload, bytes) else json.dumps(payload).encode()) + b"\n\n"


class FaultServer:
    def __init__(self) -> None:
        self.port = _free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []  # the fault names of the completions asked for
        self.bodies: list[dict] = []  # the completion requests as sent (the messages, the prompt)
        # What /ok/metrics reports, as vLLM's server names it (set by tests); see _metrics.
        self.figures: dict[str, float] = dict(DEFAULT_FIGURES)
        self.metrics_asked = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def url(self, mode: str = "ok") -> str:
        return f"{self.root}/{mode}/v1"

    def start(self) -> FaultServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault server did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- serving ------------------------------------------------------------------------------------
    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=2**20)
        app.router.add_get("/{mode}/v1/models", self._models)
        app.router.add_post("/{mode}/v1/chat/completions", self._chat)
        app.router.add_post("/{mode}/v1/completions", self._completion)
        app.router.add_get("/{mode}/metrics", self._metrics)
        # Its stalling faults never end on their own: on stop, cut them after a second (aiohttp
        # waits 60 s for open requests, and the stop gave up after 10 s with every stall open).
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    async def _models(self, request: web.Request) -> web.StreamResponse:
        mode = request.match_info["mode"]
        if mode == "html":
            return web.Response(text="<html><body><h1>It works!</h1></body></html>", content_type="text/html")
        if mode == "redirect":
            raise web.HTTPFound(f"{self.root}/ok/v1/models")
        if mode == "slow-models":
            await asyncio.sleep(3600)
        name = f"evil{ESCAPES}model" if mode == "inject" else MODEL
        return web.json_response({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "tests", "max_model_len": 2048}]})

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        """Modes: ok (vLLM's figures from `figures`, written by prometheus_client itself), inject
        (escapes in a label and a help text), html (a web page), other (no vLLM figures), garbage (not Prometheus text),
        huge (9 MB); any other mode has no /metrics (404)."""
        self.metrics_asked += 1
        mode = request.match_info["mode"]
        if mode in ("ok", "inject"):
            return web.Response(body=prometheus_text(self.figures, inject=mode == "inject"),
                                content_type="text/plain")
        if mode == "html":
            return web.Response(text="<html><body><h1>It works!</h1></body></html>", content_type="text/html")
        if mode == "other":  # a server with figures of its own, none of vLLM's
            return web.Response(text="# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 1.5\n",
                                content_type="text/plain")
        if mode == "garbage":
            return web.Response(text='vllm:num_requests_running{model_name="m" 3\n}}}\n', content_type="text/plain")
        if mode == "huge":
            return web.Response(body=b"# " + b"x" * (9 * 1024 * 1024) + b"\n", content_type="text/plain")
        raise web.HTTPNotFound()

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        unknown = _unknown_to_openai(body) if request.match_info["mode"] == "openai" else None
        if unknown:
            return _unrecognized(unknown)
        prompt = body["messages"][-1]["content"]
        return await self._complete(request, "chat", prompt)

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        unknown = _unknown_to_openai(body) if request.match_info["mode"] == "openai" else None
        if unknown:
            return _unrecognized(unknown)
        prompt = body["prompt"]  # text, or token ids (a fork): those ask for no fault
        return await self._complete(request, "completion", prompt if isinstance(prompt, str) else "")

    async def _complete(self, request: web.Request, kind: str, prompt: str) -> web.StreamResponse:
        fault = prompt.split()[0][len("fault:"):] if prompt.startswith("fault:") else "ok"
        if request.match_info["mode"] == "redirected":
            fault = "ok"  # where a redirect leads: a well-formed answer
        self.requests.append(fault)
        if request.match_info["mode"] == "html" or fault == "html":
            return web.Response(text="<html><body>Bad gateway, but 200</body></html>", content_type="text/html")
        if fault == "error400":
            return web.json_response({"object": "error", "message": f"bad request {ESCAPES}end",
                                      "type": "BadRequestError", "code": 400}, status=400)
        if fault == "redirect":  # 307 keeps the method and body, as a proxy in front of a server does
            raise web.HTTPTemporaryRedirect(
                f"{self.root}/redirected/v1/{'chat/completions' if kind == 'chat' else 'completions'}")
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await STREAMS.get(fault, _well_formed)(response, kind)
        return response


OPENAI_FIELDS = {"model", "messages", "prompt", "stream", "stream_options", "temperature", "top_p", "seed",
                 "max_tokens", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
                 "response_format", "n", "stop"}


def _unknown_to_openai(body: dict) -> str | None:
    """The first field of a request OpenAI's API would not know (it ignores nothing: it refuses)."""
    for name in body:
        if name not in OPENAI_FIELDS:
            return name
    for name in body.get("stream_options") or {}:
        if name != "include_usage":
            return name
    return None


def _unrecognized(name: str) -> web.Response:
    return web.json_response({"error": {"message": f"Unrecognized request argument supplied: {name}",
                                         "type": "invalid_request_error", "param": None, "code": None}}, status=400)


DEFAULT_FIGURES = {"running": 3, "waiting": 2, "kv": 0.25, "blocks": 400, "prompt_tokens": 100,
                   "generation_tokens": 1000, "steps": 50, "prefix_queries": 200, "prefix_hits": 50,
                   "preemptions": 0}


def prometheus_text(figures: dict[str, float], inject: bool = False) -> bytes:
    """vLLM's /metrics names with these values, in the exposition format prometheus_client writes."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    labels = ["model_name", "engine"]
    model = f"evil{ESCAPES}" if inject else MODEL

    def gauge(name: str, value: float, help_text: str = "a gauge") -> None:
        Gauge(name, help_text, labels, registry=registry).labels(model, "0").set(value)

    def counter(name: str, value: float) -> None:
        Counter(name, "a counter", labels, registry=registry).labels(model, "0").inc(value)

    gauge("vllm:num_requests_running", figures["running"], f"running {ESCAPES}" if inject else "running")
    gauge("vllm:num_requests_waiting", figures["waiting"])
    gauge("vllm:kv_cache_usage_perc", figures["kv"])
    info = Gauge("vllm:cache_config_info", "cache config", ["num_gpu_blocks", "block_size"], registry=registry)
    info.labels(str(int(figures["blocks"])), "16").set(1)
    counter("vllm:prompt_tokens", figures["prompt_tokens"])
    counter("vllm:generation_tokens", figures["generation_tokens"])
    counter("vllm:prefix_cache_queries", figures["prefix_queries"])
    counter("vllm:prefix_cache_hits", figures["prefix_hits"])
    counter("vllm:num_preemptions", figures["preemptions"])
    steps = Histogram("vllm:iteration_tokens_total", "tokens per step", labels, buckets=(1, 8, 64),
                      registry=registry).labels(model, "0")
    for _ in range(int(figures["steps"])):
        steps.observe(4)
    return generate_latest(registry)


async def _words(response: web.StreamResponse, kind: str, count: int = WORDS) -> None:
    for index in range(1, count + 1):
        await response.write(_data(_chunk(kind, f"word{index} ", index)))
        await asyncio.sleep(0.005)


async def _end(response: web.StreamResponse, kind: str, index: int = WORDS) -> None:
    await response.write(_data(_chunk(kind, "", index, finish="stop")))
    await response.write(b"data: [DONE]\n\n")


async def _well_formed(response, kind):
    await _words(response, kind)
    await _end(response, kind)


async def _surrogate(response, kind):
    await _words(response, kind, 3)
    # Valid JSON whose string holds a lone surrogate: not encodable as UTF-8.
    await response.write(b'data: ' + json.dumps(_chunk(kind, "X", 4)).replace('"X"', '"half \\ud83d emoji"').encode()
                         + b"\n\n")
    await _end(response, kind, 4)


async def _number(response, kind):
    await _words(response, kind, 3)
    await response.write(_data(_chunk(kind, 12345, 4)))
    await _end(response, kind, 4)


async def _garbage(response, kind):
    await _words(response, kind, 3)
    await response.write(b"data: xyz\n\n")
    await _end(response, kind, 3)


async def _error_event(response, kind):
    await _words(response, kind, 3)
    await response.write(_data({"error": {"message": f"the model broke {ESCAPES}", "type": "InternalError",
                                          "code": 500}}))


async def _huge(response, kind):
    await _words(response, kind, 2)
    await response.write(_data(_chunk(kind, "x" * HUGE, 3)))
    await _end(response, kind, 3)


async def _quiet(response, kind):
    await _words(response, kind, 3)
    await asyncio.sleep(3600)  # connection open, nothing more sent


async def _inject(response, kind):
    await _words(response, kind, 2)
    await response.write(_data(_chunk(kind, f"model says {ESCAPES}", 3)))
    await _end(response, kind, 3)


STREAMS = {"surrogate": _surrogate, "number": _number, "garbage": _garbage, "error_event": _error_event,
           "huge": _huge, "quiet": _quiet, "inject": _inject, **CLOSING, **THINKING}


if __name__ == "__main__":  # a server to try the app against by hand: python -m tests.support.fault_server
    server = FaultServer().start()
    print(f"serving on {server.url('ok')} (and /inject/v1, /html/v1, /redirect/v1); prompts 'fault:NAME' "
          f"with NAME in {', '.join(sorted(STREAMS) + ['error400', 'html', 'redirect'])}")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        server.stop()
