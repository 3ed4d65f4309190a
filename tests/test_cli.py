"""The command line, parsed into a plan without starting anything: engine flags, backends, batch."""

from __future__ import annotations

import pytest

from tui.cli import UsageError, make_plan
from tui.config import Config
from tui.engine.openai_backend import OpenAIBackend
from tui.engine.vllm_backend import VLLMBackend


def test_representative_engine_flags_pass_through_our_cli_into_the_engine_args():
    plan = make_plan(["--headless", "--temperature", "0.3", "--dtype", "bfloat16", "--max-model-len", "4096",
                      "--tensor-parallel-size", "2", "--pipeline-parallel-size", "1",
                      "--distributed-executor-backend", "ray", "--model", "/models/m", "a prompt"], Config())
    assert isinstance(plan.backend, VLLMBackend)
    args = plan.backend._engine_args
    assert (args.model, args.dtype, args.max_model_len) == ("/models/m", "bfloat16", 4096)
    assert (args.tensor_parallel_size, args.pipeline_parallel_size) == (2, 1)
    assert args.distributed_executor_backend == "ray"
    assert plan.sampling["temperature"] == 0.3 and plan.prompts == ["a prompt"]


def test_config_file_engine_flags_apply_and_the_command_line_wins():
    config = Config(engine_flags=["--max-model-len", "1024", "--dtype", "float32"], model="/models/cfg")
    plan = make_plan(["--headless", "--max-model-len", "512"], config)
    args = plan.backend._engine_args
    assert (args.max_model_len, args.dtype, args.model) == (512, "float32", "/models/cfg")
    # the interactive app hands the same list to the engine's loader
    assert make_plan([], config).backend.engine_argv == ["--max-model-len", "1024", "--dtype", "float32"]


def test_then_gives_each_prompt_its_follow_up_turns_in_order():
    plan = make_plan(["--headless", "--then", "And then?", "--then", "Why?", "first", "second"], Config())
    assert plan.prompts == ["first", "second"] and plan.then == ["And then?", "Why?"]
    assert make_plan(["--headless", "one"], Config()).then == []


def test_base_url_selects_the_remote_backend():
    plan = make_plan(["--base-url", "http://gpu-box:8000/v1", "--model", "Qwen/Qwen2.5-1.5B-Instruct",
                      "--api-key", "k", "--top-p", "0.5"], Config())
    backend = plan.backend
    assert isinstance(backend, OpenAIBackend)
    assert (backend.base_url, backend.model, backend.api_key) == ("http://gpu-box:8000/v1",
                                                                 "Qwen/Qwen2.5-1.5B-Instruct", "k")
    assert plan.sampling["top_p"] == 0.5


def test_config_file_can_choose_the_remote_backend():
    config = Config(backend="openai", remote_url="http://127.0.0.1:8000/v1", remote_model="m")
    plan = make_plan(["--headless", "one prompt"], config)
    assert isinstance(plan.backend, OpenAIBackend) and plan.backend.model == "m"
    assert plan.prompts == ["one prompt"]


@pytest.mark.parametrize("argv, message", [
    (["--backend", "openai"], "--backend openai needs --base-url"),
    (["--base-url", "http://x/v1", "--tensor-parallel-size", "2"],
     "--tensor-parallel-size: engine flags apply to the in-process engine"),
    (["--backend", "openai", "--base-url", "http://x/v1", "--demo"], "--demo runs the demo model in this process"),
    (["--base-url", "http://x/v1", "--lora", "a=/p"], "--lora names adapters for the in-process engine"),
    (["--lora", "a"], "--lora: 'a' is not NAME=PATH"),
    (["--lora", "a=/p", "--lora", "a=/q"], "--lora: 'a' is named twice"),
    (["--lora", "base=/p"], "'base' names the model without an adapter"),
    (["--lora", "a b=/p"], "is not an adapter name"),
    (["--target", "nowhere"], "--target: unknown target 'nowhere'"),
    (["--base-url", "http://x:1/v1", "--base-url", "http://x:1/v1/"], "x:1 given twice"),
    (["--batch", "b.toml"], "--batch and --output go with --headless"),
    (["--headless", "--output", "o.jsonl"], "--output goes with --batch"),
    (["--headless", "--batch", "b.toml", "--concurrency", "0"], "--concurrency must be ≥ 1"),
    (["--headless", "--base-url", "http://x/v1", "--batch", "b.toml", "a prompt"],
     "give prompts in the --batch file"),
    (["--then", "more"], "--then goes with --headless"),
    (["--headless", "--batch", "b.toml", "--then", "more"], "in a --batch file, give 'turns'"),
])
def test_usage_errors_are_clear(argv, message):
    with pytest.raises(UsageError, match=__import__("re").escape(message)):
        make_plan(argv, Config())


def test_config_backend_and_remote_table_are_checked(tmp_path):
    from tui.config import load_config

    path = tmp_path / "config.toml"
    path.write_text('backend = "openai"\n[remote]\nbase_url = "http://127.0.0.1:8000/v1"\nmodel = "m"\n'
                    '[engine]\nflags = ["--max-model-len", "1024"]\n')
    config = load_config(path)
    assert (config.backend, config.remote_url, config.remote_model) == ("openai", "http://127.0.0.1:8000/v1", "m")
    assert config.engine_flags == ["--max-model-len", "1024"] and not config.notices
    path.write_text('backend = "carrier-pigeon"\n')
    assert "backend: must be one of vllm, openai, not 'carrier-pigeon'" in load_config(path).notices[0]
