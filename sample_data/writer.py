"""Export files: one file per clinic and month, in each clinic's style, as CSV, XLSX, Parquet or JSONL."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sample_data.defects import PlantedDefect, SpoiledFile, plan_defects, plant_defects
from sample_data.styles import ExportStyle, choose_style, render_clinic

FORMATS = ("csv", "csv.gz", "xlsx", "parquet", "jsonl")
#: Fixed archive timestamp so regenerated xlsx files are byte-identical.
ZIP_TIME = (2026, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class WriteResult:
    """What :func:`write_exports` wrote and every defect it planted."""

    files: list[Path]
    planted: list[PlantedDefect]


def write_exports(
    df: pd.DataFrame, out_dir: str | Path, fmt: str = "csv", messy_rate: float = 0.0, seed: int = 7
) -> WriteResult:
    """Write sessions as the clinics would export them: one file per clinic per month.

    Parameters
    ----------
    df : pandas.DataFrame
        Clean canonical rows, e.g. from :func:`sample_data.generator.generate_sessions`.
    out_dir : str or pathlib.Path
        Folder to write into (created if needed); files are named ``{clinic_id}_{YYYY-MM}.{ext}``.
    fmt : str
        One of ``csv``, ``csv.gz``, ``xlsx``, ``parquet``, ``jsonl``.
    messy_rate : float
        Share of rows to spoil. Above 0, every quarantine reason is planted at least once,
        plus identical repeats, plus a few legitimate fields holding delimiters and a newline.
    seed : int
        Seed of the writer's own random stream (spellings, times of day, defects).

    Returns
    -------
    WriteResult
        The files written (sorted) and the planted defects, each with its file name, 1-based
        data row (header excluded; a quoted newline does not start a new row) and canonical column.

    Notes
    -----
    Each clinic writes in its own style (:data:`sample_data.styles.STYLES`) whatever
    ``messy_rate`` is; styles are legitimate variants of the spec, never defects.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    months = df["session_date"].dt.strftime("%Y-%m").to_numpy()
    jobs = []
    for clinic_id in sorted(df["clinic_id"].unique()):
        style = choose_style(clinic_id)
        in_clinic = (df["clinic_id"] == clinic_id).to_numpy()
        rendered = render_clinic(df[in_clinic], style, rng)
        for month in sorted(np.unique(months[in_clinic])):
            rows = np.flatnonzero(months[in_clinic] == month)
            jobs.append((f"{clinic_id}_{month}.{fmt}", style, rendered.iloc[rows], df[in_clinic].iloc[rows]))
    plan = plan_defects(rng, [len(job[2]) for job in jobs], messy_rate)
    files, planted = [], []
    for (name, style, frame, base), todo in zip(jobs, plan, strict=True):
        spoiled = plant_defects(frame, base, style, todo, name, rng) if todo else SpoiledFile(frame, [], [])
        planted += spoiled.planted
        path = out / name
        write_frame(spoiled, path, fmt, style)
        files.append(path)
    return WriteResult(files=files, planted=planted)


def write_frame(spoiled: SpoiledFile, path: Path, fmt: str, style: ExportStyle) -> None:
    """Write one file's rows (already in the clinic's style, spoiled cells aside) in ``fmt``."""
    frame, overrides = spoiled.frame, spoiled.overrides
    touched = {header for _, header, _ in overrides}
    date = style.header("session_date")
    if fmt in ("csv", "csv.gz"):
        text = frame.copy()
        for column in text.columns:
            if column in touched or column == date or text[column].dtype == bool:
                text[column] = format_column(text[column], style, style.decimal)
        put_cells(text, overrides, lambda v: format_scalar(v, style, style.decimal))
        compression = {"method": "gzip", "mtime": 0} if fmt == "csv.gz" else None
        text.to_csv(
            path,
            sep=style.delimiter,
            decimal=style.decimal,
            index=False,
            lineterminator="\n",
            encoding="utf-8-sig" if style.bom else "utf-8",
            compression=compression,
        )
    elif fmt == "jsonl":
        obj = frame.copy()
        obj[date] = format_column(obj[date], style, ".")
        for column in touched - {date}:
            obj[column] = obj[column].astype(object)
        put_cells(obj, overrides, lambda v: v)
        obj.to_json(path, orient="records", lines=True, force_ascii=False)
    elif fmt == "parquet":
        pq.write_table(to_arrow(frame, overrides, style), path)
    else:
        obj = frame.astype({column: object for column in touched})
        put_cells(obj, overrides, lambda v: v)
        write_xlsx(obj, path)


def put_cells(frame: pd.DataFrame, overrides: list[tuple[int, str, object]], convert) -> None:
    """Write the spoiled cells into an already text- or object-typed frame."""
    for row, header, value in overrides:
        frame.iat[row, frame.columns.get_loc(header)] = convert(value)


def format_column(values: pd.Series, style: ExportStyle, decimal: str) -> pd.Series:
    """A whole column as text, vectorised: ISO dates, ``true``/``false``, numbers, ``""`` for missing."""
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime("%Y-%m-%d %H:%M" if style.with_time else "%Y-%m-%d")
    elif values.dtype == bool:
        text = pd.Series(np.where(values.to_numpy(), "true", "false"), index=values.index)
    elif pd.api.types.is_float_dtype(values):
        text = values.astype(str)
        text = text.str.replace(".", decimal, regex=False) if decimal != "." else text
    else:
        text = values.astype(object).astype(str)
    return text.where(values.notna(), "").astype(object)


def format_scalar(value: object, style: ExportStyle, decimal: str) -> str:
    """Format one spoiled cell the way :func:`format_column` formats the clean ones."""
    if value is None:
        return ""
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M" if style.with_time else "%Y-%m-%d")
    if isinstance(value, float):
        return repr(value).replace(".", decimal)
    return str(value)


def to_arrow(frame: pd.DataFrame, overrides: list[tuple[int, str, object]], style: ExportStyle) -> pa.Table:
    """Typed Arrow columns: date32 (timestamp with a time of day), numbers, booleans; spoiled columns as text."""
    touched = {header for _, header, _ in overrides}
    date = style.header("session_date")
    arrays = {}
    for column in frame.columns:
        values = frame[column]
        if column in touched:
            text = format_column(values, style, ".")
            for row, header, value in overrides:
                if header == column:
                    text.iat[row] = format_scalar(value, style, ".")
            arrays[column] = pa.array(text.where(text != "", None), pa.string())
        elif column == date:
            arrays[column] = pa.array(
                values.to_numpy().astype("datetime64[s]" if style.with_time else "datetime64[D]")
            )
        else:
            array = pa.Array.from_pandas(values)
            arrays[column] = array.cast(pa.string()) if pa.types.is_large_string(array.type) else array
    return pa.table(arrays)


def write_xlsx(frame: pd.DataFrame, path: Path) -> None:
    """Write a ``sessions`` sheet with real Excel date cells and fixed timestamps (reproducible bytes)."""
    book = openpyxl.Workbook(write_only=True)
    book.properties.created = dt.datetime(*ZIP_TIME)
    sheet = book.create_sheet("sessions")
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        sheet.append([to_cell(v) for v in row])
    book.save(path)
    fix_xlsx_timestamps(path)


def fix_xlsx_timestamps(path: Path) -> None:
    """Rewrite a saved workbook with fixed archive and document timestamps (reproducible bytes)."""
    with zipfile.ZipFile(path) as source:
        parts = [(info, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in parts:
            info.date_time = ZIP_TIME
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" with the time of saving
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>2026-01-01T00:00:00Z", data)
            target.writestr(info, data)


def to_cell(value: object) -> object:
    """A Python value openpyxl writes natively (dates without a time part as date cells)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value
