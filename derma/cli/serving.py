"""``derma serve`` and ``derma demo``: the dashboard over a warehouse."""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import sys
from pathlib import Path

import click

from derma.cli.base import (
    Failure,
    data_dir_option,
    handled,
    last_complete_month,
    main,
    one_line,
    settings_for,
)
from derma.cli.loading import print_ingest, refresh_after_load
from etl.settings import Settings


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (localhost by default)."
)
@click.option(
    "--lake",
    "lake",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Serve a lake (a folder 'derma export' wrote) instead of the warehouse: read-only views over its Parquet.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Warehouse folder (default: $DERMA_DATA_DIR or ./data). With --lake: the lake's own folder for its "
    "view database, notes, targets and audit log (default: one per lake under $XDG_DATA_HOME/derma/lakes).",
)
@handled
def serve(port, host, lake, data_dir) -> None:
    """The Streamlit dashboard over the current snapshot (or over a lake's marts with --lake)."""
    if lake is not None:
        from derma.cli.lake import lake_failures
        from derma.lake.serving import lake_data_dir

        settings = Settings.from_env().with_data_dir(lake_failures(lambda: lake_data_dir(lake, data_dir)))
    else:
        settings = settings_for(data_dir)
    _serve(settings, port, host)


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _check_sign_in(settings: Settings, host: str) -> None:
    """Refuse a server that would trust a header anyone could send, or a roles file that lets nobody in."""
    if settings.identity_header is None:
        if host not in LOOPBACK:
            click.echo(
                f"derma: warning: no sign-in is configured, so everyone who reaches {host} is an "
                "administrator (see the README's Security section)",
                err=True,
            )
        return
    if host not in LOOPBACK:
        raise Failure(
            f"DERMA_IDENTITY_HEADER trusts a request header any client could send: serve on 127.0.0.1 "
            f"behind the reverse proxy that sets {settings.identity_header}, not on {host}"
        )
    from etl.access import AccessError, load_roles

    try:
        load_roles(settings.roles_file)
    except AccessError as exc:
        raise Failure(one_line(exc)) from None


def _serve(settings: Settings, port: int, host: str, local: bool = False) -> None:
    """Run Streamlit on the dashboard; ``local`` (``derma demo``) is the single local admin without sign-in."""
    if not local:
        _check_sign_in(settings, host)
    # The app is found, not imported: the CLI sits below the dashboard and never imports it.
    app = Path(importlib.util.find_spec("dashboard").submodule_search_locations[0]) / "streamlit_app.py"
    # The dashboard only reads pseudonymised data: it never gets the pseudonym key.
    dropped = {"DERMA_SECRET_KEY", *(("DERMA_IDENTITY_HEADER",) if local else ())}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DERMA_DATA_DIR"] = str(settings.data_dir.resolve())
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
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
    import shutil
    import tempfile
    from dataclasses import replace

    from etl.load import ingest as run_ingest
    from etl.mapping import MAPPINGS_DIR
    from sample_data.generator import generate_sessions
    from sample_data.vendors import write_vendor_exports
    from sample_data.writer import write_exports

    workspace = Path(tempfile.mkdtemp(prefix="derma-demo-"))  # mode 0700
    settings = Settings.from_env().with_data_dir(data_dir or workspace / "data")
    if data_dir is None:
        # Throw-away data get a throw-away key, kept only in the private workspace (file 0600) so that
        # the Upload page's loading child can read it; the dashboard process itself never reads it.
        key_file = workspace / "secret.key"  # created with a new random key (0600) by the first load
        settings = replace(settings, secret_key=None, secret_key_file=key_file)
        os.environ["DERMA_SECRET_KEY_FILE"] = str(key_file)
    end = last_complete_month(dt.date.today())
    click.echo(f"generating synthetic exports for {patients} patients (12 months to {end}) ...")
    frame = generate_sessions(clinics=4, patients=patients, months=12, seed=7, end_month=end)
    # The last month arrives as the clinics' own software writes it (Acme CSV, Glow XLSX), read
    # through the mappings saved in <data dir>/mappings/, matched by file name.
    last = frame["session_date"].dt.strftime("%Y-%m") == end
    exports = write_exports(frame[~last], workspace / "exports", fmt="csv", messy_rate=0.02, seed=7)
    vendor = write_vendor_exports(frame[last], workspace / "vendor-exports", messy_rate=0.02, seed=7)
    mappings = settings.data_dir / MAPPINGS_DIR
    mappings.mkdir(parents=True, exist_ok=True)
    for mapping in vendor.mappings:
        shutil.copyfile(mapping, mappings / mapping.name)
    click.echo(
        f"loading {len(exports.files)} files in the export format and {len(vendor.files)} vendor-shaped "
        f"file(s) of {end} through their mappings ({mappings}) ..."
    )
    result = run_ingest([workspace / "exports", *vendor.files], settings)
    print_ingest(result)
    refresh_after_load(settings)
    click.echo(f"vendor-shaped exports to try on the Upload page: {workspace / 'vendor-exports'}")
    if no_serve:
        click.echo(
            f"\nwarehouse ready: {settings.data_dir / 'warehouse.duckdb'}\n"
            f"  derma batches --data-dir {settings.data_dir}\n"
            f"  derma quarantine --data-dir {settings.data_dir}\n"
            f"  duckdb -readonly {settings.data_dir / 'warehouse.duckdb'}"
        )
        return
    _serve(settings, port, "127.0.0.1", local=True)
