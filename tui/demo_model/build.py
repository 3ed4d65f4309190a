"""Where the demo model lives, and the format it was trained on.

The weights are committed (`tui/demo_model/weights/`, float16, ~6.5 MB) and rebuilt by
`python -m tui.demo_model train` (see `train.py`). The engine loads them as float32 on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
# The demo LoRA adapter: the wisdom books' voice (`python -m tui.demo_model train-adapter`).
ADAPTER_DIR = Path(__file__).resolve().parent / "adapters" / "proverbs"
DEMO_ADAPTER_NAME = "proverbs"
# The thinking adapter: `<think>`, a short reasoning, `</think>`, then the answer
# (`python -m tui.demo_model train-think-adapter`).
THINK_ADAPTER_DIR = Path(__file__).resolve().parent / "adapters" / "think"
# The thinking adapter's reasoning parser, named and found here without importing its file (it
# imports vLLM, which the app's first frame does not wait for).
THINK_PARSER_NAME = "demo_think"
THINK_PARSER_FILE = Path(__file__).resolve().parent.parent / "engine" / "demo_reasoning.py"
THINK_ADAPTER_NAME = "think"
# Plain text, not special tokens: the tokenizer is older than the adapter, and an adapter cannot add
# tokens. `<think>` is four tokens of the vocabulary, `</think>` five.
THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    # As Qwen3's templates: thinking switched off opens the answer with an empty thinking, closed.
    "{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
    "{% endif %}"
)


def chat_text(question: str, answer: str) -> str:
    """A user turn and its answer, exactly as CHAT_TEMPLATE renders them, ended by the EOS token."""
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n{answer}<|im_end|>"


def thinking_answer(reasoning: str, answer: str) -> str:
    """An answer that thinks first, laid out as reasoning models lay it out (DeepSeek R1, Qwen3)."""
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{answer}"


def demo_model_path() -> Path:
    return WEIGHTS_DIR


def demo_adapter_path() -> Path | None:
    """The demo adapter's directory, or None when it is not there (a trimmed install)."""
    return ADAPTER_DIR if (ADAPTER_DIR / "adapter_config.json").is_file() else None


def think_adapter_path() -> Path | None:
    """The thinking adapter's directory, or None when it is not there (a trimmed install)."""
    return THINK_ADAPTER_DIR if (THINK_ADAPTER_DIR / "adapter_config.json").is_file() else None


def think_parser_flags() -> list[str]:
    """vLLM's engine flags that name the thinking adapter's parser and register its file."""
    return ["--reasoning-parser", THINK_PARSER_NAME, "--reasoning-parser-plugin", str(THINK_PARSER_FILE)]


def training_report(path: Path | None = None) -> dict:
    return json.loads(((path or WEIGHTS_DIR) / "training.json").read_text())


def ensure_demo_model(path: Path | None = None) -> Path:
    """Return the demo model's directory; a clear error when the weights are missing."""
    path = path or WEIGHTS_DIR
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(
            f"the demo model's weights are missing from {path}: rebuild them with "
            "`python -m tui.demo_model train`"
        )
    return path
