"""`vllm-panes --headless`: stream prompts to the terminal, like vLLM's async_llm_streaming example."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from tui import exit_codes
from tui.core.conversation import ASSISTANT, USER, Conversation
from tui.core.pane_state import request_for
from tui.core.run import Run, new_reply
from tui.engine.logprobs import TokenLogprob, mean_logprob, mode_label, perplexity
from tui.engine.params import Sampling
from tui.engine.protocol import Backend, BackendError, EngineDead, RequestRejected, Target
from tui.figures import DONE, STREAMING, Figures, snapshot_line
from tui.lifecycle import run_with_backend
from tui.terminal import Terminal
from tui.text import one_line, printable, token_text

REFERENCE_PROMPTS = (
    "The future of artificial intelligence is",
    "In a galaxy far, far away",
    "The key to happiness is",
)


async def run_headless(
    backend: Backend, prompts: list[str], sampling: Sampling, term: Terminal, stats: bool = False,
    targets: list[Target] | None = None, then: list[str] | None = None, history: Any = None,
) -> int:
    """Each prompt on each target (--target, repeatable; none: the backend's own model); with
    `then` (--then, repeatable), a conversation: each message sent after the answer before it.
    `history`: a store each answer is recorded in (a prompt's answers on every target together)."""
    recorder = _Recorder(history, backend)
    out, err = term.out, term.err
    then = list(then or [])
    if not prompts:
        # The reference example, as it runs: its prompts go to the engine as they are, without the
        # chat template, so that its answers are the reference script's, byte for byte.
        prompts = list(REFERENCE_PROMPTS)
        sampling = replace(sampling, chat_template=False)

    async def body() -> int:
        failures = 0
        raw = "" if sampling.chat_template else ", raw prompts (no chat template)"
        runs = [(prompt, target) for prompt in prompts for target in targets or [None]]
        turns = f", {len(then) + 1} turns each" if then else ""
        print(f"Running {len(runs)} streaming example(s){turns} with {sampling.summary()}{raw}", file=out)
        if sampling.logprobs:
            print(f"Logprobs: top {sampling.logprobs} per token, {mode_label(backend.logprobs_mode)}", file=out)
        if not sampling.output_format.is_free:
            print(f"Output format: {one_line(sampling.output_format.describe(), 400)}", file=out)
        for index, (prompt, target) in enumerate(runs, 1):
            print(f"\n{'=' * 60}\nExample {index}/{len(runs)}\n{'=' * 60}", file=out)
            if target is not None:
                print(f"Target: {printable(target.label)}", file=out)
            conversation = Conversation()
            question = conversation.add(None, USER, prompt)
            for turn, message in enumerate([prompt, *then], 1):
                if turn > 1:
                    question = conversation.add(conversation.last(), USER, message)
                label = "Prompt" if turn == 1 else f"Turn {turn}"
                print(f"{label}: {printable(message)!r}", file=out)
                answer = conversation.add(question, ASSISTANT, reply=new_reply(sampling, target, STREAMING))
                request = request_for(conversation, answer, sampling, f"headless-{index}-{turn}", target)
                try:
                    await stream_to(backend, Run(answer, request), out)
                except EngineDead as exc:
                    recorder.record(conversation, answer, (prompt, turn))
                    print(f"\nvllm-panes: {one_line(exc)}", file=err)
                    return exit_codes.FAILED
                except BackendError as exc:  # this request failed; the others may not
                    recorder.record(conversation, answer, (prompt, turn))
                    failures += 1
                    kind = "Rejected" if isinstance(exc, RequestRejected) else "Failed"
                    print(f"\n{kind}: {one_line(exc)}", file=out)
                    break
                recorder.record(conversation, answer, (prompt, turn))
                figures = answer.reply.figures
                print(f"\nGeneration complete: {figures.line(with_state=False)}", file=out)
                if answer.reply.verdict is not None:
                    print(f"Format: {one_line(answer.reply.verdict.shown, 400)}", file=out)
                if stats:
                    print(f"In the engine: {engine_line(figures)}", file=out)
                if sampling.logprobs:
                    print_logprobs(answer.reply.tokens.tokens, out)
        print("\nAll streaming examples completed.", file=out, flush=True)
        if stats:
            print(await engine_summary(backend), file=out, flush=True)
        return exit_codes.FAILED if failures else exit_codes.OK

    return await run_with_backend(backend, term, body)


async def stream_to(backend: Backend, run: Run, out) -> None:
    """Stream one answer to `out` as it comes (through the gate), recorded by `run`; BackendError
    fails it (recorded as an error, then raised)."""
    print("Response: ", end="", file=out, flush=True)
    thinking = Thinking(out)
    try:
        async for delta in backend.stream(run.request):
            answered = run.message.has_content
            text = run.take(delta)
            if delta.reasoning and not answered:
                thinking.write(delta.reasoning)
            if text:
                thinking.end()
                out.write(printable(text))
                out.flush()
    except BackendError as exc:
        run.fail(exc)
        raise
    finally:
        thinking.finish()
    run.end(DONE)


class Thinking:
    """An answer's thinking, set apart before the answer: on a line of its own after `Response:`,
    labelled, and dimmed on a terminal; the answer follows on its own line."""

    def __init__(self, out) -> None:
        self._out = out
        self._dim = bool(getattr(out, "isatty", lambda: False)())
        self._state = "none"  # none, open (thinking is being written), closed

    def write(self, reasoning: str) -> None:
        if self._state == "closed":
            return
        if self._state == "none":
            self._out.write("\n[thinking] " + ("\x1b[2m" if self._dim else ""))
            self._state = "open"
        self._out.write(printable(reasoning))  # outside text: through the gate
        self._out.flush()

    def end(self) -> None:
        """The answer starts: the thinking (if any) is closed, and the answer gets its own line."""
        if self._state == "open":
            self._out.write(("\x1b[22m" if self._dim else "") + "\n[answer] ")
        self._state = "closed"

    def finish(self) -> None:
        """The stream ended: a thinking with no answer after it is closed (the terminal's dim off)."""
        if self._state == "open" and self._dim:
            self._out.write("\x1b[22m")
        self._state = "closed"


class _Recorder:
    """Each answer into the history (when there is one); the answers to the same prompt and turn on
    each target are one comparison."""

    def __init__(self, history: Any, backend: Backend) -> None:
        self._history = history
        self._fallback = next(iter(backend.targets()), None) if history is not None else None
        self._comparisons: dict[Any, str] = {}

    def record(self, conversation: Conversation, answer, key: Any) -> None:
        if self._history is None:
            return
        from tui.store.history import HEADLESS, new_comparison, run_entry

        comparison = self._comparisons.setdefault(key, new_comparison())
        self._history.record_run(run_entry(conversation, answer, comparison=comparison, kind=HEADLESS,
                                           target=self._fallback))


def print_logprobs(tokens: list[TokenLogprob], out) -> None:
    """One line per token: its place, text, probability, logprob and rank, then the alternatives;
    and the answer's mean logprob and perplexity."""
    mean = mean_logprob(tokens)
    if mean is None:
        print("Logprobs: none came back", file=out)
        return
    print(f"Logprobs: {len(tokens)} tokens · mean logprob {mean:.3f} · perplexity {perplexity(mean):.2f}", file=out)
    for place, token in enumerate(tokens, 1):
        rank = f"rank {token.rank}" if token.rank is not None else "rank >"
        alternatives = "  ".join(f"{token_text(a.text, 16)} {a.probability:.3f}" for a in token.top)
        print(f"{place:>5}  {token_text(token.text, 16):<16} p {token.probability:.3f}  "
              f"({token.logprob:.3f})  {rank:<7} │ {alternatives}", file=out)


def engine_line(figures: Figures) -> str:
    return " · ".join(figures.engine_parts()) or "not reported by this backend"


async def engine_summary(backend: Backend) -> str:
    """The engine's totals at the end of a run (--stats), as one line."""
    source = backend.stats
    if source is None:
        return "engine · no figures from this backend"
    return one_line(snapshot_line(await source.snapshot(), totals=True), 400)


if __name__ == "__main__":  # pragma: no cover - use `vllm-panes --headless`
    sys.exit("use: vllm-panes --headless")
