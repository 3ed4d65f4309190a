"""Output formats without an engine: what is typed becomes a format, a bad one is named with its
place, an answer is judged against it, and every record of it reads back (tui/core/output_format.py,
and what carries it: Sampling, the pane's state, sessions, exports, sweeps, batch files, the
command line, the request bodies)."""

from __future__ import annotations

import json
import re

import pytest

from tui.batch import BatchError, batch_record, load_batch
from tui.cli import UsageError, make_plan
from tui.config import Config
from tui.core.conversation import ASSISTANT, USER, Conversation
from tui.core.output_format import (
    CHOICE,
    FREE_FORMAT,
    GRAMMAR,
    JSON_OBJECT,
    JSON_SCHEMA,
    REGEX,
    FormatError,
    OutputFormat,
    Verdict,
    from_text,
    parse_word,
    split_words,
)
from tui.core.pane_state import PaneState, effective_sampling, stale_reason
from tui.core.records import pane_from_record, pane_record
from tui.core.run import Run, new_reply, settings_record
from tui.engine.openai_backend import OpenAIBackend, refuses_field
from tui.engine.params import ParamError, Sampling
from tui.engine.protocol import Delta, Request
from tui.engine.structured import NotExpressible, compact_grammar, response_format, vllm_fields
from tui.export import ExportedPane, to_json, to_markdown
from tui.figures import DONE, STREAMING
from tui.session import SessionRecord
from tui.sweep import SweepError, parse_sweep

SCORE = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}, "score": {"type": "integer"}},
         "required": ["answer", "score"]}
SCHEMA = OutputFormat(JSON_SCHEMA, schema=SCORE)


# -- checking what is typed -----------------------------------------------------------------------
@pytest.mark.parametrize("fmt, problem", [
    (OutputFormat(JSON_SCHEMA, schema={"type": "object", "properties": {"score": {"type": "integr"}}}),
     "not a valid JSON Schema: $.properties.score.type: 'integr' is not valid"),
    (OutputFormat(JSON_SCHEMA, schema={"required": "score"}), "$.required: 'score' is not of type 'array'"),
    (OutputFormat(REGEX, pattern="(yes|no"), "the pattern does not compile at position 0"),
    (OutputFormat(REGEX, pattern=""), "no pattern"),
    (OutputFormat(CHOICE, ()), "no choices"),
    (OutputFormat(CHOICE, ("yes", "")), "a choice is empty"),
    (OutputFormat(GRAMMAR, grammar="  \n"), "no grammar"),
])
def test_a_format_that_cannot_be_sent_says_where_and_why(fmt, problem):
    assert problem in fmt.problem()


def test_xgrammar_reads_regexes_and_grammars_as_vllm_does():
    """Python's `re` takes a lookbehind; vLLM's xgrammar does not: the check says so, before
    anything is sent. A grammar is read as EBNF or Lark as vLLM tells them apart."""
    assert OutputFormat(REGEX, pattern="(?<=a)b").problem(thorough=True) \
        .startswith("vLLM's regex reader (xgrammar) refuses it: Regex parsing error at position 3")
    broken = OutputFormat(GRAMMAR, grammar='root ::= "yes" | (')
    assert broken.problem(thorough=True).startswith("the grammar does not compile: EBNF parser error at line 1")
    assert "[" not in broken.problem(thorough=True)  # xgrammar's time and source file are left out
    assert OutputFormat(GRAMMAR, grammar='root ::= "yes" | "no"').problem(thorough=True) is None
    assert OutputFormat(GRAMMAR, grammar='start: "yes" | "no"').problem(thorough=True) is None  # Lark


def test_what_is_typed_in_the_dialog_becomes_a_format(tmp_path):
    assert from_text(CHOICE, "yes\n\nno\r\nmaybe so\n").choices == ("yes", "no", "maybe so")
    assert from_text(REGEX, "[0-9]+\n").pattern == "[0-9]+"
    typed = from_text(JSON_SCHEMA, json.dumps(SCORE), disable_any_whitespace=True, disable_additional_properties=True)
    assert typed.schema == SCORE and typed.disable_any_whitespace and typed.disable_additional_properties
    # the options mean nothing for other kinds, and are not kept
    assert not from_text(REGEX, "a", disable_any_whitespace=True).disable_any_whitespace
    (tmp_path / "score.json").write_text(json.dumps(SCORE))
    from_file = from_text(JSON_SCHEMA, "score.json", base=tmp_path)
    assert from_file.schema == SCORE and from_file.source == str(tmp_path / "score.json")
    (tmp_path / "yn.ebnf").write_text('root ::= "yes" | "no"\n')
    assert from_text(GRAMMAR, "yn.ebnf", base=tmp_path).grammar == 'root ::= "yes" | "no"\n'
    assert from_text(GRAMMAR, 'root ::= "a"').grammar == 'root ::= "a"'


@pytest.mark.parametrize("text, message", [
    ('{"type": "object",\n "properties": {', "line 2, column 17: not JSON (Expecting property name"),
    ("[1, 2]", "a JSON Schema is an object ({…}), not an array"),
    ("nothing.json", "nothing.json: no such file"),
    ("", "no schema"),
])
def test_a_schema_that_cannot_be_read_says_where(tmp_path, text, message):
    with pytest.raises(FormatError, match=re.escape(message)):
        from_text(JSON_SCHEMA, text, base=tmp_path)


def test_a_schema_file_that_is_not_json_names_the_file_line_and_column(tmp_path):
    (tmp_path / "bad.json").write_text('{\n  "type": "object"\n  "required": []\n}\n')
    with pytest.raises(FormatError) as caught:
        from_text(JSON_SCHEMA, "bad.json", base=tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'bad.json'}:3:3: not JSON (Expecting ',' delimiter)")


def test_words_of_sweeps_batch_files_and_the_command_line(tmp_path):
    assert parse_word("free") == FREE_FORMAT and parse_word("json") == OutputFormat(JSON_OBJECT)
    assert parse_word("choice:yes|no").choices == ("yes", "no")
    assert parse_word("regex:[0-9]{1,3}").pattern == "[0-9]{1,3}"
    assert parse_word('schema:{"type": "object"}').schema == {"type": "object"}
    assert parse_word("pane", pane=SCHEMA) is SCHEMA
    with pytest.raises(FormatError, match="'pane' is not a format"):
        parse_word("pane")  # outside a sweep there is no pane
    with pytest.raises(FormatError, match="'jsn' is not a format"):
        parse_word("jsn")
    assert split_words('free,json,regex:[0-9]{1,3},schema:{"a": 1, "b": 2},choice:a|b') == \
        ["free", "json", "regex:[0-9]{1,3}", 'schema:{"a": 1, "b": 2}', "choice:a|b"]


# -- judging an answer -------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, text, finish, verdict", [
    (SCHEMA, '{"answer": "yes", "score": 3}', "stop", Verdict(True, "JSON ✓ schema ✓")),
    (SCHEMA, '{"answer": "yes", "score": "x"}', "stop", Verdict(False, "✗ $.score: 'x' is not of type 'integer'",
                                                              "$.score: 'x' is not of type 'integer'")),
    (SCHEMA, '{"answer": "perhaps", "score": 1}', "stop",
     Verdict(False, "✗ $.answer: 'perhaps' is not one of ['yes', 'no']", "$.answer: 'perhaps' is not one of ['yes', 'no']")),
    (SCHEMA, '{"answer": "yes", "sc', "length",
     Verdict(False, "✗ not JSON: Unterminated string starting at at line 1, column 19 (cut off at max_tokens)",
             "not JSON: Unterminated string starting at at line 1, column 19 (cut off at max_tokens)")),
    (SCHEMA, '{"answer": "yes", "score": NaN}', "stop",
     Verdict(False, "✗ not JSON: NaN is not JSON", "not JSON: NaN is not JSON")),
    (OutputFormat(JSON_OBJECT), "[1, 2]", "stop", Verdict(False, "✗ JSON, but an array, not an object",
                                                          "JSON, but an array, not an object")),
    (OutputFormat(JSON_OBJECT), ' {"a": [1]}\n', "stop", Verdict(True, "JSON ✓")),
    (OutputFormat(CHOICE, ("yes", "no")), "no", "stop", Verdict(True, "choice ✓")),
    (OutputFormat(CHOICE, ("yes", "no")), "No", "stop", Verdict(False, "✗ 'No' is not one of the 2 choices",
                                                              "'No' is not one of the 2 choices")),
    (OutputFormat(REGEX, pattern="(yes|no), [0-9]{1,2}"), "yes, 42", "stop", Verdict(True, "regex ✓")),
    (OutputFormat(REGEX, pattern="(yes|no), [0-9]{1,2}"), "yes, 421", "stop",
     Verdict(False, "✗ does not match the pattern", "does not match the pattern")),
    (OutputFormat(GRAMMAR, grammar='root ::= "yes" | "no"'), "yes", "stop", Verdict(True, "grammar ✓")),
    (OutputFormat(GRAMMAR, grammar='start: "yes" | "no"'), "yess", "stop",
     Verdict(False, "✗ the grammar does not accept it", "the grammar does not accept it")),
    (FREE_FORMAT, "anything", "stop", None),
])
def test_an_answer_is_judged_against_its_format(fmt, text, finish, verdict):
    OutputFormat(GRAMMAR, grammar="root ::= \"a\"").problem(thorough=True)  # xgrammar loaded, as in process
    assert fmt.verdict(text, finish) == verdict


def test_no_additional_properties_closes_every_object_of_the_schema():
    nested = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}}}}, "meta": {"$ref": "#/$defs/meta"}},
        "$defs": {"meta": {"type": "object", "properties": {"v": {"type": "string"}}}}}
    closed = OutputFormat(JSON_SCHEMA, schema=nested, disable_additional_properties=True)
    sent = closed.sent_schema()
    assert sent["additionalProperties"] is False
    assert sent["properties"]["items"]["items"]["additionalProperties"] is False
    assert sent["$defs"]["meta"]["additionalProperties"] is False
    assert "additionalProperties" not in nested  # the format's own schema is left as it was
    assert closed.verdict('{"items": [{"id": 1, "x": 2}]}').reason.startswith(
        "$.items[0]: Additional properties are not allowed ('x' was unexpected)")
    assert OutputFormat(JSON_SCHEMA, schema=nested).verdict('{"items": [{"id": 1, "x": 2}]}').valid


# -- records ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", [
    FREE_FORMAT, OutputFormat(CHOICE, ("yes", "no")), OutputFormat(REGEX, pattern="[a-z]+"),
    OutputFormat(JSON_SCHEMA, schema=SCORE, disable_any_whitespace=True, disable_additional_properties=True,
                 source="/tmp/score.json"),
    OutputFormat(JSON_OBJECT, disable_any_whitespace=True), OutputFormat(GRAMMAR, grammar='root ::= "a"'),
])
def test_every_kind_of_format_reads_back_from_its_record(fmt):
    assert OutputFormat.from_record(json.loads(json.dumps(fmt.record())), "f") == fmt


@pytest.mark.parametrize("record, message", [
    ({"kind": "yaml"}, "f.kind: must be one of free, choice"),
    ({"kind": "choice", "choices": ["a", 1]}, "f.choices[1]: must be a string"),
    ({"kind": "json_schema", "schema": []}, "f.schema: must be a table"),
    ({"kind": "json_schema"}, "f.schema: a json_schema format needs its schema"),
    ({"kind": "regex", "pattern": "a", "flavour": "pcre"}, "f.flavour: is not a setting here"),
])
def test_a_hand_edited_format_record_is_refused_with_the_field(record, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        OutputFormat.from_record(record, "f")


def test_a_pane_keeps_its_format_and_its_answers_their_verdicts_in_the_session():
    state = PaneState(3, output_format=SCHEMA)
    question = state.conversation.add(None, USER, "Rate it")
    reply = new_reply(Sampling(output_format=SCHEMA), None, DONE)
    reply.verdict = SCHEMA.verdict('{"answer": "yes", "score": "x"}')
    state.conversation.add(question, ASSISTANT, '{"answer": "yes", "score": "x"}', reply=reply)
    session = SessionRecord(panes=[state, PaneState(4)], output_format=OutputFormat(REGEX, pattern="[0-9]+"))
    again = SessionRecord.from_data(json.loads(session.to_json()))
    assert again.to_data() == session.to_data()
    assert again.output_format.pattern == "[0-9]+"
    first, second = again.panes
    assert first.output_format == SCHEMA and second.output_format is None  # None: the defaults'
    answer = first.conversation.last().reply
    assert answer.verdict == reply.verdict and answer.settings["format"] == SCHEMA.record()
    # a session of before formats opens: no format anywhere
    old = session.to_data()
    del old["output_format"]
    for pane in old["panes"]:
        del pane["output_format"]
    assert SessionRecord.from_data(old).output_format == FREE_FORMAT
    assert pane_from_record(pane_record(PaneState(9)), "p").output_format is None


def test_a_pane_without_a_format_takes_the_defaults_and_a_bad_one_sends_nothing():
    defaults = Sampling(output_format=OutputFormat(JSON_OBJECT))
    assert effective_sampling(defaults, {}).output_format.kind == JSON_OBJECT
    assert effective_sampling(defaults, {}, FREE_FORMAT).output_format.is_free  # the pane's own: free
    with pytest.raises(ParamError, match="output format: the pattern does not compile"):
        effective_sampling(defaults, {"seed": "3"}, OutputFormat(REGEX, pattern="(a"))
    assert Sampling(output_format=SCHEMA).summary().endswith("· json-schema")
    with pytest.raises(ParamError):
        Sampling(output_format={"kind": "regex"})


def test_an_answer_written_with_another_format_is_stale():
    reply = new_reply(Sampling(output_format=SCHEMA), None, DONE)
    assert stale_reason(reply, None, Sampling(output_format=SCHEMA)) is None
    assert stale_reason(reply, None, Sampling()) == "written with other settings (format)"
    old = new_reply(Sampling(), None, DONE)
    del old.settings["format"]  # an answer of before formats: it was free text
    assert stale_reason(old, None, Sampling()) is None


def test_a_run_judges_its_answer_when_it_ends_and_only_then():
    sampling = Sampling(output_format=OutputFormat(CHOICE, ("yes", "no")))
    conversation = Conversation()
    question = conversation.add(None, USER, "Well?")
    answer = conversation.add(question, ASSISTANT, reply=new_reply(sampling, None, STREAMING))
    run = Run(answer, Request.of_prompt("Well?", sampling, "r1"))
    run.take(Delta("ye", 1, 1, None, 0.0, 0.01))
    assert answer.reply.verdict is None
    run.take(Delta("s", 2, 1, "stop", 0.0, 0.01))
    run.end(DONE)
    assert answer.reply.verdict == Verdict(True, "choice ✓")
    cancelled = conversation.add(question, ASSISTANT, "ye", reply=new_reply(sampling, None, STREAMING))
    Run(cancelled, Request.of_prompt("Well?", sampling, "r2")).end("cancelled")
    assert cancelled.reply.verdict is None  # a partial answer is not judged


def test_the_export_says_each_answers_format_and_whether_it_took_it():
    state = PaneState(1, output_format=SCHEMA)
    question = state.conversation.add(None, USER, "Rate it")
    reply = new_reply(Sampling(output_format=SCHEMA), None, DONE)
    reply.verdict = SCHEMA.verdict('{"answer": "<b>x</b>"}')
    state.conversation.add(question, ASSISTANT, '{"answer": "<b>x</b>"}', reply=reply)
    panes = [ExportedPane(state, None, Sampling(output_format=SCHEMA))]
    data = json.loads(to_json(panes, "m"))["panes"][0]
    assert data["settings"]["format"] == SCHEMA.record()
    (answer,) = data["replies"]
    assert answer["format"] == SCHEMA.record() and answer["valid"] is False
    assert answer["validation_error"] == "$: 'score' is a required property"
    markdown = to_markdown(panes, "m")
    assert "output format JSON schema" in markdown and "✗ $: 'score' is a required property" in markdown


# -- sweeps, batch files, the command line ----------------------------------------------------------
def test_a_sweep_takes_the_format_as_a_dimension():
    combos = parse_sweep("format=free,pane seed=1,2", [], 10, pane_format=SCHEMA)
    assert [(c.output_format, c.overrides, c.label) for c in combos] == [
        (FREE_FORMAT, {"seed": "1"}, "format=free · seed=1"), (FREE_FORMAT, {"seed": "2"}, "format=free · seed=2"),
        (SCHEMA, {"seed": "1"}, "format=pane · seed=1"), (SCHEMA, {"seed": "2"}, "format=pane · seed=2")]
    assert parse_sweep("format=regex:[0-9]{1,3},json", [], 10)[0].output_format.pattern == "[0-9]{1,3}"
    assert parse_sweep("seed=1,2", [], 10)[0].output_format is None  # the pane's own
    with pytest.raises(SweepError, match=re.escape("format=regex:(a: the pattern does not compile")):
        parse_sweep("format=free,regex:(a", [], 10)
    with pytest.raises(SweepError, match="'yaml' is not a format"):
        parse_sweep("format=yaml", [], 10)


def test_a_batch_file_gives_formats_by_key_or_as_a_dimension(tmp_path):
    (tmp_path / "score.json").write_text(json.dumps(SCORE))
    path = tmp_path / "b.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in [
        {"prompt": "a", "choice": ["yes", "no"]},
        {"prompt": "b", "json_schema": "score.json", "disable_any_whitespace": True, "seed": [1, 2]},
        {"prompt": "c", "format": ["free", "json", "regex:[0-9]{1,3}"]},
        {"prompt": "d", "json_schema": SCORE, "disable_additional_properties": True},
        {"prompt": "e"},
    ]) + "\n")
    jobs = load_batch(path, Sampling(output_format=OutputFormat(JSON_OBJECT)))
    formats = [j.sampling.output_format for j in jobs]
    assert formats[0] == OutputFormat(CHOICE, ("yes", "no"))
    assert formats[1] == formats[2] == OutputFormat(JSON_SCHEMA, schema=SCORE, disable_any_whitespace=True,
                                                    source=str(tmp_path / "score.json"))
    assert [f.kind for f in formats[3:6]] == ["free", "json_object", "regex"]
    assert formats[6].sent_schema()["additionalProperties"] is False
    assert formats[7].kind == JSON_OBJECT  # the command line's
    conversation, answer = Conversation(), None
    question = conversation.add(None, USER, "a")
    answer = conversation.add(question, ASSISTANT, "maybe", reply=new_reply(jobs[0].sampling, None, DONE))
    answer.reply.verdict = jobs[0].sampling.output_format.verdict("maybe")
    line = batch_record(jobs[0], conversation, [answer], None)
    assert line["format"] == {"kind": "choice", "choices": ["yes", "no"]}
    assert line["valid"] is False and line["validation_error"] == "'maybe' is not one of the 2 choices"


@pytest.mark.parametrize("line, message", [
    ({"prompt": "a", "json_schema": {"type": "integr"}}, "b.jsonl:1: json_schema: not a valid JSON Schema: $.type"),
    ({"prompt": "a", "json_schema": "nowhere.json"}, "b.jsonl:1: json_schema: nowhere.json: no such file"),
    ({"prompt": "a", "regex": "(?<=a)b"}, "b.jsonl:1: regex: vLLM's regex reader (xgrammar) refuses it"),
    ({"prompt": "a", "grammar": 'root ::= "a" | ('}, "b.jsonl:1: grammar: the grammar does not compile"),
    ({"prompt": "a", "choice": "yes"}, "b.jsonl:1: choice: a non-empty list of non-empty strings"),
    ({"prompt": "a", "regex": "a", "choice": ["a"]}, "b.jsonl:1: give one output format, not choice and regex"),
    ({"prompt": "a", "regex": "a", "disable_any_whitespace": True},
     "b.jsonl:1: disable_any_whitespace goes with json_schema or json_object"),
    ({"prompt": "a", "format": "xml"}, "b.jsonl:1: format: 'xml' is not a format"),
])
def test_a_bad_format_in_a_batch_file_is_named_with_its_line(tmp_path, line, message):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(line) + "\n")
    with pytest.raises(BatchError) as caught:
        load_batch(path)
    assert message in str(caught.value)


def test_a_grammar_file_of_a_batch_is_read_beside_it_and_named_when_it_is_bad(tmp_path):
    (tmp_path / "bad.ebnf").write_text('root ::= "a" | (\n')
    path = tmp_path / "b.toml"
    path.write_text('prompts = ["x"]\ngrammar = "bad.ebnf"\n')
    with pytest.raises(BatchError, match=f"b.toml: grammar {tmp_path / 'bad.ebnf'}: the grammar does not compile"):
        load_batch(path)


def test_the_command_line_flags_give_the_format_and_a_bad_one_is_a_usage_error(tmp_path):
    (tmp_path / "score.json").write_text(json.dumps(SCORE))
    plan = make_plan(["--base-url", "http://x/v1", "--json-schema", str(tmp_path / "score.json"),
                      "--disable-any-whitespace"], Config())
    assert plan.sampling.output_format.schema == SCORE and plan.sampling.output_format.disable_any_whitespace
    assert plan.cli_sampling_given
    plan = make_plan(["--base-url", "http://x/v1", "--choice", "yes", "--choice", "no"], Config())
    assert plan.sampling.output_format.choices == ("yes", "no")
    assert make_plan(["--base-url", "http://x/v1", "--json-schema", '{"type": "object"}'], Config()) \
        .sampling.output_format.schema == {"type": "object"}
    (tmp_path / "bad.json").write_text('{"type": "object", "properties": {"s": {"type": 3}}}')
    for argv, message in [
        (["--json-schema", str(tmp_path / "bad.json")],
         f"--json-schema {tmp_path / 'bad.json'}: not a valid JSON Schema: $.properties.s.type"),
        (["--regex", "(a"], "--regex: the pattern does not compile at position 0"),
        (["--grammar", str(tmp_path / "none.ebnf")], "--grammar: "),
        (["--regex", "a", "--json-object"], "give one output format, not --regex and --json-object"),
        (["--choice", "a", "--disable-any-whitespace"], "--disable-any-whitespace goes with --json-schema"),
    ]:
        with pytest.raises(UsageError) as caught:
            make_plan(["--base-url", "http://x/v1", *argv], Config())
        assert message in str(caught.value), argv


# -- what is sent ----------------------------------------------------------------------------------
def test_vllm_is_sent_its_structured_outputs_fields():
    assert vllm_fields(OutputFormat(CHOICE, ("yes", "no"))) == {"choice": ["yes", "no"]}
    assert vllm_fields(OutputFormat(REGEX, pattern="[0-9]+")) == {"regex": "[0-9]+"}
    assert vllm_fields(OutputFormat(GRAMMAR, grammar='root ::= "a"')) == {"grammar": 'root ::= "a"'}
    assert vllm_fields(SCHEMA) == {"json": SCORE}
    assert vllm_fields(OutputFormat(JSON_OBJECT)) == {"json_object": True}
    closed = vllm_fields(OutputFormat(JSON_SCHEMA, schema=SCORE, disable_additional_properties=True))
    assert closed["json"]["additionalProperties"] is False and closed["disable_additional_properties"] is True


def test_no_free_whitespace_is_sent_as_the_schemas_compact_grammar():
    """vLLM 0.32 ignores a request's disable_any_whitespace: the compact grammar (xgrammar's, as
    vLLM's backend makes it) holds the answer to no whitespace between JSON tokens."""
    import xgrammar

    (grammar,) = vllm_fields(OutputFormat(JSON_SCHEMA, schema=SCORE, disable_any_whitespace=True)).values()
    assert grammar == compact_grammar(json.dumps(SCORE, sort_keys=True))

    def accepts(text: str) -> bool:
        compiler = xgrammar.GrammarCompiler(xgrammar.TokenizerInfo([]), cache_enabled=False)
        matcher = xgrammar.GrammarMatcher(compiler.compile_grammar(xgrammar.Grammar.from_ebnf(grammar)),
                                          terminate_without_stop_token=True)
        return matcher.accept_string(text) and matcher.is_terminated()

    assert accepts('{"answer":"yes","score":3}')
    assert not accepts('{"answer": "yes", "score": 3}') and not accepts('{\n"answer":"yes","score":3}')
    assert not accepts('{"answer":"maybe","score":3}')


def test_a_server_that_is_not_vllm_gets_response_format_for_json_and_nothing_else():
    assert response_format(OutputFormat(JSON_OBJECT)) == {"type": "json_object"}
    assert response_format(SCHEMA) == {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": SCORE, "strict": True}}
    with pytest.raises(NotExpressible, match="a server that is not vLLM takes no regex format"):
        response_format(OutputFormat(REGEX, pattern="a"))


def test_the_remote_request_body_carries_the_format():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", model="m")
    request = Request.of_prompt("q", Sampling(output_format=SCHEMA), "r")
    body = backend.request_body(request)
    assert body["extra_body"]["structured_outputs"] == {"json": SCORE} and "response_format" not in body
    backend._structured_outputs = False  # what a server that refused the field leaves
    body = backend.request_body(request)
    assert body["response_format"]["json_schema"]["schema"] == SCORE
    assert "structured_outputs" not in body.get("extra_body", {})
    assert "stream_options" in body and "structured_outputs" not in backend.request_body(
        Request.of_prompt("q", Sampling(), "r")).get("extra_body", {})


@pytest.mark.parametrize("message, refused", [
    ("Unrecognized request argument supplied: structured_outputs", True),
    ("structured_outputs: Extra inputs are not permitted", True),
    ("Invalid grammar specification in structured_outputs: expected ')'", False),
    ("Unrecognized request argument supplied: continuous_usage_stats", False),
])
def test_only_a_refusal_of_the_field_itself_turns_to_response_format(message, refused):
    assert refuses_field(message, "structured_outputs") is refused
