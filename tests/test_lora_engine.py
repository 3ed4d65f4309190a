"""LoRA adapters per request on the real engine (demo model and the demo adapter, shared engine):
an adapter's answer is its own and the raw engine's, the base model's is unchanged beside it, and
an adapter that cannot load fails its pane only."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import time

import pytest

from tests.support.app import make_app, wait_until, saved_pane, session_of, stored_session
from tui.core.conversation import ASSISTANT, USER
from tui.demo_model import DEMO_ADAPTER_NAME, THINK_ADAPTER_NAME, demo_adapter_path, training_report
from tui.engine.params import Sampling
from tui.engine.protocol import LOCAL, Request, RequestRejected, Target
from tui.figures import DONE, ERROR

pytestmark = pytest.mark.engine
_ids = itertools.count()
REFERENCE = Sampling()  # temperature 0.8, top_p 0.95, seed 42, max_tokens 100
PROMPT = "The key to happiness is"


async def collect(engine, prompt: str, target: Target | None = None, sampling: Sampling = REFERENCE) -> str:
    request = Request.of_prompt(prompt, sampling, f"lora{next(_ids)}", target=target)
    return "".join([d.text async for d in engine.stream(request)])


async def raw_generate(engine, prompt: str, lora_request) -> str:
    """vLLM's own AsyncLLM.generate with the chat template applied as the backend applies it."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    params = SamplingParams(**REFERENCE.request_values, output_kind=RequestOutputKind.FINAL_ONLY)
    # the same prompt tokens
    engine_input = await engine._render(engine._engine, Request.of_prompt(prompt, REFERENCE, "render"))
    final = None
    async for output in engine._engine.generate(engine_input, params, f"raw{next(_ids)}", lora_request=lora_request):
        final = output
    return final.outputs[0].text


def adapter_target(engine, name: str = DEMO_ADAPTER_NAME) -> Target:
    return Target(LOCAL, engine.model, name)


def wrong_base_adapter(folder):
    """An adapter made for another model: its matrices are 512 wide, the demo model's 256."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir()
    shutil.copy(demo_adapter_path() / "adapter_config.json", folder)
    tensors = {}
    for layer in range(4):
        for module in ("q_proj", "v_proj"):
            name = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{name}.lora_A.weight"] = torch.zeros(8, 512)
            tensors[f"{name}.lora_B.weight"] = torch.zeros(512, 8)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    return folder


async def test_the_adapters_answer_is_its_own_and_the_raw_engines_and_the_base_is_unchanged_beside_it(engine):
    from vllm.lora.request import LoRARequest

    adapter = adapter_target(engine)
    base_alone = await collect(engine, PROMPT)
    base_beside, tuned, tuned_again = await asyncio.gather(
        collect(engine, PROMPT), collect(engine, PROMPT, adapter), collect(engine, PROMPT, adapter))
    assert base_beside == base_alone  # the seeded base answer, with adapter requests in the same batch
    assert tuned == tuned_again and tuned != base_alone and tuned
    request = LoRARequest(DEMO_ADAPTER_NAME, 1, str(demo_adapter_path().resolve()))
    assert tuned == await raw_generate(engine, PROMPT, request)
    assert base_alone == await raw_generate(engine, PROMPT, None)


async def test_the_demo_adapter_speaks_like_the_wisdom_books(engine):
    """What `make run` shows: for the reference prompts, the adapter answers in the proverbs' words
    ('fool', 'wise', 'understanding', 'wisdom', 'knowledge', 'righteous', 'wicked') more than the base."""
    words = ("fool", "wise", "understanding", "wisdom", "knowledge", "righteous", "wicked", "my son")
    prompts = ["The future of artificial intelligence is", "In a galaxy far, far away", PROMPT]

    def count(texts):
        return sum(text.lower().count(word) for text in texts for word in words)

    base = await asyncio.gather(*(collect(engine, p) for p in prompts))
    tuned = await asyncio.gather(*(collect(engine, p, adapter_target(engine)) for p in prompts))
    assert count(tuned) >= 3 and count(tuned) > 2 * count(base), (base, tuned)
    report = training_report(demo_adapter_path())
    assert report["adapter_held_out_nats_per_token"] < report["base_held_out_nats_per_token"]
    assert json.loads((demo_adapter_path() / "adapter_config.json").read_text())["r"] == report["rank"]


async def test_an_adapter_that_cannot_load_fails_its_pane_only(engine, tmp_path):
    """Missing path, rank above --max-lora-rank, made for another model: each pane says why, the
    base and the demo adapter stream beside them, and the engine serves on."""
    high_rank = tmp_path / "high-rank"
    shutil.copytree(demo_adapter_path(), high_rank)
    config = json.loads((high_rank / "adapter_config.json").read_text())
    (high_rank / "adapter_config.json").write_text(json.dumps({**config, "r": 64}))
    bad = {"missing": str(tmp_path / "nowhere"), "high-rank": str(high_rank),
           "wrong-base": str(wrong_base_adapter(tmp_path / "wrong-base"))}
    for name, path in bad.items():
        engine.add_adapter(name, path)
    try:
        names = [None, DEMO_ADAPTER_NAME, *bad]
        session = session_of([saved_pane(prompt=PROMPT, target=None if n is None else
                                                  adapter_target(engine, n).record()) for n in names])
        gone = Target("127.0.0.1:9", "some-model")  # a server of an earlier session, not given now
        session.panes.append(saved_pane(prompt=PROMPT, target=gone.record()))
        app = make_app(engine, session=session, session_path=tmp_path / "s.json")
        async with app.run_test(size=(200, 50)) as pilot:
            bench = app.workbench
            await pilot.press("ctrl+r")
            await wait_until(lambda: all(p.figures.state in (DONE, ERROR) for p in bench.panes()), timeout=120)
            panes = bench.panes()
            assert [p.figures.state for p in panes] == [DONE, DONE, ERROR, ERROR, ERROR, ERROR]
            assert panes[5].figures.message == (
                "some-model @127.0.0.1:9 is not served here (no server 127.0.0.1:9 in this workbench)")
            messages = [p.figures.message for p in panes[2:]]
            assert "adapter missing did not load:" in messages[0] and messages[0].endswith("does not exist")
            assert "its rank 64 is above the engine's --max-lora-rank 8" in messages[1]
            assert messages[2] == ("adapter wrong-base did not load: made for another model: its q_proj has 512 "
                                   "inputs, this model's 256")
            assert panes[0].answer == await collect(engine, PROMPT)
            assert panes[1].answer == await collect(engine, PROMPT, adapter_target(engine))
            assert all(f"+{name}" in str(p.border_title) for name, p in zip(bad, panes[2:5]))
        with pytest.raises(RequestRejected, match="no adapter named 'psalms'"):
            await collect(engine, PROMPT, adapter_target(engine, "psalms"))
    finally:
        for name in bad:
            await engine.remove_adapter(name)


async def test_an_adapter_loads_into_the_running_engine(engine, tmp_path):
    """The palette's 'Load LoRA adapter': AsyncLLM.add_lora while the engine runs; a new target."""
    copy = shutil.copytree(demo_adapter_path(), tmp_path / "copy")
    try:
        target = await engine.load_adapter("copy", str(copy))
        assert target in engine.targets() and target.label == "demo+copy"
        assert await collect(engine, PROMPT, target) == await collect(engine, PROMPT, adapter_target(engine))
        with pytest.raises(RequestRejected, match="does not exist"):
            await engine.load_adapter("gone", str(tmp_path / "gone"))
        assert "gone" not in engine.adapters
        third = shutil.copytree(demo_adapter_path(), tmp_path / "third")
        with pytest.raises(RequestRejected, match=r"the engine holds 2 adapter\(s\) \(copy, proverbs\)"):
            await engine.load_adapter("third", str(third))  # its last slot stays empty (tui/engine/lora.py)
    finally:
        await engine.remove_adapter("copy")
    assert "copy" not in engine.adapters and [t.adapter for t in engine.targets()] == [None, DEMO_ADAPTER_NAME]
    # After adapters came and went (and some failed), the slot the base model reads is still empty.
    base_alone = await collect(engine, PROMPT)
    beside = await asyncio.gather(collect(engine, PROMPT), collect(engine, PROMPT, adapter_target(engine)))
    assert beside[0] == base_alone


@pytest.mark.subprocess
def test_the_first_start_of_the_demo_opens_base_and_adapter_side_by_side(tmp_path):
    """What `make run` shows the first time: three panes on one prompt, the demo model, its adapter
    and its thinking adapter, whose thinking is set apart; ctrl+r runs them, ctrl+q quits with
    exit 0 and no process left."""
    from tests.support.processes import PtyApp

    env = {"XDG_DATA_HOME": str(tmp_path / "d"), "XDG_CONFIG_HOME": str(tmp_path / "c"),
           "XDG_STATE_HOME": str(tmp_path / "s")}
    # Seeded: unseeded, the thinking adapter closes its thinking within 100 tokens in about 3 answers
    # of 4 (docs/demo-model.md), and one that thinks to the end never shows its folded line.
    app = PtyApp(["--demo", "--max-tokens", "160", "--seed", "1"], env=env)  # room to think, then answer
    try:
        assert app.wait_for(b"ready", timeout=180), bytes(app.screen[-2000:])
        # The titles are drawn with the first frame: look further back than the loading's redraws.
        assert app.seen("1 · demo · ".encode(), last=10**8) and app.seen("2 · demo+proverbs · ".encode(), last=10**8)
        assert app.seen("3 · demo+think · ".encode(), last=10**8)
        app.write(b"\x12")  # ctrl+r
        # The thinking, folded to its line, looked for on the terminal's rows rather than in its bytes:
        # a partial update writes only the cells that changed, so a line can come in pieces.
        assert app.wait_shown("thought ", timeout=120), app.shown()
        assert app.wait_for(b"done", timeout=120)
        time.sleep(1.0)
        app.quit("ctrl+q")
        assert app.proc.wait(5) == 0
        assert not app.seen(b"crashed") and not app.seen(b"Traceback")
        saved = stored_session(tmp_path / "d" / "vllm-panes" / "vllm-panes.db")
        assert [state.target.adapter for state in saved.panes] == [None, DEMO_ADAPTER_NAME, THINK_ADAPTER_NAME]
        # ctrl+r sent each pane's prompt: its conversation is the question and the answer, the box is empty
        threads = [list(state.conversation.messages()) for state in saved.panes]
        assert [[m.role for m in thread] for thread in threads] == [[USER, ASSISTANT]] * 3
        assert all(answer.parent is question and question.parent is state.conversation.root
                   for (question, answer), state in zip(threads, saved.panes))
        assert [question.content for question, _ in threads] == [PROMPT] * 3
        assert [state.draft for state in saved.panes] == [""] * 3
        answers = [answer.content for _, answer in threads]
        assert all(answers) and len(set(answers)) == 3
        assert [bool(answer.reasoning) for _, answer in threads] == [False, False, True]
        assert "<think>" not in "".join(answers)
        assert [answer.reply.figures.state for _, answer in threads] == [DONE] * 3
        assert [answer.reply.target.adapter for _, answer in threads] == [None, DEMO_ADAPTER_NAME, THINK_ADAPTER_NAME]
    finally:
        app.close()
