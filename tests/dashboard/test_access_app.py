"""The dashboard for signed-in users of each role (AppTest's simulated OIDC user): who sees what.

A manager of one clinic must not reach another clinic through any page, filter, URL parameter,
session-state edit, named-query parameter or report; viewers get no SQL, downloads or reports;
unknown identities see only a polite refusal; every view, query and refusal is in the audit log.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from etl.warehouse import connect_current
from queries import run_query
from reports.build import build_report
from tests.dashboard.test_app import shown as everything_shown
from tests.dashboard.users import ANA, ANN, BEN, MINE, OTHERS, ROLES, ROOT, VAL

APP = Path(__file__).parents[2] / "dashboard" / "streamlit_app.py"
PAGES = ("overview", "courses", "safety", "clinicians", "models", "quality", "sql", "reports")
AUTH = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret",
    "client_id": "derma",
    "client_secret": "secret",
    "server_metadata_url": "https://idp.example/.well-known",
}


@pytest.fixture
def signed_in(access_warehouse, tmp_path, monkeypatch):
    """The access warehouse with a roles file and an audit log of this test's own."""
    roles = tmp_path / "roles.toml"
    roles.write_text(ROLES)
    monkeypatch.setenv("DERMA_DATA_DIR", str(access_warehouse.data_dir))
    monkeypatch.setenv("DERMA_ROLES_FILE", str(roles))
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    return tmp_path


def open_as(
    email: str | None, page: str = "overview", query_params: dict | None = None, state: dict | None = None
) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False} if email is None else {"is_logged_in": True, "email": email}
    at.query_params.update(query_params or {})
    for key, value in (state or {}).items():
        at.session_state[key] = value
    if page != "overview":
        at.switch_page(f"app_pages/{page}.py")
    return at.run()


def shown(at: AppTest) -> str:
    """Everything a reader sees, as one text: what test_app checks, plus errors, titles and widget options."""
    parts = [*everything_shown(at), *(e.value for e in (*at.error, *at.title, *at.success))]
    parts += [str(box.options) for box in at.selectbox]
    return "\n".join(str(p) for p in parts)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]


def records(folder: Path) -> list[dict]:
    path = folder / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def latest_sessions(settings, **params) -> str:
    _, con = connect_current(settings.data_dir)
    try:
        frame = run_query(con, "kpis_by_month", params)
    finally:
        con.close()
    return f"{int(frame.sort_values('month')['sessions'].iloc[-1]):,}"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("email", [ANA, VAL])
def test_a_clinic_user_sees_only_their_clinic_on_every_page(signed_in, email, page):
    at = open_as(email, page)
    assert_clean(at)
    text = shown(at)
    assert MINE in text
    assert not [other for other in OTHERS if other in text], f"{email} on {page} sees another clinic"
    assert at.selectbox(key="filters_clinic").options == ["All your clinics", MINE]


def test_the_other_manager_sees_only_hers(signed_in):
    for page in ("overview", "quality"):
        text = shown(open_as(BEN, page))
        assert "HAM-03" in text and MINE not in text and "KOE-04" not in text


def test_a_url_parameter_naming_another_clinic_shows_nothing_of_it(signed_in, access_warehouse):
    at = open_as(ANA, "overview", {"filters_clinic": "HAM-03", "filters_clinician": "HAM-03-S4"})
    assert_clean(at)
    assert not [other for other in OTHERS if other in shown(at)]
    sessions = next(m.value for m in at.metric if m.label == "Sessions")
    assert sessions == latest_sessions(access_warehouse, clinic_id=MINE)


def test_a_named_query_parameter_naming_another_clinic_returns_no_rows(signed_in):
    at = open_as(ANA, "sql")
    at.selectbox(key="sql_query").set_value("unit_outcomes").run()
    at.toggle(key="sql_use_filters").set_value(False).run()
    at.text_input(key="sql_param_unit_outcomes_clinic_id").set_value("HAM-03").run()
    assert_clean(at)
    assert at.tabs[0].dataframe[0].value.empty
    at.text_input(key="sql_param_unit_outcomes_clinic_id").set_value(MINE).run()
    assert at.tabs[0].dataframe[0].value["clinic_id"].tolist() == [MINE]
    logged = [r for r in records(signed_in) if r["action"] == "query"]
    assert [(r["who"], r["what"], r["params"].get("clinic_id"), r["rows"]) for r in logged[-2:]] == [
        (ANA, "unit_outcomes", "HAM-03", 0),
        (ANA, "unit_outcomes", MINE, 1),
    ]


def test_a_manager_gets_no_free_sql(signed_in):
    at = open_as(ANA, "sql")
    assert_clean(at)
    assert not at.text_area and "sql_run" not in [b.key for b in at.button]
    assert any("Free SQL is open to analysts" in i.value for i in at.info)


def test_reports_are_limited_to_the_users_clinics_even_through_session_state(signed_in, access_warehouse):
    at = open_as(ANA, "reports")
    assert at.selectbox(key="reports_clinic").options == [MINE]
    month = at.selectbox(key="reports_month").value
    at = open_as(ANA, "reports", state={"reports_request": (month, "HAM-03", ("html",), None)})
    assert any("may not build the report of HAM-03" in e.value for e in at.error)
    assert not at.get("download_button")
    at = open_as(ANA, "reports", state={"reports_request": (month, None, ("html",), None)})
    assert any("may not build the report of the network" in e.value for e in at.error)
    assert [r["outcome"] for r in records(signed_in) if r["action"] == "report"] == []


def test_a_managers_report_is_built_from_her_clinic_only(access_warehouse, tmp_path):
    month = latest_month(access_warehouse)
    files = build_report(access_warehouse, month, MINE, tmp_path, ("html", "xlsx"), clinics=(MINE,))
    html = next(p for p in files if p.suffix == ".html").read_text()
    assert MINE in html and not [other for other in OTHERS if other in html]
    assert "Another clinic" not in html  # not even the other clinics' anonymous funnel points
    from openpyxl import load_workbook

    book = load_workbook(next(p for p in files if p.suffix == ".xlsx"), read_only=True)
    text = " ".join(str(v) for sheet in book for row in sheet.iter_rows(values_only=True) for v in row if v)
    assert MINE in text and not [other for other in OTHERS if other in text]


def latest_month(settings) -> str:
    _, con = connect_current(settings.data_dir)
    try:
        return run_query(con, "kpis_by_month")["month"].max().strftime("%Y-%m")
    finally:
        con.close()


def test_a_viewer_gets_no_sql_reports_or_downloads(signed_in):
    for page in ("sql", "reports"):
        at = open_as(VAL, page)
        assert_clean(at)
        assert at.title[0].value == "Overview", f"a viewer reached {page}"
    at = open_as(VAL, "quality")
    assert not at.get("download_button")


def test_an_unknown_identity_sees_nothing_but_a_polite_refusal(signed_in):
    at = open_as("eve@elsewhere.example")
    assert_clean(at)
    assert any("ask your administrator" in i.value for i in at.info)
    assert not at.metric and not at.get("plotly_chart") and not at.dataframe and not at.selectbox
    assert [(r["who"], r["action"], r["outcome"]) for r in records(signed_in)] == [
        ("eve@elsewhere.example", "denied", "refused")
    ]


def test_someone_not_signed_in_is_asked_to_sign_in_and_sees_no_data(signed_in):
    at = open_as(None)
    assert_clean(at)
    assert at.button(key="gate_sign_in").label == "Sign in"
    assert not at.metric and not at.get("plotly_chart") and not at.selectbox


def test_a_broken_roles_file_lets_nobody_in(signed_in):
    (signed_in / "roles.toml").write_text('[users."ana@clinic-a.example"]\nrole = "boss"\n')
    at = open_as(ANA)
    assert any("not configured correctly" in i.value for i in at.info)
    assert not at.metric and not at.selectbox


def test_the_trusted_header_mode_without_the_header_lets_nobody_in(signed_in, monkeypatch):
    monkeypatch.setenv("DERMA_IDENTITY_HEADER", "X-Forwarded-Email")
    at = AppTest.from_file(str(APP), default_timeout=60).run()  # AppTest sends no request headers
    assert any("has not been opened to you" in i.value for i in at.info)
    assert not at.metric and not at.selectbox


def test_an_analyst_sees_every_clinic_and_gets_the_sandbox_but_not_the_audit_log(signed_in):
    at = open_as(ANN, "sql")
    assert_clean(at)
    assert at.selectbox(key="filters_clinic").options == ["All clinics", MINE, *OTHERS]
    at.text_area(key="sql_text").set_value("select count(distinct clinic_id) as n from sessions").run()
    at.button(key="sql_run").click().run()
    assert at.tabs[1].dataframe[0].value["n"].tolist() == [4]
    assert not [d for d in open_as(ANN, "quality").dataframe if "who" in d.value.columns]
    sql = [r for r in records(signed_in) if r["action"] == "sql"]
    assert [(r["who"], r["what"], r["rows"]) for r in sql] == [
        (ANN, "select count(distinct clinic_id) as n from sessions", 1)
    ]


def test_an_admin_reads_the_audit_log_on_the_data_quality_page(signed_in):
    open_as(ANA, "courses")
    at = open_as(ROOT, "quality")
    assert_clean(at)
    log = next(d.value for d in at.dataframe if "who" in d.value.columns)
    assert {(ANA, "view", "courses"), (ROOT, "view", "quality")} <= set(
        zip(log["who"], log["action"], log["what"], strict=True)
    )


def test_the_audit_log_has_who_did_what_and_no_patient_key(signed_in, access_warehouse):
    open_as(ANA, "overview")
    open_as(ANA, "safety", {"filters_indication": "wrinkles"})
    open_as(BEN, "overview")
    logged = records(signed_in)
    assert [(r["who"], r["role"], r["action"], r["what"]) for r in logged] == [
        (ANA, "manager", "view", "overview"),
        (ANA, "manager", "view", "safety"),
        (BEN, "manager", "view", "overview"),
    ]
    assert logged[1]["params"] == {"indication": "wrinkles"}
    _, con = connect_current(access_warehouse.data_dir)
    try:
        keys = [r[0] for r in con.execute("select distinct patient_key from sessions limit 200").fetchall()]
    finally:
        con.close()
    text = (signed_in / "audit.jsonl").read_text()
    assert keys and not [k for k in keys if k in text]


def test_without_sign_in_the_local_admin_sees_a_banner(access_warehouse, monkeypatch):
    monkeypatch.setenv("DERMA_DATA_DIR", str(access_warehouse.data_dir))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert any("No sign-in is configured" in w.value for w in at.warning)
    assert at.selectbox(key="filters_clinic").options == ["All clinics", MINE, *OTHERS]


def test_a_cached_result_of_a_wider_scope_is_never_served_to_a_narrower_one(signed_in):
    for page in ("overview", "safety", "quality"):
        wide = shown(open_as(ANN, page))  # fills every cache with all four clinics first
        assert all(other in wide for other in OTHERS)
        narrow = shown(open_as(ANA, page))
        assert not [other for other in OTHERS if other in narrow], f"a cache served {page} across scopes"


def test_sign_in_uses_the_named_provider_when_auth_has_several(signed_in):
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = {
        "redirect_uri": AUTH["redirect_uri"],
        "cookie_secret": AUTH["cookie_secret"],
        "microsoft": {
            "client_id": "x",
            "client_secret": "y",
            "server_metadata_url": "https://login.example/.well-known",
        },
    }
    at.user = {"is_logged_in": False}
    at.run()
    assert_clean(at)
    assert at.button(key="gate_sign_in").label == "Sign in"
    assert not at.metric and not at.selectbox


def test_the_provider_for_st_login_comes_from_the_auth_section():
    from dashboard.signin import sign_in_provider

    assert sign_in_provider(AUTH) is None  # one provider configured directly under [auth]
    assert (
        sign_in_provider(
            {
                "redirect_uri": "u",
                "cookie_secret": "c",
                "okta": {"client_id": "x"},
                "google": {"client_id": "y"},
            }
        )
        == "okta"
    )
    assert sign_in_provider({"redirect_uri": "u", "cookie_secret": "c"}) is None


def test_an_edited_audit_log_is_named_on_the_data_quality_page_not_shown(signed_in):
    open_as(ANA, "courses")
    open_as(ANA, "safety")
    log = signed_in / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace(ANA, "someone-else@clinic-a.example")
    log.write_text("\n".join(lines) + "\n")
    at = open_as(ROOT, "quality")
    assert not at.exception
    assert any("line 2 does not follow line 1" in e.value for e in at.error)
    assert not [d for d in at.dataframe if "who" in d.value.columns]
