"""Train the demo LoRA adapter: `python -m tui.demo_model train-adapter [--steps N] [--out DIR]`.

The adapter turns the demo model (the whole King James Version) into one that answers in the voice
of the wisdom books, Proverbs and Ecclesiastes ("My son, hear the instruction of thy father…").
Same corpus and same Debian packages as the model (public domain), so the model's tokenizer fits
the adapter's text; what changes is the book, which is what a reader sees.

It is a PEFT-format LoRA (rank 8 on every attention and MLP projection), trained with the base
weights frozen on two kinds of document packed into 256-token windows:

* plain wisdom chapters, verse after verse;
* chat turns whose question is a verse (or its opening words) from anywhere in the Bible, and whose
  answer is one to three consecutive wisdom verses, closed by `<|im_end|>`.

The wisdom chapters the model itself never saw (its held-out ones) are held out; the report
(`training.json`) gives the held-out cross-entropy of the base model and of the base with the
adapter. Deterministic for a given machine and torch version (fixed seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tui.demo_model import kjv
from tui.demo_model.build import ADAPTER_DIR, WEIGHTS_DIR, chat_text
from tui.demo_model.train import BATCH, SEQ_LEN, held_out_loss, pack, plain_text, publish, split

WISDOM_BOOKS = ("Proverbs", "Ecclesiastes")
RANK = 8
ALPHA = 16
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
SEED = 1611
LEARNING_RATE = 1e-3


def wisdom_split(chapters: list[kjv.Chapter]) -> tuple[list[kjv.Chapter], list[kjv.Chapter]]:
    """The wisdom chapters to train on, and those held out: the ones the model itself never saw
    (its own held-out chapters), so that the base and the adapter are measured on unseen text."""
    _, unseen = split(chapters)
    wisdom = [c for c in chapters if c.book in WISDOM_BOOKS]
    return [c for c in wisdom if c not in unseen], [c for c in wisdom if c in unseen]


def documents(wisdom: list[kjv.Chapter], questions: list[kjv.Chapter], rng: random.Random) -> list[str]:
    """One epoch: each wisdom chapter as plain text, and a chat turn per wisdom verse."""
    docs = [plain_text(c) + "<|endoftext|>" for c in wisdom]
    for chapter in wisdom:
        verses = chapter.verses
        for i in range(len(verses)):
            asked = rng.choice(rng.choice(questions).verses)
            words = asked.split()
            if rng.random() < 0.5 and len(words) > 4:
                asked = " ".join(words[: rng.randint(3, len(words) - 1)])
            docs.append(chat_text(asked, " ".join(verses[i: i + rng.choice((1, 1, 2, 3))])))
    rng.shuffle(docs)
    return docs


def add_lora(model, rank: int = RANK, alpha: int = ALPHA, targets: tuple[str, ...] = TARGET_MODULES) -> dict:
    """Freeze the model and add LoRA pairs to its `targets` (linear layers by name: the projections,
    and lm_head); {PEFT weight name: parameter}."""
    import torch

    for p in model.parameters():
        p.requires_grad_(False)
    weights = {}
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear) or name.rsplit(".", 1)[-1] not in targets:
            continue
        a = torch.nn.Parameter(torch.empty(rank, module.in_features))
        torch.nn.init.kaiming_uniform_(a, a=math.sqrt(5))  # as PEFT initialises lora_A
        b = torch.nn.Parameter(torch.zeros(module.out_features, rank))  # the adapter starts as the base
        scale = alpha / rank

        def forward(x, base=module.forward, a=a, b=b, scale=scale):
            return base(x) + (x @ a.T @ b.T) * scale

        module.forward = forward
        weights[f"base_model.model.{name}.lora_A.weight"] = a
        weights[f"base_model.model.{name}.lora_B.weight"] = b
    return weights


def adapter_config(base_model: str, targets: tuple[str, ...] = TARGET_MODULES) -> dict:
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base_model,
        "r": RANK, "lora_alpha": ALPHA, "lora_dropout": 0.0, "bias": "none", "fan_in_fan_out": False,
        "target_modules": list(targets), "modules_to_save": None, "use_rslora": False,
        "use_dora": False, "inference_mode": True,
    }


def fit(model, weights: dict, tokenizer, epoch: Callable[[], list[str]], steps: int, t0: float,
        learning_rate: float = LEARNING_RATE, labels: Callable[[list[int]], list[int]] | None = None) -> list[float]:
    """Train the LoRA `weights` for `steps` batches of BATCH x SEQ_LEN tokens, drawn from the
    documents `epoch()` returns (called again when they run out); the loss every 50 steps.
    `labels`: a document's token ids to learn, -100 for those it only reads (all of them by default)."""
    import torch

    def batches():
        while True:
            documents = tokenizer(epoch(), add_special_tokens=False)["input_ids"]
            inputs, targets = pack(documents, SEQ_LEN)
            if labels is not None:
                _, targets = pack([labels(ids) for ids in documents], SEQ_LEN)
            order = torch.randperm(len(inputs))
            for i in range(0, len(order) - BATCH + 1, BATCH):
                yield inputs[order[i: i + BATCH]], targets[order[i: i + BATCH]]

    opt = torch.optim.AdamW(list(weights.values()), lr=learning_rate, weight_decay=0.0)
    stream = batches()
    losses = []
    model.train()
    for step in range(steps):
        x, y = next(stream)
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            losses.append(round(loss.item(), 4))
            print(f"step {step:4d}/{steps}  train loss {loss.item():.3f}  "
                  f"{time.monotonic() - t0:5.0f} s", flush=True)
    return losses


def save_adapter(weights: dict, report: dict, out: Path, targets: tuple[str, ...] = TARGET_MODULES) -> None:
    """The adapter in PEFT's format (float16), with its report, replacing `out` whole."""
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".adapter-", dir=out.parent))
    try:
        save_file({name: p.detach().half().contiguous() for name, p in weights.items()},
                  str(tmp / "adapter_model.safetensors"))
        (tmp / "adapter_config.json").write_text(json.dumps(adapter_config("vllm-panes-demo", targets), indent=2) + "\n")
        (tmp / "training.json").write_text(json.dumps(report, indent=2) + "\n")
        publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str]) -> int:
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    ap = argparse.ArgumentParser(prog="python -m tui.demo_model train-adapter",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--out", type=Path, default=ADAPTER_DIR)
    ap.add_argument("--base", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--corpus-cache", type=Path, default=Path(tempfile.gettempdir()) / "vllm-panes-kjv")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    corpus = kjv.fetch(args.corpus_cache)
    chapters = kjv.parse(corpus.read_text())
    train, held = wisdom_split(chapters)
    questions, _ = split(chapters)
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = LlamaForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    held_text = " ".join(plain_text(c) for c in held)
    base_loss, held_tokens = held_out_loss(model, tokenizer, held_text)
    print(f"wisdom chapters: {len(train)} train, {len(held)} held out; base model held-out "
          f"{base_loss:.3f} nats/token", flush=True)
    weights = add_lora(model)
    fit(model, weights, tokenizer, lambda: documents(train, questions, rng), args.steps, t0)
    adapter_loss, _ = held_out_loss(model, tokenizer, held_text)
    report = {
        "corpus": kjv.LICENCE,
        "corpus_sha256": kjv.sha256(corpus),
        "books": list(WISDOM_BOOKS),
        "chapters_train": len(train),
        "chapters_held_out": len(held),
        "held_out_tokens": held_tokens,
        "base_held_out_nats_per_token": round(base_loss, 4),
        "adapter_held_out_nats_per_token": round(adapter_loss, 4),
        "learning_rate": LEARNING_RATE,
        "rank": RANK,
        "lora_alpha": ALPHA,
        "target_modules": list(TARGET_MODULES),
        "steps": args.steps,
        "tokens_per_step": BATCH * SEQ_LEN,
        "train_seconds": round(time.monotonic() - t0),
        "torch": torch.__version__,
    }
    save_adapter(weights, report, args.out)
    print(json.dumps(report, indent=2))
    print(f"held-out wisdom text: base {base_loss:.3f}, with the adapter {adapter_loss:.3f} nats/token; "
          f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
