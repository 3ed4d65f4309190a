"""Make docs/screenshot.svg, README's picture: the workbench on the demo model, answers streamed.

    .venv/bin/python scripts/screenshot.py [OUT.svg]     (or: make screenshot)

Three panes compare what a setting does: pane 2 is pane 1 at temperature 0, pane 3 another prompt
with another seed. The app is the real one on the real engine; only the terminal is virtual.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tui import locations
from tui.app import WorkbenchApp
from tui.config import Config
from tui.demo_model import ensure_demo_model
from tui.engine.vllm_backend import VLLMBackend
from tui.session import PaneRecord, SessionRecord
from tui.terminal import divert_output_to_log

SIZE = (150, 34)
PANES = [
    PaneRecord(prompt="The key to happiness is"),
    PaneRecord(prompt="The key to happiness is", overrides={"temperature": "0"}),
    PaneRecord(prompt="In a galaxy far, far away", overrides={"seed": "7"}),
]


async def screenshot(out: Path) -> None:
    backend = VLLMBackend([], model=str(ensure_demo_model()))
    await backend.start()
    try:
        app = WorkbenchApp(backend, config=Config(theme="panes-dark"), session=SessionRecord(panes=PANES),
                           save_config=False)
        async with app.run_test(size=SIZE) as pilot:
            app.workbench.action_run_all()
            panes = app.workbench.panes()
            while any(pane.running for pane in panes):
                await asyncio.sleep(0.05)
            app.workbench.panes()[0].editor.focus()
            for widget in app.screen.query("TextArea, Input"):
                widget.cursor_blink = False
            await pilot.pause(0.3)
            app.save_screenshot(filename=out.name, path=str(out.parent))
    finally:
        await backend.shutdown()


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.svg").resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # as --demo does: a small model, a small cache
    term = divert_output_to_log(locations.log_dir() / "screenshot.log")  # vLLM's own output stays out
    asyncio.run(screenshot(out))
    print(f"wrote {out}", file=term.err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
