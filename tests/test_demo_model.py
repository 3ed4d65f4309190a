"""The demo model writes words of its corpus, ends answers on its own, and has learned the language."""

from __future__ import annotations

import asyncio
import math

import pytest

from tui.demo_model import demo_model_path, training_report
from tui.demo_model.kjv import words_of
from tui.engine.params import Sampling
from tui.engine.protocol import Request
from tui.headless import REFERENCE_PROMPTS

REFERENCE = Sampling()  # temperature 0.8, top_p 0.95, seed 42, max_tokens 100


def test_training_report_beats_the_uniform_baseline_by_two_nats():
    report = training_report()
    assert report["vocab_size"] == 2048
    assert report["uniform_baseline_nats"] == pytest.approx(math.log(report["vocab_size"]), abs=1e-3)
    assert report["held_out_nats_per_token"] <= report["uniform_baseline_nats"] - 2.0
    assert report["held_out_tokens"] > 10_000  # every 25th chapter of the corpus


def test_held_out_slice_cross_entropy_measured_here():
    """Recomputed from the committed weights (loaded as float32) on the committed held-out slice."""
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    from tui.demo_model.train import held_out_loss

    path = demo_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = LlamaForCausalLM.from_pretrained(path, dtype=torch.float32)
    text = (path / "heldout_slice.txt").read_text().strip()
    loss, tokens = held_out_loss(model, tokenizer, text)
    assert tokens > 2_000
    assert loss <= math.log(len(tokenizer)) - 2.0, loss
    assert loss == pytest.approx(training_report()["slice_nats_per_token"], abs=0.02)


def test_model_shape_suits_vllm_on_cpu():
    import json

    config = json.loads((demo_model_path() / "config.json").read_text())
    assert config["head_dim"] >= 64 and config["hidden_size"] // config["num_attention_heads"] >= 64
    assert (demo_model_path() / "model.safetensors").stat().st_size < 10 * 2**20


async def _answers(engine, sampling):
    async def one(i, prompt):
        request = Request.of_prompt(prompt, sampling, f"demo-{i}-{sampling['temperature']}")
        deltas = [d async for d in engine.stream(request)]
        return "".join(d.text for d in deltas), deltas[-1].finish_reason

    return await asyncio.gather(*(one(i, p) for i, p in enumerate(REFERENCE_PROMPTS)))


@pytest.mark.engine
async def test_reference_prompts_stream_corpus_words_that_differ_and_end(engine):
    answers = await _answers(engine, REFERENCE)
    texts = [text for text, _ in answers]
    vocabulary = set((demo_model_path() / "corpus_words.txt").read_text().split())
    words = [w for text in texts for w in words_of(text)]
    known = sum(w in vocabulary for w in words)
    assert len(words) >= 30, texts
    assert known / len(words) >= 0.90, (known, len(words), texts)
    assert len(set(texts)) == 3, texts  # each prompt its own answer
    assert any(reason == "stop" for _, reason in answers), answers  # it emits EOS on its own
    assert not any(text.lstrip().startswith("assistant") for text in texts)  # the turn was opened for it


@pytest.mark.engine
async def test_greedy_answer_is_the_same_twice(engine):
    greedy = REFERENCE.with_values(temperature=0.0, seed=None)
    first = await _answers(engine, greedy)
    second = await _answers(engine, greedy)
    assert first == second and all(text for text, _ in first)


@pytest.mark.engine
async def test_a_second_turn_is_the_whole_conversation_in_the_chat_template(engine):
    """The engine got every message of the thread, each in its turn, then an open assistant turn;
    the model answers the second question in words of its corpus, as it answered the first."""
    first_question, second_question = REFERENCE_PROMPTS[2], "And what of wisdom?"
    first = "".join([d.text async for d in engine.stream(Request.of_prompt(first_question, REFERENCE, "demo-turn-1"))])
    request = Request.of([("user", first_question), ("assistant", first), ("user", second_question)],
                         REFERENCE, "demo-turn-2")
    deltas = [d async for d in engine.stream(request)]
    second = "".join(d.text for d in deltas)
    sent = engine._engine.get_tokenizer().decode(deltas[0].prompt_ids)  # noqa: SLF001 - as the engine got it
    assert sent == (f"<|im_start|>user\n{first_question}<|im_end|>\n<|im_start|>assistant\n{first}<|im_end|>\n"
                    f"<|im_start|>user\n{second_question}<|im_end|>\n<|im_start|>assistant\n")
    vocabulary = set((demo_model_path() / "corpus_words.txt").read_text().split())
    words = words_of(second)
    assert len(words) >= 10 and sum(w in vocabulary for w in words) / len(words) >= 0.9, second
    assert second != first and not second.lstrip().startswith("assistant")
