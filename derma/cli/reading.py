"""``derma query``, ``sql`` and ``audit``: named queries, the analyst sandbox and the audit log."""

from __future__ import annotations

import json

import click

from derma.cli.base import (
    Failure,
    data_dir_option,
    format_option,
    handled,
    main,
    one_line,
    print_frame,
    read_current,
    record,
    settings_for,
)


@main.command()
@click.argument("name", required=False)
@click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter value (repeatable)."
)
@click.option("--list", "list_only", is_flag=True, help="List the named queries with their parameters.")
@data_dir_option
@format_option("table", "csv", "json", default="table")
@handled
def query(name, params, list_only, data_dir, fmt) -> None:
    """Run queries/analyses/NAME.sql with bound parameters."""
    from queries import QueryError, get_query, list_queries

    if list_only or not name:
        for q in list_queries():
            names = ", ".join(f"{p.name}{'?' if p.optional else ''}" for p in q.params) or "-"
            click.echo(f"{q.name:34} {names}\n{'':34} {q.purpose}")
        return
    values = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise QueryError(f"query '{name}': parameter '{item}' must be written key=value")
        values[key.strip()] = value
    name = get_query(name).name
    frame = read_current(data_dir, name, values)
    record(settings_for(data_dir), "query", name, values, rows=len(frame))
    print_frame(frame, fmt)


@main.command()
@click.argument("statement")
@click.option("--max-rows", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True)
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=30.0, show_default=True, help="Seconds.")
@data_dir_option
@format_option("table", "csv", "json", default="table")
@handled
def sql(statement, max_rows, timeout, data_dir, fmt) -> None:
    """One read-only SELECT in the analyst sandbox (no files, network, extensions or settings)."""
    from etl.audit import redact_sql
    from etl.sandbox import SandboxError, run_sandboxed
    from etl.warehouse import current_snapshot

    settings = settings_for(data_dir)
    snapshot = current_snapshot(settings.data_dir)
    if snapshot is None:
        raise Failure(f"no warehouse in {settings.data_dir} yet: load data with 'derma ingest' first")
    try:
        result = run_sandboxed(statement, snapshot.path, max_rows=max_rows, timeout_s=timeout)
    except SandboxError as exc:
        record(settings, "sql", redact_sql(statement), outcome="refused")
        raise Failure(one_line(exc)) from None
    record(settings, "sql", redact_sql(statement), rows=len(result.frame))
    print_frame(result.frame, fmt)
    if result.truncated:
        click.echo(f"derma: result truncated to the first {result.row_limit} rows", err=True)


@main.command()
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="Only records written on or after this day (UTC).",
)
@data_dir_option
@format_option("text", "json", default="text")
@handled
def audit(since, data_dir, fmt) -> None:
    """The audit log of views, queries and exports; fails when a record was edited or removed."""
    from etl.audit import read

    records = [
        {k: v for k, v in r.items() if k != "prev"}
        for r in read(settings_for(data_dir).audit_path, since.date() if since else None)
    ]
    if fmt == "json":
        click.echo(json.dumps(records, ensure_ascii=False))
    elif not records:
        click.echo("No audit records.")
    else:
        _print_audit(records)


def _print_audit(records: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from etl.escaping import escape_line  # an identity or a name is shown, never obeyed, by the terminal

    columns = ("at", "who", "role", "via", "action", "what", "params", "rows", "outcome")
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column, justify="right" if column == "rows" else "left", overflow="fold")
    for r in records:
        params = json.dumps(r["params"], ensure_ascii=False, separators=(",", ":")) if r["params"] else ""
        values = {**r, "params": params}
        table.add_row(*[Text("" if values[c] is None else escape_line(values[c])) for c in columns])
    Console(width=max(160, Console().width)).print(table)
    click.echo(f"{len(records)} record(s)")
