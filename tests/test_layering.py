"""The shape of the house (docs/architecture.md): data flows one way, and only the app touches Streamlit.

Each package may import only the packages below it in the table; nothing imports "up". The
dashboard may use the jobs in ``derma`` but never the command line (``derma.cli``) that serves it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
OURS = (
    "queries",
    "etl",
    "analysis",
    "charts",
    "reports",
    "derma",
    "dashboard",
    "sample_data",
    "bench",
    "tests",
)
# package -> the modules of ours it may import (its own package is always allowed)
ALLOWED = {
    "queries": (),
    "etl": ("queries",),
    "analysis": (),
    "charts": ("analysis",),
    "reports": ("queries", "etl", "analysis", "charts"),
    "sample_data": ("etl.contract",),
    "derma": ("queries", "etl", "analysis", "charts", "reports", "sample_data"),
    "dashboard": ("queries", "etl", "analysis", "charts", "reports", "derma"),
}
# modules a package may not import although a rule above would let it
FORBIDDEN = {"dashboard": ("derma.cli",)}
STREAMLIT_ALLOWED = (
    "dashboard/streamlit_app.py",
    "dashboard/auditing.py",
    "dashboard/app_pages/",
    "dashboard/data.py",
    "dashboard/signin.py",
)


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


def _under(module: str, rule: str) -> bool:
    return module == rule or module.startswith(rule + ".")


def allowed(package: str, module: str) -> bool:
    top = module.split(".")[0]
    if top not in OURS or top == package:
        return True
    if any(_under(module, rule) for rule in FORBIDDEN.get(package, ())):
        return False
    return any(_under(module, rule) for rule in ALLOWED[package])


def test_every_package_of_ours_has_a_rule():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert packages == set(ALLOWED)


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
            if relative.startswith("tests/"):
                continue  # tests drive the app with streamlit.testing
            streamlit = any(m == "streamlit" or m.startswith("streamlit.") for m in imported_modules(path))
            if streamlit and not relative.startswith(STREAMLIT_ALLOWED):
                offenders.append(relative)
    assert not offenders, f"only {', '.join(STREAMLIT_ALLOWED)} may import streamlit: {offenders}"


def test_the_rules_see_a_violation(tmp_path):
    """The walk finds nested and aliased imports, so a passing run means something."""
    sample = tmp_path / "probe.py"
    sample.write_text(
        "def f():\n    import streamlit as st\n    from charts import figures\n", encoding="utf-8"
    )
    found = imported_modules(sample)
    assert "streamlit" in found and "charts.figures" in found
    assert not allowed("analysis", "charts.figures") and not allowed("etl", "analysis.spc")
    assert not allowed("reports", "derma.refresh") and not allowed("derma", "dashboard.data")
    assert allowed("dashboard", "derma.refresh") and not allowed("dashboard", "derma.cli.base")
    assert allowed("sample_data", "etl.contract") and not allowed("sample_data", "etl.load")
