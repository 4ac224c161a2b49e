"""The import rules of STYLE.md: data flows one way, and only the app's own modules touch Streamlit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
OURS = ("queries", "etl", "analysis", "dashboard", "sample_data", "bench")
# package -> the modules of ours it may import (its own package always allowed)
ALLOWED = {
    "queries": (),
    "etl": ("queries",),
    "analysis": (),
    "sample_data": ("etl.contract",),
}
STREAMLIT_ALLOWED = ("dashboard/streamlit_app.py", "dashboard/app_pages/", "dashboard/data.py")


def imported_modules(path: Path) -> list[str]:
    """Every module (or module.name) a file imports, at any depth (function-level imports count too).

    ``from etl import contract`` and ``from etl.contract import X`` give ``etl.contract`` and
    ``etl.contract.X``, so a rule on ``etl.contract`` judges both the same way.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def allowed(package: str, module: str) -> bool:
    top = module.split(".")[0]
    if top not in OURS or top == package:
        return True
    return any(module == rule or module.startswith(rule + ".") for rule in ALLOWED[package])


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_up_the_table(package):
    wrong = []
    for path in python_files(package):
        for module in imported_modules(path):
            if not allowed(package, module):
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_only_the_app_modules_import_streamlit():
    offenders = []
    for package in OURS:
        for path in python_files(package):
            relative = path.relative_to(ROOT).as_posix()
            if any(m == "streamlit" or m.startswith("streamlit.") for m in imported_modules(path)):
                if not relative.startswith(STREAMLIT_ALLOWED):
                    offenders.append(relative)
    assert not offenders, f"only {', '.join(STREAMLIT_ALLOWED)} may import streamlit: {offenders}"


def test_the_rules_see_a_violation():
    """The walk finds nested and aliased imports, so a passing run means something."""
    sample = ROOT / "tests" / "dashboard" / "_layering_probe.py"
    sample.write_text("def f():\n    import streamlit as st\n    from dashboard import charts\n", encoding="utf-8")
    try:
        found = imported_modules(sample)
    finally:
        sample.unlink()
    assert "streamlit" in found and "dashboard.charts" in found
    assert not allowed("analysis", "dashboard.charts") and not allowed("etl", "analysis.spc")
    assert allowed("sample_data", "etl.contract") and not allowed("sample_data", "etl.load")
