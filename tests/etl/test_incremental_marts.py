"""A batch that changes some clinics rebuilds only their rows of the per-clinic marts: the result must be
exactly what a full rebuild gives, table by table."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb

from etl.load import ingest
from etl.marts import BY_CLINIC, build_marts
from etl.warehouse import current_snapshot
from queries import list_queries
from tests.helpers import TODAY

SAMPLE = Path(__file__).parents[2] / "sample_data" / "sample"


def correction_of(tmp_path: Path, source: Path, every: int = 5) -> Path:
    """Every ``every``-th session of ``source`` again with another rating and vacuum, one new late session."""
    with open(source, newline="") as handle:
        rows = list(csv.DictReader(handle))
    fixed = []
    for i, row in enumerate(rows):
        if i % every == 0:
            fixed.append(
                {
                    **row,
                    "satisfaction": "5" if row["satisfaction"] != "5" else "2",
                    "vacuum_kpa": str(round(float(row["vacuum_kpa"]) + 7.5, 1)),
                }
            )
    late = {
        **rows[0],
        "session_id": "S9999999",
        "session_date": rows[0]["session_date"],
        "session_number": "",
    }
    fixed.append(late)
    path = tmp_path / "fix" / f"{source.stem}_fix.csv"
    path.parent.mkdir(parents=True)
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(fixed)
    return path


def test_an_incremental_rebuild_equals_a_full_one(settings, tmp_path):
    ingest([SAMPLE], settings, today=TODAY)
    batch = ingest([correction_of(tmp_path, SAMPLE / "ETB-01_2026-06.csv")], settings, today=TODAY)
    assert batch.files[0].updated > 0 and batch.files[0].inserted == 1
    published = current_snapshot(settings.data_dir).path
    full = tmp_path / "full.duckdb"
    shutil.copy(published, full)
    con = duckdb.connect()
    try:
        con.execute("attach ? as wh", [str(full)])
        build_marts(con)  # everything from scratch
        con.execute("attach ? as inc (read_only)", [str(published)])
        for query in list_queries("marts"):
            for a, b in (("wh", "inc"), ("inc", "wh")):
                missing = con.execute(
                    f"select count(*) from (select * from {a}.{query.name} "
                    f"except all select * from {b}.{query.name})"
                ).fetchall()[0][0]
                assert missing == 0, f"{query.name}: {missing} row(s) of {a} not in {b}"
        changed = con.execute(
            "select count(*) from inc.monthly_outcomes where clinic_id = 'ETB-01'"
        ).fetchall()[0][0]
        assert changed > 0 and set(BY_CLINIC) <= {q.name for q in list_queries("marts")}
    finally:
        con.close()


def test_a_batch_touching_one_clinic_rebuilds_only_that_clinics_rows(settings, tmp_path):
    ingest([SAMPLE], settings, today=TODAY)
    before = current_snapshot(settings.data_dir).path
    con = duckdb.connect(str(before), read_only=True)
    untouched = con.execute(
        "select * from patient_courses where clinic_id = 'HAM-03' order by all"
    ).fetchall()
    con.close()
    ingest([correction_of(tmp_path, SAMPLE / "ETB-01_2026-06.csv")], settings, today=TODAY)
    con = duckdb.connect(str(current_snapshot(settings.data_dir).path), read_only=True)
    try:
        assert (
            con.execute("select * from patient_courses where clinic_id = 'HAM-03' order by all").fetchall()
            == untouched
        )
    finally:
        con.close()


def test_courses_built_in_clinic_batches_equal_one_build(settings, tmp_path, monkeypatch):
    """A large warehouse builds the patient courses clinic batch by clinic batch: the same rows."""
    import etl.marts

    ingest([SAMPLE], settings, today=TODAY)
    published = current_snapshot(settings.data_dir).path  # small: built in one statement
    batched = tmp_path / "batched.duckdb"
    shutil.copy(published, batched)
    monkeypatch.setattr(etl.marts, "BATCH_SESSIONS", 1)  # a batch per clinic
    built_for = []  # the clinic batches the courses were built from, statement by statement
    for_clinics = etl.marts.for_clinics
    monkeypatch.setattr(etl.marts, "for_clinics", lambda q: built_for.append(q.name) or for_clinics(q))
    con = duckdb.connect()
    try:
        con.execute("attach ? as wh", [str(batched)])
        con.execute("use wh")
        batches = etl.marts.clinic_batches(con)
        con.execute("use memory")
        clinics = sorted(r[0] for r in con.execute("select distinct clinic_id from wh.sessions").fetchall())
        assert len(clinics) > 2 and batches == [[c] for c in clinics]
        build_marts(con)
        assert built_for == ["patient_courses"] * len(clinics)  # one statement per clinic, not one in all
        con.execute("attach ? as one (read_only)", [str(published)])
        for a, b in (("wh", "one"), ("one", "wh")):
            missing = con.execute(
                f"select count(*) from (select * from {a}.patient_courses except all select * from {b}.patient_courses)"
            ).fetchall()[0][0]
            assert missing == 0, f"{missing} course(s) of {a} not in {b}"
        assert con.execute("select count(*) from wh.patient_courses").fetchall()[0][0] > 300
    finally:
        con.close()


def test_every_per_clinic_mart_reads_its_sessions_once_where_the_clinic_filter_goes():
    from etl.marts import for_clinics

    for query in list_queries("marts"):
        if query.name in BY_CLINIC:
            assert "list_contains($c::varchar[], clinic_id)" in for_clinics(query), query.name
