"""Train the demo model: `python -m tui.demo_model train [--steps N] [--out DIR]`.

A small Llama (4 layers, hidden 256, 4 heads of 64, 2 KV heads, tied embeddings) and a byte-level
BPE tokenizer of 2,048 tokens, trained on the King James Version (see `kjv.py`) in two kinds of
document, packed into 256-token windows:

* plain chapters, verse after verse, so the model learns the language;
* chat turns in the demo's ChatML template: a verse (or its opening words) as the user's message
  and the next one or two verses as the answer, closed by `<|im_end|>` -- the EOS token the model
  learns to emit, so answers end on their own.

Every 25th chapter is held out. The held-out cross-entropy (plain text, nats per token) is printed
during training and written to `training.json` beside the weights, with the uniform baseline
ln(vocab size). A slice of the held-out text and the corpus's word list are written beside the
weights for the tests. Deterministic for a given machine and torch version (fixed seeds).
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
from pathlib import Path

from tui.demo_model import kjv
from tui.demo_model.build import CHAT_TEMPLATE, SPECIAL_TOKENS, WEIGHTS_DIR, chat_text

VOCAB_SIZE = 2048
SEQ_LEN = 256
BATCH = 16
HELD_OUT_EVERY = 25
HELD_OUT_SLICE_CHARS = 12_000
SEED = 1611


def model_config(tokenizer) -> dict:
    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    bos_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return dict(
        vocab_size=len(tokenizer), hidden_size=256, intermediate_size=640, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=2048,
        tie_word_embeddings=True, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=bos_id,
        rope_theta=10000.0,
    )


def split(chapters: list[kjv.Chapter]) -> tuple[list[kjv.Chapter], list[kjv.Chapter]]:
    train = [c for i, c in enumerate(chapters) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    held = [c for i, c in enumerate(chapters) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    return train, held


def plain_text(chapter: kjv.Chapter) -> str:
    return " ".join(chapter.verses)


def train_tokenizer(chapters: list[kjv.Chapter]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    raw.train_from_iterator((v for c in chapters for v in c.verses), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token="<|endoftext|>", eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", unk_token=None)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 2048
    return tokenizer


def documents(chapters: list[kjv.Chapter], rng: random.Random) -> list[str]:
    """One epoch of training documents, shuffled: plain chapters and chat turns."""
    docs = [plain_text(c) + "<|endoftext|>" for c in chapters]
    for chapter in chapters:
        verses = chapter.verses
        for i in range(len(verses) - 1):
            question = verses[i]
            words = question.split()
            if rng.random() < 0.5 and len(words) > 4:  # an opening, like "The key to happiness is"
                question = " ".join(words[: rng.randint(3, len(words) - 1)])
            answer = " ".join(verses[i + 1: i + 1 + rng.choice((1, 1, 2, 3))])
            docs.append(chat_text(question, answer))
    rng.shuffle(docs)
    return docs


def pack(token_lists, seq_len: int):
    import torch

    flat = [t for ids in token_lists for t in ids]
    n = (len(flat) - 1) // seq_len
    data = torch.tensor(flat[: n * seq_len + 1], dtype=torch.long)
    inputs = data[:-1].view(n, seq_len)
    targets = data[1:].view(n, seq_len)
    return inputs, targets


def held_out_loss(model, tokenizer, text: str, seq_len: int = SEQ_LEN) -> tuple[float, int]:
    """Mean cross-entropy (nats per token) of `text`, in windows of `seq_len` tokens."""
    import torch

    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(ids) - 1, seq_len):
            window = ids[start: start + seq_len + 1]
            if len(window) < 2:
                break
            x = torch.tensor([window[:-1]])
            y = torch.tensor([window[1:]])
            logits = model(input_ids=x).logits.float()
            loss = torch.nn.functional.cross_entropy(logits[0], y[0], reduction="sum")
            total += float(loss)
            count += y.numel()
    return total / count, count


def publish(tmp: Path, out: Path) -> None:
    """The finished folder `tmp` becomes `out` (replacing it), readable by all: the package ships it
    (mkdtemp made it private)."""
    tmp.chmod(0o755)
    for path in tmp.iterdir():
        path.chmod(0o644)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def main(argv: list[str]) -> int:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    ap = argparse.ArgumentParser(prog="python -m tui.demo_model train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--corpus-cache", type=Path, default=Path(tempfile.gettempdir()) / "vllm-panes-kjv")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    corpus = kjv.fetch(args.corpus_cache)
    chapters = kjv.parse(corpus.read_text())
    train, held = split(chapters)
    print(f"corpus: {len(chapters)} chapters ({len(train)} train, {len(held)} held out), sha256 "
          f"{kjv.sha256(corpus)[:16]}…", flush=True)

    tokenizer = train_tokenizer(train)
    config = LlamaConfig(**model_config(tokenizer))
    model = LlamaForCausalLM(config).float()
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters", flush=True)
    held_text = " ".join(plain_text(c) for c in held)
    baseline = math.log(len(tokenizer))

    def epoch_batches():
        while True:
            docs = documents(train, rng)
            inputs, targets = pack(tokenizer(docs, add_special_tokens=False)["input_ids"], SEQ_LEN)
            order = torch.randperm(len(inputs))
            for i in range(0, len(order) - BATCH + 1, BATCH):
                idx = order[i: i + BATCH]
                yield inputs[idx], targets[idx]

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, args.steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    batches = epoch_batches()
    model.train()
    for step in range(args.steps):
        x, y = next(batches)
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == args.steps - 1:
            print(f"step {step:5d}/{args.steps}  train loss {loss.item():.3f}  "
                  f"{time.monotonic() - t0:6.0f} s", flush=True)
            model.train()

    # Stored in float16 to keep the repository small; loaded as float32 (see build.py).
    model = model.half()
    model.config.dtype = torch.float16
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.bos_token_id = config.bos_token_id
    tmp = Path(tempfile.mkdtemp(prefix=".weights-", dir=args.out.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        held_loss, held_tokens = held_out_loss(model.float(), tokenizer, held_text)
        slice_text = held_text[:HELD_OUT_SLICE_CHARS].rsplit(" ", 1)[0]
        slice_loss, slice_tokens = held_out_loss(model, tokenizer, slice_text)
        (tmp / "heldout_slice.txt").write_text(slice_text + "\n")
        words = sorted({w for c in chapters for v in c.verses for w in kjv.words_of(v)})
        (tmp / "corpus_words.txt").write_text("\n".join(words) + "\n")
        report = {
            "corpus": kjv.LICENCE,
            "corpus_sha256": kjv.sha256(corpus),
            "chapters_train": len(train),
            "chapters_held_out": len(held),
            "vocab_size": len(tokenizer),
            "uniform_baseline_nats": round(baseline, 4),
            "held_out_nats_per_token": round(held_loss, 4),
            "held_out_tokens": held_tokens,
            "held_out_perplexity": round(math.exp(held_loss), 2),
            "slice_nats_per_token": round(slice_loss, 4),
            "slice_tokens": slice_tokens,
            "steps": args.steps,
            "tokens_per_step": BATCH * SEQ_LEN,
            "train_seconds": round(time.monotonic() - t0),
            "torch": torch.__version__,
        }
        (tmp / "training.json").write_text(json.dumps(report, indent=2) + "\n")
        publish(tmp, args.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=2))
    print(f"held-out cross-entropy {held_loss:.3f} nats/token (perplexity {math.exp(held_loss):.1f}); "
          f"uniform baseline ln({len(tokenizer)}) = {baseline:.3f}; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
