"""Property-based fuzzing of the readers and checks: random bytes and mutated exports, whatever they hold.

For every file: the load never raises (the file is loaded or rejected by name), every row it read is
inserted, unchanged or quarantined (the counts add up, in the result and in the warehouse), and no
patient number of the valid export it was mutated from appears in any byte under the data dir.

A mutation is ONE contiguous edit (delete, insert or overwrite a run of bytes). One edit cannot move a
whole patient number into another column of a row that keeps its shape: moving it needs a delimiter
removed before it and one added after it. Two edits can, undetectably (the row is then a valid row
with a patient number in, say, its session_id), so they are not what this test claims.
"""

from __future__ import annotations

import gzip
import re
import shutil
import tempfile
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.load import ingest
from etl.settings import Settings
from tests.helpers import FIELDS, TODAY, row

PATIENTS = [f"PN8{i:07d}" for i in range(1, 7)]
RAW = re.compile(rb"PN8\d{7}")
HEADER = [*FIELDS, "device_model", "birth_year", "notes"]


def fuzz(examples: int):
    """Bounded runs (each example is a real load, about a second): the suite stays quick."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same examples on every run: a failure is reproducible, CI time is stable
        suppress_health_check=[HealthCheck.too_slow],
    )


def valid_export() -> bytes:
    """Six valid sessions, each of its own patient, as CSV bytes."""
    lines = [",".join(HEADER)]
    for i, patient in enumerate(PATIENTS):
        values = row(session_id=f"S{i}", patient_id=patient, device_model="Derma 2", birth_year="1980")
        values["notes"] = "called back"
        lines.append(",".join(values.get(h, "") for h in HEADER))
    return ("\n".join(lines) + "\n").encode()


VALID = valid_export()
# Bytes a CSV parser treats specially, and the ones the checks look for, are drawn more often.
SPECIAL = st.sampled_from(
    [
        b",",
        b";",
        b'"',
        b"\n",
        b"\r",
        b"\r\n",
        b"\x00",
        b"\t",
        b"\x1b",
        b"\xe2\x80\xae",
        b"\xff",
        b"=",
        b"-",
        b"1e19",
        b"1e400",
        b"99999999999999999999",
        b"x" * 1500,
        b"PN",
        b"  ",
    ]
)
NOISE = st.lists(st.one_of(SPECIAL, st.binary(min_size=1, max_size=8)), min_size=1, max_size=6).map(b"".join)


@st.composite
def one_edit(draw) -> bytes:
    """The valid export with one contiguous run of bytes deleted, inserted or overwritten."""
    start = draw(st.integers(0, len(VALID)))
    kind = draw(st.sampled_from(["delete", "insert", "overwrite"]))
    if kind == "insert":
        return VALID[:start] + draw(NOISE) + VALID[start:]
    end = draw(st.integers(start, min(len(VALID), start + 40)))
    return VALID[:start] + (draw(NOISE) if kind == "overwrite" else b"") + VALID[end:]


def load_and_check(data: bytes, name: str) -> None:
    """Load ``data`` as ``name`` into a fresh warehouse and check every property."""
    work = Path(tempfile.mkdtemp(prefix="derma-fuzz-"))
    try:
        path = work / "in" / name
        path.parent.mkdir()
        path.write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
        config = Settings(data_dir=work / "data", secret_key="fuzz-key", memory_limit="256MB", threads=1)
        result = ingest([path], config, today=TODAY)  # raising anything at all fails the property
        (f,) = result.files
        if f.status == "rejected":
            assert f.reason and f.reason.startswith(name + ": ") and "\n" not in f.reason
            assert (f.rows, f.inserted, f.quarantined) == (0, 0, 0)
        else:
            assert f.inserted + f.updated + f.unchanged + f.quarantined == f.rows
            con = duckdb.connect(str(config.data_dir / "warehouse.duckdb"), read_only=True)
            try:
                stored = con.execute("select count(*) from sessions").fetchone()[0]
                set_aside = con.execute('select count(distinct "row") from quarantine').fetchone()[0]
            finally:
                con.close()
            assert stored == f.inserted and set_aside == f.quarantined
        leaks = [p for p in config.data_dir.rglob("*") if p.is_file() and RAW.search(p.read_bytes())]
        assert not leaks, leaks
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_the_valid_export_loads_whole_and_the_scan_would_see_its_patient_numbers():
    assert all(RAW.search(p.encode()) for p in PATIENTS) and len(RAW.findall(VALID)) == 6
    work = Path(tempfile.mkdtemp(prefix="derma-fuzz-"))
    try:
        (work / "a.csv").write_bytes(VALID)
        result = ingest([work / "a.csv"], Settings(data_dir=work / "data", secret_key="k"), today=TODAY)
        assert (result.files[0].rows, result.files[0].inserted) == (6, 6)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@fuzz(15)
@given(
    data=st.binary(max_size=2048),
    name=st.sampled_from(["r.csv", "r.csv.gz", "r.jsonl", "r.xlsx", "r.parquet"]),
)
def test_random_bytes_never_raise_never_lose_a_row_and_store_no_patient_number(data, name):
    load_and_check(data, name)


@fuzz(25)
@given(data=one_edit(), gz=st.booleans())
def test_one_edit_of_a_valid_export_never_raises_loses_a_row_or_stores_a_patient_number(data, gz):
    load_and_check(data, "m.csv.gz" if gz else "m.csv")


@fuzz(10)
@given(
    cells=st.lists(
        st.tuples(
            st.sampled_from(HEADER),
            st.one_of(st.text(max_size=30), NOISE.map(lambda b: b.decode("utf-8", "replace"))),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_any_text_in_any_cell_of_a_well_formed_export_keeps_every_row(cells):
    # Written by the csv module with every field quoted, so the file has exactly six records whatever the
    # cells hold (unquoted, a bare CR would end a record for any CSV reader).
    import csv
    import io

    rows = [
        dict(row(session_id=f"S{i}", patient_id=p, device_model="Derma 2", birth_year="1980"), notes="n")
        for i, p in enumerate(PATIENTS)
    ]
    for n, (column, value) in enumerate(cells):
        if column != "patient_id":  # a patient number is only ever in its own column here
            rows[n % len(rows)][column] = value
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(HEADER)
    writer.writerows([[r.get(h, "") for h in HEADER] for r in rows])
    data = out.getvalue().encode()
    work = Path(tempfile.mkdtemp(prefix="derma-fuzz-"))
    try:
        (work / "w.csv").write_bytes(data)
        result = ingest([work / "w.csv"], Settings(data_dir=work / "data", secret_key="k"), today=TODAY)
        f = result.files[0]
        assert (f.status, f.rows) == ("loaded", 6), f
        assert f.inserted + f.updated + f.unchanged + f.quarantined == 6
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_and_check(data, "w.csv.gz")
