"""``derma notes`` and ``derma targets``: the notes, process changes and targets recorded beside the warehouse."""

from __future__ import annotations

import json

import click

from derma.cli.base import (
    Failure,
    _user,
    data_dir_option,
    format_option,
    handled,
    main,
    one_line,
    settings_for,
)


def _changed(settings, redraw: bool) -> None:
    """Redraw the control charts the change put out of date (the notes and targets are kept either way)."""
    if not redraw:
        click.echo("control charts not redrawn: 'derma models' redraws them", err=True)
        return
    from derma.annotations import redraw_all
    from etl.warehouse import current_snapshot

    if current_snapshot(settings.data_dir) is None:
        return  # nothing loaded yet: the first model refresh draws the charts with what is recorded
    try:
        redrawn = redraw_all(settings)
    except Exception as exc:  # noqa: BLE001 - the note stands; say why the charts were not redrawn
        click.echo(f"derma: recorded, but the control charts were not redrawn: {one_line(exc)}", err=True)
        return
    if redrawn:
        click.echo(f"redrew the control charts of: {', '.join(redrawn)}", err=True)


def _guard(func):
    """User-data errors and refusals are one line, like the library's own errors."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from etl.access import AccessDenied
        from etl.userdata import UserDataError

        try:
            return func(*args, **kwargs)
        except (UserDataError, AccessDenied) as exc:
            raise Failure(one_line(exc)) from None

    return handled(wrapper)


redraw_option = click.option(
    "--redraw/--no-redraw",
    default=True,
    show_default=True,
    help="Redraw the control charts the change affects now (else at the next 'derma models').",
)


@main.group()
def notes() -> None:
    """Dated notes on the timeline of the network, a clinic or a clinician; process changes rebase control charts."""


@notes.command("add")
@click.option("--date", "day", required=True, help="The note's date, YYYY-MM-DD.")
@click.option("--text", required=True, help="What happened (no patient details).")
@click.option("--clinic", "clinic_id", default=None, help="The clinic (default: the whole network).")
@click.option("--clinician", "clinician_id", default=None, help="A clinician of --clinic.")
@click.option(
    "--process-change", is_flag=True, help="The process changed: control-chart limits restart that month."
)
@redraw_option
@data_dir_option
@format_option("text", "json", default="text")
@_guard
def notes_add(day, text, clinic_id, clinician_id, process_change, redraw, data_dir, fmt) -> None:
    """Record a note (audited)."""
    from etl.userdata import add_note

    settings = settings_for(data_dir)
    note = add_note(
        settings,
        day=day,
        text=text,
        process_change=process_change,
        clinic_id=clinic_id,
        clinician_id=clinician_id,
        operator=_user(),
    )
    click.echo(json.dumps(note.as_dict(), default=str) if fmt == "json" else f"recorded note {note.id}")
    if process_change:
        _changed(settings, redraw)


@notes.command("list")
@click.option("--clinic", "clinic_id", default=None, help="Only the notes shown for this clinic.")
@data_dir_option
@format_option("table", "json", default="table")
@_guard
def notes_list(clinic_id, data_dir, fmt) -> None:
    """The notes in force, oldest first."""
    from etl.access import NETWORK
    from etl.userdata import read

    chosen = read(settings_for(data_dir)).notes_for(clinic_id or NETWORK)
    rows = [n.as_dict() for n in chosen]
    if fmt == "json":
        click.echo(json.dumps(rows, default=str))
        return
    for n in chosen:
        flag = " [process change]" if n.process_change else ""
        click.echo(f"{n.id}  {n.day}  {n.scope}{flag}  {n.text}")
    click.echo(f"{len(rows)} note(s)")


@notes.command("remove")
@click.argument("note_id")
@redraw_option
@data_dir_option
@_guard
def notes_remove(note_id, redraw, data_dir) -> None:
    """Remove the note NOTE_ID (audited; the file keeps its history)."""
    from etl.userdata import remove

    settings = settings_for(data_dir)
    found = remove(settings, note_id, "note", operator=_user())
    click.echo(f"removed note {note_id}")
    if found.process_change:
        _changed(settings, redraw)


@main.group()
def targets() -> None:
    """Targets per measure for the network or a clinic, drawn on trends and control charts with their verdict."""


@targets.command("set")
@click.option(
    "--measure",
    required=True,
    type=click.Choice(["side_effect_rate", "pct_satisfied", "response_rate"]),
    help="The measure.",
)
@click.option("--value", required=True, help="The target as a share: 0.05 or 5%.")
@click.option(
    "--direction",
    type=click.Choice(["increase", "decrease"]),
    default=None,
    help="Met above (increase) or below (decrease) the value (default: the measure's better way).",
)
@click.option("--clinic", "clinic_id", default=None, help="The clinic (default: the whole network).")
@redraw_option
@data_dir_option
@_guard
def targets_set(measure, value, direction, clinic_id, redraw, data_dir) -> None:
    """Set the target of a measure (replaces the scope's earlier one; audited)."""
    from etl.userdata import set_target

    settings = settings_for(data_dir)
    target = set_target(
        settings, measure=measure, value=value, direction=direction, clinic_id=clinic_id, operator=_user()
    )
    click.echo(
        f"recorded target {target.id}: {measure} {target.value:.4g} ({target.direction}) for {target.scope}"
    )
    _changed(settings, redraw)


@targets.command("list")
@data_dir_option
@format_option("table", "json", default="table")
@_guard
def targets_list(data_dir, fmt) -> None:
    """Every target in force."""
    from etl.userdata import read

    chosen = read(settings_for(data_dir)).targets
    if fmt == "json":
        click.echo(json.dumps([t.as_dict() for t in chosen], default=str))
        return
    for t in chosen:
        click.echo(f"{t.id}  {t.scope}  {t.measure}  {t.value:.4g}  {t.direction}")
    click.echo(f"{len(chosen)} target(s)")


@targets.command("remove")
@click.argument("target_id")
@redraw_option
@data_dir_option
@_guard
def targets_remove(target_id, redraw, data_dir) -> None:
    """Remove the target TARGET_ID (audited)."""
    from etl.userdata import remove

    settings = settings_for(data_dir)
    remove(settings, target_id, "target", operator=_user())
    click.echo(f"removed target {target_id}")
    _changed(settings, redraw)
