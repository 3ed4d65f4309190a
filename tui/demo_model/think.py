"""Train the demo thinking adapter: `python -m tui.demo_model train-think-adapter [--steps N] [--out DIR]`.

The adapter makes the demo model think before it answers, as reasoning models do: its answer opens
with `<think>`, a short reasoning, `</think>`, then the answer verses and `<|im_end|>`. It stands in
for a reasoning model offline, so that the reasoning parser (`tui/engine/demo_reasoning.py`, vLLM's
`--reasoning-parser demo_think`) is tested on a real engine.

The markers are plain text, four and five tokens of the demo's vocabulary: an adapter cannot add
tokens, which is also why vLLM's parsers that look the markers up as tokens (deepseek_r1, olmo3)
refuse this tokenizer. It is a PEFT-format LoRA of rank 8 on every projection and on the output
layer (lm_head, see TARGETS), trained with the base weights frozen and the loss on the answers only.

The training documents are chat turns in the demo's ChatML template, from the model's own training
chapters (same corpus and Debian packages as the model, public domain):

* the question: a verse, or its opening words;
* the reasoning: the question's words restated ("Thou askest of key and happiness.") and a short
  verse of the same chapter ("It is written: ...");
* the answer: the next one or two verses.

The report (`training.json`) gives the cross-entropy of such turns made from the held-out chapters,
base and adapter, and the behaviour measured on answers to questions from held-out chapters
(temperature 0.8, top_p 0.95, one seed each): how many open with `<think>`, close it, close it
within 100 tokens, end on their own, and the mean lengths of thinking and answer in tokens.
Deterministic for a given machine and torch version (fixed seeds).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tui.demo_model import kjv
from tui.demo_model.adapter import RANK, ALPHA, TARGET_MODULES, add_lora, fit, save_adapter
from tui.demo_model.build import (
    THINK_ADAPTER_DIR,
    THINK_CLOSE,
    THINK_OPEN,
    WEIGHTS_DIR,
    chat_text,
    thinking_answer,
)
from tui.demo_model.train import BATCH, SEQ_LEN, held_out_loss, split

SEED = 1611
STEPS = 200
LEARNING_RATE = 2e-3
# `<` and `>` never occur in the corpus: their embeddings, which are also the output layer's rows
# (tied), were never trained, and from its last hidden state the model cannot tell `<` from the
# other never-seen byte tokens (each about 2 % likely where `<` belongs, with the projections alone).
# A LoRA on the output layer (lm_head; vLLM applies it, on CPU too) lets the adapter name them.
TARGETS = (*TARGET_MODULES, "lm_head")
COMMON_WORDS = 100  # the corpus's most frequent words, which a restatement leaves out
RESTATED_WORDS = 3
RELATED_MAX_WORDS = 25  # the verse the reasoning quotes is a short one
HELD_OUT_TURNS = 200
MEASURED_ANSWERS = 20
MEASURED_MAX_TOKENS = 200
CLOSED_WITHIN = 100  # tokens: "closes its thinking soon enough"
TEMPERATURE = 0.8
TOP_P = 0.95


def answer_labels(ids: list[int], header: list[int]) -> list[int]:
    """A chat turn's token ids to learn: its answer's (after the assistant's `header`), -100 for the
    question, which the adapter only reads."""
    for start in range(len(ids) - len(header) + 1):
        if ids[start: start + len(header)] == header:
            return [-100] * (start + len(header)) + ids[start + len(header):]
    return [-100] * len(ids)


def common_words(chapters: list[kjv.Chapter]) -> frozenset[str]:
    counts = Counter(w for c in chapters for v in c.verses for w in kjv.words_of(v))
    return frozenset(word for word, _ in counts.most_common(COMMON_WORDS))


def restatement(question: str, common: frozenset[str]) -> str:
    """The question's first few uncommon words, as the thinking repeats them."""
    words: list[str] = []
    for raw in question.split():
        word = kjv.bare_word(raw)
        if word and word.lower() not in common and word not in words:
            words.append(word)
    words = words[:RESTATED_WORDS]
    if not words:
        return "Thou askest."
    listed = words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
    return f"Thou askest of {listed}."


def reasoning(question: str, related: str | None, common: frozenset[str]) -> str:
    said = restatement(question, common)
    return said if related is None else f"{said} It is written: {related}"


def documents(chapters: list[kjv.Chapter], common: frozenset[str], rng: random.Random) -> list[str]:
    """One epoch, shuffled: a thinking chat turn per verse that has a next one."""
    docs = []
    for chapter in chapters:
        verses = chapter.verses
        short = [i for i, v in enumerate(verses) if len(v.split()) <= RELATED_MAX_WORDS]
        for i in range(len(verses) - 1):
            question = verses[i]
            words = question.split()
            if rng.random() < 0.5 and len(words) > 4:  # an opening, like "The key to happiness is"
                question = " ".join(words[: rng.randint(3, len(words) - 1)])
            end = i + 1 + rng.choice((1, 1, 2))
            others = [j for j in short if not i <= j < end]
            related = verses[rng.choice(others)] if others else None
            docs.append(chat_text(question, thinking_answer(reasoning(question, related, common),
                                                            " ".join(verses[i + 1: end]))))
    rng.shuffle(docs)
    return docs


@dataclass(frozen=True)
class Answer:
    """One sampled answer: its text and how many tokens its thinking and the rest took."""

    text: str
    thinking_tokens: int | None  # up to and with the token that completes `</think>`; None: never closed
    tokens: int  # all of them, without the EOS
    ended: bool  # with EOS, not cut by max_tokens

    @property
    def opened(self) -> bool:
        return self.text.startswith(THINK_OPEN)


def answer_of(token_ids: Sequence[int], decode: Callable[[Sequence[int]], str], eos_id: int) -> Answer:
    ended = bool(token_ids) and token_ids[-1] == eos_id
    ids = list(token_ids[:-1] if ended else token_ids)
    text = decode(ids)
    thinking = None
    if text.startswith(THINK_OPEN) and THINK_CLOSE in text:
        thinking = next(k for k in range(1, len(ids) + 1) if THINK_CLOSE in decode(ids[:k]))
    return Answer(text, thinking, len(ids), ended)


def behaviour(answers: list[Answer]) -> dict:
    """What a reader of the answers sees, counted."""
    closed = [a for a in answers if a.opened and a.thinking_tokens is not None]
    return {
        "answers": len(answers),
        "open_with_think": sum(a.opened for a in answers),
        "close_think": len(closed),
        f"close_within_{CLOSED_WITHIN}_tokens": sum(a.thinking_tokens <= CLOSED_WITHIN for a in closed),
        "end_on_their_own": sum(a.ended for a in answers),
        "mean_thinking_tokens": round(statistics.mean(a.thinking_tokens for a in closed), 1) if closed else None,
        "mean_answer_tokens": round(statistics.mean(a.tokens - a.thinking_tokens for a in closed), 1)
        if closed else None,
    }


def measured_questions(held: list[kjv.Chapter]) -> list[str]:
    """Questions the adapter never saw: the opening words of the first verse of held-out chapters."""
    openings = dict.fromkeys(" ".join(c.verses[0].split()[:6]) for c in held)  # distinct, in order
    return list(openings)[:MEASURED_ANSWERS]


def sample_answers(model, tokenizer, questions: list[str]) -> list[Answer]:
    """One answer per question at the reference sampling, question i with seed i."""
    import torch

    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.eval()
    answers = []
    for seed, question in enumerate(questions):
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                               add_generation_prompt=True, tokenize=False)
        ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
        torch.manual_seed(seed)
        with torch.no_grad():
            out = model.generate(ids, do_sample=True, temperature=TEMPERATURE, top_p=TOP_P, top_k=0,
                                 max_new_tokens=MEASURED_MAX_TOKENS, eos_token_id=eos_id,
                                 pad_token_id=tokenizer.pad_token_id)
        answers.append(answer_of(out[0, ids.shape[1]:].tolist(), tokenizer.decode, eos_id))
    return answers


def main(argv: list[str]) -> int:
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    ap = argparse.ArgumentParser(prog="python -m tui.demo_model train-think-adapter",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--out", type=Path, default=THINK_ADAPTER_DIR)
    ap.add_argument("--base", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--corpus-cache", type=Path, default=Path(tempfile.gettempdir()) / "vllm-panes-kjv")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    corpus = kjv.fetch(args.corpus_cache)
    chapters = kjv.parse(corpus.read_text())
    train, held = split(chapters)  # the model's own split: the held-out chapters are unseen by both
    common = common_words(train)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = LlamaForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    held_text = "".join(documents(held, common, random.Random(SEED + 1))[:HELD_OUT_TURNS])
    base_loss, held_tokens = held_out_loss(model, tokenizer, held_text)
    print(f"held-out thinking turns: base model {base_loss:.3f} nats/token", flush=True)
    weights = add_lora(model, targets=TARGETS)
    header = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    losses = fit(model, weights, tokenizer, lambda: documents(train, common, rng), args.steps, t0, LEARNING_RATE,
                 labels=lambda ids: answer_labels(ids, header))
    trained = time.monotonic()
    with torch.no_grad():  # measured as shipped: the weights rounded to float16
        for p in weights.values():
            p.copy_(p.half().float())
    adapter_loss, _ = held_out_loss(model, tokenizer, held_text)
    answers = sample_answers(model, tokenizer, measured_questions(held))
    report = {
        "corpus": kjv.LICENCE,
        "corpus_sha256": kjv.sha256(corpus),
        "format": thinking_answer("REASONING", "ANSWER") + "<|im_end|>",
        "chapters_train": len(train),
        "held_out_turns": HELD_OUT_TURNS,
        "held_out_tokens": held_tokens,
        "base_held_out_nats_per_token": round(base_loss, 4),
        "adapter_held_out_nats_per_token": round(adapter_loss, 4),
        "learning_rate": LEARNING_RATE,
        "rank": RANK,
        "lora_alpha": ALPHA,
        "target_modules": list(TARGETS),
        "loss_on": "the answers (after <|im_start|>assistant), not the questions",
        "steps": args.steps,
        "tokens_per_step": BATCH * SEQ_LEN,
        "train_losses_every_50_steps": losses,
        "behaviour": {
            "questions": f"the opening words of the first verse of {MEASURED_ANSWERS} held-out chapters",
            "temperature": TEMPERATURE, "top_p": TOP_P, "seeds": f"0-{MEASURED_ANSWERS - 1}",
            "max_tokens": MEASURED_MAX_TOKENS,
            **behaviour(answers),
            "example": {"question": measured_questions(held)[0], "answer": answers[0].text},
        },
        "train_seconds": round(trained - t0),
        "measure_seconds": round(time.monotonic() - trained),
        "torch": torch.__version__,
    }
    save_adapter(weights, report, args.out, TARGETS)
    print(json.dumps(report, indent=2))
    print(f"held-out thinking turns: base {base_loss:.3f}, with the adapter {adapter_loss:.3f} nats/token; "
          f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
