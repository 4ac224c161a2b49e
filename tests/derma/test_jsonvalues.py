"""JSON values for scripts: every missing marker is null, numbers are plain, dates are ISO text."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd

from derma.jsonvalues import plain, records


def test_missing_values_of_every_kind_become_null():
    assert [plain(v) for v in (None, np.nan, pd.NA, pd.NaT, float("nan"))] == [None] * 5


def test_numpy_scalars_dates_and_lists_become_plain_json():
    assert plain(np.int64(3)) == 3 and type(plain(np.int64(3))) is int
    assert plain(np.float64(0.5)) == 0.5
    assert plain(pd.Timestamp("2026-10-01 12:00")) == "2026-10-01T12:00:00"
    assert plain(dt.date(2026, 10, 1)) == "2026-10-01"
    assert plain(np.array(["a", "b"])) == ["a", "b"]
    frame = pd.DataFrame({"n": pd.array([1, None], dtype="Int64"), "x": [1.5, np.nan]})
    assert json.dumps(records(frame)) == '[{"n": 1, "x": 1.5}, {"n": null, "x": null}]'
