"""Make the pictures of README and the guide: the workbench on the demo model, answers streamed.

    .venv/bin/python scripts/screenshot.py [OUT.svg [HEAT.svg [FORMATS.svg [THINKING.svg [ARENA.svg]]]]]
    (or: make screenshot)

OUT (docs/guide/images/screenshot.svg): one conversation three ways, side by side: on the demo
model, on the demo model with its LoRA adapter (the same seed), and on the demo model at
temperature 0; a second message sent to the three at once from the message box. HEAT
(docs/guide/images/heat-view.svg): two seeds of one prompt with the heat view on, a fork of pane 1
at its fifth token with the second most likely alternative, and the token cursor on pane 1 showing
that token's alternatives. FORMATS (docs/guide/images/structured-outputs.svg): one question with
free text, with a JSON schema of free whitespace and with the same schema compact, each answer's
status saying whether it took the format. THINKING (docs/guide/images/thinking.svg): one question
to the demo's thinking adapter three ways: its thinking folded to its `thought …` line, unfolded
(alt+t), and switched off (`enable_thinking` off). ARENA (docs/guide/images/arena-leaderboard.svg):
the leaderboard after blind battles of the demo model, its proverbs adapter and a hot preset, each
voted by a rule this script states (see ARENA_VOTER), not by a person. The app is the real one on the real engine, with
the adapters and the reasoning parser `--demo` names; only the terminal is virtual.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tui import locations
from tui.app import WorkbenchApp
from tui.config import Config
from tui.core.output_format import JSON_SCHEMA, OutputFormat
from tui.core.pane_state import PaneState
from tui.demo_model import (DEMO_ADAPTER_NAME, THINK_ADAPTER_NAME, demo_adapter_path, ensure_demo_model,
                            think_adapter_path, think_parser_flags)
from tui.engine.lora import lora_flags
from tui.engine.protocol import LOCAL, Target
from tui.engine.vllm_backend import VLLMBackend
from tui.screens.arena_actions import parse_arena
from tui.session import SessionRecord
from tui.terminal import divert_output_to_log

SIZE = (150, 40)
BASE = Target(LOCAL, str(ensure_demo_model()))
ADAPTER = Target(LOCAL, BASE.model, DEMO_ADAPTER_NAME)
THINKER = Target(LOCAL, BASE.model, THINK_ADAPTER_NAME)
PROMPT = "The key to happiness is"


ARENA_LINE = "*; Hot = temperature=1.5; seed=5"
ARENA_PROMPTS = ("The key to happiness is", "A wise man", "What is wisdom?", "The fool says", "Wealth is",
                 "A friend", "Pride comes", "The righteous", "Listen to", "A gentle answer", "Hope is",
                 "The heart", "Work is", "Silence is", "Trust in", "The lazy")


def ARENA_VOTER(a: str, b: str) -> str:
    """The picture's votes, by a stated rule instead of a person: the answer with more distinct
    words wins; within two words of each other, a tie; both shorter than five words, both bad."""
    words_a, words_b = len(set(a.split())), len(set(b.split()))
    if max(words_a, words_b) < 5:
        return "both_bad"
    if abs(words_a - words_b) <= 2:
        return "tie"
    return "a" if words_a > words_b else "b"


def session(*panes: tuple[Target | None, dict[str, str], bool]) -> SessionRecord:
    """Panes (target, knobs, heat) with the prompt typed in each."""
    return SessionRecord(panes=[PaneState(number, draft=PROMPT, target=target, overrides=knobs, heat=heat)
                                for number, (target, knobs, heat) in enumerate(panes, 1)])


PANES = ((BASE, {}, False), (ADAPTER, {}, False), (BASE, {"temperature": "0"}, False))


FOLLOW_UP = "And what of wisdom?"

HEAT_PANES = ((None, {"seed": "1", "max_tokens": "40"}, True), (None, {"seed": "2", "max_tokens": "40"}, True))


VERDICT = {"type": "object", "properties": {"verdict": {"enum": ["good", "evil"]},
                                             "score": {"type": "integer", "minimum": 0, "maximum": 9}},
           "required": ["verdict", "score"]}
FORMAT_PANES = [PaneState(number, draft="Is wisdom good? Give a verdict and a score.", overrides={"max_tokens": "60"},
                          label=label) for number, label in enumerate(("free", "schema", "schema, compact"), 1)]
FORMAT_PANES[1].output_format = OutputFormat(JSON_SCHEMA, schema=VERDICT)
FORMAT_PANES[2].output_format = OutputFormat(JSON_SCHEMA, schema=VERDICT, disable_any_whitespace=True)


THINKING_PANES = [PaneState(number, draft="What is wisdom?", target=THINKER, overrides={"max_tokens": "120", **knobs},
                            label=label)
                  for number, (label, knobs) in enumerate((("folded", {}), ("unfolded: alt+t", {}),
                                                           ("thinking off", {"enable_thinking": "off"})), 1)]


async def screenshot(out: Path, heat_out: Path, formats_out: Path, thinking_out: Path,
                     arena_out: Path | None = None) -> None:
    adapters = {DEMO_ADAPTER_NAME: str(demo_adapter_path()), THINK_ADAPTER_NAME: str(think_adapter_path())}
    flags = think_parser_flags()
    backend = VLLMBackend(flags + lora_flags(adapters, flags), model=str(ensure_demo_model()), adapters=adapters)
    await backend.start()
    try:
        app = WorkbenchApp(backend, config=Config(theme="panes-dark"), session=session(*PANES),
                           save_config=False)
        async with app.run_test(size=SIZE) as pilot:
            await run_all(app)
            app.workbench.composer.editor.text = FOLLOW_UP  # one message to every pane
            await run_all(app)
            app.workbench.panes()[0].editor.focus()
            await save(app, pilot, out)
        app = WorkbenchApp(backend, config=Config(theme="panes-dark"), session=session(*HEAT_PANES),
                           save_config=False)
        async with app.run_test(size=SIZE) as pilot:
            await run_all(app)
            first = app.workbench.panes()[0]
            first.enter_token_cursor()
            first.move_token_cursor(4)
            await pilot.press("2")  # fork there with the second most likely token
            await pilot.pause(0.2)
            await run_all(app, start=False)
            first.enter_token_cursor()
            first.move_token_cursor(4)
            await save(app, pilot, heat_out)
        app = WorkbenchApp(backend, config=Config(theme="panes-dark"), session=SessionRecord(panes=FORMAT_PANES),
                           save_config=False)
        async with app.run_test(size=SIZE) as pilot:
            await run_all(app)
            app.workbench.panes()[2].editor.focus()
            await save(app, pilot, formats_out)
        app = WorkbenchApp(backend, config=Config(theme="panes-dark"), session=SessionRecord(panes=THINKING_PANES),
                           save_config=False)
        async with app.run_test(size=SIZE) as pilot:
            await run_all(app)
            folded, unfolded, _ = app.workbench.panes()
            unfolded.show_thinking(True)
            folded.editor.focus()
            await save(app, pilot, thinking_out)
        if arena_out is not None:
            await arena_picture(backend, arena_out)
    finally:
        await backend.shutdown()


async def arena_picture(backend: VLLMBackend, out: Path) -> None:
    app = WorkbenchApp(backend, config=Config(theme="panes-dark"), session=SessionRecord(), save_config=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.workbench
        contestants, turns, seed = parse_arena(ARENA_LINE, screen._known)
        screen.start_arena(contestants, turns, seed, seed=1)
        for prompt in ARENA_PROMPTS:
            if not await screen.open_battle():
                raise RuntimeError("no room for a battle")
            screen.send_turn(prompt)
            await run_all(app, start=False)
            a, b = screen.battle_panes
            screen.record_vote(ARENA_VOTER(a.answer, b.answer))
        screen.action_leaderboard()
        while getattr(app.screen, "board", None) is None:
            await asyncio.sleep(0.1)
        await save(app, pilot, out)


async def run_all(app: WorkbenchApp, start: bool = True) -> None:
    if start:
        app.workbench.run_all()
    await asyncio.sleep(0.1)
    while any(pane.running for pane in app.workbench.panes()):
        await asyncio.sleep(0.05)


async def save(app: WorkbenchApp, pilot, out: Path) -> None:
    for widget in app.screen.query("TextArea, Input"):
        widget.cursor_blink = False
    app.clear_notifications()
    await pilot.pause(0.3)
    app.save_screenshot(filename=out.name, path=str(out.parent))


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/guide/images/screenshot.svg").resolve()
    heat_out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/guide/images/heat-view.svg").resolve()
    formats_out = Path(sys.argv[3] if len(sys.argv) > 3 else "docs/guide/images/structured-outputs.svg").resolve()
    thinking_out = Path(sys.argv[4] if len(sys.argv) > 4 else "docs/guide/images/thinking.svg").resolve()
    arena_out = Path(sys.argv[5] if len(sys.argv) > 5 else "docs/guide/images/arena-leaderboard.svg").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # as --demo does: a small model, a small cache
    term = divert_output_to_log(locations.log_dir() / "screenshot.log")  # vLLM's own output stays out
    asyncio.run(screenshot(out, heat_out, formats_out, thinking_out, arena_out))
    print(f"wrote {out}, {heat_out}, {formats_out}, {thinking_out} and {arena_out}", file=term.err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
