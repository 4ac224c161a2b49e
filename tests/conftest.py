"""Shared fixtures: an isolated data dir, secret key, roles file and audit log per test; the sample warehouse.

Builders (rows, export files, the CLI driver) are in ``tests/helpers.py``.
"""

from __future__ import annotations

import pytest

from etl.settings import Settings
from tests.helpers import SAMPLE, TODAY


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No test reads the developer's key or data: every DERMA_* variable points into tmp."""
    for name in (
        "DERMA_DATA_DIR",
        "DERMA_SECRET_KEY",
        "DERMA_KEEP_SNAPSHOTS",
        "DERMA_MEMORY_LIMIT",
        "DERMA_THREADS",
    ):
        monkeypatch.delenv(name, raising=False)
    keys = tmp_path_factory.mktemp("key")
    monkeypatch.setenv("DERMA_SECRET_KEY_FILE", str(keys / "secret.key"))
    # Where `derma serve --lake` keeps a lake's data folder by default.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", memory_limit="1GB", threads=2)


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> Settings:
    """The committed sample, loaded once into a real warehouse with fitted models (read it, never write it)."""
    from derma.refresh import refresh_models
    from etl.load import ingest

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("sample") / "data",
        secret_key="sample-test-key",
        memory_limit="1GB",
        threads=2,
    )
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


@pytest.fixture
def writable_warehouse(sample_warehouse, tmp_path) -> Settings:
    """A private copy of the sample warehouse (with fitted models) a test may change: notes, redraws, loads."""
    import shutil
    from dataclasses import replace

    folder = tmp_path / "data"
    shutil.copytree(sample_warehouse.data_dir, folder, symlinks=True)
    return replace(sample_warehouse, data_dir=folder)
