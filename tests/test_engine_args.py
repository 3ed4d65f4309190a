"""Engine flags go through vLLM's own parser into AsyncEngineArgs (nothing is started)."""

from __future__ import annotations

import pytest


def _module():
    """vLLM is imported by the tests that run, not when tests are collected (seconds, in every
    pytest-xdist worker)."""
    import tui.engine.engine_args as module

    return module


def build_engine_args(argv, model=None):
    return _module().build_engine_args(argv, model=model)


def test_defaults_follow_the_reference_example():
    args = build_engine_args([])
    assert args.model == _module().DEFAULT_MODEL == "Qwen/Qwen2.5-1.5B-Instruct"
    assert args.enforce_eager is True
    assert args.dtype == "float32"  # chosen on this CPU because bf16 crashes the worker


def test_representative_engine_flags_reach_the_engine_args():
    args = build_engine_args(["--model", "/models/x", "--dtype", "bfloat16", "--max-model-len", "4096",
                              "--tensor-parallel-size", "2", "--distributed-executor-backend", "ray"])
    assert args.model == "/models/x"
    assert args.dtype == "bfloat16"  # the person's choice wins over the CPU default
    assert args.max_model_len == 4096
    assert args.tensor_parallel_size == 2
    assert args.distributed_executor_backend == "ray"


def test_fallback_model_is_used_only_when_none_is_given():
    assert build_engine_args([], model="/demo").model == "/demo"
    assert build_engine_args(["--model", "/mine"], model="/demo").model == "/mine"


def test_bad_engine_flag_is_a_clear_error():
    with pytest.raises(_module().EngineArgsError, match="--max-model-len"):
        build_engine_args(["--max-model-len", "lots"])
