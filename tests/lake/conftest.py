"""The lake's fixtures: ONE Spark session for the whole suite (local[2], quiet, small) and the sample lake.

Spark is never skipped: ``make test`` installs Java (scripts/ensure-java.sh) and PySpark (dev extras).
Each test that rebuilds a lake's marts gets its own copy of the sample lake.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from etl.export import export_marts
from etl.warehouse import current_snapshot


@pytest.fixture(scope="session")
def spark():
    """The suite's one Spark session: ``local[2]``, a 1 GB driver, its own logging at ERROR.

    Every :class:`derma.lake.engines.SparkEngine` of the suite reuses it (and leaves it running).
    """
    from derma.lake.engines import SPARK_MASTER, spark_session

    session = spark_session(SPARK_MASTER)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_lake(sample_warehouse, tmp_path_factory) -> Path:
    """The sample warehouse exported as a lake (read it; copy it with ``lake_copy`` to build in it)."""
    out = tmp_path_factory.mktemp("lake") / "lake"
    export_marts(current_snapshot(sample_warehouse.data_dir).path, out)
    return out


@pytest.fixture
def lake_copy(sample_lake, tmp_path):
    """A function giving a fresh copy of the sample lake under this test's tmp folder."""

    def copy(name: str = "lake") -> Path:
        target = tmp_path / name
        shutil.copytree(sample_lake, target)
        return target

    return copy


from tests.dashboard.conftest import browser  # noqa: E402, F401 - the Chromium fixture, for serve --lake
