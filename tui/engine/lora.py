"""LoRA adapters for the in-process engine: naming them (`--lora NAME=PATH`), the engine flags
they need, and why one cannot be used, checked before vLLM tries to load it.

Nothing here imports vLLM: the command line checks adapters before the engine loads.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from tui.text import one_line

# vLLM's allowed --max-lora-rank values (vllm/config/lora.py, MaxLoRARanks).
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
DEFAULT_RANK = 16  # vLLM's default, when no adapter says its rank
# vLLM's CPU LoRA kernels (vllm/lora/ops/torch_ops, bgmv_*) index the adapter slots with the base
# model's -1 unmasked, which is the last slot: while that slot holds an adapter, base-model requests
# batched beside adapter requests are computed with it. So the last of the --max-loras slots is
# kept empty: an engine of M slots loads at most M - 1 adapters (see VLLMBackend.lora_request).
# An adapter that fails while vLLM copies it into a slot leaves that slot taken (and part-written):
# each such failure costs the engine a slot for good, so weights made for another model are found
# here first (shape_problem).
EMPTY_SLOTS = 1
SPARE_SLOTS = 1  # room for one adapter loaded while the engine runs (the palette)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class LoraSpecError(ValueError):
    """A `--lora` value or a config adapter that is not NAME=PATH with a usable name."""


def parse_lora_spec(spec: str) -> tuple[str, str]:
    """'NAME=PATH' → (NAME, PATH). The path is not checked here: a missing one fails its panes."""
    name, sep, path = spec.partition("=")
    name, path = name.strip(), path.strip()
    if not sep or not path:
        raise LoraSpecError(f"{spec!r} is not NAME=PATH")
    check_name(name)
    return name, path


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise LoraSpecError(f"{name!r} is not an adapter name (letters, digits, '.', '_' or '-', "
                            "at most 64, starting with a letter or digit)")
    if name == "base":
        raise LoraSpecError("'base' names the model without an adapter")
    return name


def adapter_rank(path: str | Path) -> int | None:
    """The rank an adapter's adapter_config.json declares ('r'), or None when it cannot be read."""
    try:
        config = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    rank = config.get("r") if isinstance(config, dict) else None
    return rank if isinstance(rank, int) and not isinstance(rank, bool) and rank > 0 else None


def lora_flags(adapters: dict[str, str], engine_argv: list[str]) -> list[str]:
    """The engine flags that serve `adapters`, for those the person did not give: --enable-lora,
    --max-loras (a slot per adapter, a spare one, and the one kept empty) and --max-lora-rank (the
    smallest vLLM allows that fits every adapter's rank)."""
    if not adapters:
        return []
    given = {arg.split("=", 1)[0] for arg in engine_argv if arg.startswith("--")}
    flags = [] if "--enable-lora" in given else ["--enable-lora"]
    if "--max-loras" not in given:
        flags += ["--max-loras", str(len(adapters) + SPARE_SLOTS + EMPTY_SLOTS)]
    if "--max-lora-rank" not in given:
        ranks = [r for r in (adapter_rank(path) for path in adapters.values()) if r is not None]
        wanted = max(ranks, default=DEFAULT_RANK)
        flags += ["--max-lora-rank", str(next((r for r in LORA_RANKS if r >= wanted), LORA_RANKS[-1]))]
    return flags


def adapter_problem(path: str | Path, max_rank: int | None) -> str | None:
    """Why the adapter at `path` cannot be loaded, found without loading it; None when it looks
    loadable (vLLM still has the last word: a wrong base model shows when it loads)."""
    folder = Path(path)
    if not folder.exists():
        return f"{one_line(folder)} does not exist"
    if not folder.is_dir():
        return f"{one_line(folder)} is not a folder (an adapter is a folder with adapter_config.json)"
    if not (folder / "adapter_config.json").is_file():
        return f"{one_line(folder)} has no adapter_config.json"
    if not any((folder / name).is_file() for name in ("adapter_model.safetensors", "adapter_model.bin")):
        return f"{one_line(folder)} has no adapter_model.safetensors"
    rank = adapter_rank(folder)
    if rank is None:
        return f"{one_line(folder)}/adapter_config.json has no rank ('r') that can be read"
    if max_rank is not None and rank > max_rank:
        return f"its rank {rank} is above the engine's --max-lora-rank {max_rank}"
    return None


def module_shapes(hidden: int, intermediate: int, heads: int, kv_heads: int,
                  head_dim: int) -> dict[str, tuple[int, int]]:
    """(inputs, outputs) of a Llama-style decoder layer's projections, which LoRA adapters target."""
    return {"q_proj": (hidden, heads * head_dim), "k_proj": (hidden, kv_heads * head_dim),
            "v_proj": (hidden, kv_heads * head_dim), "o_proj": (heads * head_dim, hidden),
            "gate_proj": (hidden, intermediate), "up_proj": (hidden, intermediate),
            "down_proj": (intermediate, hidden)}


def tensor_shapes(path: Path) -> dict[str, list[int]]:
    """The tensors' shapes from a safetensors file's header (8 bytes of length, then JSON), without
    loading them; {} when the header cannot be read."""
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                return {}
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error, RecursionError):
        return {}
    if not isinstance(header, dict):
        return {}
    return {name: info["shape"] for name, info in header.items()
            if isinstance(info, dict) and isinstance(info.get("shape"), list)}


def shape_problem(path: str | Path, shapes: dict[str, tuple[int, int]] | None) -> str | None:
    """Why the adapter's matrices do not fit the model's projections (made for another model), or
    None (also when either side's shapes are not known)."""
    if not shapes:
        return None
    for name, shape in tensor_shapes(Path(path) / "adapter_model.safetensors").items():
        parts = name.split(".")
        if len(parts) < 3 or parts[-1] != "weight" or parts[-2] not in ("lora_A", "lora_B"):
            continue
        module = parts[-3]
        if module not in shapes or len(shape) != 2:
            continue
        inputs, outputs = shapes[module]
        a_side = parts[-2] == "lora_A"
        wanted, have, side = (inputs, shape[1], "inputs") if a_side else (outputs, shape[0], "outputs")
        if have != wanted:
            return (f"made for another model: its {module} has {have} {side}, this model's {wanted}")
    return None
