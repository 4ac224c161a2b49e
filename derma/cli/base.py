"""What every ``derma`` subcommand shares: the command group, options, one-line failures, printing, audit."""

from __future__ import annotations

import datetime as dt
import functools
import getpass
import os
from pathlib import Path

import click

from etl.settings import Settings

EXIT_FAILED = 1


class Failure(click.ClickException):
    """A user-facing failure: one line on stderr, exit status 1."""

    exit_code = EXIT_FAILED

    def show(self, file=None) -> None:  # noqa: ARG002 - click's signature
        click.echo(f"derma: {self.format_message()}", err=True)


def one_line(exc: BaseException) -> str:
    """The first line of an error, with any control character it quotes (a file name's) escaped."""
    from etl.escaping import escape_line

    text = str(exc).strip().splitlines()
    return escape_line(text[0]) if text else type(exc).__name__


def handled(func):
    """Turn the library's own errors (and anything unexpected) into one line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from etl.audit import AuditError
        from etl.batch import LoadError
        from etl.mapping import MappingError
        from etl.pseudonym import SecretKeyError
        from etl.settings import SettingsError
        from etl.warehouse import WarehouseError
        from queries import QueryError

        try:
            return func(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (
            AuditError,
            LoadError,
            MappingError,
            WarehouseError,
            SecretKeyError,
            SettingsError,
            QueryError,
        ) as exc:
            raise Failure(one_line(exc)) from None
        except KeyboardInterrupt:
            raise Failure("interrupted; nothing was published") from None
        except Exception as exc:
            if os.environ.get("DERMA_DEBUG"):
                raise
            raise Failure(f"unexpected error ({type(exc).__name__}): {one_line(exc)}") from None

    return wrapper


def data_dir_option(func):
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Warehouse folder (default: $DERMA_DATA_DIR or ./data).",
    )(func)


def settings_for(data_dir: Path | None) -> Settings:
    return Settings.from_env().with_data_dir(data_dir)


def record(
    settings: Settings,
    action: str,
    what: str,
    params: dict | None = None,
    rows: int | None = None,
    outcome: str = "ok",
) -> None:
    """Account for a CLI action in the audit log; raises AuditError (so the command fails) when it cannot."""
    from etl.audit import append

    append(
        settings.audit_path,
        who=_user(),
        role="cli",
        via="cli",
        action=action,
        what=what,
        params=params,
        rows=rows,
        outcome=outcome,
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (a bare container): still account for the action
        return "unknown"


def format_option(*choices: str, default: str):
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=default,
        show_default=True,
        help="Output format.",
    )


def print_frame(frame, fmt: str) -> None:
    """Print a DataFrame as a table, CSV or JSON records (dates as ISO strings).

    CSV is neutralised for spreadsheets (text that starts like a formula gets a leading ``'``); the
    table shows every control character escaped, so a value cannot fake lines or move the cursor.
    """
    from etl.escaping import csv_text, escape_line

    if fmt == "csv":
        click.echo(csv_text(frame), nl=False)
    elif fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
    else:
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        from derma.jsonvalues import plain  # pandas loads only for commands that print data

        table = Table(show_lines=False)
        for column in frame.columns:
            table.add_column(Text(escape_line(column)))
        for row in frame.itertuples(index=False):  # Text: a value like '[red]' is data, not rich markup
            table.add_row(*[Text("" if plain(v) is None else escape_line(v)) for v in row])
        Console(width=max(120, Console().width)).print(table)
        click.echo(f"{len(frame)} row(s)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="derma-outcomes")
def main() -> None:
    """derma-outcomes: microdermabrasion session logs in, trustworthy outcomes out."""


def last_complete_month(today: dt.date) -> str:
    first = today.replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def read_current(data_dir: Path | None, query: str, values: dict):
    from etl.warehouse import connect_current
    from queries import run_query

    settings = settings_for(data_dir)
    _, con = connect_current(settings.data_dir)
    try:
        return run_query(con, query, values)
    finally:
        con.close()
