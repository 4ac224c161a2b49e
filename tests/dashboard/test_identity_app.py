"""The dashboard signs in look-alike identities as nobody and logs them exactly as presented."""

from __future__ import annotations

import json

from tests.dashboard.test_access_app import open_as

KIM = "kim@network.example"
KELVIN = "\u212aim@network.example"  # KELVIN SIGN, which lower-cases (and NFKC-folds) to "k"


def test_the_kelvin_sign_does_not_get_kims_role_and_the_log_records_what_was_presented(
    access_warehouse, tmp_path, monkeypatch
):
    roles = tmp_path / "roles.toml"
    roles.write_text(f'[users."{KIM}"]\nrole = "analyst"\n')
    monkeypatch.setenv("DERMA_DATA_DIR", str(access_warehouse.data_dir))
    monkeypatch.setenv("DERMA_ROLES_FILE", str(roles))
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    impostor = open_as(KELVIN, "sql")
    assert not impostor.exception
    assert any("ask your administrator" in i.value for i in impostor.info)
    assert not impostor.dataframe and not impostor.get("text_area")
    kim = open_as(KIM, "overview")
    assert not kim.exception and kim.metric
    logged = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(r["who"], r["role"], r["action"], r["outcome"]) for r in logged] == [
        (KELVIN, None, "denied", "refused"),
        (KIM, "analyst", "view", "ok"),
    ]
