"""Shared fixtures: an isolated data dir and secret key per test, and small export builders."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
from pathlib import Path

import pytest

from etl.settings import Settings

FIELDS = ["clinic_id", "session_id", "patient_id", "clinician_id", "session_date", "crystal_type", "vacuum_kpa",
          "passes", "treatment_area", "indication", "fitzpatrick", "particle_flow", "satisfaction", "side_effects",
          "follow_up_done", "pre_care_followed"]
TODAY = dt.date(2026, 11, 24)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test reads the developer's key or data: every DERMA_* variable points into tmp."""
    for name in ("DERMA_DATA_DIR", "DERMA_SECRET_KEY", "DERMA_KEEP_SNAPSHOTS", "DERMA_MEMORY_LIMIT", "DERMA_THREADS"):
        monkeypatch.delenv(name, raising=False)
    keys = tmp_path_factory.mktemp("key")
    monkeypatch.setenv("DERMA_SECRET_KEY_FILE", str(keys / "secret.key"))


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", memory_limit="1GB", threads=2)


def row(**overrides) -> dict:
    """One valid session row (canonical names); keyword arguments replace or add columns."""
    base = {
        "clinic_id": "ETB-01", "session_id": "S1", "patient_id": "PN10000001", "clinician_id": "ETB-01-K1",
        "session_date": "2026-10-01", "crystal_type": "corundum", "vacuum_kpa": "30", "passes": "3",
        "treatment_area": "face", "indication": "wrinkles", "fitzpatrick": "2", "particle_flow": "60",
        "satisfaction": "4", "side_effects": "", "follow_up_done": "true", "pre_care_followed": "true",
    }
    base.update({k: v for k, v in overrides.items()})
    return base


def write_csv(path: Path, rows: list[dict], *, delimiter: str = ",", header: list[str] | None = None,
              bom: bool = False, gz: bool = False) -> Path:
    header = header or list(rows[0].keys())
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        for r in rows:
            writer.writerow([r.get(h, "") for h in header])
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


SAMPLE = Path(__file__).parents[1] / "sample_data" / "sample"


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> Settings:
    """The committed sample, loaded once into a real warehouse with fitted models (read it, never write it)."""
    from derma.refresh import refresh_models
    from etl.load import ingest

    settings = Settings(data_dir=tmp_path_factory.mktemp("sample") / "data", secret_key="sample-test-key",
                        memory_limit="1GB", threads=2)
    ingest([SAMPLE], settings, today=TODAY)
    refresh_models(settings)
    return settings


@pytest.fixture(autouse=True)
def _private_access_files(tmp_path_factory, monkeypatch):
    """No test reads the machine's roles file or writes an audit log next to a shared warehouse."""
    folder = tmp_path_factory.mktemp("access")
    monkeypatch.setenv("DERMA_AUDIT_FILE", str(folder / "audit.jsonl"))
    monkeypatch.setenv("DERMA_ROLES_FILE", str(folder / "no-roles.toml"))
    monkeypatch.delenv("DERMA_IDENTITY_HEADER", raising=False)


@pytest.fixture(scope="session")
def access_warehouse(sample_warehouse, tmp_path_factory) -> Settings:
    """A copy of the sample warehouse where ETB-01 also has its own model fit (for access-scoping tests)."""
    import shutil
    from dataclasses import replace

    from derma.refresh import refresh_models

    folder = tmp_path_factory.mktemp("access-warehouse") / "data"
    shutil.copytree(sample_warehouse.data_dir, folder, symlinks=True)
    settings = replace(sample_warehouse, data_dir=folder)
    refresh_models(settings, "ETB-01")
    return settings
