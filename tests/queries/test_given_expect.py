"""Given small hand-made sessions, expect exact rows: courses, denominators, deltas and bands."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from analysis.rates import wilson_interval
from etl.load import ingest
from queries import run_query
from tests.helpers import TODAY, row, write_csv


@pytest.fixture
def load(tmp_path, settings):
    def _load(rows):
        write_csv(tmp_path / "given.csv", rows)
        ingest([tmp_path / "given.csv"], settings, today=TODAY)
        return duckdb.connect(str(settings.data_dir / "warehouse.duckdb"), read_only=True)

    return _load


def test_rates_exclude_unanswered_surveys_and_unknown_outcomes(load):
    con = load(
        [
            row(session_id="a", satisfaction="5", side_effects="petechiae"),
            row(session_id="b", satisfaction="2", side_effects=""),
            row(session_id="c", satisfaction="", side_effects="", follow_up_done="false"),  # both unknown
            row(
                session_id="d", satisfaction="", side_effects="", follow_up_done="true"
            ),  # no answer, no event
        ]
    )
    kpi = run_query(con, "kpis_by_month").iloc[0]
    assert (kpi["sessions"], kpi["answered"], kpi["satisfied"]) == (4, 2, 1)
    assert kpi["pct_satisfied"] == pytest.approx(0.5)
    assert (kpi["outcome_known"], kpi["side_effect_sessions"]) == (3, 1)
    assert kpi["side_effect_rate"] == pytest.approx(1 / 3)
    assert kpi["response_rate"] == pytest.approx(0.5)
    # All four sessions are one patient's: one cluster says nothing about the spread between patients.
    assert (kpi["side_effect_rate_low"], kpi["side_effect_rate_high"]) == (0.0, 1.0)
    assert kpi["pct_satisfied_worst"] == pytest.approx(0.25) and kpi["pct_satisfied_best"] == pytest.approx(
        0.75
    )


def test_intervals_treat_each_patient_as_a_cluster(load):
    from analysis.clustered_rates import clustered_rate

    # Three patients: two happy after every session, one never; a session-level Wilson would be too narrow.
    plan = {"PN1": "5555", "PN2": "4545", "PN3": "1212", "PN4": "55"}
    rows = [
        row(session_id=f"{pid}-{i}", patient_id=pid, satisfaction=r, session_date=f"2026-10-0{i + 1}")
        for pid, ratings in plan.items()
        for i, r in enumerate(ratings)
    ]
    kpi = run_query(load(rows), "kpis_by_month").iloc[0]
    expected = clustered_rate([4, 4, 0, 2], [4, 4, 4, 2])
    assert (kpi["satisfied"], kpi["answered"], kpi["patients"]) == (10, 14, 4)
    assert kpi["pct_satisfied_low"] == pytest.approx(expected.ci_low, abs=1e-9)
    assert kpi["pct_satisfied_high"] == pytest.approx(expected.ci_high, abs=1e-9)
    assert kpi["pct_satisfied_design_effect"] == pytest.approx(expected.design_effect, abs=1e-9)
    plain_low, plain_high = wilson_interval(10, 14)
    assert kpi["pct_satisfied_low"] < plain_low and kpi["pct_satisfied_high"] > plain_high


def test_deltas_compare_with_the_previous_month_and_the_same_month_last_year(load):
    rows = []
    for month, n, events in (("2025-10", 4, 2), ("2026-09", 2, 0), ("2026-10", 5, 1)):
        for i in range(n):
            rows.append(
                row(
                    session_id=f"{month}-{i}",
                    patient_id=f"PN{month}{i}",
                    session_date=f"{month}-0{i + 1}",
                    side_effects="petechiae" if i < events else "",
                )
            )
    con = load(rows)
    frame = run_query(con, "kpis_by_month").set_index("month")
    october = frame.loc["2026-10-01"]
    assert october["sessions_delta_prev"] == 3 and october["sessions_delta_year"] == 1
    assert october["side_effect_rate_delta_prev"] == pytest.approx(0.2)
    assert october["side_effect_rate_delta_year"] == pytest.approx(0.2 - 0.5)
    assert october["patients_delta_prev"] == 3
    assert pd.isna(frame.loc["2026-09-01"]["sessions_delta_year"])  # no September 2025 to compare with


def test_courses_are_completed_ongoing_or_dropped_out(load):
    rows = []
    # wrinkles plans 6 sessions: 6 done -> completed
    rows += [row(session_id=f"c{i}", patient_id="PN1", session_date=f"2026-0{i + 1}-10") for i in range(6)]
    # 3 sessions, last long before the clinic's latest data -> dropped out
    rows += [
        row(session_id=f"d{i}", patient_id="PN2", session_date=f"2026-0{i + 1}-12", satisfaction=str(2 + i))
        for i in range(3)
    ]
    # 2 sessions, last within 42 days of the clinic's latest data (2026-10-20) -> ongoing
    rows += [
        row(
            session_id=f"o{i}",
            patient_id="PN3",
            session_date=d,
            indication="acne",
            side_effects="petechiae" if i == 1 else "",
        )
        for i, d in enumerate(("2026-10-01", "2026-10-20"))
    ]
    con = load(rows)
    courses = con.sql("select * from patient_courses order by first_session_date").df()
    assert courses["status"].tolist() == ["completed", "dropped_out", "ongoing"]
    dropped = courses.iloc[1]
    assert (
        dropped["sessions_done"],
        dropped["last_satisfaction"],
        dropped["best_satisfaction"],
        dropped["first_satisfied_session"],
    ) == (3, 4, 4, 3)
    ongoing = courses.iloc[2]
    assert (ongoing["planned_sessions"], ongoing["first_side_effect_session"], ongoing["max_gap_days"]) == (
        8,
        2,
        19,
    )
    completion = run_query(con, "course_completion").set_index("indication")
    assert completion.loc["wrinkles", ["completed", "dropped_out", "ongoing"]].tolist() == [1, 1, 0]
    assert completion.loc["wrinkles", "dropout_rate"] == pytest.approx(0.5)
    assert completion.loc["acne_scars", "ongoing"] == 1


def test_setting_bands_put_edges_in_the_upper_band_and_full_flow_in_the_top_band(load):
    con = load(
        [
            row(session_id="a", vacuum_kpa="30", particle_flow="100"),
            row(session_id="b", vacuum_kpa="34.99", particle_flow="90"),
            row(session_id="c", vacuum_kpa="35", particle_flow="89.9"),
            row(session_id="d", crystal_type="diamond_tip", particle_flow="", vacuum_kpa="12"),
        ]
    )
    bands = dict(con.sql("select session_id, vacuum_band from stg_sessions").fetchall())
    assert bands == {"a": "30–35 kPa", "b": "30–35 kPa", "c": "35–40 kPa", "d": "10–15 kPa"}
    flows = dict(con.sql("select session_id, flow_band from stg_sessions").fetchall())
    assert flows == {"a": "90–100 %", "b": "90–100 %", "c": "80–90 %", "d": None}
    by_vacuum = run_query(con, "side_effect_rate_by_setting", {"setting": "vacuum_band"})
    assert by_vacuum["level"].tolist() == ["10–15 kPa", "30–35 kPa", "35–40 kPa"]
    assert by_vacuum["sessions"].tolist() == [1, 2, 1]


def test_filters_scope_every_count(load):
    con = load(
        [
            row(session_id="a", clinic_id="A-1", fitzpatrick="5"),
            row(session_id="b", clinic_id="B-2", fitzpatrick="2"),
            row(session_id="c", clinic_id="B-2", fitzpatrick="5", side_effects="abrasion"),
        ]
    )
    assert run_query(con, "kpis_by_month", {"clinic_id": "B-2"})["sessions"].tolist() == [2]
    assert run_query(con, "kpis_by_month", {"fitzpatrick": 5})["sessions"].tolist() == [2]
    assert run_query(con, "unit_outcomes")["clinic_id"].tolist() == ["A-1", "B-2"]
    types = run_query(con, "side_effect_types_by_skin_type", {"clinic_id": "B-2"})
    abrasion = types[(types["side_effect"] == "abrasion")].set_index("fitzpatrick")["events"].to_dict()
    assert abrasion == {2: 0, 5: 1}


def test_patient_counts_agree_between_the_network_figure_and_a_filtered_recount(load):
    rows = [
        row(
            session_id=f"s{i}",
            patient_id=f"PN{i % 3}",
            clinician_id=f"K{(i // 2) % 2}",
            session_date=f"2026-0{1 + i % 2}-1{i}",
        )
        for i in range(8)
    ]
    con = load(rows)
    network = run_query(con, "kpis_by_month")[["month", "patients"]]
    recount = run_query(con, "kpis_by_month", {"clinic_id": "ETB-01"})[["month", "patients"]]
    assert network.equals(recount)
    assert network["patients"].tolist() == [3, 3]
    assert run_query(con, "kpis_by_month", {"clinician_id": "K0"})["patients"].tolist() == [2, 2]


def test_unit_patient_counts_agree_between_the_mart_and_a_filtered_recount(load):
    rows = [
        row(
            session_id=f"s{i}",
            patient_id=f"PN{i % 5}",
            clinician_id=f"K{i % 3}",
            session_date=f"2026-0{1 + i % 3}-1{i % 9}",
        )
        for i in range(15)
    ]
    con = load(rows)
    everything = {"date_from": "2026-01-01", "date_to": "2026-12-31"}  # same data, forces the recount
    for grain in ("clinician", "clinic"):
        fast = run_query(con, "unit_outcomes", {"grain": grain})
        recount = run_query(con, "unit_outcomes", {"grain": grain, **everything})
        assert fast["patients"].tolist() == recount["patients"].tolist(), grain
    assert run_query(con, "unit_outcomes")["patients"].tolist() == [5]
    assert run_query(con, "unit_outcomes", {"grain": "clinic"})["clinician_id"].isna().all()
    assert run_query(con, "unit_outcomes", {"grain": "clinician"})["patients"].tolist() == [5, 5, 5]
    # A clinician filter on the clinic grain recounts that clinician's patients.
    assert run_query(con, "unit_outcomes", {"clinician_id": "K1"})["patients"].tolist() == [5]
