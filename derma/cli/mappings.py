"""``derma mapping check`` and ``derma mapping suggest``: mappings for vendor exports."""

from __future__ import annotations

from pathlib import Path

import click

from derma.cli.base import Failure, handled, main


@main.group("mapping")
def mapping_group() -> None:
    """Mappings for vendor exports: check one, or suggest one for an export."""


@mapping_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@handled
def check(file: Path) -> None:
    """Check a mapping; exit 1 with one line naming the file, the key and the rule when it is wrong."""
    from etl.escaping import shown_name
    from etl.mapping import load_mapping

    checked = load_mapping(file)
    parts = [f"{len(checked.columns)} column(s)"]
    if checked.constants:
        parts.append(f"{len(checked.constants)} constant(s)")
    if checked.values:
        parts.append(f"value tables for {', '.join(checked.values)}")
    if checked.match:
        parts.append(f"matches {', '.join(checked.match)}")
    click.echo(f"{shown_name(file)}: ok, mapping {checked.name!r}: {'; '.join(parts)}")


@mapping_group.command("suggest")
@click.argument("export", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the mapping to this file (default: print it).",
)
@click.option(
    "--sheet",
    default=None,
    help="The workbook sheet to read (default: the sheet whose header fits the format best).",
)
@handled
def suggest(export: Path, out: Path | None, sheet: str | None) -> None:
    """Propose a mapping for one export: headers, category values and the date format, guesses marked."""
    from etl.escaping import shown_name
    from etl.suggest import SuggestError, suggest_mapping

    try:
        proposal = suggest_mapping(export, sheet=sheet)
    except SuggestError as exc:
        raise Failure(str(exc)) from None
    if out is None:
        click.echo(proposal.text, nl=False)
        return
    if out.exists():
        raise Failure(f"{shown_name(out)} exists; choose another --out or remove it first")
    out.write_text(proposal.text, encoding="utf-8")
    click.echo(
        f"wrote {shown_name(out)}: {proposal.matched} header(s) matched, {proposal.unsure} guess(es) "
        f"marked '# check:'; check it with: derma mapping check {shown_name(out)}"
    )
