"""The in-process backend: vLLM's AsyncLLM (V1 engine), streaming RequestOutputKind.DELTA outputs."""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import logging
import re
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil

from tui.engine.params import ParamError, Sampling
from tui.engine.logprobs import from_vllm
from tui.engine.lora import EMPTY_SLOTS, adapter_problem, lora_flags, module_shapes, shape_problem
from tui.engine.root_cause import LogMark, root_cause
from tui.engine.reasoning import (ThinkingSplit, import_reasoning_plugin, reasoning_parser_named,
                                  thinking_is_the_models_choice)
from tui.engine.structured import prepare, vllm_fields
from tui.engine.stats import RecorderSource, StepRecorder, request_timing, stat_logger_factory
from tui.engine.protocol import (
    Abilities,
    BackendBase,
    BackendError,
    Delta,
    EngineDead,
    LOCAL,
    EngineState,
    ProgressCallback,
    Request,
    RequestRejected,
    StreamAccount,
    Target,
)

log = logging.getLogger(__name__)
_scores = itertools.count(1)

# After SIGTERM the workers stop within a second, but EngineCore's own interpreter teardown takes
# seconds more; vLLM force-kills what is still alive after this long (by then it holds nothing).
SHUTDOWN_TIMEOUT_S = 2.0
# How long the killed engine processes (EngineCore, its Workers) may take to be gone. They hold
# nothing worth a clean teardown (EngineCore would spend ~2 s collecting its heap): vLLM then
# cleans up without waiting for them.
PROCESSES_GONE_S = 1.0
# Quit while the engine was being built: how long its processes may take to appear and be stopped,
# and the build to give up.
BUILD_STOP_S = 10.0


class BuildAbandoned(Exception):
    """The engine's build was given up (quit while loading) before it started any process."""


class Build:
    """One build of the engine, in a thread of its own, which nothing can interrupt: importing vLLM
    takes seconds. Quitting while it imports gives it up: it starts no process afterwards, and the app
    need not wait for it. Once it has begun starting EngineCore, its processes are to be stopped."""

    def __init__(self, build, loop: asyncio.AbstractEventLoop) -> None:
        self.result: asyncio.Future[Any] = loop.create_future()
        self._build = build
        self._loop = loop
        self._lock = threading.Lock()
        self._abandoned = False
        self._spawning = False
        # A daemon thread: neither asyncio.run's end (it joins to_thread's executor) nor the
        # interpreter's waits for an import that no one needs any more.
        threading.Thread(target=self._run, name="engine-build", daemon=True).start()

    def may_spawn(self) -> None:
        """Called by the build just before it starts EngineCore: BuildAbandoned once given up."""
        with self._lock:
            if self._abandoned:
                raise BuildAbandoned("quit while loading")
            self._spawning = True

    def abandon(self) -> bool:
        """Give the build up; True if it has started no process and never will (then whoever
        awaits its result gets BuildAbandoned now)."""
        with self._lock:
            self._abandoned = True
            if self._spawning:
                return False
        _settle(self.result, None, BuildAbandoned("quit while loading"))
        return True

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    def _run(self) -> None:
        try:
            engine, error = self._build(self), None
        except BaseException as exc:  # handed to the loop, which raises it in start()
            engine, error = None, exc
        try:
            self._loop.call_soon_threadsafe(_settle, self.result, engine, error)
        except RuntimeError:  # the loop is closed: the app has quit; nothing waits for this build
            pass


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class VLLMBackend(BackendBase):
    """One AsyncLLM in this process (its EngineCore and Worker run as child processes)."""

    name = "vllm"
    source = LOCAL  # its targets' source
    abilities = Abilities(scoring=True, adapters=True, metrics=True)

    def __init__(self, engine_argv: list[str] | None = None, model: str | None = None,
                 engine_args: Any = None, adapters: dict[str, str] | None = None,
                 log_path: Path | None = None) -> None:
        """Engine flags as argv (parsed by vLLM's parser at start) or as ready AsyncEngineArgs;
        `adapters` are LoRA adapters by name (folder paths), which turn on vLLM's LoRA flags;
        `log_path`: the file vLLM's processes log to, where the reason for a failed start is."""
        self.adapters = dict(adapters or {})
        self.log_path = log_path
        argv = list(engine_argv or [])
        self.engine_argv = argv + lora_flags(self.adapters, argv)
        self._engine_args = engine_args
        self._model_fallback = model
        self.model = _model_in(argv) or model or "(model)"
        self.max_lora_rank: int | None = None  # None: the engine serves no adapters
        self.max_loras = 0  # the engine's adapter slots (--max-loras)
        self._lost_slots = 0  # slots left taken by adapters that failed while loading (tui/engine/lora.py)
        self._module_shapes: dict[str, tuple[int, int]] | None = None
        self._lora_ids = {name: number for number, name in enumerate(self.adapters, 1)}
        self._loaded: set[str] = set()  # adapters the engine has loaded
        self.state = EngineState.STOPPED
        self.error: str | None = None
        self.has_chat_template = False
        # The parser `--reasoning-parser` names, as (name, class): each stream's thinking is split from
        # its text with it (tui/engine/reasoning.py); None: no thinking to split.
        self.reasoning_parser: tuple[str, type] | None = None
        # The parser reads text without its markers as answer text (reasoning.thinking_is_the_models_choice):
        # a request with an output format is then held to it from its first token.
        self._format_from_first_token = False
        self._tokenizer: Any = None
        self.logprobs_mode: str | None = "raw_logprobs"  # vLLM's default; read from the engine at start
        self._engine: Any = None
        self._pids_before: set[int] = set()
        # EngineCore and Workers, as found once the engine is up: a Worker whose EngineCore died
        # is no longer our descendant, but is still ours to stop.
        self._started: list[psutil.Process] = []
        self._build: Build | None = None
        self._max_model_len: int | None = None
        self._lock = asyncio.Lock()
        # The benchmark's same work for every run: each request writes exactly max_tokens
        # (vLLM's ignore_eos), so that the app and raw consumers are compared on equal answers.
        self.fixed_length = False
        self.recorder = StepRecorder()  # the engine's figures, from the stat logger (X-ray panel)
        self.stats = RecorderSource(self.recorder, self.running_requests)

    # -- life cycle -----------------------------------------------------------------------
    @property
    def max_model_len(self) -> int | None:
        return self._max_model_len

    async def start(self, on_progress: ProgressCallback | None = None) -> None:
        def report(state: EngineState, text: str) -> None:
            if build is not None and build.abandoned:
                return  # an abandoned build still importing vLLM (restart while loading) has no say
            self.state = state
            if on_progress is not None:
                on_progress(state, text)

        build: Build | None = None
        async with self._lock:
            if self._engine is not None:
                return
            self.error = None
            report(EngineState.LOADING, "importing vLLM")
            self._pids_before = {p.pid for p in psutil.Process().children(recursive=True)}
            log_mark = LogMark(self.log_path) if self.log_path is not None else None
            # A thread cannot be interrupted: if we are cancelled (quit while loading), the build
            # goes on and shutdown() deals with what it leaves.
            build = self._build = Build(functools.partial(self._build_engine, report=report),
                                        asyncio.get_running_loop())
            try:
                engine = await asyncio.shield(build.result)
            except asyncio.CancelledError:
                raise
            except BuildAbandoned:
                return  # shutdown() gave it up (quit while loading)
            except BackendError as exc:
                self.error = str(exc)
                log.error("engine failed to start: %s", exc)
                self._reap_children()
                report(EngineState.ERROR, self.error)
                raise
            except Exception as exc:  # vLLM raises many kinds of errors while loading
                log.exception("engine failed to start")
                message = _first_line(exc) or type(exc).__name__
                self.error = root_cause(message, log_mark) or message
                self._reap_children()
                report(EngineState.ERROR, self.error)
                raise BackendError(f"engine failed to start: {self.error}") from exc
            finally:
                if self._build is build and build.result.done():
                    self._build = None
            self._engine = engine
            self._started = self._engine_processes()
            # torch and vLLM leave millions of long-lived objects in this process; a full GC pass
            # over them stalls the event loop (and the UI) for hundreds of ms. Park them.
            gc.freeze()
            report(EngineState.READY, f"{self.model} ready")

    def _build_engine(self, build: Build, report: ProgressCallback) -> Any:
        from tui.engine.engine_args import build_engine_args

        args = self._engine_args or build_engine_args(self.engine_argv, model=self._model_fallback)
        self.model = str(args.model)
        report(EngineState.LOADING, f"loading {self.model}")

        from vllm.v1.engine.async_llm import AsyncLLM

        import_reasoning_plugin(args)

        t0 = time.perf_counter()
        self.recorder = self.stats.recorder = StepRecorder()  # a new engine counts from 0
        build.may_spawn()
        engine = AsyncLLM.from_engine_args(args, stat_loggers=[stat_logger_factory(self.recorder)])
        log.info("engine ready in %.1f s (children %s)", time.perf_counter() - t0,
                 self.child_pids())
        self._max_model_len = int(engine.model_config.max_model_len)
        self.logprobs_mode = str(getattr(engine.model_config, "logprobs_mode", "raw_logprobs"))
        lora_config = getattr(engine.vllm_config, "lora_config", None)
        self.max_lora_rank = int(lora_config.max_lora_rank) if lora_config is not None else None
        self.max_loras = int(lora_config.max_loras) if lora_config is not None else 0
        self._module_shapes = _module_shapes(engine.model_config)
        self._lost_slots = 0
        self._loaded.clear()
        try:
            tokenizer = engine.get_tokenizer()
            self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        except Exception:  # a model without tokenizer (skip_tokenizer_init) streams token ids
            tokenizer = None
            self.has_chat_template = False
        self._tokenizer = tokenizer
        self.reasoning_parser = reasoning_parser_named(engine) if tokenizer is not None else None
        self._format_from_first_token = self.reasoning_parser is not None and thinking_is_the_models_choice(
            self.reasoning_parser[1], tokenizer)
        return engine

    async def shutdown(self) -> None:
        build, self._build = self._build, None
        if build is not None and not build.result.done():
            engine = await self._stop_build(build)
            if engine is not None:
                self._engine = engine
        async with self._lock:
            engine, self._engine = self._engine, None
            if engine is not None:
                # Stop reading outputs first, or the handler reports the engine's exit as a death.
                handler = getattr(engine, "output_handler", None)
                if handler is not None:
                    handler.cancel()
                # EngineCore and its Worker hold nothing to save: they are stopped at once, and vLLM
                # then cleans up without waiting for them.
                processes_gone = await asyncio.to_thread(self._kill_engine_processes)
                try:
                    await asyncio.to_thread(engine.shutdown, 0.0 if processes_gone else SHUTDOWN_TIMEOUT_S)
                except Exception:
                    log.exception("engine shutdown raised")
                # AsyncLLM.__del__ shuts down again, and at interpreter exit (module globals gone)
                # that raises "Exception ignored in AsyncLLM.__del__". It is shut down now: disarm it.
                engine.__class__ = _shut_down_class(type(engine))
            self._reap_children()
            if self.state is not EngineState.ERROR:
                self.state = EngineState.STOPPED

    async def _stop_build(self, build: Build) -> Any:
        """Quit while loading. A build still importing vLLM is given up and left to end with the
        process. One that has begun starting EngineCore has its processes stopped as they appear,
        which makes it fail; the engine, if it was ready all the same."""
        if build.abandon():
            log.info("quit while loading: the engine's build is given up before it started any process")
            build.result.exception()  # BuildAbandoned, seen here: start() may have been cancelled
            return None
        deadline = time.monotonic() + BUILD_STOP_S
        while not build.result.done() and time.monotonic() < deadline:
            await asyncio.to_thread(self._reap_children, 0.5)
            await asyncio.wait([build.result], timeout=0.1)
        if not build.result.done() or build.result.cancelled() or build.result.exception() is not None:
            return None
        return build.result.result()

    async def restart(self, on_progress: ProgressCallback | None = None) -> None:
        await self.shutdown()
        self.state = EngineState.STOPPED
        await self.start(on_progress)

    def _engine_processes(self) -> list[psutil.Process]:
        """Processes of the engine that are alive: those started since start() began (EngineCore,
        Workers; not the resource tracker), and those found at start that have been orphaned."""
        try:
            children = psutil.Process().children(recursive=True)
        except psutil.Error:
            children = []
        found = {p.pid: p for p in self._started if _alive(p)}  # is_running checks it is the same process
        for p in children:
            if p.pid not in self._pids_before and p.pid not in found and not _is_resource_tracker(p) and _alive(p):
                found[p.pid] = p
        return list(found.values())

    def _kill_engine_processes(self) -> bool:
        """Kill EngineCore, then its Workers; True once they are gone (within PROCESSES_GONE_S).

        EngineCore first: a Worker killed before it was reported by EngineCore as "died
        unexpectedly", with a 40-line traceback at every quit that read as a crash. Killed first,
        EngineCore reports nothing; vLLM's client says only that it exited."""
        processes = sorted(self._engine_processes(), key=lambda proc: "Worker" in _name(proc))
        for proc in processes:
            try:
                proc.kill()
            except psutil.Error:
                pass
        if processes:
            log.info("shutting down: stopped the engine's processes on purpose (pids %s); vLLM's next "
                     "lines may call it an unexpected exit", ", ".join(str(proc.pid) for proc in processes))
        # Not psutil.wait_procs: a Worker is EngineCore's child, a zombie until it is reaped.
        deadline = time.monotonic() + PROCESSES_GONE_S
        while any(_alive(proc) for proc in processes):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _reap_children(self, timeout: float = 3.0) -> None:
        """Make sure every process the engine started is gone (vLLM usually does this itself)."""
        alive = self._engine_processes()
        for proc in alive:
            try:
                proc.terminate()
            except psutil.Error:
                pass
        _, still = psutil.wait_procs(alive, timeout=timeout)
        for proc in still:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(still, timeout=timeout)

    def child_pids(self) -> list[int]:
        return [p.pid for p in self._engine_processes()]

    # -- requests -------------------------------------------------------------------------
    def _require_engine(self) -> Any:
        engine = self._engine
        if engine is None:
            if self.state is EngineState.ERROR:
                raise EngineDead(f"engine is not running: {self.error}")
            raise BackendError("engine is not running")
        if engine.errored:
            self.state = EngineState.ERROR
            self.error = "the engine died"
            raise EngineDead("the engine died; restart it")
        return engine

    def sampling_params(self, sampling: Sampling) -> Any:
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        # Flat logprobs: a few lists per output instead of a dict and objects per token (vLLM's own
        # advice for less garbage collection).
        return SamplingParams(**sampling.request_values, output_kind=RequestOutputKind.DELTA,
                              logprobs=sampling.logprobs or None, flat_logprobs=bool(sampling.logprobs),
                              ignore_eos=self.fixed_length, structured_outputs=structured_outputs(sampling))

    @property
    def engine(self) -> Any:
        """The AsyncLLM itself (None until started): for callers that measure the engine alone,
        with `engine_input` and `sampling_params` making their requests as the app's are made."""
        return self._engine

    async def engine_input(self, request: Request) -> Any:
        """The request's prompt as the engine takes it (chat template, raw text or token ids)."""
        return await self._render(self._require_engine(), request)

    async def _render(self, engine: Any, request: Request) -> Any:
        renderer = engine.renderer
        if request.prompt_ids is not None:
            (engine_input,) = await renderer.render_cmpl_async([{"prompt_token_ids": list(request.prompt_ids)}])
        elif request.chat and self.has_chat_template:
            from vllm.renderers.params import ChatParams

            # As vLLM's server and LLM.chat do: open the assistant's turn, or the model writes it itself.
            params = ChatParams(chat_template_kwargs={"add_generation_prompt": True,
                                                      **request.sampling.template_kwargs})
            _, (engine_input,) = await renderer.render_chat_async([list(request.messages)], params)
        else:
            (engine_input,) = await renderer.render_cmpl_async([{"prompt": request.text()}])
        return engine_input

    # -- targets and adapters ---------------------------------------------------------------
    def targets(self) -> list[Target]:
        return [Target(LOCAL, self.model), *(Target(LOCAL, self.model, name) for name in self.adapters)]

    def add_adapter(self, name: str, path: str) -> Target:
        """Name another adapter (the palette's 'Load LoRA adapter'); it loads with its first request."""
        self.adapters[name] = path
        self._loaded.discard(name)
        self._lora_ids.setdefault(name, max(self._lora_ids.values(), default=0) + 1)
        return Target(LOCAL, self.model, name)

    async def load_adapter(self, name: str, path: str) -> Target:
        """Name an adapter and load it into the running engine now (AsyncLLM.add_lora); BackendError
        with the reason when it does not load (it is not kept then)."""
        known = self.adapters.get(name)
        target = self.add_adapter(name, path)
        try:
            await self.lora_request(self._require_engine(), name)
        except BackendError:
            if known is None:
                del self.adapters[name]
            else:
                self.adapters[name] = known
            raise
        return target

    async def remove_adapter(self, name: str) -> None:
        """Forget an adapter and unload it from the engine (its slot is free again); panes that
        name it say so when they run."""
        self.adapters.pop(name, None)
        if name in self._loaded:
            self._loaded.discard(name)
            engine = self._engine
            if engine is not None and not engine.errored:
                await engine.remove_lora(self._lora_ids[name])

    async def lora_request(self, engine: Any, adapter: str | None) -> Any:
        """The LoRARequest for `adapter` (None for the base model), loaded into the engine the first
        time; RequestRejected with the reason when it cannot be (that request fails, no other)."""
        if adapter is None:
            return None
        from vllm.lora.request import LoRARequest

        path = self.adapters.get(adapter)
        if path is None:
            raise RequestRejected(f"no adapter named {adapter!r} (start with --lora {adapter}=PATH)")
        if self.max_lora_rank is None:
            raise RequestRejected("the engine was started without LoRA: name adapters with --lora NAME=PATH")
        request = LoRARequest(adapter, self._lora_ids[adapter], str(Path(path).resolve()))
        if adapter not in self._loaded:
            room = self.max_loras - EMPTY_SLOTS - self._lost_slots
            problem = (adapter_problem(path, self.max_lora_rank) or shape_problem(path, self._module_shapes)
                       or (None if len(self._loaded) < room else (
                           f"the engine holds {room} adapter(s) ({', '.join(sorted(self._loaded)) or 'none'}); "
                           "start it with more --max-loras (one of its slots stays empty, see tui/engine/lora.py)")))
            if problem is None:
                try:
                    await engine.add_lora(request)
                except Exception as exc:  # vLLM's reason (bad weights), for this pane
                    self._lost_slots += 1  # the slot it was being copied into stays taken
                    problem = _clean(exc)
            if problem is not None:
                raise RequestRejected(f"adapter {adapter} did not load: {problem}")
            self._loaded.add(adapter)
        return request

    # -- requests (continued) ---------------------------------------------------------------
    async def stream(self, request: Request) -> AsyncIterator[Delta]:
        from vllm.exceptions import VLLMValidationError
        from vllm.v1.engine.exceptions import EngineDeadError

        engine = self._require_engine()
        account = StreamAccount()
        target, sampling = request.target, request.sampling
        if target is not None:
            target.check_source(LOCAL)
        lora = await self.lora_request(engine, None if target is None else target.adapter)
        await prepare(sampling.output_format, load_xgrammar=True)
        try:
            sampling.check_context(self._max_model_len)
            params = self.sampling_params(sampling)
            engine_input = await self._render(engine, request)
        except (ParamError, VLLMValidationError, ValueError) as exc:
            raise RequestRejected(_too_long(exc) or _clean(exc)) from exc
        k = sampling.logprobs
        split = self.thinking_split(sampling)
        # As vLLM's server: the engine's own parser (thinking_token_budget, structured outputs) sees
        # the chat template's switches too.
        reasoning_kwargs = {"reasoning_parser_kwargs": {"chat_template_kwargs": sampling.template_kwargs}} \
            if split is not None and sampling.template_kwargs else {}
        if self._format_from_first_token and not sampling.output_format.is_free \
                and sampling.template_kwargs.get("enable_thinking") is not True:
            # Thinking switched on says the target thinks: the format waits for its `</think>`.
            reasoning_kwargs["reasoning_ended"] = True
        try:
            async for output in engine.generate(engine_input, params, request.request_id, lora_request=lora,
                                                **reasoning_kwargs):
                completion = output.outputs[0]
                ids = completion.token_ids
                text, reasoning = completion.text, ""
                if split is not None:
                    split.after_prompt(output.prompt_token_ids)
                    reasoning, text = split.feed(text, ids)
                    if output.finished:
                        held_reasoning, held_text = split.end()
                        reasoning, text = reasoning + held_reasoning, text + held_text
                yield account.delta(text, completion.finish_reason if output.finished else None,
                                    new_tokens=len(ids), timing=request_timing(output),
                                    logprobs=from_vllm(ids, completion.logprobs, k) if k else None,
                                    prompt_ids=output.prompt_token_ids, reasoning=reasoning,
                                    thought_tokens=split.thought_tokens if split is not None else None)
        except EngineDeadError as exc:
            self.state = EngineState.ERROR
            self.error = "the engine died"
            raise EngineDead("the engine died; restart it") from exc
        except (VLLMValidationError, ValueError) as exc:
            raise RequestRejected(_too_long(exc) or _clean(exc)) from exc

    def thinking_split(self, sampling: Sampling) -> ThinkingSplit | None:
        """A new stream's splitter (a parser may keep state per request, and reads the chat
        template's switches as vLLM's server gives them), or None without a parser."""
        if self.reasoning_parser is None:
            return None
        return ThinkingSplit(self.reasoning_parser[1](self._tokenizer,
                                                      chat_template_kwargs=sampling.template_kwargs))

    async def next_token_logprobs(self, prompt_ids: list[int], token_ids: list[int],
                                  target: Target | None = None) -> dict[int, float]:
        """How likely each of `token_ids` is to come next after `prompt_ids` (vLLM's
        logprob_token_ids, one step of generation), by the target's model: {token id: logprob}."""
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        engine = self._require_engine()
        lora = await self.lora_request(engine, None if target is None else target.adapter)
        params = SamplingParams(max_tokens=1, logprob_token_ids=list(token_ids), detokenize=False,
                                output_kind=RequestOutputKind.FINAL_ONLY)
        (engine_input,) = await engine.renderer.render_cmpl_async([{"prompt_token_ids": list(prompt_ids)}])
        final = None
        async for output in engine.generate(engine_input, params, f"score-{next(_scores)}", lora_request=lora):
            final = output.outputs[0]
        position = (final.logprobs or [None])[0] if final is not None else None
        if not position:
            return {}
        return {tid: float(position[tid].logprob) for tid in token_ids if tid in position}

    async def abort(self, request_id: str) -> None:
        engine = self._engine
        if engine is not None and not engine.errored:
            await engine.abort(request_id)

    def running_requests(self) -> int:
        engine = self._engine
        return 0 if engine is None else engine.get_num_unfinished_requests()


def structured_outputs(sampling: Sampling) -> Any:
    """vLLM's StructuredOutputsParams for the sampling's output format (None: free text)."""
    fmt = sampling.output_format
    if fmt.is_free:
        return None
    from vllm.sampling_params import StructuredOutputsParams

    return StructuredOutputsParams(**vllm_fields(fmt))


def _module_shapes(model_config: Any) -> dict[str, tuple[int, int]] | None:
    """The model's projection shapes (Llama-style names), or None when its config does not say."""
    config = getattr(model_config, "hf_text_config", None) or getattr(model_config, "hf_config", None)
    try:
        hidden, heads = int(config.hidden_size), int(config.num_attention_heads)
        head_dim = int(getattr(config, "head_dim", None) or hidden // heads)
        return module_shapes(hidden, int(config.intermediate_size), heads,
                             int(getattr(config, "num_key_value_heads", None) or heads), head_dim)
    except (AttributeError, TypeError, ValueError):
        return None


def _model_in(argv: list[str]) -> str | None:
    """The model an engine command line names (--model M or --model=M), if any."""
    for index, arg in enumerate(argv):
        if arg == "--model" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--model="):
            return arg.split("=", 1)[1]
    return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@functools.cache
def _shut_down_class(cls: type) -> type:
    return type(f"ShutDown{cls.__name__}", (cls,), {"__del__": lambda self: None})


def _name(proc: psutil.Process) -> str:
    try:
        return proc.name()
    except psutil.Error:
        return ""


def _is_resource_tracker(proc: psutil.Process) -> bool:
    """multiprocessing's resource tracker is shared, ignores SIGTERM and exits with this process."""
    try:
        return any("resource_tracker" in part for part in proc.cmdline())
    except psutil.Error:
        return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


# How vLLM says a prompt does not fit, and how many tokens each message says it has: its renderer
# counts tokens ("contains at least 2049 input tokens" when it stopped counting), or, for a text
# too long to be worth tokenizing, characters (then it is more than the context's tokens); its
# input processor gives the length.
_TOO_LONG = (
    (re.compile(r"maximum context length is (?P<limit>\d+) tokens\. However, your prompt contains "
                r"(?P<at_least>at least )?(?P<needed>\d+) input tokens"), ""),
    (re.compile(r"maximum context length is (?P<limit>\d+) tokens\. However, your prompt contains \d+ "
                r"characters \(more than \d+ characters, which is the upper bound for (?P<needed>\d+) input tokens"),
     "more than "),
    (re.compile(r"prompt \(length (?P<needed>\d+)\)[^.]*? maximum model length of (?P<limit>\d+)"), ""),
)


def _too_long(exc: BaseException) -> str | None:
    """A conversation longer than the model's context, said with the numbers (vLLM: 'This model's
    maximum context length is 2048 tokens. However, your prompt contains 2100 input tokens')."""
    for pattern, qualifier in _TOO_LONG:
        found = pattern.search(str(exc))
        if found is not None:
            break
    else:
        return None
    qualifier = qualifier or found.groupdict().get("at_least") or ""
    needed, limit = int(found.group("needed")), int(found.group("limit"))
    return (f"the conversation is {qualifier}{needed:,} tokens and the answer needs room too, but the model's "
            f"context is {limit:,} tokens (--max-model-len): nothing was dropped; start a new thread "
            "or branch from an earlier message")


def _clean(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:300]


