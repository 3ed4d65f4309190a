"""Test setup: private XDG dirs, the demo model, and one real AsyncLLM engine per test session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before any tui module computes a path: keep tests away from the person's own config and sessions.
_ROOT = Path(tempfile.mkdtemp(prefix="vllm-panes-tests-"))
for _var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = str(_ROOT / _var.lower())
# The demo model is deterministic: share its build across sessions in a test cache of its own.
os.environ.setdefault("XDG_CACHE_HOME", str(Path(tempfile.gettempdir()) / "vllm-panes-test-cache"))
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
os.environ.setdefault("VLLM_DO_NOT_TRACK", "1")

import psutil  # noqa: E402
import pytest  # noqa: E402
import pytest_asyncio  # noqa: E402


@pytest.fixture(scope="session")
def demo_model() -> Path:
    from tui.demo_model import ensure_demo_model

    return ensure_demo_model()


@pytest_asyncio.fixture(scope="session")
async def engine(demo_model):
    """The real AsyncLLM on the demo model, shared by every test that needs an engine.

    Its teardown checks that shutting down leaves none of the processes it started alive.
    """
    from tui.engine.vllm_backend import VLLMBackend

    backend = VLLMBackend([], model=str(demo_model))
    await backend.start()
    children = [psutil.Process(pid) for pid in backend.child_pids()]
    assert children, "the engine should run in child processes (EngineCore, Worker)"
    yield backend
    await backend.shutdown()
    alive = [p.pid for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"engine processes left after shutdown: {alive}"


def pytest_collection_modifyitems(config, items):
    # Tests that use the real engine run last, after the quick ones have had their say.
    items.sort(key=lambda item: "engine" in getattr(item, "fixturenames", ()))
