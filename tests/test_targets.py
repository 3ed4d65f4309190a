"""Targets per pane (model, adapter, server), sweeps and the grid, without an engine: names,
command line, config, files, and the workbench on a scripted backend."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.app import make_app, send_terminal, type_prompt, wait_until, saved_pane, session_of
from tests.support.scripted import ScriptedBackend
from tui.cli import make_plan
from tui.config import Config, load_config
from tui.demo_model import THINK_PARSER_FILE, THINK_PARSER_NAME
from tui.engine.fleet import Fleet
from tui.engine.lora import adapter_problem, lora_flags, module_shapes, shape_problem
from tui.engine.openai_backend import OpenAIBackend, source_name
from tui.engine.protocol import LOCAL, Abilities, Target
from tui.engine.vllm_backend import VLLMBackend
from tui.export import ExportedPane, to_markdown
from tui.screens.workbench import PANE_MIN_HEIGHT, PANE_MIN_WIDTH, grid_shape
from tui.session import SessionRecord, load_session, save_session
from tui.sweep import SweepError, parse_sweep
from tui.targets import TargetError, resolve

BASE = Target(LOCAL, "/x/tui/demo_model/weights")
PROVERBS = Target(LOCAL, BASE.model, "proverbs")
REMOTE = Target("127.0.0.1:8000", "Qwen/Qwen2.5-1.5B-Instruct")
REMOTE_LORA = Target("127.0.0.1:8000", "Qwen/Qwen2.5-1.5B-Instruct", "sql")
KNOWN = [BASE, PROVERBS, REMOTE, REMOTE_LORA]


def write_adapter(folder, rank=8, weights=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "peft_type": "LORA"}))
    if weights:
        (folder / "adapter_model.safetensors").write_bytes(b"x")
    return folder


# -- names ------------------------------------------------------------------------------------------
def test_labels_name_the_model_adapter_and_server():
    assert [t.label for t in KNOWN] == ["demo", "demo+proverbs", "Qwen2.5-1.5B-Instruct @127.0.0.1:8000",
                                        "Qwen2.5-1.5B-Instruct+sql @127.0.0.1:8000"]
    assert REMOTE_LORA.record() == {"server": "127.0.0.1:8000", "model": "Qwen/Qwen2.5-1.5B-Instruct",
                                    "adapter": "sql"}


@pytest.mark.parametrize("spec, found", [("base", BASE), ("demo", BASE), ("proverbs", PROVERBS), ("sql", REMOTE_LORA),
                                         ("Qwen2.5-1.5B-Instruct @127.0.0.1:8000", REMOTE),
                                         ("demo+proverbs", PROVERBS)])
def test_a_target_is_named_by_label_adapter_model_or_base(spec, found):
    assert resolve(spec, KNOWN) == found


def test_an_unknown_or_ambiguous_name_says_so_with_the_known_labels():
    with pytest.raises(TargetError, match="unknown target 'psalms' .known: demo, demo\\+proverbs"):
        resolve("psalms", KNOWN)
    other = Target("10.0.0.2:8000", "Qwen/Qwen2.5-1.5B-Instruct")
    with pytest.raises(TargetError, match="names 2 targets"):
        resolve("Qwen/Qwen2.5-1.5B-Instruct", [*KNOWN, other])


def test_a_server_is_named_by_its_address():
    assert source_name("http://gpu-box:8000/v1") == "gpu-box:8000"
    assert source_name("https://api.example.com/openai/v1") == "api.example.com/openai/v1"


# -- LoRA flags and adapters ------------------------------------------------------------------------------
def test_lora_flags_fit_the_adapters_and_keep_the_persons_own(tmp_path):
    small, big = write_adapter(tmp_path / "a", 8), write_adapter(tmp_path / "b", 24)
    # A slot per adapter, one spare (the palette), one kept empty (vLLM's CPU kernels read it for the base).
    assert lora_flags({"a": str(small)}, []) == ["--enable-lora", "--max-loras", "3", "--max-lora-rank", "8"]
    assert lora_flags({"a": str(small), "b": str(big)}, []) == ["--enable-lora", "--max-loras", "4",
                                                                 "--max-lora-rank", "32"]
    assert lora_flags({"a": str(small)}, ["--max-lora-rank=64", "--enable-lora"]) == ["--max-loras", "3"]
    assert lora_flags({"x": "/missing"}, []) == ["--enable-lora", "--max-loras", "3", "--max-lora-rank", "16"]
    assert lora_flags({}, []) == []


def test_why_an_adapter_cannot_load_is_said_before_the_engine_tries(tmp_path):
    assert adapter_problem(tmp_path / "none", 8).endswith("does not exist")
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in adapter_problem(tmp_path / "file", 8)
    assert "has no adapter_config.json" in adapter_problem(tmp_path, 8)
    assert "has no adapter_model.safetensors" in adapter_problem(write_adapter(tmp_path / "w", weights=False), 8)
    assert adapter_problem(write_adapter(tmp_path / "r16", 16), 8) == (
        "its rank 16 is above the engine's --max-lora-rank 8")
    assert adapter_problem(write_adapter(tmp_path / "ok", 8), 8) is None


def test_lora_on_the_command_line_turns_on_the_engines_lora_flags(tmp_path):
    adapter = write_adapter(tmp_path / "a", 8)
    plan = make_plan(["--lora", f"mine={adapter}", "--max-num-seqs", "4"], Config())
    backend = plan.backend
    assert isinstance(backend, VLLMBackend) and backend.adapters == {"mine": str(adapter)}
    assert backend.engine_argv == ["--max-num-seqs", "4", "--enable-lora", "--max-loras", "3", "--max-lora-rank", "8"]
    assert [t.adapter for t in backend.targets()] == [None, "mine"]
    assert make_plan(["--lora", f"mine={adapter}", "--target", "mine"], Config()).targets == [backend.targets()[1]]


def test_the_demo_opens_base_and_adapters_side_by_side_and_servers_beside_it():
    plan = make_plan(["--demo"], Config())
    assert [t.label for t in plan.first_start_panes] == ["demo", "demo+proverbs", "demo+think"]
    parser = ["--reasoning-parser", THINK_PARSER_NAME, "--reasoning-parser-plugin", str(THINK_PARSER_FILE)]
    assert plan.backend.engine_argv[-4:] == parser  # the thinking adapter's parser comes with it
    named = make_plan(["--demo", "--reasoning-parser", "qwen3"], Config()).backend.engine_argv
    assert THINK_PARSER_NAME not in named and named.count("--reasoning-parser") == 1  # the person's wins
    plan = make_plan(["--demo", "--base-url", "http://127.0.0.1:9/v1", "--target", "somewhere"], Config())
    assert isinstance(plan.backend, Fleet) and isinstance(plan.backend.others[0], OpenAIBackend)
    assert plan.targets == ["somewhere"]  # maybe a server's model: the servers are asked before the UI starts


@pytest.mark.remote
async def test_names_are_looked_up_on_every_server_the_first_one_too():
    """--base-url A --base-url B --target NAME: both servers are asked (A is the primary backend),
    and the engine is never needed for it."""
    from tests.support.fault_server import FaultServer
    from tui.targets import resolve_names

    first, second = FaultServer().start(), FaultServer().start()
    fleet = Fleet(OpenAIBackend(first.url()), [OpenAIBackend(second.url())])
    try:
        names = [f"fault-model @{source_name(first.url())}", f"fault-model @{source_name(second.url())}"]
        found = await resolve_names(fleet, names)
        assert [t.source for t in found] == [source_name(first.url()), source_name(second.url())]
        with pytest.raises(TargetError, match="unknown target 'psalms'"):
            await resolve_names(fleet, ["psalms"])
    finally:
        await fleet.shutdown()
        first.stop()
        second.stop()


def test_config_lists_of_remotes_and_adapters_are_checked(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[[remotes]]\nurl = "http://gpu:8000/v1"\napi_key_env = "GPU_KEY"\nmodels = "qwen*"\n'
                    '[[adapters]]\nname = "a"\npath = "/adapters/a"\n')
    config = load_config(path)
    assert not config.notices and config.adapters == {"a": "/adapters/a"}
    assert (config.remotes[0].url, config.remotes[0].api_key_env, config.remotes[0].models) == (
        "http://gpu:8000/v1", "GPU_KEY", "qwen*")
    plan = make_plan([], config)
    assert isinstance(plan.backend, Fleet) and plan.backend.primary.adapters == {"a": "/adapters/a"}
    assert plan.backend.others[0].model_filter == "qwen*"
    for bad, field in (('[[remotes]]\nurl = "gpu:8000"\n', "remotes[0].url: must start with http"),
                       ('[[adapters]]\nname = "a b"\npath = "/p"\n', "adapters[0].name"),
                       ('[[adapters]]\nname = "a"\npath = "/p"\n[[adapters]]\nname = "a"\npath = "/q"\n',
                        "adapters[1].name: 'a' is named twice")):
        path.write_text(bad)
        notice = load_config(path).notices[0]
        assert field in notice and "moved to" in notice


# -- sweeps and the grid ----------------------------------------------------------------------------------
def test_a_sweep_makes_every_combination_titled_by_what_differs():
    combos = parse_sweep("temperature=0,0.7,1.2 seed=1,2", KNOWN, 32)
    assert [c.label for c in combos] == [f"temperature={t} · seed={s}" for t in ("0", "0.7", "1.2") for s in (1, 2)]
    assert combos[3].overrides == {"temperature": "0.7", "seed": "2"} and combos[3].target is None
    every = parse_sweep("target=* max_tokens=20", KNOWN, 32)
    assert [c.target for c in every] == KNOWN and every[1].label == ""  # the title shows the target
    assert every[0].overrides == {"max_tokens": "20"}
    assert [c.target for c in parse_sweep("target=base, proverbs", KNOWN, 32)] == [BASE, PROVERBS]
    unseeded = parse_sweep("seed=1,random,None", KNOWN, 32)  # as in a pane's field: no seed
    assert [c.overrides["seed"] for c in unseeded] == ["1", "random", "None"]


@pytest.mark.parametrize("text, message", [
    ("", "nothing to sweep"), ("temperature", "write name=value"), ("warmth=1,2", "'warmth' is not a knob"),
    ("temperature=0,hot", "temperature=hot"), ("target=psalms", "unknown target 'psalms'"),
    ("seed=1,2 seed=3", "seed is given twice"), ("temperature=0,random", "temperature=random"),
    ("seed=1,2,3 temperature=0,1", "6 combinations; room for 5"),
])
def test_a_wrong_sweep_says_what_is_wrong(text, message):
    with pytest.raises(SweepError, match=message):
        parse_sweep(text, KNOWN, 5)


def test_sixteen_panes_make_a_four_by_four_grid_in_view_at_200_by_50():
    assert grid_shape(16, 200, 45) == (4, 4, None)
    assert grid_shape(3, 200, 45) == (3, 1, None)  # side by side while they fit
    assert grid_shape(32, 200, 45) == (5, 7, PANE_MIN_HEIGHT)  # too low: the rows scroll


@given(st.integers(1, 32), st.integers(1, 400), st.integers(1, 120))
def test_the_grid_holds_every_pane_and_keeps_panes_readable(count, width, height):
    columns, rows, row_height = grid_shape(count, width, height)
    assert columns * rows >= count and columns * (rows - 1) < count
    assert columns == 1 or width // columns >= PANE_MIN_WIDTH
    assert row_height is not None or rows == 1 or height // rows >= PANE_MIN_HEIGHT


# -- files --------------------------------------------------------------------------------------------------
def test_targets_and_sweep_labels_are_saved_and_exported(tmp_path):
    path = tmp_path / "session.json"
    record = session_of([saved_pane(prompt="p", output="answer", state="done", target=REMOTE_LORA.record(),
                                    label="seed=2")], default_target=PROVERBS)
    save_session(record, path)
    assert load_session(path)[0].to_data() == record.to_data()
    markdown = to_markdown([ExportedPane(record.panes[0], REMOTE_LORA, None)], "demo", when=0)
    assert "### Pane 1 · Qwen/Qwen2.5-1.5B-Instruct + adapter sql on 127.0.0.1:8000" in markdown
    assert "| seed=2: (invalid settings) |" in markdown


# -- the workbench --------------------------------------------------------------------------------------------
async def test_every_target_opens_a_pane_per_target_in_order_and_runs_them():
    backend = ScriptedBackend(adapters=("proverbs", "psalms"))
    app = make_app(backend)
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        await type_prompt(pilot, bench.panes()[0], "hello")
        await pilot.press("f7")
        await wait_until(lambda: len(bench.panes()) == 3 and all(p.figures.state == "done" for p in bench.panes()[1:]))
        panes = bench.panes()
        assert [p.target.adapter for p in panes] == [None, "proverbs", "psalms"]
        assert [str(p.border_title).split(" · ")[1] for p in panes] == [
            "scripted-model", "scripted-model+proverbs", "scripted-model+psalms"]
        assert panes[1].answer.startswith("[proverbs] You asked: hello")
        assert [t.adapter for t in backend.sent_targets] == ["proverbs", "psalms"]
        assert app.workbench.focused_pane() is panes[1]
        assert [p.state.thread()[0].content for p in panes[1:]] == ["hello", "hello"]  # the message, sent
        assert panes[0].draft == "hello"  # the first pane's own draft stays where it was
        await pilot.press("alt+n")  # the duplicate keeps the target and the thread
        await pilot.pause()
        assert bench.panes()[2].target == panes[1].target
        assert bench.panes()[2].answer == panes[1].answer
        rows = bench.comparison()
        assert [r.target.adapter for r in rows] == [None, "proverbs", "proverbs", "psalms"]


async def test_the_picker_sets_the_focused_panes_target():
    backend = ScriptedBackend(adapters=("proverbs",))
    app = make_app(backend)
    async with app.run_test(size=(150, 36)) as pilot:
        bench = app.workbench
        pane = bench.panes()[0]
        await type_prompt(pilot, pane, "hello")
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert type(app.screen).__name__ == "TargetPicker"
        await pilot.press("down", "enter")
        await pilot.pause()
        assert pane.target.adapter == "proverbs" and "scripted-model+proverbs" in str(pane.border_title)
        await pilot.press("f5")
        await wait_until(lambda: pane.figures.state == "done")
        assert backend.sent_targets[-1].adapter == "proverbs"
        assert bench.session_record().panes[0].target.record() == {"server": None, "model": "scripted-model",
                                                                   "adapter": "proverbs"}


async def test_the_picker_marks_the_only_target_as_the_panes():
    """One target (a server with one model): a pane names none, and runs there; the picker said
    '● the pane's now' and marked nothing."""
    app = make_app(ScriptedBackend())
    async with app.run_test(size=(150, 36)) as pilot:
        await pilot.press("ctrl+t")
        await pilot.pause()
        options = app.screen.query_one("OptionList")
        assert options.option_count == 1 and str(options.get_option_at_index(0).prompt).startswith("● ")


async def test_down_then_enter_in_one_burst_picks_the_next_target():
    """A fast typist's `Down Enter`: the list's moves ran once the key had gone up to the screen,
    after the field had taken the enter, and the first target (the pane's own) was picked."""
    backend = ScriptedBackend(adapters=("proverbs",))
    app = make_app(backend)
    async with app.run_test(size=(150, 36)) as pilot:
        pane = app.workbench.panes()[0]
        await pilot.press("ctrl+t")
        await pilot.pause()
        send_terminal(app, "\x1b[B\r")  # down, enter: what a terminal sends, in one read
        await wait_until(lambda: type(app.screen).__name__ != "TargetPicker")
        await pilot.pause()
        assert pane.target is not None and pane.target.adapter == "proverbs"


async def test_the_picker_filters_as_you_type():
    backend = ScriptedBackend(adapters=("proverbs", "psalms", "ecclesiastes"))
    app = make_app(backend)
    async with app.run_test(size=(150, 36)) as pilot:
        pane = app.workbench.panes()[0]
        await pilot.press("ctrl+t")
        await pilot.pause()
        picker = app.screen

        def listed() -> list[str]:
            options = picker.query_one("OptionList")
            return [str(options.get_option_at_index(i).prompt)[2:].split("  ")[0] for i in range(options.option_count)]

        assert len(listed()) == 4
        marks = [str(picker.query_one("OptionList").get_option_at_index(i).prompt)[:2] for i in range(4)]
        assert marks == ["● ", "  ", "  ", "  "]  # the pane's target now
        await pilot.press(*"zzz")
        await pilot.pause()
        assert listed() == []
        assert "no target matches 'zzz'" in str(picker.query_one(".dialog-error").render())
        await pilot.press("enter")  # nothing to choose: the picker stays
        await pilot.pause()
        assert app.screen is picker
        await pilot.press("backspace", "backspace", "backspace", *"ps")
        await pilot.pause()
        assert listed()[:2] == ["scripted-model+psalms", "scripted-model+proverbs"]  # closest first
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.screen is not picker and pane.target.adapter == "proverbs"


async def sweep_from_the_keyboard(pilot, bench, sweep: str, made: int) -> list:
    """Type "hello" in the first pane, sweep it with `sweep` (f8), and wait for the `made` new
    panes to finish; every pane."""
    await type_prompt(pilot, bench.panes()[0], "hello")
    await pilot.press("f8")
    await pilot.pause()
    await pilot.press(*sweep)
    await pilot.press("enter")
    await wait_until(lambda: len(bench.panes()) == made + 1
                     and all(p.figures.state == "done" for p in bench.panes()[1:]))
    return bench.panes()


async def test_a_sweep_from_the_keyboard_fills_a_grid_and_titles_each_pane():
    backend = ScriptedBackend(adapters=("proverbs",))
    app = make_app(backend)
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        panes = await sweep_from_the_keyboard(pilot, bench, "target=* seed=1,2,3", 6)
        assert [p.label for p in panes[1:]] == [f"seed={s}" for _ in range(2) for s in (1, 2, 3)]
        assert [str(p.border_title).split(" · ")[2] for p in panes[1:]] == (
            ["scripted-model"] * 3 + ["scripted-model+proverbs"] * 3)
        assert all(p.label in str(p.border_title) for p in panes)
        assert [(t.adapter if t else None) for t in backend.sent_targets] == [None] * 3 + ["proverbs"] * 3
        # 7 panes at 200 columns: two rows of four, all in view
        container = bench.panes_container
        assert container.styles.grid_size_columns == 4
        assert {p.region.y for p in panes} == {panes[0].region.y, panes[4].region.y}
        assert all(container.region.contains_region(p.region) for p in panes)


async def test_a_sweep_can_ask_for_an_unseeded_pane():
    backend = ScriptedBackend()
    app = make_app(backend)
    async with app.run_test(size=(200, 50)) as pilot:
        seeded, unseeded = (await sweep_from_the_keyboard(pilot, app.workbench, "seed=7,random", 2))[1:]
        assert [seeded.label, unseeded.label] == ["seed=7", "seed=random"]
        assert "With seed 7 " in seeded.output.text and "With seed None " in unseeded.output.text


async def test_an_adapter_that_fails_fails_its_pane_only():
    backend = ScriptedBackend(adapters=("proverbs",))
    session = session_of([saved_pane(prompt="a"), saved_pane(prompt="b", target=PROVERBS.record()),
                                   saved_pane(prompt="c", target=Target(LOCAL, "m", "gone").record())])
    app = make_app(backend, session=session)
    async with app.run_test(size=(200, 50)) as pilot:
        bench = app.workbench
        await pilot.press("ctrl+r")
        await wait_until(lambda: all(p.figures.state in ("done", "error") for p in bench.panes()))
        states = [p.figures.state for p in bench.panes()]
        assert states == ["done", "done", "error"]
        assert "adapter gone did not load" in bench.panes()[2].figures.message
        assert "scripted-model+gone" in str(bench.panes()[2].border_title)  # still named, still readable


async def test_a_target_name_is_shown_as_text_never_as_markup():
    backend = ScriptedBackend(adapters=("x",), model="[bold red]evil\x1b[31m")
    app = make_app(backend)
    async with app.run_test(size=(150, 36)) as pilot:
        await pilot.pause()
        pane = app.workbench.panes()[0]
        # The title as markup: its brackets escaped (the title was set as text), no ESC left.
        assert "\\[bold red]evil␛[31m" in pane.border_title and "\x1b" not in pane.border_title


async def test_adapters_load_and_go_from_the_palette_and_their_panes_stay_readable():
    backend = ScriptedBackend(adapters=("proverbs",))
    loaded: list[tuple[str, str]] = []

    async def load_adapter(name, path):
        loaded.append((name, path))
        backend.adapters.append(name)
        return Target(LOCAL, backend.model, name)

    async def remove_adapter(name):
        backend.adapters.remove(name)

    backend.load_adapter, backend.remove_adapter = load_adapter, remove_adapter
    backend.abilities = Abilities(adapters=True)
    app = make_app(backend, session=session_of([saved_pane(prompt="p", target=PROVERBS.record())]))
    async with app.run_test(size=(150, 36)) as pilot:
        bench = app.workbench
        bench.action_load_adapter()
        await pilot.pause()
        await pilot.press(*"psalms")
        await pilot.press("enter")  # no '=': the dialog says so and stays
        await pilot.pause()
        assert type(app.screen).__name__ == "AskScreen" and loaded == []
        await pilot.press(*"=/adapters/psalms", "enter")
        await wait_until(lambda: loaded == [("psalms", "/adapters/psalms")])
        await pilot.pause()
        assert [t.adapter for t in bench.known_targets] == [None, "proverbs", "psalms"]
        bench.action_remove_adapter()
        await pilot.pause()
        await pilot.press(*"proverbs", "enter")
        await wait_until(lambda: "proverbs" not in backend.adapters)
        await pilot.pause()
        pane = bench.panes()[0]
        bench.run_pane(pane)
        await wait_until(lambda: pane.figures.state == "error")
        assert "adapter proverbs did not load" in pane.figures.message and "+proverbs" in str(pane.border_title)


def test_an_adapter_made_for_another_model_is_found_from_its_file_header():
    from tui.demo_model import demo_adapter_path

    demo = module_shapes(hidden=256, intermediate=640, heads=4, kv_heads=2, head_dim=64)
    assert shape_problem(demo_adapter_path(), demo) is None
    other = module_shapes(hidden=512, intermediate=640, heads=8, kv_heads=2, head_dim=64)
    assert shape_problem(demo_adapter_path(), other) == (  # the first mismatch in the file's order
        "made for another model: its down_proj has 256 outputs, this model's 512")
    assert shape_problem(demo_adapter_path(), None) is None


async def test_a_sweep_panes_title_does_not_say_its_settings_twice():
    """The settings after the target leave out what the sweep's label says (the issue #25 trial:
    '4 · temperature=0 · seed=2 · demo · T0 p0.95 seed2 max300'); a knob changed in the pane
    since is said again, with its new value."""
    target = Target(LOCAL, "scripted-model")
    label = "temperature=0 · seed=2"
    pane_state = saved_pane(prompt="p", overrides={"temperature": "0", "seed": "2"}, label=label, target=target)
    app = make_app(ScriptedBackend(), session=session_of([pane_state, saved_pane(prompt="q")]))
    async with app.run_test(size=(200, 40)) as pilot:
        pane = app.workbench.panes()[0]
        await pilot.pause()
        title = str(pane.border_title)
        assert title.startswith(f"1 · {label} · scripted-model · "), title
        settings = title.removeprefix(f"1 · {label} · scripted-model · ")
        assert "p 0.95" in settings and "seed" not in settings and "T " not in settings, title
        pane.query_one(".param-seed Input").value = "5"
        await pilot.pause()
        settings = str(pane.border_title).removeprefix(f"1 · {label} · ")
        assert "seed 5" in settings and "seed 2" not in settings and "T " not in settings, str(pane.border_title)
