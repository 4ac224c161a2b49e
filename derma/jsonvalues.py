"""JSON values: turning what DuckDB and pandas hand back into plain values a script can read."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def plain(value):
    """A JSON-ready value: numpy scalars unwrapped, NaN/NaT/NA as None, dates and times as ISO text."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if value is None or pd.isna(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """A frame's rows as JSON-ready dicts."""
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
