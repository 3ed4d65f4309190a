"""The wheel: `pip wheel .` gives the package with its themes, the demo model and the console
script, and installed into a clean venv beside vLLM it runs."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support.processes import session_members, wait_session_gone

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.subprocess


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "--quiet", "--disable-pip-version-check", "-w", str(out)], check=True, cwd=out,
                   stdin=subprocess.DEVNULL, capture_output=True)
    (built,) = out.glob("vllm_panes-*.whl")
    return built


def test_the_wheel_holds_the_code_themes_demo_model_and_adapter_and_console_script(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    code = {str(p.relative_to(ROOT)) for p in (ROOT / "tui").rglob("*.py")}
    themes = {f"tui/builtin_themes/{p.name}" for p in (ROOT / "themes").glob("*.toml")}
    weights = {str(p.relative_to(ROOT)) for folder in ("weights", "adapters")
               for p in (ROOT / "tui/demo_model" / folder).rglob("*") if p.is_file()}
    assert len(themes) >= 3 and "tui/demo_model/weights/model.safetensors" in weights
    assert "tui/demo_model/adapters/proverbs/adapter_model.safetensors" in weights
    assert code - names == set()
    assert themes - names == set()
    assert weights - names == set()
    assert not [n for n in names if n.startswith(("tests/", "bench/", "scripts/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "vllm-panes = tui.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A new venv with only the wheel in it, and this venv's packages (vLLM and the rest)
    importable behind it."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(subprocess.run([venv / "bin/python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "beside_vllm.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([venv / "bin/python", "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--disable-pip-version-check", str(wheel)], check=True, capture_output=True)
    return venv


def test_the_installed_package_is_the_wheel_and_finds_its_themes(installed, tmp_path):
    probe = ("import tui, tui.themes as t; themes, problems = t.discover_themes(); "
             "print(tui.__file__); print(sorted(x.name for x in themes)); print(problems)")
    result = subprocess.run([installed / "bin/python", "-c", probe], capture_output=True, text=True,
                            cwd=tmp_path, check=True, env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path)})
    where, themes, problems = result.stdout.splitlines()
    assert where.startswith(str(installed))
    assert themes == "['panes-dark', 'panes-high-contrast', 'panes-light']" and problems == "[]"


@pytest.mark.engine
def test_the_installed_console_script_runs_the_demo_headless(installed, tmp_path):
    proc = subprocess.Popen([installed / "bin/vllm-panes", "--headless", "--demo", "--max-tokens", "8",
                             "The key to happiness is"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, cwd=tmp_path, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_session_gone(proc.pid, timeout=10)
    assert proc.returncode == 0, err
    assert "Generation complete: TTFT" in out and "8 tok" in out
    assert session_members(proc.pid) == []
