"""Marts: staging views and rollup tables rebuilt from ``queries/`` into the snapshot being built."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import duckdb

from queries import list_queries


def marts_fingerprint() -> str:
    """Hash of every staging and mart definition: a snapshot built with other SQL needs a rebuild."""
    digest = hashlib.sha256()
    for layer in ("staging", "marts"):
        for query in list_queries(layer):
            digest.update(f"{layer}/{query.name}\n{query.sql}\n".encode())
    return digest.hexdigest()


def marts_are_current(con: duckdb.DuckDBPyConnection, catalog: str = "wh") -> bool:
    rows = con.execute(f"select value from {catalog}.schema_info where key = 'marts_fingerprint'").fetchall()
    return bool(rows) and rows[0][0] == marts_fingerprint()


#: Marts whose every row depends only on its own clinic's sessions (every aggregate groups by
#: ``clinic_id``; ``stg_sessions`` is row by row): a batch rebuilds only the clinics it changed.
#: A test compares an incremental rebuild with a full one, table by table.
BY_CLINIC = (
    "monthly_outcomes",
    "patient_months",
    "settings_bands",
    "session_number_outcomes",
    "patient_courses",
    "unit_patients",
)
#: How each :data:`BY_CLINIC` mart reads its sessions (once, in its first CTE): where a build for some
#: clinics puts its filter, so the aggregation never sees the other clinics' sessions.
SOURCE = "select * from stg_sessions"
CLINICS_FILTER = " where list_contains($c::varchar[], clinic_id)"
#: Marts whose aggregation holds every session's values (ordered aggregates: the course's modes and its
#: dates in order), built clinic batch by clinic batch when the sessions are many. Under the default
#: 2 GB the patient courses of 10M sessions built at once spilled and took 13.5 s; in batches of
#: about 2.5M sessions they take 7.9 s, with the same rows (``bench/README.md``, *Ingest speed*).
IN_BATCHES = ("patient_courses",)
BATCH_SESSIONS = 2_500_000


def build_marts(
    con: duckdb.DuckDBPyConnection, catalog: str = "wh", clinics: Sequence[str] | None = None
) -> list[str]:
    """Create every ``staging/`` view and rebuild every ``marts/`` table in ``catalog``.

    The folder is the layer and the file stem the object name, so analysts find
    ``stg_sessions`` in ``queries/staging/stg_sessions.sql``. Views are defined with
    unqualified names, so they work when the snapshot is opened under any catalog name.
    With ``clinics``, the marts of :data:`BY_CLINIC` are rebuilt for those clinics only (their
    other rows cannot change); the rest, which compare across the network, are rebuilt whole.
    Returns the objects built, in order.
    """
    built = []
    con.execute(f"use {catalog}")
    try:
        for query in list_queries("staging"):
            con.execute(f"create or replace view {query.name} as\n{query.sql}")
            built.append(query.name)
        batches = None
        for query in list_queries("marts"):
            if clinics is not None and query.name in BY_CLINIC:
                params = {"c": list(clinics)}
                con.execute(f"delete from {query.name}{CLINICS_FILTER}", params)
                con.execute(f"insert into {query.name}\n{for_clinics(query)}", params)
            elif query.name in IN_BATCHES and len(batches := batches or clinic_batches(con)) > 1:
                con.execute(
                    f"create or replace table {query.name} as select * from (\n{query.sql}\n) limit 0"
                )
                for batch in batches:
                    con.execute(f"insert into {query.name}\n{for_clinics(query)}", {"c": batch})
            else:
                con.execute(f"create or replace table {query.name} as\n{query.sql}")
            built.append(query.name)
        con.execute(
            "insert or replace into schema_info values ('marts_fingerprint', $f)", {"f": marts_fingerprint()}
        )
    finally:
        con.execute("use memory")
    return built


def for_clinics(query) -> str:
    """A :data:`BY_CLINIC` mart's SQL for the clinics bound as ``$c``, filtered where it reads the sessions.

    (A filter around the whole query is not pushed below the patient courses' aggregation and join: at
    10M sessions that rebuilt every clinic's courses for each batch.)
    """
    if query.sql.count(SOURCE) != 1:
        raise ValueError(f"the mart {query.name} must read its sessions once, as '{SOURCE}'")
    return query.sql.replace(SOURCE, SOURCE + CLINICS_FILTER)


def clinic_batches(con: duckdb.DuckDBPyConnection, size: int | None = None) -> list[list[str]]:
    """The clinics in order, cut into runs of at most ``size`` sessions (:data:`BATCH_SESSIONS`) where
    they can be: one run for a small warehouse, a clinic of its own when it alone is larger."""
    size = size or BATCH_SESSIONS
    batches: list[list[str]] = [[]]
    held = 0
    for clinic, sessions in con.execute(
        "select clinic_id, count(*) from sessions group by clinic_id order by clinic_id"
    ).fetchall():
        if batches[-1] and held + sessions > size:
            batches.append([])
            held = 0
        batches[-1].append(clinic)
        held += sessions
    return batches
