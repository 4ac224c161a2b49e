"""``derma marts --lake``: the marts built from a lake's sessions on DuckDB or Spark, written back into the lake."""

from __future__ import annotations

import json
from pathlib import Path

import click

from derma.cli.base import Failure, format_option, handled, main, one_line

ENGINE_CHOICES = ("duckdb", "spark")


def lake_options(func):
    """``--lake``, ``--engine`` and ``--master``: where the lake is and which engine runs on it."""
    func = click.option(
        "--master", default=None, help="Spark master URL (default local[2]: Spark on this machine's cores)."
    )(func)
    func = click.option(
        "--engine",
        type=click.Choice(ENGINE_CHOICES),
        default="duckdb",
        show_default=True,
        help="The engine that computes over the lake.",
    )(func)
    return func


def lake_failures(call):
    """Run ``call``; a lake, engine or transpile error becomes one line and exit 1."""
    from derma.lake.engines import EngineError
    from derma.lake.layout import LakeError
    from derma.lake.transpile import TranspileError
    from etl.export import ExportError

    try:
        return call()
    except (LakeError, EngineError, TranspileError, ExportError) as exc:
        raise Failure(one_line(exc)) from None


@main.command()
@click.option(
    "--lake",
    "lake",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The lake: a folder 'derma export' wrote (its sessions are read, its marts replaced).",
)
@lake_options
@format_option("text", "json", default="text")
@handled
def marts(lake, engine, master, fmt) -> None:
    """Build every mart from a lake's sessions on the named engine and write them back into the lake."""
    from derma.lake.marts import build_lake_marts
    from etl.settings import Settings

    memory_limit = Settings.from_env().memory_limit
    result = lake_failures(lambda: build_lake_marts(lake, engine, master, memory_limit))
    if fmt == "json":
        click.echo(json.dumps(result.to_dict()))
        return
    click.echo(f"built {len(result.marts)} marts on {result.engine} into {result.lake}")
    for mart in result.marts:
        click.echo(f"  {mart.name:26} {mart.rows:>12} rows")
