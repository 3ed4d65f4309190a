"""One room per concern: no module imports both vLLM and Textual; the engine layer never imports Textual."""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tui"


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_module_imports_both_vllm_and_textual():
    both = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
            if {"vllm", "textual"} <= imported_roots(p)]
    assert both == []


def test_engine_layer_has_no_textual():
    offenders = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "engine").rglob("*.py")
                 if "textual" in imported_roots(p)]
    assert offenders == []


def test_the_arena_imports_neither_textual_nor_vllm():
    """The arena's records and maths serve the UI, files and tests alike."""
    offenders = [str(p.relative_to(PACKAGE)) for p in (PACKAGE / "arena").rglob("*.py")
                 if {"textual", "vllm"} & imported_roots(p)]
    assert offenders == []


def test_importing_the_arena_loads_neither_textual_nor_vllm():
    """Nor through a module of ours it imports."""
    probe = ("import sys, tui.arena.votes, tui.arena.rating; "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'textual', 'vllm'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent, env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    assert result.stdout.strip() == "[]"


def test_only_the_engine_layer_imports_vllm():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "vllm" in imported_roots(p) and "engine" not in p.relative_to(PACKAGE).parts]
    assert offenders == []


# -- the render seam -------------------------------------------------------------------------------
ROOT = PACKAGE.parent
SEAM = PACKAGE / "render"


def _defined_names(paths, strings: bool = False) -> set[str]:
    """Names the files define: functions, classes, attributes and globals assigned, and (with
    `strings`) identifier-like string constants, which is how slots and getattr names are given."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.isidentifier():
                    names.add(node.value)
    return names


@functools.cache
def _private_names_of(package_name: str) -> frozenset[str]:
    """Every `_name` (not `__dunder__`) a package defines."""
    import importlib

    folder = Path(importlib.import_module(package_name).__file__).parent
    names = _defined_names(folder.rglob("*.py"), strings=True)
    return frozenset(name for name in names if name.startswith("_") and not name.startswith("__"))


def _our_files() -> list[Path]:
    return [p for folder in ("tui", "tests", "bench") for p in (ROOT / folder).rglob("*.py")
            if SEAM not in p.parents]


def private_framework_uses(files: list[Path]) -> list[str]:
    """Uses of Textual's or Rich's private names (attribute access, getattr strings, imports of
    private modules) in `files`, except names our own code defines (our own `_private`s)."""
    theirs = _private_names_of("textual") | _private_names_of("rich")
    ours = _defined_names(_our_files())
    found = []
    for path in files:
        where = path.relative_to(ROOT) if ROOT in path.parents else path.name
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Modules imported whole that are not Textual or Rich (`os._exit` is os's, public).
        other_modules = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                         for alias in node.names if alias.name.split(".")[0] not in ("textual", "rich")}
        for node in sorted((n for n in ast.walk(tree) if hasattr(n, "lineno")),
                           key=lambda n: (n.lineno, n.col_offset)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                parts = node.module.split(".")
                if parts[0] in ("textual", "rich") and any(p.startswith("_") for p in parts[1:]):
                    found.append(f"{where}:{node.lineno}: import from {node.module}")
                for alias in node.names:
                    if parts[0] in ("textual", "rich") and alias.name in theirs:
                        found.append(f"{where}:{node.lineno}: import of {alias.name}")
            elif (isinstance(node, ast.Attribute) and node.attr in theirs and node.attr not in ours
                  and getattr(node.value, "id", None) not in other_modules):
                found.append(f"{where}:{node.lineno}: .{node.attr}")
            elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", ""))
                  in ("getattr", "setattr", "hasattr", "delattr")
                  and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                  and node.args[1].value in theirs and node.args[1].value not in ours):
                found.append(f"{where}:{node.lineno}: {node.args[1].value!r}")
    return found


def test_private_textual_and_rich_names_are_used_only_in_the_render_seam():
    assert private_framework_uses(_our_files()) == []


def test_the_check_finds_a_private_name_where_there_is_one(tmp_path):
    offender = tmp_path / "offender.py"
    offender.write_text("from textual._compositor import Compositor\n"
                        "def f(screen, widget):\n"
                        "    screen._dirty_widgets.add(widget)\n"
                        "    return getattr(widget, '_styles_cache')\n")
    found = private_framework_uses([offender])
    assert [line.split(": ", 1)[1] for line in found] == [
        "import from textual._compositor", ".\u005fdirty_widgets", "'_styles_cache'"]


def test_the_seam_is_where_the_private_names_are():
    """Else the check above would pass for an empty reason."""
    assert len(private_framework_uses(sorted(SEAM.glob("*.py")))) >= 10


# -- rooms -------------------------------------------------------------------------------------------
def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_the_package_imports_nothing_from_the_tests():
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
                 if any(m.split(".")[0] == "tests" for m in _imported_modules(p))]
    assert offenders == []


def test_no_test_file_or_benchmark_imports_a_test_file():
    """Shared helpers live in tests/support/, not in test files that others import."""
    files = list((ROOT / "tests").rglob("*.py")) + list((ROOT / "bench").rglob("*.py"))
    offenders = [f"{p.relative_to(ROOT)} imports {m}" for p in files for m in _imported_modules(p)
                 if m.startswith("tests.test_") or m.startswith("test_")]
    assert offenders == []


# -- the benchmark ---------------------------------------------------------------------------------
BENCH = ROOT / "bench"


def private_uses(path: Path) -> list[str]:
    """A module's reaches into private names: `x._name` on anything but self or cls, and imports of
    private modules or names."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            if any(p.startswith("_") and not p.startswith("__") for p in parts):
                found.append(f"{path.name}:{node.lineno}: from {node.module}")
            found += [f"{path.name}:{node.lineno}: import {a.name}" for a in node.names
                      if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("getattr", "setattr") \
                and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                and str(node.args[1].value).startswith("_"):
            found.append(f"{path.name}:{node.lineno}: {node.args[1].value!r}")
    return found


def test_the_benchmark_uses_public_hooks_only():
    offenders = [use for path in BENCH.glob("*.py") for use in private_uses(path)]
    assert offenders == []


def test_the_private_check_finds_a_private_use(tmp_path):
    offender = tmp_path / "offender.py"
    offender.write_text("from tui._x import y\nfrom a import _b\ndef f(o):\n    return o._engine, self._ok\n")
    assert [use.split(": ", 1)[1] for use in private_uses(offender)] == ["from tui._x", "import _b", "._engine"]


def test_the_benchmark_imports_nothing_from_the_tests():
    offenders = [f"{p.name} imports {m}" for p in BENCH.glob("*.py") for m in _imported_modules(p)
                 if m.split(".")[0] == "tests"]
    assert offenders == []


def test_no_benchmark_module_is_over_300_lines():
    long = {p.name: n for p in BENCH.glob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert long == {}
