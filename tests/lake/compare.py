"""Comparing results computed two ways (in memory and in an engine, or on two engines) number by number."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

REL = 1e-6


def assert_close(a, b, where: str, rel: float = REL) -> None:
    """Numbers within ``rel`` (relative, with a tiny absolute floor); anything else equal."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, a, b)
        for key in a:
            assert_close(a[key], b[key], f"{where}.{key}", rel)
        return
    if isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), (where, a, b)
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{where}[{i}]", rel)
        return
    if isinstance(a, bool) or a is None or isinstance(a, str):
        assert a == b, (where, a, b)
        return
    if isinstance(a, int | float | np.number):
        if isinstance(a, float) and math.isnan(a):
            assert isinstance(b, float) and math.isnan(b), (where, a, b)
            return
        assert math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9), (where, a, b)
        return
    assert a == b, (where, a, b)


def assert_frames_close(a: pd.DataFrame, b: pd.DataFrame, where: str, rel: float = REL) -> None:
    """Same columns and rows in the same order; numeric columns within ``rel``, the rest equal."""
    assert list(a.columns) == list(b.columns), (where, list(a.columns), list(b.columns))
    assert len(a) == len(b), (where, len(a), len(b))
    for column in a.columns:
        left, right = a[column].reset_index(drop=True), b[column].reset_index(drop=True)
        if pd.api.types.is_numeric_dtype(left) and not pd.api.types.is_bool_dtype(left):
            x = pd.to_numeric(left, errors="coerce").astype(float).to_numpy()
            y = pd.to_numeric(right, errors="coerce").astype(float).to_numpy()
            np.testing.assert_allclose(x, y, rtol=rel, atol=1e-9, equal_nan=True, err_msg=f"{where}.{column}")
        else:
            assert [_plain(v) for v in left] == [_plain(v) for v in right], (where, column)


def _plain(value):
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)
