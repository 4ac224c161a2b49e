"""The documentation stays honest: every command, option, named query and setting is documented in docs/.

In the manner of Datasette's ``test_docs.py``: each documented thing is a parametrised case, so an
undocumented one fails by name.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import click
import pytest

from derma.cli import main
from etl.settings import ENV_VARS
from queries import list_queries

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group = main, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every subcommand as ``"ingest"`` or ``"mapping check"``, nested groups included."""
    found = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix}{name}"
        if isinstance(command, click.Group):
            found += commands(command, f"{full} ")
        else:
            found.append((full, command))
    return found


def cli_sections(text: str) -> dict[str, str]:
    """``### `derma NAME` `` headed sections of docs/cli.md, by NAME."""
    parts = re.split(r"(?m)^### `derma ([a-z -]+)`\s*$", text)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def undocumented_options(command: click.Command, section: str) -> list[str]:
    missing = []
    for param in command.params:
        if isinstance(param, click.Option):
            if not any(f"`{opt}" in section or f"/{opt}" in section for opt in param.opts):
                missing.append(param.opts[0])
        elif param.name.upper() not in section:
            missing.append(param.name.upper())
    return missing


CLI = cli_sections((DOCS / "cli.md").read_text(encoding="utf-8"))
COMMANDS = commands()


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_and_option_is_in_the_cli_docs(name, command):
    assert name in CLI, f"docs/cli.md has no section '### `derma {name}`'"
    assert not undocumented_options(command, CLI[name]), f"derma {name}: options missing from docs/cli.md"


def test_the_cli_docs_describe_no_command_that_does_not_exist():
    assert set(CLI) <= {name for name, _ in COMMANDS}


def test_the_checks_notice_a_missing_section_and_option():
    """A passing run means something: the section splitter and option check find what is missing."""
    name, command = next(c for c in COMMANDS if c[0] == "ingest")
    trimmed = CLI[name].replace("`--skip-models`", "")
    assert undocumented_options(command, trimmed) == ["--skip-models"]
    assert "ingest" not in cli_sections("### `derma batches`\n\nx\n")


QUERIES = [q.name for q in list_queries()]
QUERY_DOCS = (DOCS / "queries.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", QUERIES)
def test_every_named_query_is_in_the_query_docs(name):
    assert f"`{name}`" in QUERY_DOCS, f"docs/queries.md does not document the named query {name}"


@pytest.mark.parametrize("variable", sorted(ENV_VARS))
def test_every_setting_is_in_the_configuration_docs(variable):
    assert f"`{variable}`" in (DOCS / "configuration.md").read_text(encoding="utf-8")


def test_the_readme_opens_with_make_demo_and_make_test():
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


def test_every_relative_link_in_the_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken


def test_nothing_in_the_repository_points_outside_it():
    tracked = subprocess.run(
        ["git", "grep", "-l", "-F", "../" + "shared", "--", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tracked.stdout.strip() == "", f"files pointing outside the repository: {tracked.stdout.split()}"
