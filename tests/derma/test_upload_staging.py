"""Uploads staged for one step: a private folder (0700, files 0600), removed whatever happens; names refused."""

from __future__ import annotations

import io
import stat
import tomllib
from pathlib import Path

import pytest

from dashboard import uploads
from derma.uploads import Upload, UploadError, staged

CONFIG = Path(__file__).parents[2] / "dashboard" / ".streamlit" / "config.toml"


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    return folder


def test_uploads_are_staged_privately_with_their_bytes_and_removed_afterwards(scratch):
    payload = b"Appointment Ref;Client No.\n" + b"x" * (3 * 2**20)  # more than one copy chunk
    with staged([Upload("acme_ETB-01_2026-11.csv", io.BytesIO(payload))]) as paths:
        folder = paths[0].parent
        assert folder.parent == scratch
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(paths[0].stat().st_mode) == 0o600
        assert paths[0].name == "acme_ETB-01_2026-11.csv" and paths[0].read_bytes() == payload
    assert list(scratch.iterdir()) == []


def test_staged_files_are_removed_when_the_step_fails(scratch):
    with pytest.raises(RuntimeError), staged([Upload("a.csv", io.BytesIO(b"a"))]):
        raise RuntimeError("the load failed")
    assert list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "kept"),
    [("../../etc/acme.csv", "acme.csv"), ("C:\\exports\\glow.xlsx", "glow.xlsx")],
)
def test_a_folder_in_an_uploaded_name_is_dropped(scratch, name, kept):
    with staged([Upload(name, io.BytesIO(b"a"))]) as paths:
        assert paths[0].name == kept and paths[0].parent.parent == scratch


@pytest.mark.parametrize("name", ["", ".hidden.csv", "a\nb.csv", "exports/", "x" * 256 + ".csv"])
def test_an_unusable_file_name_is_refused_with_one_line_and_nothing_staged(scratch, name):
    with (
        pytest.raises(UploadError, match="not a usable file name") as info,
        staged([Upload(name, io.BytesIO(b"a"))]),
    ):
        pass
    assert "\n" not in str(info.value)
    assert list(scratch.iterdir()) == []


def test_the_same_name_twice_in_one_batch_is_refused(scratch):
    files = [Upload("a.csv", io.BytesIO(b"1")), Upload("exports/a.csv", io.BytesIO(b"2"))]
    with pytest.raises(UploadError, match=r"a\.csv: uploaded twice"), staged(files):
        pass
    assert list(scratch.iterdir()) == []


def test_the_servers_upload_cap_is_the_upload_pages_own_figure():
    server = tomllib.loads(CONFIG.read_text(encoding="utf-8"))["server"]
    assert server["maxUploadSize"] == uploads.MAX_EXPORT_MB == 32
    assert uploads.MAX_MAPPING_MB <= uploads.MAX_EXPORT_MB
    assert server["maxMessageSize"] == 50  # the websocket message cap did not grow with it
