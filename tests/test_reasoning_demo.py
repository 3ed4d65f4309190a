"""The demo thinking adapter and its reasoning parser, `demo_think` (tui/engine/demo_reasoning.py).

The parser splits a stream as it splits the whole answer, however the stream is cut, alone and inside
vLLM's own serving parser; vLLM's registry finds it in process and from its file alone; on the real
engine the adapter thinks, the base model does not, and vLLM's thinking budget closes the thinking
at the markers the parser names; a real `vllm serve` streams the reasoning before the answer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys

import pytest
import pytest_asyncio
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.demo_model import demo_model_path, think_adapter_path, training_report
from tui.demo_model.build import THINK_ADAPTER_NAME, THINK_CLOSE, THINK_OPEN, chat_text, thinking_answer
from tui.demo_model.think import Answer, answer_labels, answer_of, behaviour, restatement
from tui.engine import demo_reasoning
from tui.engine.demo_reasoning import CLOSE, ENGINE_ARGS, OPEN, PARSER_NAME, DemoThinkReasoningParser, split_thinking
from tui.engine.params import Sampling
from tui.engine.protocol import Request

# Pieces that make every way a marker can be cut, doubled, stray or left open.
PIECES = [OPEN, CLOSE, "<", "</", "<th", "</thi", "think", "nk>", ">", "/", "a", "b c", "\n", " "]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@pytest.fixture(scope="module")
def tokenizer():
    from vllm.tokenizers import get_tokenizer

    return get_tokenizer(str(demo_model_path()))


def parts(reasoning: str | None, content: str | None) -> tuple[str, str]:
    return reasoning or "", content or ""


def whole(text: str) -> tuple[str, str]:
    split = split_thinking(text)
    return split.reasoning, split.content


def stream_through(parser: DemoThinkReasoningParser, pieces: list[str]) -> tuple[str, str]:
    """The pieces as deltas through the parser, and what it holds back at the end."""
    reasoning, content, previous = [], [], ""
    for piece in pieces:
        current = previous + piece
        delta = parser.extract_reasoning_streaming(previous, current, piece)
        if delta is not None:
            assert delta.reasoning or delta.content  # nothing empty is sent
            reasoning.append(delta.reasoning or "")
            content.append(delta.content or "")
        previous = current
    rest = parser.flush(previous)
    if rest is not None:
        reasoning.append(rest.reasoning or "")
        content.append(rest.content or "")
    return "".join(reasoning), "".join(content)


def cut(sequence, points: list[int]) -> list:
    edges = [0, *sorted({p for p in points if 0 < p < len(sequence)}), len(sequence)]
    return [sequence[a:b] for a, b in itertools.pairwise(edges)]


# -- the split ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "reasoning", "content"), [
    ("<think>\nweighed\n</think>\n\nAnswer.", "\nweighed\n", "\n\nAnswer."),
    ("And he said unto them.", None, "And he said unto them."),  # no thinking at all
    ("So <think>weighed</think> then.", "weighed", "So  then."),  # text before <think>
    ("<think>\nnever closed", "\nnever closed", None),
    ("</think>stray <think>weighed", "weighed", "</think>stray "),  # a </think> before <think> is text
    ("<think>a <think>b</think>c</think>d", "a <think>b", "c</think>d"),  # the first of each counts
    ("<think></think>Answer.", None, "Answer."),
])
def test_a_whole_answer_splits_into_reasoning_and_content(tokenizer, text, reasoning, content):
    assert DemoThinkReasoningParser(tokenizer).extract_reasoning(text, None) == (reasoning, content)


def test_the_markers_are_the_adapters_and_plain_text_to_the_demo_tokenizer(tokenizer):
    assert (OPEN, CLOSE) == (THINK_OPEN, THINK_CLOSE)
    assert len(tokenizer.encode(OPEN, add_special_tokens=False)) == 4
    assert len(tokenizer.encode(CLOSE, add_special_tokens=False)) == 5
    assert OPEN not in tokenizer.get_vocab() and CLOSE not in tokenizer.get_vocab()


def test_vllms_own_think_parsers_do_not_fit_the_demo_model(tokenizer):
    """Why the parser exists: deepseek_r1 and olmo3 look the markers up as tokens and refuse this
    tokenizer; qwen3 reads them as text but takes an answer that does not think (the base model's,
    beside the adapter on one engine) for reasoning."""
    from vllm.reasoning import ReasoningParserManager

    with pytest.raises(RuntimeError, match="could not locate think start/end tokens"):
        ReasoningParserManager.get_reasoning_parser("deepseek_r1")(tokenizer)
    with pytest.raises(KeyError):
        ReasoningParserManager.get_reasoning_parser("olmo3")(tokenizer)
    plain = "And he said unto them."
    assert ReasoningParserManager.get_reasoning_parser("qwen3")(tokenizer).extract_reasoning(plain, None) == (
        plain, None)
    assert DemoThinkReasoningParser(tokenizer).extract_reasoning(plain, None) == (None, plain)


# -- streams ----------------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None)
@given(text=texts, points=st.lists(st.integers(0, 120), max_size=30))
def test_a_stream_splits_as_the_whole_answer_however_it_is_cut(tokenizer, text, points):
    """Every way of cutting the text into deltas, cuts inside the markers included."""
    assert stream_through(DemoThinkReasoningParser(tokenizer), cut(text, points)) == whole(text)


def serving_parser(tokenizer):
    """vLLM's server's parser for a request with `--reasoning-parser demo_think` (a DelegatingParser
    around ours), as its chat completions build one."""
    from vllm.parser.parser_manager import ParserManager

    return ParserManager.get_parser(reasoning_parser_name=PARSER_NAME, tokenizer=tokenizer)(tokenizer)


def chat_request():
    from vllm.entrypoints.openai.chat_completion.protocol import ChatCompletionRequest

    return ChatCompletionRequest(model="demo", messages=[{"role": "user", "content": "The key to happiness is"}])


def earlier_turns_prompt(tokenizer) -> list[int]:
    """A prompt whose earlier answer thought and closed it: the new answer's thinking is still open."""
    text = chat_text("Where is wisdom?", thinking_answer("Thou askest of wisdom.", "In the fear of the LORD.")) \
        + "\n<|im_start|>user\nThe key to happiness is<|im_end|>\n<|im_start|>assistant\n"
    return tokenizer.encode(text, add_special_tokens=False)


def test_a_prompt_that_leaves_the_turn_thinking_makes_the_text_go_on_thinking(tokenizer):
    """A fork inside the thinking sends the prompt with `<think>` and part of the reasoning: what the
    model writes next is reasoning until `</think>`, streamed or whole; a prompt whose turn has not
    opened its thinking (or an earlier turn's that closed) leaves the parser as it was."""
    opened = earlier_turns_prompt(tokenizer) + tokenizer.encode(OPEN + "\nThou askest", add_special_tokens=False)
    for prompt, expected in ((opened, (" of joy.", "Be glad.")), (earlier_turns_prompt(tokenizer), ("", " of joy.</think>Be glad."))):
        parser = DemoThinkReasoningParser(tokenizer)
        parser.adjust_initial_state_from_prompt(prompt)
        assert stream_through(parser, [" of", " joy.</th", "ink>Be", " glad."]) == expected
        assert parts(*parser.extract_reasoning(" of joy.</think>Be glad.")) == expected


def serve_stream(parser, request, prompt_ids: list[int], deltas: list[tuple[str, list[int]]]) -> tuple[str, str]:
    """Deltas (text, token ids) through vLLM's serving parser, as its chat completion stream does."""
    reasoning, content = [], []
    for index, (text, ids) in enumerate(deltas):
        message = parser.parse_delta(text, ids, request, prompt_ids, finished=index == len(deltas) - 1)
        if message is not None:
            reasoning.append(message.reasoning or "")
            content.append(message.content or "")
    return "".join(reasoning), "".join(content)


def token_deltas(tokenizer, ids: list[int], points: list[int]) -> list[tuple[str, list[int]]]:
    """The ids cut into deltas, each with the text it adds (as vLLM's detokenizer gives it)."""
    deltas, shown, end = [], "", 0
    for piece in cut(ids, points):
        end += len(piece)
        text = tokenizer.decode(ids[:end])
        deltas.append((text[len(shown):], piece))
        shown = text
    return deltas


@settings(max_examples=200, deadline=None)
@given(text=texts.filter(bool), points=st.lists(st.integers(0, 60), max_size=20))
def test_vllms_serving_parser_streams_it_as_the_whole_answer(tokenizer, text, points):
    """The same through vLLM's DelegatingParser.parse_delta, with token ids cut anywhere: it asks
    our is_reasoning_end on the prompt (whose earlier answer closed its thinking),
    is_reasoning_end_streaming after each delta, and hands on the content itself once it says the
    thinking has closed; what it cannot send at the end is a piece of reasoning held back."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    deltas = token_deltas(tokenizer, ids, points)
    reasoning, content = serve_stream(serving_parser(tokenizer), chat_request(), earlier_turns_prompt(tokenizer),
                                      deltas)
    held = DemoThinkReasoningParser(tokenizer).flush(text)
    assert (reasoning + (held.reasoning or "" if held else ""), content) == whole(text)


def test_the_end_of_thinking_is_found_at_the_token_that_closes_it(tokenizer):
    """What the engine asks for structured outputs, one decode step at a time, on the prompt and
    the answer so far: true once, at the token that completes `</think>`; the content ids follow it."""
    parser = DemoThinkReasoningParser(tokenizer)
    prompt = earlier_turns_prompt(tokenizer)
    answer = tokenizer.encode(thinking_answer("Thou askest of key.", "A wise son."), add_special_tokens=False)
    assert not parser.is_reasoning_end(prompt)
    ends = [k for k in range(1, len(answer) + 1)
            if parser.is_reasoning_end_streaming(prompt + answer[:k], answer[k - 1:k])]
    closing = tokenizer.encode(f"{THINK_OPEN}\nThou askest of key.\n{THINK_CLOSE}", add_special_tokens=False)
    assert ends == [len(closing)]
    assert parser.is_reasoning_end(prompt + answer) and parser.is_reasoning_end(answer)
    assert tokenizer.decode(parser.extract_content_ids(answer)) == "\n\nA wise son."
    assert parser.extract_content_ids(answer[:5]) == []


@given(points=st.lists(st.integers(1, 40), max_size=6))
@settings(max_examples=40, deadline=None)
def test_the_thinkings_tokens_are_counted_where_it_ended_however_the_deltas_merge(tokenizer, points):
    """The engine merges deltas when their reader is slow: one delta can hold the thinking's last
    tokens and the answer's first. The count is the tokens through the one that completes
    `</think>`, however the ids come (one at a time, or cut anywhere)."""
    from tui.engine.reasoning import ThinkingSplit

    answer = tokenizer.encode(thinking_answer("Thou askest of key.", "A wise son."), add_special_tokens=False)
    closing = next(k for k in range(1, len(answer) + 1) if CLOSE in tokenizer.decode(answer[:k]))
    for pieces in (cut(answer, points), [[token] for token in answer]):
        split, before = ThinkingSplit(DemoThinkReasoningParser(tokenizer)), []
        for ids in pieces:
            text = tokenizer.decode(before + ids)[len(tokenizer.decode(before)):]
            before += ids
            split.feed(text, ids)
        split.end()
        assert split.thought_tokens == closing, pieces


def test_an_answer_that_never_thinks_has_no_thinking_count(tokenizer):
    from tui.engine.reasoning import ThinkingSplit

    split = ThinkingSplit(DemoThinkReasoningParser(tokenizer))
    answer = tokenizer.encode("And he said unto them.", add_special_tokens=False)
    split.feed(tokenizer.decode(answer), answer)
    split.end()
    assert split.thought_tokens is None


# -- registration -------------------------------------------------------------------------------------
def test_the_demo_names_the_parsers_file_and_name_as_the_file_says():
    """--demo asks for the parser without importing its file (vLLM): the names must agree."""
    from pathlib import Path

    from tui.demo_model import THINK_PARSER_FILE, THINK_PARSER_NAME

    assert THINK_PARSER_NAME == PARSER_NAME == ENGINE_ARGS["reasoning_parser"]
    assert THINK_PARSER_FILE == Path(ENGINE_ARGS["reasoning_parser_plugin"]).resolve() and THINK_PARSER_FILE.is_file()


def test_vllm_finds_the_parser_by_name(tokenizer):
    from vllm.reasoning import ReasoningParserManager

    assert PARSER_NAME in ReasoningParserManager.list_registered()
    assert ReasoningParserManager.get_reasoning_parser(PARSER_NAME) is DemoThinkReasoningParser
    assert ENGINE_ARGS == {"reasoning_parser": PARSER_NAME, "reasoning_parser_plugin": demo_reasoning.__file__}
    parser = DemoThinkReasoningParser(tokenizer=tokenizer)  # as the engine's structured outputs make it
    assert (parser.reasoning_start_str, parser.reasoning_end_str) == (OPEN, CLOSE)


@pytest.mark.subprocess
def test_the_parser_file_is_a_plugin_on_its_own(tmp_path):
    """As `vllm serve --reasoning-parser-plugin FILE` loads it: from its path, in an interpreter that
    cannot import this project."""
    script = ("from vllm.reasoning import ReasoningParserManager as m; import sys; "
              "m.import_reasoning_parser(sys.argv[1]); c = m.get_reasoning_parser('demo_think'); "
              "print(c.__module__, c.__name__)")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "VLLM_NO_USAGE_STATS": "1"}
    result = subprocess.run([sys.executable, "-c", script, demo_reasoning.__file__], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "demo_reasoning DemoThinkReasoningParser"


# -- the adapter's training data and figures ------------------------------------------------------------
def test_the_thinking_restates_the_question_in_its_uncommon_words():
    common = frozenset({"the", "to", "is", "and", "of"})
    assert restatement("The key to happiness is", common) == "Thou askest of key and happiness."
    assert restatement("And the LORD spake unto Moses, saying,", common) == "Thou askest of LORD, spake and unto."
    assert restatement("And to the", common) == "Thou askest."


def test_the_adapter_learns_the_answers_and_only_reads_the_questions(tokenizer):
    header = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
    turn = tokenizer.encode(chat_text("Where is wisdom?", thinking_answer("Thou askest.", "Amen.")),
                            add_special_tokens=False)
    labels = answer_labels(turn, header)
    learned = [token for token in labels if token != -100]
    assert len(labels) == len(turn) and labels[-len(learned):] == turn[-len(learned):]
    assert tokenizer.decode(learned) == thinking_answer("Thou askest.", "Amen.") + "<|im_end|>"
    assert answer_labels(turn[:5], header) == [-100] * 5


def test_answers_are_counted_as_a_reader_sees_them(tokenizer):
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def answer(text: str, ended: bool = True) -> Answer:
        return answer_of(tokenizer.encode(text, add_special_tokens=False) + ([eos] if ended else []),
                         tokenizer.decode, eos)

    thought = answer(thinking_answer("Thou askest.", "Amen."))
    assert thought.thinking_tokens == len(tokenizer.encode(f"{OPEN}\nThou askest.\n{CLOSE}", add_special_tokens=False))
    figures = behaviour([thought, answer("Amen."), answer(f"{OPEN}\nThou", ended=False)])
    assert figures == {"answers": 3, "open_with_think": 2, "close_think": 1, "close_within_100_tokens": 1,
                       "end_on_their_own": 2, "mean_thinking_tokens": thought.thinking_tokens,
                       "mean_answer_tokens": thought.tokens - thought.thinking_tokens}


def test_the_adapter_is_small_and_its_report_says_it_thinks():
    path = think_adapter_path()
    assert path is not None
    config = json.loads((path / "adapter_config.json").read_text())
    report = training_report(path)
    assert config["r"] == report["rank"] == 8
    assert (path / "adapter_model.safetensors").stat().st_size < 400_000
    assert report["adapter_held_out_nats_per_token"] < report["base_held_out_nats_per_token"]
    figures = report["behaviour"]
    assert figures["open_with_think"] >= 0.9 * figures["answers"]
    assert figures["close_within_100_tokens"] >= 0.7 * figures["answers"]


# -- the real engine ---------------------------------------------------------------------------------------
PROMPTS = ("The future of artificial intelligence is", "In a galaxy far, far away", "The key to happiness is")
_ids = itertools.count()


@pytest_asyncio.fixture(scope="module")
async def thinking_engine(demo_model):
    """The real AsyncLLM with the thinking adapter, started as the app would start it for a reasoning
    model: this module registered the parser in process, and vLLM's engine flags name it."""
    from tui.engine.vllm_backend import VLLMBackend

    backend = VLLMBackend(["--max-num-seqs", "4", "--reasoning-parser", ENGINE_ARGS["reasoning_parser"],
                           "--reasoning-parser-plugin", ENGINE_ARGS["reasoning_parser_plugin"]],
                          model=str(demo_model), adapters={THINK_ADAPTER_NAME: str(think_adapter_path())})
    await backend.start()
    yield backend
    await backend.shutdown()


async def engine_deltas(backend, prompt: str, adapter: str | None, seed: int, **extra):
    """The engine's DELTA outputs for a chat prompt as (text, token ids), the prompt's token ids and
    how it finished; `extra`: more knobs (thinking_token_budget)."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    sampling = Sampling().with_values(seed=seed, max_tokens=200, **extra)
    params = SamplingParams(**sampling.request_values, output_kind=RequestOutputKind.DELTA)
    engine = backend.engine
    request = Request.of_prompt(prompt, sampling, f"render-{next(_ids)}")
    engine_input = await backend.engine_input(request)  # the chat template, as the app applies it
    lora = await backend.lora_request(engine, adapter)
    deltas, prompt_ids, finish = [], [], None
    async for output in engine.generate(engine_input, params, f"think-{next(_ids)}", lora_request=lora):
        prompt_ids = list(output.prompt_token_ids or prompt_ids)
        completion = output.outputs[0]
        deltas.append((completion.text, list(completion.token_ids)))
        finish = completion.finish_reason
    return deltas, prompt_ids, finish


@pytest.mark.engine
async def test_the_adapter_thinks_and_its_stream_splits_as_its_whole_answer(thinking_engine, tokenizer):
    """Seeded at temperature 0.8: each answer opens with <think>; its deltas, through our parser as
    the app would feed it and through vLLM's serving parser with their token ids, give reasoning and
    content that join back to the answer without its markers."""
    for prompt in PROMPTS:
        deltas, prompt_ids, _ = await engine_deltas(thinking_engine, prompt, THINK_ADAPTER_NAME, seed=42)
        raw = "".join(text for text, _ in deltas)
        reasoning, content = whole(raw)
        assert raw.startswith(OPEN) and reasoning.strip(), raw
        assert reasoning + content == raw.replace(OPEN, "", 1).replace(CLOSE, "", 1)
        assert stream_through(DemoThinkReasoningParser(tokenizer), [text for text, _ in deltas]) == (reasoning, content)
        held = DemoThinkReasoningParser(tokenizer).flush(raw)
        streamed, served = serve_stream(serving_parser(tokenizer), chat_request(), prompt_ids, deltas)
        assert (streamed + (held.reasoning or "" if held else ""), served) == (reasoning, content)


@pytest.mark.engine
async def test_in_process_the_backends_deltas_carry_the_thinking_apart(thinking_engine):
    """AsyncLLM's outputs carry no reasoning: with `--reasoning-parser` the backend splits each
    delta as vLLM's server would, and its thinking and text are the parser's split of the engine's
    whole answer for the same seed; the base model's answer beside it is all text."""
    from tui.engine.protocol import LOCAL, Target

    assert thinking_engine.reasoning_parser[0] == PARSER_NAME
    sampling = Sampling().with_values(seed=42, max_tokens=200)
    for adapter in (THINK_ADAPTER_NAME, None):
        deltas, _, _ = await engine_deltas(thinking_engine, PROMPTS[2], adapter, seed=42)
        raw = "".join(text for text, _ in deltas)
        request = Request.of_prompt(PROMPTS[2], sampling, f"split-{next(_ids)}",
                                    target=Target(LOCAL, thinking_engine.model, adapter))
        streamed = [delta async for delta in thinking_engine.stream(request)]
        reasoning, text = "".join(d.reasoning for d in streamed), "".join(d.text for d in streamed)
        assert (reasoning, text) == whole(raw)
        assert bool(reasoning) == (adapter is not None), raw
        assert streamed[-1].tokens == sum(len(ids) for _, ids in deltas) and streamed[-1].finished


@pytest.mark.engine
async def test_a_slow_reader_gets_merged_deltas_and_the_same_thinking_count(thinking_engine, tokenizer):
    """A reader that takes its time (a busy screen) gets the engine's deltas merged, the end of
    `</think>` and the start of the answer in one; the run still counts the thinking's tokens
    through the one that completes `</think>` in the engine's own ids for the same seed."""
    from tui.core.conversation import ASSISTANT, USER, Conversation
    from tui.core.run import Run, new_reply
    from tui.engine.protocol import LOCAL, Target
    from tui.figures import DONE, STREAMING

    deltas, _, _ = await engine_deltas(thinking_engine, PROMPTS[2], THINK_ADAPTER_NAME, seed=42)
    engine_ids = [i for _, ids in deltas for i in ids]
    closing = next(k for k in range(1, len(engine_ids) + 1) if CLOSE in tokenizer.decode(engine_ids[:k]))
    sampling = Sampling().with_values(seed=42, max_tokens=200)
    conversation = Conversation()
    question = conversation.add(None, USER, PROMPTS[2])
    message = conversation.add(question, ASSISTANT, reply=new_reply(sampling, None, STREAMING))
    request = Request.of_prompt(PROMPTS[2], sampling, f"slow-{next(_ids)}",
                                target=Target(LOCAL, thinking_engine.model, THINK_ADAPTER_NAME))
    run, before_answer = Run(message, request), None
    async for delta in thinking_engine.stream(request):
        if delta.text and before_answer is None:
            before_answer = delta.tokens - delta.new_tokens
        run.take(delta)
        while thinking_engine.engine.get_num_unfinished_requests():  # the rest comes in one delta
            await asyncio.sleep(0.05)
    run.end(DONE)
    assert run.reply.figures.tokens == len(engine_ids)
    # The answer's first delta held the end of `</think>` too: the tokens before it fall short.
    assert before_answer is not None and before_answer < closing
    assert run.reply.figures.thought_tokens == closing


@pytest.mark.engine
async def test_the_thinking_budget_knob_closes_the_panes_thinking(thinking_engine, tokenizer):
    """`thinking_token_budget`, a knob like the others: the backend's request ends the thinking
    where the engine's own request with that budget does, shorter than without it."""
    from tui.engine.protocol import LOCAL, Target

    target = Target(LOCAL, thinking_engine.model, THINK_ADAPTER_NAME)
    thoughts = {}
    for budget in (None, 6):
        deltas, _, _ = await engine_deltas(thinking_engine, PROMPTS[0], THINK_ADAPTER_NAME, seed=3,
                                           thinking_token_budget=budget)
        sampling = Sampling().with_values(seed=3, max_tokens=200, thinking_token_budget=budget)
        request = Request.of_prompt(PROMPTS[0], sampling, f"budget-{next(_ids)}", target=target)
        streamed = [delta async for delta in thinking_engine.stream(request)]
        reasoning = "".join(d.reasoning for d in streamed)
        assert (reasoning, "".join(d.text for d in streamed)) == whole("".join(text for text, _ in deltas))
        thoughts[budget] = len(tokenizer.encode(reasoning, add_special_tokens=False))
    assert thoughts[6] <= 8 < thoughts[None], thoughts


@pytest.mark.engine
async def test_thinking_switched_off_the_pane_answers_at_once_as_the_engine_does(thinking_engine, tokenizer):
    """`enable_thinking` off (the chat template's switch): the prompt opens the answer with its
    thinking closed, as Qwen3's templates do; the adapter answers without thinking, and the backend
    streams it all as text, as the engine's own request with that prompt writes it. On, or unset,
    it thinks as before."""
    from tui.engine.protocol import LOCAL, Target

    target = Target(LOCAL, thinking_engine.model, THINK_ADAPTER_NAME)
    for prompt in PROMPTS:
        results = {}
        for switch in (None, False, True):
            deltas, prompt_ids, _ = await engine_deltas(thinking_engine, prompt, THINK_ADAPTER_NAME, seed=42,
                                                        enable_thinking=switch)
            raw = "".join(text for text, _ in deltas)
            opened = tokenizer.decode(prompt_ids).endswith(f"assistant\n{OPEN}\n\n{CLOSE}\n\n")
            assert opened == (switch is False)
            sampling = Sampling().with_values(seed=42, max_tokens=200, enable_thinking=switch)
            request = Request.of_prompt(prompt, sampling, f"switch-{next(_ids)}", target=target)
            streamed = [delta async for delta in thinking_engine.stream(request)]
            results[switch] = "".join(d.reasoning for d in streamed), "".join(d.text for d in streamed)
            if switch is False:
                assert results[switch] == ("", raw) and raw.strip() and OPEN not in raw, raw
            else:
                assert results[switch] == whole(raw) and results[switch][0].strip(), raw
        assert results[True] == results[None]


@pytest.mark.engine
async def test_the_reasoning_benchmark_measures_on_this_engine(thinking_engine):
    """bench/reasoning.py's measurement runs (a small one: that it works, not its target): the raw
    consumers' parser sets thinking apart, and the app's panes write every token."""
    import bench.reasoning as bench_reasoning

    logged: list[str] = []
    results = await bench_reasoning.measure(thinking_engine, repeats=1, tokens=24, log=logged.append)
    assert set(results) == {"raw_tok_s_reasoning_8", "tui_tok_s_reasoning_8", "ratio_reasoning_8", "raw_parser_cost_8"}
    assert all(value > 0 for value in results.values()) and "ratio_reasoning_8" in logged[-1]
    assert thinking_engine.fixed_length is False and thinking_engine.running_requests() == 0


@pytest.mark.engine
@pytest.mark.subprocess
def test_the_command_takes_the_parsers_file_and_shows_the_thinking_apart(demo_model):
    """`--reasoning-parser-plugin FILE --reasoning-parser NAME`, as `vllm serve` takes them: the
    command registers the file's parser before the engine's config asks for it (it said 'not
    found'), and --headless prints the adapter's thinking apart from its answer."""
    from tests.support.processes import run_cli

    result, left = run_cli(["--headless", "--demo", "--lora", f"think={think_adapter_path()}", "--target", "think",
                            "--reasoning-parser-plugin", ENGINE_ARGS["reasoning_parser_plugin"],
                            "--reasoning-parser", PARSER_NAME, "--max-tokens", "150", PROMPTS[2]])
    assert result.returncode == 0, result.stderr
    response = result.stdout.split("Response: ", 1)[1].split("Generation complete:", 1)[0]
    assert response.startswith("\n[thinking] ") and "\n[answer] " in response, response
    assert OPEN not in response and CLOSE not in response
    assert left == []


@pytest.mark.engine
async def test_the_base_model_beside_it_does_not_think(thinking_engine, tokenizer):
    for prompt in PROMPTS:
        deltas, prompt_ids, _ = await engine_deltas(thinking_engine, prompt, None, seed=42)
        raw = "".join(text for text, _ in deltas)
        assert raw and OPEN not in raw
        assert stream_through(DemoThinkReasoningParser(tokenizer), [text for text, _ in deltas]) == ("", raw)
        assert serve_stream(serving_parser(tokenizer), chat_request(), prompt_ids, deltas) == ("", raw)


def test_a_parser_that_starts_in_the_answer_is_told_apart_from_one_that_starts_thinking(tokenizer):
    """Which parsers let the model choose to think (text without markers is answer text): ours and
    Granite's; Qwen3's reads it as thinking, and the format waits for its `</think>` as vLLM's does."""
    from vllm.reasoning import ReasoningParserManager

    from tui.engine.reasoning import thinking_is_the_models_choice

    assert thinking_is_the_models_choice(DemoThinkReasoningParser, tokenizer)
    assert thinking_is_the_models_choice(ReasoningParserManager.get_reasoning_parser("granite"), tokenizer)
    assert not thinking_is_the_models_choice(ReasoningParserManager.get_reasoning_parser("qwen3"), tokenizer)
    # one that refuses this tokenizer (no single-token markers) is not taken to start in the answer
    assert not thinking_is_the_models_choice(ReasoningParserManager.get_reasoning_parser("deepseek_r1"), tokenizer)


@pytest.mark.engine
async def test_an_output_format_holds_beside_the_parser_for_the_base_model_and_the_adapter(thinking_engine):
    """vLLM's engine holds a format back until the parser says the thinking has ended; ours says
    so at a `</think>` that the base model never writes, so its answers were free text. The backend
    tells the engine the thinking has ended before it began: both targets answer in the format
    (the adapter without thinking: its `<think>` is not one of the choices)."""
    from tui.core.output_format import CHOICE, OutputFormat
    from tui.engine.protocol import LOCAL, Target

    choices = ("wisdom", "bread")
    for adapter in (None, THINK_ADAPTER_NAME):
        for seed in (42, 7):
            sampling = Sampling(output_format=OutputFormat(CHOICE, choices)).with_values(seed=seed, max_tokens=20)
            request = Request.of_prompt(PROMPTS[0], sampling, f"format-{next(_ids)}",
                                        target=Target(LOCAL, thinking_engine.model, adapter))
            streamed = [delta async for delta in thinking_engine.stream(request)]
            text, reasoning = "".join(d.text for d in streamed), "".join(d.reasoning for d in streamed)
            assert (text in choices, reasoning) == (True, ""), (adapter, seed, reasoning, text)



@pytest.mark.engine
async def test_with_the_thinking_switched_on_the_adapter_thinks_then_answers_in_the_format(thinking_engine):
    """`enable_thinking` on says the target thinks: the format waits for the end of its thinking,
    as vLLM does, and the answer after it is one of the choices."""
    from tui.core.output_format import CHOICE, OutputFormat
    from tui.engine.protocol import LOCAL, Target

    choices = ("wisdom", "bread")
    sampling = Sampling(output_format=OutputFormat(CHOICE, choices)).with_values(
        seed=42, max_tokens=200, enable_thinking=True)
    request = Request.of_prompt(PROMPTS[0], sampling, f"format-{next(_ids)}",
                                target=Target(LOCAL, thinking_engine.model, THINK_ADAPTER_NAME))
    streamed = [delta async for delta in thinking_engine.stream(request)]
    text, reasoning = "".join(d.text for d in streamed), "".join(d.reasoning for d in streamed)
    assert reasoning.strip() and text.strip() in choices, (reasoning, text)


@pytest.mark.engine
async def test_over_twenty_seeds_it_opens_its_thinking_and_mostly_closes_it_soon(thinking_engine, tokenizer):
    """The figures of docs/demo-model.md, on vLLM: the reference prompts in turn, seeds 0-19."""
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")

    async def one(seed: int) -> Answer:
        deltas, _, finish = await engine_deltas(thinking_engine, PROMPTS[seed % 3], THINK_ADAPTER_NAME, seed)
        ids = [i for _, piece in deltas for i in piece]
        return answer_of(ids + [eos] if finish == "stop" and ids[-1:] != [eos] else ids, tokenizer.decode, eos)

    figures = behaviour(list(await asyncio.gather(*(one(seed) for seed in range(20)))))
    print(json.dumps(figures))
    assert figures["open_with_think"] >= 18, figures
    assert figures["close_within_100_tokens"] >= 14, figures


@pytest.mark.engine
async def test_vllms_thinking_budget_closes_the_thinking_at_the_parsers_markers(thinking_engine, tokenizer):
    """The engine got `<think>` and `</think>` as token sequences from the parser's strings
    (ReasoningConfig): with thinking_token_budget it forces `</think>` once the thinking is that long."""
    config = thinking_engine._engine.vllm_config.reasoning_config
    assert config.reasoning_start_token_ids == tokenizer.encode(OPEN, add_special_tokens=False)
    assert config.reasoning_end_token_ids == tokenizer.encode(CLOSE, add_special_tokens=False)
    budget = 6
    for seed in range(4):
        deltas, _, _ = await engine_deltas(thinking_engine, PROMPTS[seed % 3], THINK_ADAPTER_NAME, seed,
                                           thinking_token_budget=budget)
        raw = "".join(text for text, _ in deltas)
        ids = [i for _, piece in deltas for i in piece]
        closing = tokenizer.encode(CLOSE, add_special_tokens=False)
        start = len(tokenizer.encode(OPEN, add_special_tokens=False))
        assert raw.startswith(OPEN) and CLOSE in raw, raw
        at = next(i for i in range(len(ids)) if ids[i:i + len(closing)] == closing)
        assert at - start == budget, (at, raw)  # forced right at the budget (it thinks ~60 tokens unforced)


# -- vllm serve ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def think_server(demo_model, tmp_path_factory):
    """`vllm serve` with the thinking adapter as the model `think`, and the parser from its file."""
    from tests.support.vllm_server import Server

    srv = Server(demo_model, tmp_path_factory.mktemp("serve") / "serve.log",
                 adapters={THINK_ADAPTER_NAME: think_adapter_path()},
                 extra_args=["--reasoning-parser-plugin", demo_reasoning.__file__, "--reasoning-parser", PARSER_NAME])
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def chat(server, model: str, stream: bool) -> dict | list[dict]:
    """One chat completion (seed 42, temperature 0.8): the reply, or the stream's deltas in order."""
    import httpx

    body = {"model": model, "messages": [{"role": "user", "content": "The key to happiness is"}],
            "temperature": 0.8, "top_p": 0.95, "seed": 42, "max_tokens": 200, "stream": stream}
    if not stream:
        return httpx.post(f"{server.url}/chat/completions", json=body, timeout=120).raise_for_status().json()
    deltas = []
    with httpx.stream("POST", f"{server.url}/chat/completions", json=body, timeout=120) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                deltas.extend(choice["delta"] for choice in json.loads(line[6:])["choices"])
    return deltas


def reasoning_of(part: dict) -> str:
    """vLLM names the field `reasoning`; older servers and other vendors `reasoning_content`."""
    return part.get("reasoning") or part.get("reasoning_content") or ""


@pytest.mark.engine
@pytest.mark.remote
def test_vllm_serve_streams_the_reasoning_before_the_answer(think_server):
    deltas = chat(think_server, THINK_ADAPTER_NAME, stream=True)
    kinds = [("reasoning" if reasoning_of(d) else "") + ("content" if d.get("content") else "") for d in deltas]
    kinds = [kind for kind in kinds if kind]
    first_content = kinds.index("content") if "content" in kinds else len(kinds)
    assert "reasoning" in kinds and "content" in kinds, deltas
    assert set(kinds[:first_content]) == {"reasoning"} and "reasoning" not in kinds[first_content:], kinds
    streamed = "".join(reasoning_of(d) for d in deltas), "".join(d.get("content") or "" for d in deltas)
    message = chat(think_server, THINK_ADAPTER_NAME, stream=False)["choices"][0]["message"]
    assert streamed == (reasoning_of(message), message["content"])
    assert OPEN not in streamed[0] + streamed[1] and CLOSE not in streamed[0] + streamed[1]


@pytest.mark.engine
@pytest.mark.remote
def test_vllm_serve_with_the_parser_leaves_the_base_models_answer_whole(think_server, demo_model):
    deltas = chat(think_server, str(demo_model), stream=True)
    assert not any(reasoning_of(d) for d in deltas)
    assert "".join(d.get("content") or "" for d in deltas).strip()


@pytest.mark.engine
@pytest.mark.remote
async def test_thinking_switched_off_reaches_vllm_serves_chat_template(think_server):
    """The pane's switch goes as vLLM's `chat_template_kwargs`: the server's template closes the
    thinking before the answer, and its parser streams it all as content; on, it thinks."""
    from tui.engine.openai_backend import OpenAIBackend

    backend = OpenAIBackend(think_server.url)
    await backend.start()
    try:
        (target,) = [t for t in backend.targets() if t.adapter == THINK_ADAPTER_NAME]
        answers = {}
        for switch in (False, True):
            sampling = Sampling({"seed": 42, "max_tokens": 120, "enable_thinking": switch})
            request = Request.of_prompt("The key to happiness is", sampling, f"remote-switch-{switch}", target=target)
            streamed = [delta async for delta in backend.stream(request)]
            answers[switch] = "".join(d.reasoning for d in streamed), "".join(d.text for d in streamed)
            # With a reasoning parser vLLM's closing usage details the thinking's tokens: kept as sent.
            assert isinstance(streamed[-1].usage["completion_tokens_details"]["reasoning_tokens"], int), streamed[-1]
    finally:
        await backend.shutdown()
    assert answers[False][0] == "" and answers[False][1].strip() and OPEN not in answers[False][1], answers
    assert answers[True][0].strip() and answers[True][1].strip(), answers


@pytest.mark.engine
@pytest.mark.remote
async def test_the_app_keeps_vllm_serves_reasoning_apart_from_the_answer(think_server):
    """Through the app's remote backend and a run: the thinking and the answer as the server's
    own whole reply has them (the same request, seed 42), none of it dropped."""
    from tui.core.conversation import ASSISTANT, USER, Conversation
    from tui.core.run import Run, new_reply
    from tui.engine.openai_backend import OpenAIBackend
    from tui.engine.params import Sampling
    from tui.engine.protocol import Request
    from tui.figures import DONE, STREAMING

    message = chat(think_server, THINK_ADAPTER_NAME, stream=False)["choices"][0]["message"]
    backend = OpenAIBackend(think_server.url)
    await backend.start()
    try:
        (target,) = [t for t in backend.targets() if t.adapter == THINK_ADAPTER_NAME]
        sampling = Sampling({"temperature": 0.8, "top_p": 0.95, "seed": 42, "max_tokens": 200})
        conversation = Conversation()
        question = conversation.add(None, USER, "The key to happiness is")
        answer = conversation.add(question, ASSISTANT, reply=new_reply(sampling, target, STREAMING))
        run = Run(answer, Request.of_prompt(question.content, sampling, "think-1", target=target))
        async for delta in backend.stream(run.request):
            run.take(delta)
        run.end(DONE)
    finally:
        await backend.shutdown()
    assert answer.reasoning and (answer.reasoning, answer.content) == (reasoning_of(message), message["content"])
    figures = answer.reply.figures
    assert 0 < figures.thought_tokens < figures.tokens and figures.thought_ms <= figures.answered_ms


async def thought_with_heat(app, pilot, prompt: str):
    """The first pane, on the thinking adapter with the heat view on, asked `prompt`; its answer."""
    from tests.support.app import wait_until

    pane = app.workbench.panes()[0]
    await wait_until(lambda: pane.reply is not None and pane.reply.reply.state == "done", timeout=120)
    await pilot.pause()
    return pane


@pytest.mark.engine
async def test_the_thinkings_tokens_are_the_engines_and_the_token_cursor_forks_inside_it(thinking_engine):
    """With the heat view on, the thinking's tokens (markers included) then the answer's are the
    engine's own tokens for the same seed; unfolded, the cursor starts in the thinking, its panel
    says so, and a fork there goes on thinking from the chosen token, given the prompt and the
    thinking before it, then answers."""
    from tests.support.app import make_app, saved_pane, session_of, wait_until
    from tui.engine.protocol import LOCAL, Target

    target = Target(LOCAL, thinking_engine.model, THINK_ADAPTER_NAME)
    state = saved_pane(prompt=PROMPTS[2], overrides={"seed": "42", "max_tokens": "200"}, target=target, heat=True,
                       number=1)
    app = make_app(thinking_engine, session=session_of([state]))
    deltas, prompt_ids, _ = await engine_deltas(thinking_engine, PROMPTS[2], THINK_ADAPTER_NAME, seed=42)
    engine_ids = [i for _, ids in deltas for i in ids]
    async with app.run_test(size=(200, 50)) as pilot:
        app.workbench.run_all()
        pane = await thought_with_heat(app, pilot, PROMPTS[2])
        reply, message = pane.reply.reply, pane.reply
        thinking = [t.token_id for t in reply.thinking_tokens.tokens]
        assert message.reasoning and thinking
        assert thinking + [t.token_id for t in reply.tokens.tokens] == engine_ids
        assert reply.thinking_tokens.length == len(message.reasoning)  # no tab in it: offsets in its text
        pane.editor.focus()
        await pilot.press("alt+t", "f4")
        await pilot.pause()
        shown = pane.shown_tokens
        assert shown.thinking_count == len(thinking) and pane.token_cursor is not None
        assert shown.in_thinking(pane.token_cursor)
        panel = pane.query_one("TokenPanel")
        # a token of the thinking's text (not a marker): move to the sixth of them
        worded = [i for i in range(shown.thinking_count) if shown.span(i)[1] > shown.span(i)[0]]
        pane.move_token_cursor(worded[5])
        await pilot.pause()
        at = worded[5]
        start, end = shown.span(at)
        assert pane.output.text[start:end] == shown.token(at).text  # the span is the token's text in the view
        assert "thinking token" in str(panel.render())
        await pilot.press("enter")  # fork there with the token itself
        await wait_until(lambda: len(app.workbench.panes()) == 2)
        fork_pane = app.workbench.panes()[1]
        await wait_until(lambda: fork_pane.reply is not None and fork_pane.reply.reply.state == "done",
                         timeout=120)
        fork = fork_pane.reply
        assert fork.reply.given_ids == prompt_ids + thinking[:at + 1]
        assert fork.reasoning.startswith(message.reasoning[:fork.reply.forced_thinking_chars])
        assert len(fork.reasoning) > fork.reply.forced_thinking_chars  # it went on thinking
        assert OPEN not in fork.content and CLOSE not in fork.content and CLOSE not in fork.reasoning
        await pilot.press("ctrl+q")
    assert app.return_code == 0
