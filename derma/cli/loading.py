"""``derma sample``, ``ingest``, ``batches``, ``quarantine`` and ``export``: data into and out of the warehouse."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from derma.cli.base import (
    EXIT_FAILED,
    Failure,
    data_dir_option,
    format_option,
    handled,
    last_complete_month,
    main,
    one_line,
    print_frame,
    read_current,
    record,
    settings_for,
)
from etl.settings import Settings


@main.command()
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write to."
)
@click.option("--clinics", type=click.IntRange(1, 200), default=4, show_default=True)
@click.option(
    "--patients",
    type=click.IntRange(1),
    default=600,
    show_default=True,
    help="Patients (courses) across the network.",
)
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option(
    "--messy-rate",
    type=click.FloatRange(0, 0.5),
    default=0.0,
    show_default=True,
    help="Share of rows given a defect (every quarantine reason is planted).",
)
@click.option("--end-month", default=None, help="Last month of data, YYYY-MM (default: last complete month).")
@format_option("csv", "xlsx", "parquet", "jsonl", default="csv")
@click.option(
    "--style",
    type=click.Choice(["format", "vendor"]),
    default="format",
    show_default=True,
    help="The export format itself, or vendor-shaped exports (Acme CSV, Glow XLSX) with their mappings.",
)
@handled
def sample(out, clinics, patients, months, seed, messy_rate, end_month, fmt, style) -> None:
    """Write synthetic session-log exports (one file per clinic per month)."""
    from sample_data.generator import generate_sessions

    end = end_month or last_complete_month(dt.date.today())
    frame = generate_sessions(clinics=clinics, patients=patients, months=months, seed=seed, end_month=end)
    if style == "vendor":
        from sample_data.vendors import write_vendor_exports

        vendor = write_vendor_exports(frame, out, messy_rate=messy_rate, seed=seed)
        planted = [d for d in vendor.planted if d.column]
        click.echo(
            f"wrote {len(vendor.files)} vendor-shaped file(s), {len(frame)} session(s) to {out} and "
            f"{len(vendor.mappings)} mapping(s) to {out / 'mappings'}"
            + (f"; planted {len(planted)} defect(s)" if planted else "")
        )
        click.echo(
            f"load them with: derma ingest {out} --mapping FILE (one vendor at a time), or copy the "
            "mappings to <data dir>/mappings/ and run derma ingest"
        )
        return
    from sample_data.writer import write_exports

    result = write_exports(frame, out, fmt=fmt, messy_rate=messy_rate, seed=seed)
    click.echo(
        f"wrote {len(result.files)} file(s), {len(frame)} session(s) to {out}"
        + (f"; planted {len(result.planted)} defect(s)" if result.planted else "")
    )


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--mapping",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Read every file through this mapping (default: match <data-dir>/mappings/*.toml by name).",
)
@click.option("--dry-run", is_flag=True, help="Report what the load would do; publish nothing.")
@data_dir_option
@format_option("text", "json", default="text")
@click.option("--skip-models", is_flag=True, help="Do not refresh the model results after the load.")
@click.option("--notify", is_flag=True, help="After the load, send the alerts (as 'derma alerts --send').")
@handled
def ingest(paths, mapping, dry_run, data_dir, fmt, skip_models, notify) -> None:
    """Load files and folders of exports as one atomic batch and publish a new snapshot."""
    from etl.load import ingest as run_ingest

    settings = settings_for(data_dir)
    progress = _progress(fmt)
    try:
        result = run_ingest(
            paths,
            settings,
            on_file=progress.advance if progress else None,
            mapping=mapping,
            dry_run=dry_run,
        )
    finally:
        if progress:
            progress.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print_ingest(result)
    if not skip_models and not dry_run:
        refresh_after_load(settings)
    if notify and not dry_run:
        from derma.cli.delivery import notify_after_load

        notify_after_load(settings)
    if result.any_rejected:
        sys.exit(EXIT_FAILED)


def refresh_after_load(settings: Settings) -> None:
    """Refresh the network models after a load; the batch is committed either way."""
    from derma.refresh import refresh_models

    if sys.stderr.isatty():
        click.echo("refreshing model results ...", err=True)
    try:
        refresh_models(settings)
    except Exception as exc:  # noqa: BLE001 - the load stands; say why the models did not refresh
        click.echo(
            f"derma: the batch is loaded, but the model results were not refreshed: {one_line(exc)}", err=True
        )


class _Progress:
    def __init__(self) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=True)
        self._progress.start()
        self._task = self._progress.add_task("loading", total=None)

    def advance(self, result) -> None:
        from rich.markup import escape

        self._progress.update(self._task, advance=1, description=f"loaded {escape(result.file)}")

    def close(self) -> None:
        self._progress.stop()


def _progress(fmt: str) -> _Progress | None:
    return _Progress() if fmt == "text" and sys.stderr.isatty() else None


def print_ingest(result) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from etl.escaping import escape_line  # names are escaped by the load too: belt and braces

    title = (
        f"dry run of batch {result.batch_id}: nothing published"
        if result.dry_run
        else f"batch {result.batch_id}"
    )
    table = Table(title=title)
    for column in ("file", "status", "rows", "inserted", "updated", "unchanged", "quarantined"):
        table.add_column(column, justify="right" if column not in ("file", "status") else "left")
    for f in result.files:
        table.add_row(
            Text(escape_line(f.file)),  # Text: a name like '[red]x.csv' is data, not rich markup
            f.status,
            *(str(getattr(f, k)) for k in ("rows", "inserted", "updated", "unchanged", "quarantined")),
        )
    totals = result.totals
    table.add_row(
        "total", "", *(str(totals[k]) for k in ("rows", "inserted", "updated", "unchanged", "quarantined"))
    )
    console = Console(width=max(110, Console().width))
    console.print(table)
    if result.cleared_leftovers:
        click.echo(
            f"removed {result.cleared_leftovers} file(s) left in the work folder by an interrupted load"
        )
    for f in result.files:
        name = escape_line(f.file)
        if f.mapping:
            click.echo(
                f"{name}: read through the mapping {escape_line(f.mapping)} (sha256 {f.mapping_sha256[:12]}…)"
            )
        if f.reason:
            click.echo(f"rejected: {escape_line(f.reason)}")
        if f.reasons:
            counts = ", ".join(f"{reason} {n}" for reason, n in f.reasons)
            click.echo(f"{name}: quarantine records by reason: {counts}")
        if f.dropped_columns:
            dropped = ", ".join(escape_line(c) for c in f.dropped_columns)
            click.echo(f"{name}: dropped protected/free-text column(s) {dropped}")
        if f.ignored_columns:
            click.echo(
                f"{name}: ignored unknown column(s) {', '.join(escape_line(c) for c in f.ignored_columns)}"
            )
    same = [f for f in result.files if f.same_as_batch]
    if same:
        click.echo(
            f"{len(same)} file(s) had the same bytes as an earlier load and nothing since could change "
            "them: counted as unchanged without reading them again"
        )
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} file(s) that are not exports")
    if result.dry_run:
        _print_preview(result)
        click.echo("dry run: nothing was published and the data dir is as it was")
    else:
        click.echo(f"published snapshot {result.snapshot}")


#: Quarantine records a dry run prints as text (``--format json`` gives up to 1,000).
SHOWN_RECORDS = 20


def _print_preview(result) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from etl.escaping import escape_line

    total = result.totals["quarantined"]
    if not result.quarantine:
        return
    records = sum(n for f in result.files for _, n in f.reasons)
    shown = result.quarantine[:SHOWN_RECORDS]
    table = Table(title=f"quarantine: the first {len(shown)} of {records} record(s) ({total} row(s))")
    for column in ("file", "row", "column", "value", "reason"):
        table.add_column(column)
    for entry in shown:
        table.add_row(*(Text("" if v is None else escape_line(v)) for v in entry))
    Console(width=max(110, Console().width)).print(table)


@main.command()
@data_dir_option
@format_option("text", "json", default="text")
@handled
def batches(data_dir, fmt) -> None:
    """Load history: batch id, time, files, counts, sha256 per file."""
    from derma.jsonvalues import plain

    frame = read_current(data_dir, "load_batches", {})
    if fmt == "json":
        out = []
        for batch_id, group in frame.groupby("batch_id", sort=False):
            first = group.iloc[0]
            files = [
                {
                    k: plain(row[k])
                    for k in (
                        "file",
                        "format",
                        "status",
                        "reason",
                        "rows",
                        "inserted",
                        "updated",
                        "unchanged",
                        "quarantined",
                        "sha256",
                        "bytes",
                    )
                }
                for _, row in group.iterrows()
            ]
            totals = {
                k: int(group[k].sum()) for k in ("rows", "inserted", "updated", "unchanged", "quarantined")
            }
            out.append(
                {
                    "batch_id": batch_id,
                    "snapshot": first["snapshot"],
                    "started_at": plain(first["started_at"]),
                    "finished_at": plain(first["finished_at"]),
                    "software_version": first["software_version"],
                    "files": files,
                    "totals": totals,
                }
            )
        click.echo(json.dumps(out))
    else:
        print_frame(frame.drop(columns=["snapshot", "software_version", "finished_at", "file_seq"]), "table")


@main.command()
@click.option("--batch", "batch_id", default=None, help="Only this batch.")
@data_dir_option
@format_option("text", "csv", "json", default="text")
@handled
def quarantine(batch_id, data_dir, fmt) -> None:
    """Rejected rows with their reasons (patient numbers masked)."""
    from derma.jsonvalues import plain

    frame = read_current(data_dir, "quarantine_records", {"batch_id": batch_id})
    record(settings_for(data_dir), "export", "quarantine", {"batch": batch_id}, rows=len(frame))
    if fmt == "json":
        keep = ["batch_id", "file", "row", "column", "value", "reason"]
        records = [
            {k: plain(v) for k, v in zip(keep, row, strict=True)}
            for row in frame[keep].itertuples(index=False)
        ]
        click.echo(json.dumps(records, ensure_ascii=False))
    else:
        print_frame(frame, "csv" if fmt == "csv" else "table")


@main.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the Parquet export to (created; must be empty or an earlier export).",
)
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in --out.")
@data_dir_option
@format_option("text", "json", default="text")
@handled
def export_parquet(out, overwrite, data_dir, fmt) -> None:
    """Export the marts and sessions as hive-partitioned Parquet (by clinic) with a manifest."""
    import shutil

    from etl.audit import AuditError
    from etl.export import ExportError, export_marts
    from etl.warehouse import current_snapshot

    settings = settings_for(data_dir)
    snapshot = current_snapshot(settings.data_dir)
    if snapshot is None:
        raise Failure(f"no warehouse in {settings.data_dir} yet: load data with 'derma ingest' first")
    try:
        result = export_marts(snapshot.path, out, overwrite=overwrite, memory_limit=settings.memory_limit)
    except ExportError as exc:
        raise Failure(one_line(exc)) from None
    try:
        record(
            settings,
            "export",
            "marts",
            {"out": str(result.out_dir), "tables": [t.name for t in result.tables]},
            rows=result.rows,
        )
    except AuditError:
        shutil.rmtree(
            result.out_dir, ignore_errors=True
        )  # an export nobody can account for is not handed out
        raise
    if fmt == "json":
        click.echo(json.dumps(result.manifest(), ensure_ascii=False))
        return
    click.echo(f"{'table':26} {'rows':>10} {'files':>6}  partitioned by")
    for table in result.tables:
        click.echo(
            f"{table.name:26} {table.rows:>10} {len(table.files):>6}  {', '.join(table.partition_by) or '-'}"
        )
    click.echo(
        f"exported {len(result.tables)} tables, {result.rows} rows in {result.files} files of snapshot "
        f"{result.snapshot_id} to {result.out_dir}"
    )
