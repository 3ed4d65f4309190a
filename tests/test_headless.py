"""`vllm-panes --headless`: the real command in a subprocess, as a person would run it."""

from __future__ import annotations

import re

import pytest

from tests.support.processes import run_cli

pytestmark = pytest.mark.subprocess

VLLM_NOISE = re.compile(r"INFO|WARNING|ERROR|Traceback|Triton|torch|vllm\.|\[W\d|it/s\]")


@pytest.mark.engine
def test_headless_demo_streams_three_answers_quietly(demo_model):
    result, left = run_cli(["--headless", "--demo"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for index, prompt in enumerate(["The future of artificial intelligence is", "In a galaxy far, far away",
                                    "The key to happiness is"], 1):
        assert f"Example {index}/3" in out
        assert f"Prompt: {prompt!r}" in out
    assert out.count("Generation complete: ") == 3
    assert "All streaming examples completed." in out
    assert not VLLM_NOISE.search(out), out
    # stderr carries only our own short progress lines and the log's path
    for line in result.stderr.splitlines():
        assert line.startswith(("[engine]", "(vLLM's log:")), line
    assert left == [], f"processes left behind: {left}"


@pytest.mark.engine
def test_headless_into_a_reader_that_stops_early_ends_quietly(demo_model, tmp_path):
    """`vllm-panes --headless … | head -c 100`: the run stops when the reader goes, without a crash
    line, with SIGPIPE's exit code, and the engine is stopped."""
    import os
    import subprocess
    import sys

    from tests.support.processes import session_members, wait_session_gone

    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "tui", "--headless", "--demo", "--max-tokens", "1500",
                             "--min-tokens", "1500", "a", "b"], stdout=write_end, stderr=subprocess.PIPE,
                            env={**os.environ, "XDG_STATE_HOME": str(tmp_path)}, start_new_session=True)
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as reader:
            head = reader.read(100)  # then the reader goes away, as `head` does
        err = proc.communicate(timeout=120)[1].decode()
        assert b"Response" in head or b"Running" in head
        assert proc.returncode == 128 + 13, err  # SIGPIPE's
        assert "crashed" not in err and "Traceback" not in err and "BrokenPipe" not in err, err
        assert wait_session_gone(proc.pid, timeout=10) is not None, session_members(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.engine
def test_headless_stats_say_where_the_time_went(demo_model):
    result, left = run_cli(["--headless", "--demo", "--stats", "--max-tokens", "16", "The key to happiness is"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    timing = next(line for line in lines if line.startswith("In the engine: "))
    assert re.fullmatch(r"In the engine: to the engine \d+ ms · queued \d+ ms · prefill \d+ ms · decode \d+ ms · cached \d+/\d+", timing)
    summary = lines[-1]
    assert re.match(r"engine · \d+ prompt tokens · 16 generated · KV \d+% of \d+ blocks · "
                    r"prefix cache hits \d+% · 0 preempted$", summary), summary
    assert left == []


@pytest.mark.engine
def test_headless_runs_each_prompt_on_each_target(demo_model):
    result, left = run_cli(["--headless", "--demo", "--target", "base", "--target", "proverbs",
                            "--max-tokens", "24", "The key to happiness is"])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Running 2 streaming example(s)" in out
    assert "Target: demo\n" in out and "Target: demo+proverbs\n" in out
    answers = re.findall(r"Response: (.*)", out)
    assert len(answers) == 2 and answers[0] != answers[1]
    assert left == []


@pytest.mark.engine
async def test_headless_then_continues_the_conversation_as_the_engine_would(engine):
    """--then sends each message after the answer before it, the whole thread each time: the
    second answer is the one the engine gives that thread (same seed), and the reference example's
    raw mode is not used (the prompts go through the chat template)."""
    import asyncio

    from tui.engine.params import Sampling
    from tui.engine.protocol import Request

    question, follow_up = "The key to happiness is", "And what of wisdom?"
    result, left = await asyncio.to_thread(run_cli, ["--headless", "--demo", "--max-tokens", "24", "--then",
                                                     follow_up, question])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Running 1 streaming example(s), 2 turns each with " in out and "raw prompts" not in out
    assert f"Prompt: {question!r}" in out and f"Turn 2: {follow_up!r}" in out
    assert out.index(f"Prompt: {question!r}") < out.index(f"Turn 2: {follow_up!r}")
    answers = re.findall(r"Response: (.*?)\nGeneration complete:", out, flags=re.S)
    assert len(answers) == 2 and answers[0] != answers[1] and all(answers)
    sampling = Sampling().with_values(max_tokens=24)  # the command's defaults: temperature 0.8, seed 42
    first = "".join([d.text async for d in engine.stream(Request.of_prompt(question, sampling, "then-1"))])
    thread = [("user", question), ("assistant", first), ("user", follow_up)]
    second = "".join([d.text async for d in engine.stream(Request.of(thread, sampling, "then-2"))])
    assert answers == [first, second]
    assert left == []


def test_then_goes_with_headless_prompts_only(tmp_path):
    result, _ = run_cli(["--then", "more"], timeout=120)
    assert result.returncode == 2 and "--then goes with --headless" in result.stderr
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"prompt": "a"}\n')
    result, _ = run_cli(["--headless", "--demo", "--batch", str(batch), "--then", "more"], timeout=120)
    assert result.returncode == 2 and "in a --batch file, give 'turns'" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--temperature", "-1"], "--temperature: temperature must be in [0, 2]"),
        (["--top-p", "0"], "--top-p: top_p must be in (0, 1]"),
        (["--max-tokens", "0"], "--max-tokens: max_tokens must be ≥ 1"),
        (["--seed", "abc"], "--seed: seed must be a whole number"),
        (["--dtype", "nope"], "engine flags: argument --dtype: invalid choice: 'nope'"),
        (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["--target", "psalms"], "--target: unknown target 'psalms' (known: demo, demo+proverbs, demo+think)"),
        (["--lora", "x"], "--lora: 'x' is not NAME=PATH"),
    ],
)
def test_headless_bad_flags_exit_2_with_a_clear_message(args, message):
    result, left = run_cli(["--headless", "--demo", *args], timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert left == []


def test_help_lists_our_flags_and_vllms_engine_flags():
    result, _ = run_cli(["--help=all"], timeout=120)
    assert result.returncode == 0
    for flag in ("--temperature", "--top-p", "--seed", "--max-tokens", "--headless", "--demo",
                 "--dtype", "--max-model-len", "--tensor-parallel-size", "--distributed-executor-backend"):
        assert flag in result.stdout, flag
    assert "Triton is installed" not in result.stdout + result.stderr  # vLLM's import-time notice
