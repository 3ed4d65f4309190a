"""`--headless --batch FILE`: prompts × settings from the example files, run for real, JSONL out."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.processes import run_cli
from tui.batch import BatchError, load_batch, run_jobs
from tui.engine.params import Sampling
from tui.engine.protocol import Request

ROOT = Path(__file__).resolve().parent.parent
TOML_EXAMPLE = ROOT / "scripts" / "batch-example.toml"
JSONL_EXAMPLE = ROOT / "scripts" / "batch-example.jsonl"


def test_toml_example_expands_to_every_combination_in_file_order():
    jobs = load_batch(TOML_EXAMPLE)
    assert len(jobs) == 12  # 3 prompts × 2 temperatures × 2 seeds
    assert [j.index for j in jobs] == list(range(12))
    first = jobs[:4]
    assert {j.prompt for j in first} == {"The future of artificial intelligence is"}
    assert [(j.sampling["temperature"], j.sampling["seed"]) for j in first] == [(0.0, 42), (0.0, 7), (0.8, 42),
                                                                                 (0.8, 7)]
    assert all(j.sampling["max_tokens"] == 60 and j.sampling["top_p"] == 0.95 for j in jobs)


def test_jsonl_example_each_line_its_own_grid():
    jobs = load_batch(JSONL_EXAMPLE)
    assert len(jobs) == 2 + 4 + 1
    assert [j.sampling["top_k"] for j in jobs[2:6]] == [0, 0, 20, 20]
    assert jobs[6].sampling.chat_template is False and jobs[6].prompt == "And God said"


def test_base_settings_fill_what_the_file_leaves_out(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('prompts = ["x"]\nseed = [1, 2]\n')
    jobs = load_batch(path, Sampling().with_values(max_tokens=7))
    assert [j.sampling["max_tokens"] for j in jobs] == [7, 7]


@pytest.mark.parametrize("name, text, message", [
    ("b.toml", 'prompts = ["x"]\ntemprature = 0.5\n', "unknown setting(s) temprature"),
    ("b.toml", 'prompts = ["x"]\ntemperature = [0.5, -1]\n', "b.toml: temperature must be in [0, 2]"),
    ("b.toml", 'prompts = "x"\n', "'prompts' must be a non-empty list of strings"),
    ("b.toml", 'prompts = [\n', "not valid TOML"),
    ("b.jsonl", '{"prompt": "a"}\n{"prompt": "b", "max_tokens": 0}\n', "b.jsonl:2: max_tokens must be ≥ 1"),
    ("b.jsonl", '{"prompt": "a"}\nnot json\n', "b.jsonl:2: not valid JSON"),
    ("b.jsonl", '{"prompt": "a", "seed": []}\n', "seed is an empty list"),
    ("b.csv", "a,b\n", "a batch file is .toml or .jsonl"),
    ("b.toml", 'prompts = ["x"]\nmin_tokens = 50\nmax_tokens = 10\n', "min_tokens must be ≤ max_tokens"),
    ("b.toml", 'prompts = ["x"]\ntarget = "base"\nlora = "a"\n',
     "give one of target, lora, model, not target and lora"),
    ("b.jsonl", '{"prompt": "a", "model": [1]}\n', "b.jsonl:1: model must be a name (a string), not 1"),
])
def test_bad_batch_files_name_the_place_and_the_reason(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(BatchError) as info:
        load_batch(path)
    assert message in str(info.value)


def test_turns_and_messages_are_conversations(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"turns": ["q1", "q2", "q3"], "seed": [1, 2]}\n'
                    '{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q1"},'
                    ' {"role": "assistant", "content": "a1"}, {"role": "user", "content": "q2"}]}\n')
    jobs = load_batch(path)
    assert [(j.before, j.prompt, j.then, j.sampling["seed"]) for j in jobs[:2]] == [
        ((), "q1", ("q2", "q3"), 1), ((), "q1", ("q2", "q3"), 2)]
    messages = jobs[2]
    assert (messages.before, messages.prompt, messages.then) == ((("user", "q1"), ("assistant", "a1")), "q2", ())
    assert messages.sampling.system_prompt == "Be brief."
    conversation, question = messages.conversation()
    assert [(m.role, m.content) for m in conversation.path()] == [("user", "q1"), ("assistant", "a1"), ("user", "q2")]
    assert conversation.path()[-1] is question


@pytest.mark.parametrize("line, message", [
    ('{"turns": []}', "'turns' must be a non-empty list of messages"),
    ('{"turns": ["q", 3]}', "'turns' must be a non-empty list of messages"),
    ('{"turns": ["q"], "prompt": "p"}', "give prompts, messages or turns, not prompt and turns"),
    ('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
     "'messages' must end with a user message"),
    ('{"messages": [{"role": "user", "content": "q"}, {"role": "system", "content": "s"}, '
     '{"role": "user", "content": "q"}]}', "messages[1]: a system message comes first"),
    ('{"messages": [{"role": "tool", "content": "q"}]}', "messages[0].role must be one of system, user, assistant"),
    ('{"messages": [{"role": "user", "content": 3}]}', "messages[0].content must be a string"),
])
def test_bad_conversations_name_the_place_and_the_reason(tmp_path, line, message):
    path = tmp_path / "b.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(BatchError) as info:
        load_batch(path)
    assert message in str(info.value) and "b.jsonl:1" in str(info.value)


@pytest.mark.engine
async def test_toml_example_output_through_the_real_engine(engine):
    jobs = load_batch(TOML_EXAMPLE)
    records: list[dict] = []
    failed = await run_jobs(engine, jobs, records.append, concurrency=8)
    assert failed == 0
    assert [r["index"] for r in records] == list(range(12))  # written in the file's order
    for r in records:
        assert set(r) == {"index", "prompt", "params", "text", "reasoning", "tokens", "ttft_ms", "tok_s",
                          "finish_reason", "thought_ms", "answered_ms", "thought_tokens", "error", "target",
                          "format", "valid", "validation_error", "usage"}
        assert r["reasoning"] == "" and r["thought_ms"] is None  # the base model does not think
        assert r["usage"] is None  # a server's; the engine here has none
        assert r["format"]["kind"] == "free" and r["valid"] is None and r["validation_error"] is None
        assert r["text"] and 0 < r["tokens"] <= 60 and r["finish_reason"] in ("stop", "length")
        assert r["ttft_ms"] is not None and r["error"] is None
        json.dumps(r)  # one JSON line each
    by = {(r["prompt"], r["params"]["temperature"], r["params"]["seed"]): r["text"] for r in records}
    prompts = {r["prompt"] for r in records}
    assert all(by[(p, 0.0, 42)] == by[(p, 0.0, 7)] for p in prompts)  # greedy ignores the seed
    assert any(by[(p, 0.8, 42)] != by[(p, 0.8, 7)] for p in prompts)
    # a seeded request in the batch gives the text it gives alone
    prompt = "The key to happiness is"
    alone = "".join([d.text async for d in engine.stream(Request.of_prompt(prompt, jobs[10].sampling, "alone"))])
    assert jobs[10].prompt == prompt and jobs[10].sampling["seed"] == 42 and by[(prompt, 0.8, 42)] == alone


def test_targets_are_a_dimension_of_the_grid(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('prompts = ["x", "y"]\nlora = ["", "proverbs"]\nseed = [1, 2]\n')
    jobs = load_batch(path)
    assert [(j.prompt, j.target, j.sampling["seed"]) for j in jobs[:4]] == [
        ("x", "base", 1), ("x", "base", 2), ("x", "proverbs", 1), ("x", "proverbs", 2)]


@pytest.mark.engine
async def test_a_batch_across_base_and_adapter_on_the_real_engine(engine, tmp_path):
    from tui.batch import _resolved

    path = tmp_path / "b.jsonl"
    path.write_text('{"prompt": "The key to happiness is", "target": ["base", "proverbs"], "max_tokens": 30}\n'
                    '{"prompt": "The key to happiness is", "max_tokens": 30}\n')
    jobs = await _resolved(engine, load_batch(path), [])
    records: list[dict] = []
    assert await run_jobs(engine, jobs, records.append) == 0
    assert [r["target"] and r["target"]["adapter"] for r in records] == [None, "proverbs", None]
    assert records[0]["target"] == {"server": None, "model": engine.model, "adapter": None}
    assert records[0]["text"] == records[2]["text"] != records[1]["text"]
    # --target: the jobs that name none run on each target given
    both = await _resolved(engine, load_batch(path), [t for t in engine.targets()])
    assert [(j.index, j.target.adapter) for j in both] == [(0, None), (1, "proverbs"), (2, None), (3, "proverbs")]


@pytest.mark.engine
async def test_a_conversation_job_writes_its_thread_and_each_turn(engine, tmp_path):
    """A "turns" job sends each message after the answer to the one before; its record carries
    the thread (OpenAI messages) and each answer's figures. The thread given back as "messages"
    gives the last answer again (seeded); a conversation longer than the context fails its own
    job, with the numbers, and the batch goes on."""
    questions = ["The key to happiness is", "And what of wisdom?"]
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"turns": questions, "max_tokens": 30, "seed": 42}) + "\n")
    records: list[dict] = []
    assert await run_jobs(engine, load_batch(path), records.append) == 0
    (record,) = records
    thread = record["messages"]
    assert [m["role"] for m in thread] == ["user", "assistant", "user", "assistant"]
    assert [thread[0]["content"], thread[2]["content"]] == questions
    assert [r["text"] for r in record["replies"]] == [thread[1]["content"], thread[3]["content"]]
    assert record["text"] == thread[3]["content"] and record["tokens"] == record["replies"][1]["tokens"] > 0
    assert thread[1]["content"] != thread[3]["content"] and all(r["error"] is None for r in records)

    long = [{"role": "user", "content": "word " * 700}, {"role": "assistant", "content": "word " * 700},
            {"role": "user", "content": "word " * 700}]
    path.write_text(json.dumps({"messages": thread[:3], "max_tokens": 30, "seed": 42}) + "\n"
                    + json.dumps({"messages": long, "max_tokens": 30}) + "\n"
                    + json.dumps({"prompt": questions[0], "max_tokens": 30, "seed": 42}) + "\n")
    again: list[dict] = []
    assert await run_jobs(engine, load_batch(path), again.append) == 1
    given, too_long, first = again
    assert given["text"] == record["text"] and given["messages"] == thread
    assert too_long["text"] == "" and too_long["tokens"] == 0
    assert re.fullmatch(r"the conversation is [\d,]+ tokens and the answer needs room too, but the model's context "
                        r"is 2,048 tokens \(--max-model-len\).*", too_long["error"])
    assert first["text"] == thread[1]["content"] and first["error"] is None and "messages" not in first


@pytest.mark.engine
@pytest.mark.subprocess
def test_batch_command_writes_jsonl_and_nothing_else(tmp_path):
    out = tmp_path / "results.jsonl"
    result, left = run_cli(["--headless", "--demo", "--batch", str(JSONL_EXAMPLE), "--output", str(out)])
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 7 and result.stdout == ""
    records = [json.loads(line) for line in lines]
    assert [r["prompt"] for r in records][-1] == "And God said" and records[-1]["params"]["chat_template"] is False
    assert all(r["text"] and r["error"] is None for r in records)
    for line in result.stderr.splitlines():
        assert line.startswith(("[engine]", "(vLLM's log:", "7 results written to")), line
    assert left == []


@pytest.mark.subprocess
def test_bad_batch_file_exits_2_before_loading_the_engine(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('prompts = ["x"]\ntemperature = 9\n')
    result, left = run_cli(["--headless", "--demo", "--batch", str(path)], timeout=120)
    assert result.returncode == 2 and "temperature must be in [0, 2]" in result.stderr
    assert "[engine]" not in result.stderr and left == []


def test_progress_bar_only_when_stderr_is_a_terminal():
    import io

    from tui.batch import _Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, pipe = Terminal(), io.StringIO()
    for stream in (tty, pipe):
        bar = _Progress(stream, 3)
        for _ in range(3):
            bar.advance()
        bar.stop()
    assert "3/3" in tty.getvalue() and "batch" in tty.getvalue()
    assert pipe.getvalue() == ""


# -- a batch keeps what it finished ------------------------------------------------------------------
@pytest.fixture(scope="module")
def fault_server():
    from tests.support.fault_server import FaultServer

    server = FaultServer().start()
    yield server
    server.stop()


@pytest.mark.subprocess
@pytest.mark.remote
def test_an_interrupted_batch_keeps_every_finished_line(fault_server, tmp_path):
    """The first job never ends (its server went quiet); the others finish while they wait for it.
    SIGINT: every finished line is on disk."""
    import os
    import signal
    import subprocess
    import sys
    import time

    batch = tmp_path / "b.jsonl"
    batch.write_text('{"prompt": "fault:quiet"}\n' + "".join(f'{{"prompt": "p{i}"}}\n' for i in range(5)))
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "tui", "--headless", "--base-url", fault_server.url(),
                             "--batch", str(batch), "--output", str(out), "--concurrency", "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while fault_server.requests.count("ok") < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the five answers are short: done by now
        os.kill(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(line["index"] for line in lines) == [1, 2, 3, 4, 5]
    assert all(line["text"].startswith("word1") and line["error"] is None for line in lines)


@pytest.mark.subprocess
def test_the_output_file_is_left_alone_until_the_backend_is_up(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out = tmp_path / "out.jsonl"
    out.write_text("the results of an earlier run\n")
    result, left = run_cli(["--headless", "--base-url", f"http://127.0.0.1:{closed}/v1", "--batch",
                            str(TOML_EXAMPLE), "--output", str(out)], timeout=60)
    assert result.returncode == 1 and "cannot reach" in result.stderr
    assert out.read_text() == "the results of an earlier run\n" and left == []


@pytest.mark.subprocess
def test_the_batch_file_is_never_its_own_output(tmp_path):
    batch = tmp_path / "b.jsonl"
    batch.write_text('{"prompt": "a"}\n')
    result, _ = run_cli(["--headless", "--demo", "--batch", str(batch), "--output", str(batch)], timeout=60)
    assert result.returncode == 2 and "is the batch file itself" in result.stderr
    assert batch.read_text() == '{"prompt": "a"}\n'
