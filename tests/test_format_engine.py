"""Output formats for real: the in-process AsyncLLM on the demo model constrains its answers to
every kind of format; a real `vllm serve` does the same through its `structured_outputs` request
field; an engine or a server that refuses a format fails that request with its reason; a server
that ignores the format (tests/support/fault_server.py) gives an answer judged ✗, not a crash."""

from __future__ import annotations

import json
import math
import re

import jsonschema
import pytest

from tests.support.app import make_app, saved_pane, send_key, session_of, wait_until
from tests.support.fault_server import FaultServer
from tests.support.vllm_server import Server
from tui.batch import Job, batch_record, run_job
from tui.core.conversation import ASSISTANT, USER, Conversation, Message
from tui.core.output_format import CHOICE, GRAMMAR, JSON_OBJECT, JSON_SCHEMA, REGEX, FREE_FORMAT, OutputFormat
from tui.core.pane_state import request_for
from tui.core.run import Run, new_reply
from tui.engine.openai_backend import OpenAIBackend
from tui.engine.params import Sampling
from tui.engine.protocol import BackendError, RequestRejected
from tui.figures import DONE, ERROR, STREAMING

PROMPT = "The key to happiness is"
SCORE = {"type": "object", "properties": {"verdict": {"enum": ["good", "evil"]},
                                           "score": {"type": "integer", "minimum": 0, "maximum": 9}},
         "required": ["verdict", "score"]}
REGEX_PATTERN = r"(Yea|Nay), [0-9]{1,2}"
LOOKBEHIND = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(?<=a)b"}}, "required": ["a"]}
CHOICES = ("the LORD", "wisdom", "bread")

FORMATS = {
    "choice": OutputFormat(CHOICE, CHOICES),
    "regex": OutputFormat(REGEX, pattern=REGEX_PATTERN),
    "json_schema": OutputFormat(JSON_SCHEMA, schema=SCORE, disable_any_whitespace=True),
    "json_object": OutputFormat(JSON_OBJECT, disable_any_whitespace=True),
    "ebnf": OutputFormat(GRAMMAR, grammar='root ::= "Amen" | "Selah" | "Hallelujah"'),
    "lark": OutputFormat(GRAMMAR, grammar='start: "Amen" | "Selah" | "Hallelujah"'),
}


def sampling_for(fmt: OutputFormat, **values) -> Sampling:
    return Sampling(output_format=fmt).with_values(max_tokens=values.pop("max_tokens", 60), **values)


async def answer(backend, sampling: Sampling, prompt: str = PROMPT, request_id: str = "fmt") -> Message:
    """One answer, run as the workbench runs it (a Run: its verdict is made when it ends)."""
    conversation = Conversation()
    question = conversation.add(None, USER, prompt)
    message = conversation.add(question, ASSISTANT, reply=new_reply(sampling, None, STREAMING))
    run = Run(message, request_for(conversation, message, sampling, request_id, None))
    try:
        async for delta in backend.stream(run.request):
            run.take(delta)
    except BackendError as exc:
        run.fail(exc)
        raise
    run.end(DONE)
    return message


def assert_took(kind: str, text: str) -> None:
    """The answer is in the format, checked here without the app's own verdict."""
    if kind == "choice":
        assert text in CHOICES
    elif kind == "regex":
        assert re.fullmatch(REGEX_PATTERN, text), text
    elif kind == "json_schema":
        jsonschema.validate(json.loads(text), SCORE)
        assert json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False) == text  # compact
    elif kind == "json_object":
        assert isinstance(json.loads(text), dict)
    else:
        assert text in ("Amen", "Selah", "Hallelujah")


# -- the in-process engine ---------------------------------------------------------------------------
@pytest.mark.engine
@pytest.mark.parametrize("kind", list(FORMATS))
async def test_every_kind_of_format_constrains_the_demo_models_answer(engine, kind):
    fmt = FORMATS[kind]
    message = await answer(engine, sampling_for(fmt), request_id=f"fmt-{kind}")
    text = message.content
    assert_took(kind, text)
    assert message.reply.verdict.valid is True, message.reply.verdict
    assert message.reply.figures.finish_reason == "stop"  # the grammar ended it, not max_tokens
    free = await answer(engine, sampling_for(FREE_FORMAT), request_id=f"free-{kind}")
    with pytest.raises((AssertionError, ValueError)):
        assert_took(kind, free.content)  # the same prompt without the format: not in it


@pytest.mark.engine
async def test_free_whitespace_lets_the_small_model_ramble_and_compact_json_does_not(engine):
    """Measured: with free whitespace the demo model writes newlines until max_tokens (the answer
    is cut off and judged ✗); vLLM 0.32 ignores a request's disable_any_whitespace, so the app
    sends the schema's compact grammar, and the answer is whole."""
    loose = await answer(engine, sampling_for(OutputFormat(JSON_SCHEMA, schema=SCORE)), request_id="loose")
    compact = await answer(engine, sampling_for(FORMATS["json_schema"]), request_id="compact")
    assert compact.reply.verdict.shown == "JSON ✓ schema ✓"
    assert not re.search(r"\s", compact.content)
    # whatever the loose answer is, its verdict agrees with jsonschema's own reading of it
    try:
        valid = not list(jsonschema.Draft202012Validator(SCORE).iter_errors(json.loads(loose.content)))
    except ValueError:
        valid = False
    assert loose.reply.verdict.valid is valid
    if not valid:
        assert loose.reply.verdict.shown.startswith("✗ ")


@pytest.mark.engine
async def test_a_format_the_engine_refuses_fails_that_request_with_its_reason(engine):
    undefined = OutputFormat(GRAMMAR, grammar="root ::= answer")  # passes the quick check: not empty
    with pytest.raises(RequestRejected, match="(?i)grammar"):
        await answer(engine, sampling_for(undefined), request_id="refused")
    message = await answer(engine, sampling_for(FORMATS["choice"]), request_id="after")
    assert message.content in CHOICES  # the engine is fine


@pytest.mark.engine
async def test_the_formats_mask_shows_in_the_recorded_probabilities(engine):
    """vLLM applies the format's mask to the logits before it computes any of its --logprobs-mode
    distributions: the first token's alternatives are only what the choices allow, and their
    probabilities add up to 1 (the legend says 'within the format')."""
    assert engine.logprobs_mode == "raw_logprobs"
    constrained = await answer(engine, Sampling(logprobs=5, output_format=OutputFormat(CHOICE, CHOICES)),
                               request_id="mask")
    first = constrained.reply.tokens.tokens[0]
    allowed = [a for a in first.top if math.isfinite(a.logprob)]
    assert allowed and all(any(c.startswith(a.text) for c in CHOICES) for a in allowed)
    assert sum(math.exp(a.logprob) for a in allowed) == pytest.approx(1.0, abs=1e-3)
    free = await answer(engine, Sampling(logprobs=5), request_id="unmasked")
    first_free = free.reply.tokens.tokens[0]
    assert not all(any(c.startswith(a.text) for c in CHOICES) for a in first_free.top)


@pytest.mark.engine
@pytest.mark.ui
async def test_a_sweep_shows_the_free_and_the_constrained_answer_side_by_side(engine, tmp_path, render_path):
    source = saved_pane(prompt=PROMPT, overrides={"max_tokens": "60"})
    source.output_format = FORMATS["json_schema"]
    app = make_app(engine, session=session_of([source]), session_path=tmp_path / "s.json")
    async with app.run_test(size=(200, 40)) as pilot:
        bench = app.workbench
        bench.panes()[0].editor.focus()
        await pilot.press("f8", *"format=free,pane", "enter")
        await wait_until(lambda: len(bench.panes()) == 3 and all(p.figures.state == DONE for p in bench.panes()[1:]),
                         timeout=120)
        await pilot.pause(0.2)
        _, free, constrained = bench.panes()
        assert_took("json_schema", constrained.answer)
        assert constrained._status.text.plain.endswith("JSON ✓ schema ✓")  # noqa: SLF001
        assert free.reply.reply.verdict is None and "✓" not in free._status.text.plain  # noqa: SLF001
        # A schema valid to jsonschema, with a pattern neither of vLLM's backends reads (a
        # lookbehind): the engine refuses it, this pane fails with the engine's reason.
        refused = saved_pane(prompt=PROMPT)
        refused.output_format = OutputFormat(JSON_SCHEMA, schema=LOOKBEHIND)
        pane = await bench.add_pane(refused)
        pane.editor.focus()
        send_key(app, "f5")
        await wait_until(lambda: pane.figures.state == ERROR, timeout=60)
        assert "schema" in pane.figures.message.lower() or "regex" in pane.figures.message.lower()
        assert pane.figures.message in str(pane.query_one(".pane-error").content)


@pytest.mark.engine
async def test_batch_lines_say_each_answers_format_and_whether_it_took_it(engine):
    job = Job(0, PROMPT, sampling_for(FORMATS["regex"]))
    conversation, answers, error = await run_job(engine, job)
    line = json.loads(json.dumps(batch_record(job, conversation, answers, error)))
    assert line["format"] == {"kind": "regex", "pattern": REGEX_PATTERN}
    assert line["valid"] is True and line["validation_error"] is None
    assert re.fullmatch(REGEX_PATTERN, line["text"])


# -- a real vllm serve --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(demo_model, tmp_path_factory):
    """`vllm serve` on the demo model, its logprobs after temperature and top-p."""
    server = Server(demo_model, tmp_path_factory.mktemp("serve") / "serve.log", adapters={},
                    extra_args=["--logprobs-mode", "processed_logprobs"])
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
async def remote(served):
    backend = OpenAIBackend(served.url)
    await backend.start()
    yield backend
    await backend.shutdown()


@pytest.mark.engine
@pytest.mark.remote
@pytest.mark.parametrize("kind", list(FORMATS))
async def test_a_vllm_server_constrains_through_its_structured_outputs_field(remote, kind):
    fmt = FORMATS[kind]
    request_body = remote.request_body(request_for(*_one_question(), sampling_for(fmt), "b", None))
    assert "structured_outputs" in request_body["extra_body"]
    message = await answer(remote, sampling_for(fmt), request_id=f"served-{kind}")
    assert_took(kind, message.content)
    assert message.reply.verdict.valid is True


@pytest.mark.engine
@pytest.mark.remote
async def test_a_format_the_server_refuses_fails_that_request_with_the_servers_reason(remote):
    # vLLM's server says it in the stream (an error event), as its engine found it
    with pytest.raises(BackendError, match="the server reported an error: Invalid grammar specification: .*"
                                           "Rule 'answer' not found"):
        await answer(remote, sampling_for(OutputFormat(GRAMMAR, grammar="root ::= answer")), request_id="bad")
    assert remote._structured_outputs  # noqa: SLF001 - a refused value is not a refused field
    message = await answer(remote, sampling_for(FORMATS["choice"]), request_id="good")
    assert message.content in CHOICES


@pytest.mark.engine
@pytest.mark.remote
async def test_processed_logprobs_of_a_server_show_what_the_format_left(remote):
    constrained = await answer(remote, Sampling(logprobs=5, output_format=OutputFormat(CHOICE, CHOICES)),
                               request_id="processed")
    first = constrained.reply.tokens.tokens[0]
    # masked tokens come back with logprob -9999 (JSON has no -inf): probability 0
    allowed = [a for a in first.top if math.exp(a.logprob) > 0]
    assert allowed and all(any(c.startswith(a.text) for c in CHOICES) for a in allowed)
    assert sum(math.exp(a.logprob) for a in allowed) == pytest.approx(1.0, abs=1e-3)
    assert any(a.logprob == -9999.0 for a in first.top)


def _one_question():
    conversation = Conversation()
    question = conversation.add(None, USER, PROMPT)
    return conversation, conversation.add(question, ASSISTANT, reply=new_reply(Sampling(), None, STREAMING))


# -- a server that misbehaves -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def faults():
    server = FaultServer().start()
    yield server
    server.stop()


@pytest.mark.remote
async def test_a_server_that_ignores_the_format_gives_an_answer_judged_not_a_crash(faults):
    backend = OpenAIBackend(faults.url("ok"))
    await backend.start()
    try:
        message = await answer(backend, sampling_for(OutputFormat(JSON_SCHEMA, schema=SCORE)))
    finally:
        await backend.shutdown()
    assert faults.bodies[-1]["structured_outputs"] == {"json": SCORE}  # asked for, and ignored
    assert message.reply.figures.state == DONE
    assert message.reply.verdict.valid is False
    assert message.reply.verdict.shown == "✗ not JSON: Expecting value at line 1, column 1"


@pytest.mark.remote
async def test_a_server_that_is_not_vllm_is_asked_with_response_format_or_told_it_cannot(faults):
    """OpenAI's API refuses a field it does not know: the backend asks again with response_format
    (JSON formats), or fails the request with why (the others); the app never crashes."""
    backend = OpenAIBackend(faults.url("openai"))
    await backend.start()
    try:
        message = await answer(backend, sampling_for(FORMATS["json_object"]), request_id="oa-json")
        assert faults.bodies[-1]["response_format"] == {"type": "json_object"}
        assert "structured_outputs" not in faults.bodies[-1]
        assert message.reply.verdict.valid is False  # the server ignored it all the same
        with pytest.raises(RequestRejected, match="a server that is not vLLM takes no choice format"):
            await answer(backend, sampling_for(FORMATS["choice"]), request_id="oa-choice")
    finally:
        await backend.shutdown()


@pytest.mark.remote
@pytest.mark.ui
async def test_the_workbench_on_a_server_that_ignores_the_format_shows_the_verdict(faults, tmp_path, render_path):
    backend = OpenAIBackend(faults.url("ok"))
    await backend.start()
    pane = saved_pane(prompt="Rate it")
    pane.output_format = OutputFormat(JSON_SCHEMA, schema=SCORE)
    app = make_app(backend, session=session_of([pane]), session_path=tmp_path / "s.json")
    try:
        async with app.run_test(size=(200, 40)) as pilot:
            shown = app.workbench.panes()[0]
            shown.editor.focus()
            await pilot.press("f5")
            await wait_until(lambda: shown.figures.state == DONE)
            await pilot.pause(0.1)
            assert shown._status.text.plain.endswith("✗ not JSON: Expecting value at line 1, column 1")  # noqa: SLF001
    finally:
        await backend.shutdown()


# -- the command ----------------------------------------------------------------------------------------
@pytest.mark.subprocess
@pytest.mark.parametrize("make, message", [
    (lambda d: ["--grammar", _write(d / "bad.ebnf", 'root ::= "a" | (\n'), "a prompt"],
     "--grammar {d}/bad.ebnf: the grammar does not compile: EBNF parser error at line 2, column 1"),
    (lambda d: ["--json-schema", _write(d / "s.json", '{"type": "object", "properties": {"s": {"type": "integr"}}}'),
                "a prompt"],
     "--json-schema {d}/s.json: not a valid JSON Schema: $.properties.s.type: 'integr' is not valid"),
    (lambda d: ["--json-schema", _write(d / "t.json", '{\n  "type": "object"\n  "x": 1}'), "a prompt"],
     "--json-schema: {d}/t.json:3:3: not JSON (Expecting ',' delimiter)"),
    (lambda d: ["--regex", "(?<=a)b", "a prompt"], "--regex: vLLM's regex reader (xgrammar) refuses it"),
    (lambda d: ["--batch", _write(d / "b.jsonl", json.dumps({"prompt": "x", "regex": "(a"}) + "\n")],
     "{d}/b.jsonl:1: regex: the pattern does not compile at position 0"),
])
def test_a_bad_format_is_exit_2_with_the_place_and_the_reason_before_the_engine_loads(tmp_path, make, message):
    from tests.support.processes import run_cli

    result, left = run_cli(["--headless", "--demo", *make(tmp_path)], timeout=120)
    assert result.returncode == 2, result.stderr
    assert message.format(d=tmp_path) in result.stderr
    assert "engine" not in result.stdout.lower() and left == []  # nothing was started


def _write(path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.subprocess
def test_the_headless_command_says_each_answers_verdict():
    from tests.support.processes import run_cli

    result, left = run_cli(["--headless", "--demo", "--choice", "wisdom", "--choice", "bread", "--max-tokens", "20",
                            PROMPT], timeout=400)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Output format: choice of 2" in result.stdout
    assert re.search(r"Response: (wisdom|bread)\n", result.stdout)
    assert "Format: choice ✓" in result.stdout and left == []
