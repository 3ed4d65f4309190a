"""One room per concern: no module imports both vLLM and Textual; the engine layer never imports Textual."""

from __future__ import annotations

import ast
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


def test_only_the_engine_layer_imports_vllm():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "vllm" in imported_roots(p) and "engine" not in p.relative_to(PACKAGE).parts]
    assert offenders == []
