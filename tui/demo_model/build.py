"""Build the tiny Llama-shaped demo model (random weights, BPE tokenizer, chat template).

Deterministic and fast (a few seconds): a BPE tokenizer trained with `tokenizers` on a built-in
text, a 2-layer Llama (hidden 128, 2 heads of 64, 1 KV head, tied embeddings) in float32, saved
with `save_pretrained` into the platformdirs cache. vLLM loads it like any local HF model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from tui import locations

DEMO_VERSION = 1
VOCAB_SIZE = 1024
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
_STAMP = "vllm-panes-demo.json"


def demo_model_path() -> Path:
    return locations.cache_dir() / f"demo-model-v{DEMO_VERSION}"


def is_built(path: Path) -> bool:
    stamp = path / _STAMP
    try:
        return json.loads(stamp.read_text()).get("version") == DEMO_VERSION
    except (OSError, ValueError):
        return False


def ensure_demo_model(path: Path | None = None) -> Path:
    """Return the demo model's directory, building it first if needed (once)."""
    path = path or demo_model_path()
    if is_built(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-build-", dir=path.parent))
    try:
        _build_into(tmp)
        if path.exists():  # a stale or half-written build: replace it
            shutil.rmtree(path, ignore_errors=True)
        try:
            os.rename(tmp, path)
        except OSError:
            if not is_built(path):  # somebody else won the race with a good build, or not
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def _train_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from tui.demo_model.corpus import CORPUS

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS.splitlines(), trainer=trainer)
    return tokenizer


def _build_into(out: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = _train_tokenizer()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 2048
    tokenizer.save_pretrained(out)

    eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    bos_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=bos_id,
        torch_dtype="float32",
    )
    torch.manual_seed(1234)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.generation_config.eos_token_id = eos_id
    model.generation_config.bos_token_id = bos_id
    model.save_pretrained(out, safe_serialization=True)
    (out / _STAMP).write_text(json.dumps({"version": DEMO_VERSION}))
