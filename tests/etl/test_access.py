"""Roles and the scoped warehouse: a user limited to some clinics can reach nothing of another clinic's.

Every named analysis query runs on the scoped warehouse of one clinic, with every parameter pointed at
that clinic and then at another: no row, text or count of another clinic comes back, and the clinic's
own figures equal what an unscoped read filtered to it gives.
"""

from __future__ import annotations

import shutil

import duckdb
import pandas as pd
import pytest

from etl.access import (
    LOCAL_ADMIN,
    MART_POLICIES,
    TABLE_POLICIES,
    AccessDenied,
    AccessError,
    load_roles,
    nobody,
    scoped_connection,
)
from etl.warehouse import WarehouseError, connect_current, current_snapshot
from queries import list_queries, run_query

MINE = "ETB-01"
OTHERS = ("HAM-03", "KOE-04", "MUC-02")
REQUIRED = {
    "unit_type": "clinician",
    "setting": "vacuum_band",
    "fitzpatrick": 2,
    "indication": "wrinkles",
    "treatment_area": "face",
}
ROLES = """
[users."Ana@Clinic-A.example"]
role = "manager"
clinics = ["ETB-01"]

[users."ben@clinic-b.example"]
role = "manager"
clinics = ["HAM-03"]

[users."val@clinic-a.example"]
role = "viewer"
clinics = ["ETB-01"]
name = "Val"

[users."ann@network.example"]
role = "analyst"

[users."root@network.example"]
role = "admin"
"""


def params_for(query, clinic: str | None) -> dict:
    values = {p.name: REQUIRED[p.name] for p in query.params if not p.optional}
    for name in ("clinic_id", "scope", "unit"):
        if name in query.param_names:
            values[name] = clinic
    return values


def text_of(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False)


@pytest.fixture(scope="module")
def scoped(access_warehouse):
    snapshot = current_snapshot(access_warehouse.data_dir)
    con = scoped_connection(snapshot.path, [MINE])
    yield con
    con.close()


@pytest.fixture(scope="module")
def unscoped(access_warehouse):
    _, con = connect_current(access_warehouse.data_dir)
    yield con
    con.close()


# --- The roles file ---------------------------------------------------------------------------------------


def test_roles_file_gives_each_identity_its_role_and_clinics(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text(ROLES)
    config = load_roles(path)
    ana = config.principal("  ana@clinic-a.EXAMPLE ")
    assert (ana.role, ana.clinics, ana.all_clinics) == ("manager", (MINE,), False)
    assert ana.can_named_queries and ana.can_download and not ana.can_free_sql and not ana.can_audit
    assert ana.sees(MINE) and not ana.sees("HAM-03") and not ana.sees(None)
    assert ana.can_report(MINE) and not ana.can_report(None) and not ana.can_report("HAM-03")
    viewer = config.principal("val@clinic-a.example")
    assert not viewer.can_download and not viewer.can_named_queries and not viewer.can_report(MINE)
    analyst = config.principal("ann@network.example")
    assert analyst.all_clinics and analyst.can_free_sql and not analyst.can_audit and analyst.can_report(None)
    assert config.principal("root@network.example").can_audit
    stranger = config.principal("eve@elsewhere.example")
    assert not stranger.known and not stranger.sees(MINE) and not stranger.sees(None)
    assert config.principal("").identity == "(not signed in)" and not config.principal(None).known
    with pytest.raises(AccessDenied, match="may not run free SQL"):
        ana.require(ana.can_free_sql, "run free SQL")
    assert LOCAL_ADMIN.all_clinics and LOCAL_ADMIN.can_audit and not nobody("x").known


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[users."a@x"]\nrole = "boss"', "role must be one of admin, analyst, manager, viewer"),
        ('[users."a@x"]\nrole = "manager"', "needs a non-empty list of clinics"),
        ('[users."a@x"]\nrole = "manager"\nclinics = []', "needs a non-empty list of clinics"),
        ('[users."a@x"]\nrole = "manager"\nclinics = ["ETB-01\' or 1=1"]', "is not a clinic id"),
        ('[users."a@x"]\nrole = "analyst"\nclinics = ["ETB-01"]', "sees every clinic; remove 'clinics'"),
        ('[users."a@x"]\nrole = "viewer"\nclinic = ["ETB-01"]', "unknown field 'clinic'"),
        ('[users."a@x"]\nrole = "admin"\n[users."A@X"]\nrole = "viewer"\nclinics = ["E"]', "listed twice"),
        ('[people."a@x"]\nrole = "admin"', "unknown section [people]"),
        ('[users."a@x"\nrole = "admin"', "not valid TOML"),
    ],
)
def test_a_broken_roles_file_is_refused_naming_file_identity_and_rule(tmp_path, text, message):
    path = tmp_path / "roles.toml"
    path.write_text(text)
    with pytest.raises(AccessError, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        load_roles(path)
    assert str(path) in str(caught.value)


def test_a_missing_roles_file_says_where_it_was_looked_for(tmp_path):
    with pytest.raises(AccessError, match="roles file not found"):
        load_roles(tmp_path / "absent.toml")


# --- The scoped warehouse ---------------------------------------------------------------------------------


def test_every_warehouse_object_has_an_access_policy(unscoped):
    objects = {r[0] for r in unscoped.execute("select table_name from information_schema.tables").fetchall()}
    staging = {q.name for q in list_queries("staging")}
    marts = {q.name for q in list_queries("marts")}
    assert objects == set(TABLE_POLICIES) | staging | marts
    assert set(MART_POLICIES) == marts


@pytest.mark.parametrize("query", list_queries(), ids=lambda q: q.name)
def test_no_named_query_returns_another_clinics_rows_even_when_asked_for_them(scoped, query):
    for clinic in (MINE, None, *OTHERS):
        frame = run_query(scoped.cursor(), query, params_for(query, clinic))
        leaked = [other for other in OTHERS if other in text_of(frame)]
        assert not leaked, f"{query.name} with {clinic!r} shows {leaked}"
        if clinic in OTHERS and "clinic_id" in query.param_names:
            counts = [
                c
                for c in ("sessions", "answered", "outcome_known", "rows_quarantined", "courses")
                if c in frame.columns
            ]
            assert frame.empty or all(frame[c].fillna(0).eq(0).all() for c in counts), query.name


# data_freshness's "days behind" compares with the user's clinics, not the network (tested below).
@pytest.mark.parametrize(
    "query",
    [q for q in list_queries() if "clinic_id" in q.param_names and q.name != "data_freshness"],
    ids=lambda q: q.name,
)
def test_a_clinics_own_figures_are_the_same_scoped_or_not(scoped, unscoped, query):
    values = params_for(query, MINE)
    mine = run_query(scoped.cursor(), query, values)
    everyone = run_query(unscoped.cursor(), query, values)
    assert not mine.empty
    drop = [c for c in ("fitted_at", "is_fresh") if c in mine.columns]
    pd.testing.assert_frame_equal(
        mine.drop(columns=drop).reset_index(drop=True),
        everyone.drop(columns=drop).reset_index(drop=True),
        check_dtype=False,
    )


def test_network_figures_become_the_users_clinics_figures(scoped, unscoped):
    assert run_query(scoped.cursor(), "kpis_by_month").equals(
        run_query(scoped.cursor(), "kpis_by_month", {"clinic_id": MINE})
    )
    network = run_query(unscoped.cursor(), "kpis_by_month")["sessions"].sum()
    mine = run_query(scoped.cursor(), "kpis_by_month")["sessions"].sum()
    assert 0 < mine < network
    freshness = run_query(scoped.cursor(), "data_freshness")
    assert freshness["clinic_id"].tolist() == [MINE]
    assert freshness["days_behind_network"].iat[0] == 0
    assert freshness["last_loaded_at"].notna().all()
    assert (
        run_query(unscoped.cursor(), "data_freshness")["last_loaded_at"].notna().all()
    )  # the load's own end


def test_model_results_are_the_clinics_own_fit_and_only_its_units_of_the_networks(scoped, unscoped):
    assert run_query(scoped.cursor(), "model_summaries").empty  # the network's fit is not theirs
    own = run_query(scoped.cursor(), "model_summaries", {"scope": MINE})
    assert len(own) == 3 and set(own["scope"]) == {MINE}  # side effects, satisfaction total and direct
    units = run_query(scoped.cursor(), "funnel_units", {"unit_type": "clinic"})
    assert units["unit"].tolist() == [MINE]
    assert not run_query(scoped.cursor(), "funnel_limits", {"unit_type": "clinic"}).empty  # the yardstick
    assert set(run_query(scoped.cursor(), "spc_points")["unit"]) == {MINE}
    assert run_query(scoped.cursor(), "spc_verdicts", {"unit": "network"}).empty
    runs = scoped.execute("select scope, n_sessions from stg_model_runs order by scope").fetchall()
    assert runs == [(MINE, runs[0][1]), ("network", None)] and runs[0][1] > 0


def test_load_history_counts_only_the_users_files(scoped, unscoped):
    batches = run_query(scoped.cursor(), "load_batches")
    everyone = run_query(unscoped.cursor(), "load_batches")
    assert set(batches["batch_id"]) == set(everyone["batch_id"])
    files = scoped.execute("select file from load_files").fetchall()
    assert files and all(f[0].startswith(MINE) for f in files)
    assert 0 < batches["rows"].sum() < everyone["rows"].sum()
    records = run_query(scoped.cursor(), "quarantine_records")
    assert set(records["clinic_id"].dropna()) <= {MINE}


def test_the_scoped_warehouse_reads_no_files_and_changes_no_settings(scoped):
    for statement in (
        "select * from read_csv('/etc/passwd')",
        "set enable_external_access = true",
        "attach '/tmp/other.duckdb' as other",
    ):
        with pytest.raises(duckdb.Error):
            scoped.execute(statement)


def test_a_warehouse_object_without_a_policy_is_refused(access_warehouse, tmp_path):
    snapshot = current_snapshot(access_warehouse.data_dir)
    copy = tmp_path / "extra.duckdb"
    shutil.copy(snapshot.path, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute("create table patient_notes as select 1 as x")
    with pytest.raises(WarehouseError, match=r"no access policy for warehouse object.*patient_notes"):
        scoped_connection(copy, [MINE])


def test_a_bad_clinic_id_never_reaches_sql(access_warehouse):
    snapshot = current_snapshot(access_warehouse.data_dir)
    with pytest.raises(AccessError, match="is not a clinic id"):
        scoped_connection(snapshot.path, ["ETB-01') or true --"])


def test_a_clinic_the_warehouse_does_not_have_sees_nothing(access_warehouse):
    snapshot = current_snapshot(access_warehouse.data_dir)
    con = scoped_connection(snapshot.path, ["XYZ-99"])
    try:
        assert run_query(con.cursor(), "kpis_by_month").empty
        assert con.execute("select count(*) from sessions").fetchall() == [(0,)]
    finally:
        con.close()


# --- Identities that look like, or fold to, someone else's --------------------------------------------------

KIM_ROLES = '[users."kim@network.example"]\nrole = "analyst"\n'


@pytest.mark.parametrize(
    "presented",
    [
        "\u212aim@network.example",  # KELVIN SIGN: lower-cases and NFKC-folds to k
        "\uff4bim@network.example",  # FULLWIDTH LATIN SMALL LETTER K
        "KİM@network.example",  # dotted capital I: lower-cases to i + a combining dot
        "kim@network.example\x00",  # a trailing control character
        "kim@network.example\u200b",  # zero-width space: NFKC keeps it, but it is not kim's address
    ],
    ids=["kelvin_sign", "fullwidth_k", "dotted_capital_i", "nul", "zero_width_space"],
)
def test_an_identity_that_only_looks_like_or_folds_to_kims_gets_nothing_and_is_named_as_presented(
    tmp_path, presented
):
    path = tmp_path / "roles.toml"
    path.write_text(KIM_ROLES)
    config = load_roles(path)
    assert config.principal("kim@network.example").role == "analyst"
    assert config.principal("KIM@Network.Example").role == "analyst"  # ASCII case never matters
    impostor = config.principal(presented)
    assert not impostor.known and not impostor.can_free_sql and not impostor.sees(None)
    assert impostor.identity == presented  # what the audit log records


def test_the_principal_carries_the_identity_exactly_as_presented(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text(KIM_ROLES)
    assert load_roles(path).principal("Kim@Network.example").identity == "Kim@Network.example"


def test_non_ascii_identities_are_compared_exactly_and_never_merged(tmp_path):
    path = tmp_path / "roles.toml"
    path.write_text(
        '[users."jörg@klinik.example"]\nrole = "analyst"\n'
        '[users."jorg@klinik.example"]\nrole = "manager"\nclinics = ["ETB-01"]\n'
        '[users."groß@klinik.example"]\nrole = "viewer"\nclinics = ["ETB-01"]\n'
        '[users."gross@klinik.example"]\nrole = "viewer"\nclinics = ["HAM-03"]\n'
    )
    config = load_roles(path)
    assert config.principal("jörg@klinik.example").role == "analyst"
    assert config.principal("jorg@klinik.example").role == "manager"
    assert config.principal("groß@klinik.example").clinics == ("ETB-01",)  # casefold would make it gross
    assert config.principal("gross@klinik.example").clinics == ("HAM-03",)
    assert not config.principal("JÖRG@klinik.example").known  # upper-case non-ASCII is refused


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[users."\u212aim@x"]\nrole = "admin"', "cannot be compared safely"),
        ('[users."JÖRG@x"]\nrole = "admin"', "cannot be compared safely"),
        (
            '[users."kim@x"]\nrole = "admin"\n[users."KIM@x"]\nrole = "viewer"\nclinics = ["E"]',
            "listed twice",
        ),
    ],
    ids=["kelvin_sign", "upper_case_non_ascii", "ascii_case_collision"],
)
def test_a_roles_file_entry_that_could_be_confused_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "roles.toml"
    path.write_text(text)
    with pytest.raises(AccessError, match=message):
        load_roles(path)
