"""The ``derma`` command line: thin subcommands that parse, call the library and print."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import json
import os
import sys
from pathlib import Path

import click

from etl.settings import Settings

EXIT_FAILED = 1


class Failure(click.ClickException):
    """A user-facing failure: one line on stderr, exit status 1."""

    exit_code = EXIT_FAILED

    def show(self, file=None) -> None:  # noqa: ARG002 - click's signature
        click.echo(f"derma: {self.format_message()}", err=True)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def handled(func):
    """Turn the library's own errors (and anything unexpected) into one line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from etl.audit import AuditError
        from etl.load import LoadError
        from etl.pseudonym import SecretKeyError
        from etl.settings import SettingsError
        from etl.warehouse import WarehouseError
        from queries import QueryError

        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (AuditError, LoadError, WarehouseError, SecretKeyError, SettingsError, QueryError) as exc:
            raise Failure(_one_line(exc)) from None
        except KeyboardInterrupt:
            raise Failure("interrupted; nothing was published") from None
        except Exception as exc:  # noqa: BLE001 - never a traceback for a user
            if os.environ.get("DERMA_DEBUG"):
                raise
            raise Failure(f"unexpected error ({type(exc).__name__}): {_one_line(exc)}") from None

    return wrapper


def data_dir_option(func):
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Warehouse folder (default: $DERMA_DATA_DIR or ./data).")(func)


def settings_for(data_dir: Path | None) -> Settings:
    return Settings.from_env().with_data_dir(data_dir)


def record(settings: Settings, action: str, what: str, params: dict | None = None, rows: int | None = None,
           outcome: str = "ok") -> None:
    """Account for a CLI action in the audit log; raises AuditError (so the command fails) when it cannot."""
    from etl.audit import append

    append(settings.audit_path, who=_user(), role="cli", via="cli", action=action, what=what, params=params,
           rows=rows, outcome=outcome)


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a bare container): still account for the action
        return "unknown"


def format_option(*choices: str, default: str):
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help="Output format.")


def print_frame(frame, fmt: str) -> None:
    """Print a DataFrame as a table, CSV or JSON records (dates as ISO strings)."""
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from dashboard.jsonvalues import plain  # pandas loads only for commands that print data

        table = Table(show_lines=False)
        for column in frame.columns:
            table.add_column(Text(str(column)))
        for row in frame.itertuples(index=False):  # Text: a value like '[red]' is data, not rich markup
            table.add_row(*[Text("" if plain(v) is None else str(v)) for v in row])
        Console(width=max(120, Console().width)).print(table)
        click.echo(f"{len(frame)} row(s)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derma-outcomes")
def main() -> None:
    """derma-outcomes: microdermabrasion session logs in, trustworthy outcomes out."""


@main.command()
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write to.")
@click.option("--clinics", type=click.IntRange(1, 200), default=4, show_default=True)
@click.option("--patients", type=click.IntRange(1), default=600, show_default=True,
              help="Patients (courses) across the network.")
@click.option("--months", type=click.IntRange(1, 120), default=12, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--messy-rate", type=click.FloatRange(0, 0.5), default=0.0, show_default=True,
              help="Share of rows given a defect (every quarantine reason is planted).")
@click.option("--end-month", default=None, help="Last month of data, YYYY-MM (default: last complete month).")
@format_option("csv", "xlsx", "parquet", "jsonl", default="csv")
@handled
def sample(out, clinics, patients, months, seed, messy_rate, end_month, fmt) -> None:
    """Write synthetic session-log exports (one file per clinic per month)."""
    from sample_data.generator import generate_sessions
    from sample_data.writer import write_exports

    end = end_month or last_complete_month(dt.date.today())
    frame = generate_sessions(clinics=clinics, patients=patients, months=months, seed=seed, end_month=end)
    result = write_exports(frame, out, fmt=fmt, messy_rate=messy_rate, seed=seed)
    click.echo(f"wrote {len(result.files)} file(s), {len(frame)} session(s) to {out}"
               + (f"; planted {len(result.planted)} defect(s)" if result.planted else ""))


def last_complete_month(today: dt.date) -> str:
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@data_dir_option
@format_option("text", "json", default="text")
@click.option("--skip-models", is_flag=True, help="Do not refresh the model results after the load.")
@handled
def ingest(paths, data_dir, fmt, skip_models) -> None:
    """Load files and folders of exports as one atomic batch and publish a new snapshot."""
    from etl.load import ingest as run_ingest

    settings = settings_for(data_dir)
    progress = _progress(fmt)
    result = run_ingest(paths, settings, on_file=progress.advance if progress else None)
    if progress:
        progress.close()
    if fmt == "json":
        click.echo(json.dumps(result.to_dict()))
    else:
        _print_ingest(result)
    if not skip_models:
        _refresh_models(settings)
    if result.any_rejected:
        sys.exit(EXIT_FAILED)


def _refresh_models(settings: Settings) -> None:
    """Refresh the network models after a load; the batch is committed either way."""
    from dashboard.modelling import refresh_models

    if sys.stderr.isatty():
        click.echo("refreshing model results ...", err=True)
    try:
        refresh_models(settings)
    except Exception as exc:  # noqa: BLE001 - the load stands; say why the models did not refresh
        click.echo(f"derma: the batch is loaded, but the model results were not refreshed: {_one_line(exc)}",
                   err=True)


class _Progress:
    def __init__(self) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=True)
        self._progress.start()
        self._task = self._progress.add_task("loading", total=None)

    def advance(self, result) -> None:
        self._progress.update(self._task, advance=1, description=f"loaded {result.file}")

    def close(self) -> None:
        self._progress.stop()


def _progress(fmt: str) -> _Progress | None:
    return _Progress() if fmt == "text" and sys.stderr.isatty() else None


def _print_ingest(result) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"batch {result.batch_id}")
    for column in ("file", "status", "rows", "inserted", "updated", "unchanged", "quarantined"):
        table.add_column(column, justify="right" if column not in ("file", "status") else "left")
    for f in result.files:
        table.add_row(f.file, f.status, *(str(getattr(f, k)) for k in ("rows", "inserted", "updated",
                                                                        "unchanged", "quarantined")))
    totals = result.totals
    table.add_row("total", "", *(str(totals[k]) for k in ("rows", "inserted", "updated", "unchanged",
                                                          "quarantined")))
    console = Console(width=max(110, Console().width))
    console.print(table)
    for f in result.files:
        if f.reason:
            click.echo(f"rejected: {f.reason}")
        if f.dropped_columns:
            click.echo(f"{f.file}: dropped protected/free-text column(s) {', '.join(f.dropped_columns)}")
        if f.ignored_columns:
            click.echo(f"{f.file}: ignored unknown column(s) {', '.join(f.ignored_columns)}")
    same = [f for f in result.files if f.same_as_batch]
    if same:
        click.echo(f"{len(same)} file(s) had the same bytes as an earlier load and nothing since could change "
                   "them: counted as unchanged without reading them again")
    if result.skipped:
        click.echo(f"skipped {len(result.skipped)} file(s) that are not exports")
    click.echo(f"published snapshot {result.snapshot}")


def _read_current(data_dir: Path | None, query: str, values: dict):
    from etl.warehouse import connect_current
    from queries import run_query

    settings = settings_for(data_dir)
    _, con = connect_current(settings.data_dir)
    try:
        return run_query(con, query, values)
    finally:
        con.close()


@main.command()
@data_dir_option
@format_option("text", "json", default="text")
@handled
def batches(data_dir, fmt) -> None:
    """Load history: batch id, time, files, counts, sha256 per file."""
    from dashboard.jsonvalues import plain

    frame = _read_current(data_dir, "load_batches", {})
    if fmt == "json":
        out = []
        for batch_id, group in frame.groupby("batch_id", sort=False):
            first = group.iloc[0]
            files = [{k: plain(row[k]) for k in ("file", "format", "status", "reason", "rows", "inserted", "updated",
                                                  "unchanged", "quarantined", "sha256", "bytes")}
                     for _, row in group.iterrows()]
            totals = {k: int(group[k].sum()) for k in ("rows", "inserted", "updated", "unchanged", "quarantined")}
            out.append({"batch_id": batch_id, "snapshot": first["snapshot"],
                        "started_at": plain(first["started_at"]), "finished_at": plain(first["finished_at"]),
                        "software_version": first["software_version"], "files": files, "totals": totals})
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
    from dashboard.jsonvalues import plain

    frame = _read_current(data_dir, "quarantine_records", {"batch_id": batch_id})
    record(settings_for(data_dir), "export", "quarantine", {"batch": batch_id}, rows=len(frame))
    if fmt == "json":
        keep = ["batch_id", "file", "row", "column", "value", "reason"]
        records = [{k: plain(v) for k, v in zip(keep, row, strict=True)}
                   for row in frame[keep].itertuples(index=False)]
        click.echo(json.dumps(records, ensure_ascii=False))
    else:
        print_frame(frame, "csv" if fmt == "csv" else "table")


@main.command()
@click.argument("name", required=False)
@click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter value (repeatable).")
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
    frame = _read_current(data_dir, name, values)
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
        raise Failure(_one_line(exc)) from None
    record(settings, "sql", redact_sql(statement), rows=len(result.frame))
    print_frame(result.frame, fmt)
    if result.truncated:
        click.echo(f"derma: result truncated to the first {result.row_limit} rows", err=True)


@main.command()
@click.option("--clinic", "clinic_id", default=None, help="Fit this clinic's own data instead of the network's.")
@click.option("--all-clinics", is_flag=True,
              help="Fit the network's models, then each clinic's own (JSON: a list of reports, network first).")
@click.option("--refresh", is_flag=True, help="Fit again even when fresh results exist.")
@data_dir_option
@format_option("table", "json", default="table")
@handled
def models(clinic_id, all_clinics, refresh, data_dir, fmt) -> None:
    """The fitted models' effects and curves for the current snapshot (fitting them when missing or stale).

    Managers see model results only from their own clinic's fit: use --all-clinics (or --clinic) so
    every clinic has one.
    """
    from dashboard.modelling import NETWORK

    if clinic_id and all_clinics:
        raise click.UsageError("use --clinic or --all-clinics, not both")
    settings = settings_for(data_dir)
    if not all_clinics:
        report = _fitted_report(settings, clinic_id or NETWORK, refresh)
        if fmt == "json":
            click.echo(json.dumps(report, default=str))
        else:
            _print_models(report)
        return
    clinics = sorted(_read_current(data_dir, "data_freshness", {})["clinic_id"])
    reports = []
    for scope in [NETWORK, *clinics]:
        if sys.stderr.isatty():
            click.echo(f"fitting the models for {scope} ...", err=True)
        reports.append(_fitted_report(settings, scope, refresh))
    if fmt == "json":
        click.echo(json.dumps(reports, default=str))
    else:
        for report in reports:
            _print_models(report)


def _fitted_report(settings: Settings, scope: str, refresh: bool) -> dict:
    """Fit ``scope``'s models when missing or stale (always with ``refresh``) and return their report."""
    from dashboard.modelling import model_report, refresh_models

    refresh_models(settings, scope, force=refresh)
    return model_report(settings, scope)


def _print_models(report: dict) -> None:
    from dashboard.modelling import NETWORK

    scope = report["scope"]
    click.echo(f"snapshot {report['snapshot']}  scope {scope}  fitted {report['run']['fitted_at']}")
    for model in report["models"]:
        click.echo(f"\n{model['name']}: {model['outcome']} — {model['method']}")
        click.echo(f"  {model['n_sessions']} sessions, {model['n_patients']} patients, {model['n_events']} events; "
                   f"status {model['status']}")
        for warning in model["warnings"]:
            click.echo(f"  warning: {warning}")
        import pandas as pd

        effects = pd.DataFrame(model["effects"])
        if not effects.empty:
            print_frame(effects[["term", "label", "unit", "estimate", "ci_low", "ci_high", "p_value"]]
                        .round({"estimate": 3, "ci_low": 3, "ci_high": 3, "p_value": 4}), "table")
    for verdict in report["control_charts"]:
        if verdict["unit"] == scope or scope == NETWORK and verdict["unit"] == NETWORK:
            click.echo(f"{verdict['measure']}: {verdict['verdict']}")


@main.command()
@click.option("--month", default=None, help="YYYY-MM (default: the last complete month).")
@click.option("--clinic", "clinic_id", default=None, help="One clinic's report (default: the network's).")
@click.option("--all-clinics", is_flag=True, help="One report per clinic plus the network's.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"), show_default=True,
              help="Folder to write to.")
@click.option("--formats", default="html,pdf,xlsx", show_default=True, help="Comma-separated: html, pdf, xlsx.")
@click.option("--min-cell", type=int, default=None, help="Show counts below N as <N (with complementary suppression).")
@data_dir_option
@handled
def report(month, clinic_id, all_clinics, out, formats, min_cell, data_dir) -> None:
    """Write the monthly report (HTML, PDF, XLSX) for the network, one clinic, or every clinic plus the network."""
    from dashboard.modelling import NETWORK
    from dashboard.report import ReportError, build_reports, file_name
    from dashboard.report import all_clinics as clinics_of
    from etl.audit import AuditError

    if clinic_id and all_clinics:
        raise click.UsageError("use --clinic or --all-clinics, not both")
    settings = settings_for(data_dir)
    month = month or last_complete_month(dt.date.today())
    scopes = [None, *clinics_of(settings)] if all_clinics else [clinic_id]
    try:
        written = build_reports(settings, month, scopes, out, formats.split(","), min_cell)
    except ReportError as exc:
        raise Failure(_one_line(exc)) from None
    try:
        for path in written:
            clinic = next((c for c in scopes if file_name(c or NETWORK, month, path.suffix[1:]) == path.name), None)
            record(settings, "report", path.name,
                   {"month": month, "clinic": clinic, "min_cell": min_cell, "formats": formats.split(",")})
    except AuditError:
        for path in written:  # a report nobody can account for is not handed out
            path.unlink(missing_ok=True)
        raise
    for path in written:
        click.echo(str(path))


@main.command("export")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the Parquet export to (created; must be empty or an earlier export).")
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
        raise Failure(_one_line(exc)) from None
    try:
        record(settings, "export", "marts", {"out": str(result.out_dir), "tables": [t.name for t in result.tables]},
               rows=result.rows)
    except AuditError:
        shutil.rmtree(result.out_dir, ignore_errors=True)  # an export nobody can account for is not handed out
        raise
    if fmt == "json":
        click.echo(json.dumps(result.manifest(), ensure_ascii=False))
        return
    click.echo(f"{'table':26} {'rows':>10} {'files':>6}  partitioned by")
    for table in result.tables:
        click.echo(f"{table.name:26} {table.rows:>10} {len(table.files):>6}  {', '.join(table.partition_by) or '-'}")
    click.echo(f"exported {len(result.tables)} tables, {result.rows} rows in {result.files} files of snapshot "
               f"{result.snapshot_id} to {result.out_dir}")


@main.command()
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Only records written on or after this day (UTC).")
@data_dir_option
@format_option("text", "json", default="text")
@handled
def audit(since, data_dir, fmt) -> None:
    """The audit log of views, queries and exports; fails when a record was edited or removed."""
    from etl.audit import read

    records = [{k: v for k, v in r.items() if k != "prev"}
               for r in read(settings_for(data_dir).audit_path, since.date() if since else None)]
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

    columns = ("at", "who", "role", "via", "action", "what", "params", "rows", "outcome")
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(column, justify="right" if column == "rows" else "left", overflow="fold")
    for r in records:
        params = json.dumps(r["params"], ensure_ascii=False, separators=(",", ":")) if r["params"] else ""
        values = {**r, "params": params}
        table.add_row(*[Text("" if values[c] is None else str(values[c])) for c in columns])
    Console(width=max(160, Console().width)).print(table)
    click.echo(f"{len(records)} record(s)")


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (localhost by default).")
@data_dir_option
@handled
def serve(port, host, data_dir) -> None:
    """The Streamlit dashboard over the current snapshot."""
    _serve(settings_for(data_dir), port, host)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_sign_in(settings: Settings, host: str) -> None:
    """Refuse a server that would trust a header anyone could send, or a roles file that lets nobody in."""
    if settings.identity_header is None:
        if host not in LOOPBACK:
            click.echo(f"derma: warning: no sign-in is configured, so everyone who reaches {host} is an "
                       "administrator (see the README's Security section)", err=True)
        return
    if host not in LOOPBACK:
        raise Failure(f"DERMA_IDENTITY_HEADER trusts a request header any client could send: serve on 127.0.0.1 "
                      f"behind the reverse proxy that sets {settings.identity_header}, not on {host}")
    from etl.access import AccessError, load_roles

    try:
        load_roles(settings.roles_file)
    except AccessError as exc:
        raise Failure(_one_line(exc)) from None


def _serve(settings: Settings, port: int, host: str, local: bool = False) -> None:
    """Run Streamlit on the dashboard; ``local`` (``derma demo``) is the single local admin without sign-in."""
    if not local:
        _check_sign_in(settings, host)
    app = Path(__file__).with_name("streamlit_app.py")
    # The dashboard only reads pseudonymised data: it never gets the pseudonym key.
    dropped = {"DERMA_SECRET_KEY", *(("DERMA_IDENTITY_HEADER",) if local else ())}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DERMA_DATA_DIR"] = str(settings.data_dir.resolve())
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(port),
               "--server.address", host, "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    click.echo(f"dashboard on http://{host}:{port}  (Ctrl+C to stop)")
    os.execvpe(command[0], command, env)


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option("--patients", type=click.IntRange(50), default=1500, show_default=True)
@click.option("--no-serve", is_flag=True, help="Stop after loading (print what to run instead of serving).")
@data_dir_option
@handled
def demo(port, patients, no_serve, data_dir) -> None:
    """Sample -> ingest -> serve, in a throw-away data dir unless --data-dir is given."""
    import secrets
    import tempfile
    from dataclasses import replace

    from etl.load import ingest as run_ingest
    from sample_data.generator import generate_sessions
    from sample_data.writer import write_exports

    workspace = Path(tempfile.mkdtemp(prefix="derma-demo-"))
    settings = Settings.from_env().with_data_dir(data_dir or workspace / "data")
    if data_dir is None:  # throw-away data gets a throw-away key, never written anywhere
        settings = replace(settings, secret_key=secrets.token_hex(32))
    end = last_complete_month(dt.date.today())
    click.echo(f"generating synthetic exports for {patients} patients (12 months to {end}) ...")
    frame = generate_sessions(clinics=4, patients=patients, months=12, seed=7, end_month=end)
    exports = write_exports(frame, workspace / "exports", fmt="csv", messy_rate=0.02, seed=7)
    click.echo(f"loading {len(exports.files)} files ...")
    result = run_ingest([workspace / "exports"], settings)
    _print_ingest(result)
    _refresh_models(settings)
    if no_serve:
        click.echo(f"\nwarehouse ready: {settings.data_dir / 'warehouse.duckdb'}\n"
                   f"  derma batches --data-dir {settings.data_dir}\n"
                   f"  derma quarantine --data-dir {settings.data_dir}\n"
                   f"  duckdb -readonly {settings.data_dir / 'warehouse.duckdb'}")
        return
    _serve(settings, port, "127.0.0.1", local=True)


if __name__ == "__main__":
    main()
