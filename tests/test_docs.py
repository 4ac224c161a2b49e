"""Docs stay honest: the README lists every setting and opens with the two set-up commands."""

from __future__ import annotations

from pathlib import Path

from etl.settings import ENV_VARS

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def test_the_readme_lists_every_environment_variable():
    missing = [name for name in ENV_VARS if f"`{name}`" not in README]
    assert not missing


def test_the_readme_opens_with_make_demo_and_make_test():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block
