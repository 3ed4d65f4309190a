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


MAX_NUM_SEQS = 4


@pytest.fixture(scope="session")
def demo_model() -> Path:
    from tui.demo_model import ensure_demo_model

    return ensure_demo_model()


@pytest_asyncio.fixture(scope="session")
async def engine(demo_model):
    """The real AsyncLLM on the demo model, shared by every test that needs an engine. It runs at
    most 4 requests at once (--max-num-seqs 4), so that more panes than that queue in the engine, and
    serves the demo's LoRA adapter.

    Its teardown checks that shutting down leaves none of the processes it started alive.
    """
    from tui.demo_model import DEMO_ADAPTER_NAME, demo_adapter_path
    from tui.engine.vllm_backend import VLLMBackend

    # With the demo's LoRA adapter, as `make run` has it: LoRA is on, the base model answers as without.
    backend = VLLMBackend(["--max-num-seqs", str(MAX_NUM_SEQS)], model=str(demo_model),
                          adapters={DEMO_ADAPTER_NAME: str(demo_adapter_path())})
    await backend.start()
    children = [psutil.Process(pid) for pid in backend.child_pids()]
    assert children, "the engine should run in child processes (EngineCore, Worker)"
    yield backend
    await backend.shutdown()
    alive = [p.pid for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"engine processes left after shutdown: {alive}"


def pytest_addoption(parser):
    parser.addoption("--key-storm", type=int, default=200, metavar="N",
                     help="random key sequences sent to the app by the key storm test (default 200)")


@pytest.fixture
def key_storm_size(request) -> int:
    return request.config.getoption("--key-storm")


def pytest_generate_tests(metafunc):
    """Tests marked `draws` read what is drawn (rows, cells, the terminal's bytes): they run on both
    render paths (tui/render/), Textual's stock drawing and the fast one, whose drawing differs;
    those marked `fast_path` too compare the fast path with Textual's own, so run on it. Other
    tests, `ui` ones included, run on the path the app chooses: what they check is the same on both."""
    if metafunc.definition.get_closest_marker("draws") is None:
        return
    paths = ["fast"] if metafunc.definition.get_closest_marker("fast_path") else ["fast", "stock"]
    metafunc.parametrize("render_path", paths, indirect=True)


@pytest.fixture(autouse=True)
def render_path(request):
    """The render path the test runs on (the one the app chooses unless the test is marked `draws`)."""
    from tui import render

    wanted = getattr(request, "param", None)
    if wanted is None:
        yield render.current_path().name
        return
    try:
        previous = render.use_path(wanted == "fast")
    except RuntimeError as exc:  # an untested Textual: the fast path is not there to test
        pytest.skip(str(exc))
    try:
        yield wanted
    finally:
        render.use_path(previous)


def pytest_collection_modifyitems(config, items):
    # Tests that use the real engine run last, after the quick ones have had their say.
    items.sort(key=lambda item: "engine" in getattr(item, "fixturenames", ()))
