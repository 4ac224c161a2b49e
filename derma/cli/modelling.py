"""``derma models``: the fitted models of the current snapshot, fitting them first when missing or stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from derma.cli.base import (
    data_dir_option,
    format_option,
    handled,
    main,
    print_frame,
    read_current,
    settings_for,
)
from derma.cli.lake import lake_failures, lake_options
from etl.settings import Settings


@main.command()
@click.option(
    "--clinic", "clinic_id", default=None, help="Fit this clinic's own data instead of the network's."
)
@click.option(
    "--all-clinics",
    is_flag=True,
    help="Fit the network's models, then each clinic's own (JSON: a list of reports, network first).",
)
@click.option("--refresh", is_flag=True, help="Fit again even when fresh results exist.")
@click.option(
    "--lake",
    "lake",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Fit on this lake (a folder 'derma export' wrote) instead of the warehouse; nothing is stored.",
)
@lake_options
@data_dir_option
@format_option("table", "json", default="table")
@handled
def models(clinic_id, all_clinics, refresh, lake, engine, master, data_dir, fmt) -> None:
    """The fitted models' effects and curves for the current snapshot (fitting them when missing or stale).

    Managers see model results only from their own clinic's fit: use --all-clinics (or --clinic) so
    every clinic has one. With --lake the models are fitted on the lake's sessions by --engine (the
    sessions stay in the engine) and printed, the same report as from the warehouse.
    """
    from etl.access import NETWORK

    if clinic_id and all_clinics:
        raise click.UsageError("use --clinic or --all-clinics, not both")
    if lake is None and (engine != "duckdb" or master):
        raise click.UsageError("--engine and --master choose where a lake is fitted: give --lake too")
    if lake is not None:
        _lake_models(lake, engine, master, clinic_id, all_clinics, fmt)
        return
    settings = settings_for(data_dir)
    if not all_clinics:
        report = _fitted_report(settings, clinic_id or NETWORK, refresh)
        if fmt == "json":
            click.echo(json.dumps(report, default=str))
        else:
            _print_models(report)
        return
    clinics = sorted(read_current(data_dir, "data_freshness", {})["clinic_id"])
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


def _lake_models(lake: Path, engine: str, master, clinic_id, all_clinics: bool, fmt: str) -> None:
    """``derma models --lake``: the network's (or one clinic's, or every clinic's) models fitted on the lake."""
    from derma.lake.report import lake_clinics, lake_model_report
    from etl.access import NETWORK

    memory_limit = Settings.from_env().memory_limit
    scopes = [clinic_id or NETWORK]
    if all_clinics:
        scopes = [NETWORK, *lake_failures(lambda: lake_clinics(lake))]
    reports = []
    for scope in scopes:
        if sys.stderr.isatty():
            click.echo(f"fitting the models for {scope} on {engine} ...", err=True)
        reports.append(
            lake_failures(lambda s=scope: lake_model_report(lake, engine, master, memory_limit, s))
        )
    if fmt == "json":
        click.echo(json.dumps(reports if all_clinics else reports[0], default=str))
        return
    for report in reports:
        _print_models(report)


def _fitted_report(settings: Settings, scope: str, refresh: bool) -> dict:
    """Fit ``scope``'s models when missing or stale (always with ``refresh``) and return their report."""
    from derma.annotations import redraw_charts
    from derma.model_report import model_report
    from derma.refresh import refresh_models

    if refresh_models(settings, scope, force=refresh) is None:
        redraw_charts(settings, scope)  # fresh results, but notes or targets may have changed since
    return model_report(settings, scope)


def _print_models(report: dict) -> None:
    from etl.access import NETWORK

    scope = report["scope"]
    click.echo(f"snapshot {report['snapshot']}  scope {scope}  fitted {report['run']['fitted_at']}")
    for model in report["models"]:
        click.echo(f"\n{model['name']}: {model['outcome']} — {model['method']}")
        click.echo(
            f"  {model['n_sessions']} sessions, {model['n_patients']} patients, {model['n_events']} events; "
            f"status {model['status']}"
        )
        if model.get("estimand"):
            click.echo(f"  estimand: {model['estimand']}")
        if model.get("adjusted_for"):
            click.echo(f"  adjusted for: {'; '.join(model['adjusted_for'])}")
        for check in model.get("checks", []):
            click.echo(f"  check: {check}")
        for warning in model["warnings"]:
            click.echo(f"  warning: {warning}")
        import pandas as pd  # only for printing: the CLI starts without pandas

        effects = pd.DataFrame(model["effects"])
        if not effects.empty:
            print_frame(
                effects[["term", "label", "unit", "estimate", "ci_low", "ci_high", "p_value"]].round(
                    {"estimate": 3, "ci_low": 3, "ci_high": 3, "p_value": 4}
                ),
                "table",
            )
    for verdict in report["control_charts"]:
        if verdict["unit"] == scope or (scope == NETWORK and verdict["unit"] == NETWORK):
            click.echo(f"{verdict['measure']}: {verdict['verdict']}")
