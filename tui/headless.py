"""`vllm-panes --headless`: stream prompts to the terminal, like vLLM's async_llm_streaming example."""

from __future__ import annotations

import sys
from dataclasses import replace

from tui import exit_codes
from tui.engine.logprobs import TokenLogprob, mean_logprob, mode_label, perplexity
from tui.engine.params import Sampling
from tui.engine.protocol import Backend, BackendError, EngineDead, RequestRejected, Target
from tui.figures import Figures, snapshot_line
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
    targets: list[Target] | None = None,
) -> int:
    """Each prompt on each target (--target, repeatable; none: the backend's own model)."""
    out, err = term.out, term.err
    if not prompts:
        # The reference example, as it runs: its prompts go to the engine as they are, without the
        # chat template, so that its answers are the reference script's, byte for byte.
        prompts = list(REFERENCE_PROMPTS)
        sampling = replace(sampling, chat_template=False)

    async def body() -> int:
        failures = 0
        raw = "" if sampling.chat_template else ", raw prompts (no chat template)"
        runs = [(prompt, target) for prompt in prompts for target in targets or [None]]
        print(f"Running {len(runs)} streaming example(s) with {sampling.summary()}{raw}", file=out)
        if sampling.logprobs:
            print(f"Logprobs: top {sampling.logprobs} per token, {mode_label(backend.logprobs_mode)}", file=out)
        for index, (prompt, target) in enumerate(runs, 1):
            print(f"\n{'=' * 60}\nExample {index}/{len(runs)}\n{'=' * 60}", file=out)
            print(f"Prompt: {printable(prompt)!r}", file=out)
            if target is not None:
                print(f"Target: {printable(target.label)}", file=out)
            print("Response: ", end="", file=out, flush=True)
            last = None
            tokens: list[TokenLogprob] = []
            try:
                on = {} if target is None else {"target": target}
                async for delta in backend.stream(prompt, sampling, f"headless-{index}", **on):
                    if delta.text:
                        out.write(printable(delta.text))
                        out.flush()
                    if delta.logprobs:
                        tokens.extend(delta.logprobs)
                    last = delta
            except EngineDead as exc:
                print(f"\nvllm-panes: {one_line(exc)}", file=err)
                return exit_codes.FAILED
            except BackendError as exc:  # this request failed; the others may not
                failures += 1
                label = "Rejected" if isinstance(exc, RequestRejected) else "Failed"
                print(f"\n{label}: {one_line(exc)}", file=out)
                continue
            if last is not None:
                print(f"\nGeneration complete: {Figures.of(last).line(with_state=False)}", file=out)
                if stats:
                    print(f"In the engine: {engine_line(Figures.of(last))}", file=out)
                if sampling.logprobs:
                    print_logprobs(tokens, out)
        print("\nAll streaming examples completed.", file=out, flush=True)
        if stats:
            print(await engine_summary(backend), file=out, flush=True)
        return exit_codes.FAILED if failures else exit_codes.OK

    return await run_with_backend(backend, term, body)


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
              f"({token.logprob:.3f})  {rank:<7}│ {alternatives}", file=out)


def engine_line(figures: Figures) -> str:
    return " · ".join(figures.engine_parts()) or "not reported by this backend"


async def engine_summary(backend: Backend) -> str:
    """The engine's totals at the end of a run (--stats), as one line."""
    source = getattr(backend, "stats", None)
    if source is None:
        return "engine · no figures from this backend"
    return one_line(snapshot_line(await source.snapshot(), totals=True), 400)


if __name__ == "__main__":  # pragma: no cover - use `vllm-panes --headless`
    sys.exit("use: vllm-panes --headless")
