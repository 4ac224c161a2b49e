"""`derma serve` refuses set-ups that would let the wrong people in, before it starts anything."""

from __future__ import annotations

from click.testing import CliRunner

from derma.cli import main


def serve(tmp_path, monkeypatch, *args, header: str | None = "X-Forwarded-Email", roles: str | None = None):
    if header:
        monkeypatch.setenv("DERMA_IDENTITY_HEADER", header)
    if roles is not None:
        (tmp_path / "roles.toml").write_text(roles)
        monkeypatch.setenv("DERMA_ROLES_FILE", str(tmp_path / "roles.toml"))
    return CliRunner().invoke(main, ["serve", "--data-dir", str(tmp_path / "data"), *args])


def test_a_trusted_header_is_refused_on_a_public_address(tmp_path, monkeypatch):
    result = serve(tmp_path, monkeypatch, "--host", "0.0.0.0", roles='[users."a@x"]\nrole = "admin"\n')
    assert result.exit_code == 1
    assert "serve on 127.0.0.1 behind the reverse proxy that sets X-Forwarded-Email" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_broken_roles_file_stops_the_server_from_starting(tmp_path, monkeypatch):
    result = serve(tmp_path, monkeypatch, roles='[users."a@x"]\nrole = "boss"\n')
    assert result.exit_code == 1
    assert "role must be one of admin, analyst, manager, viewer" in result.output


def test_a_missing_roles_file_stops_the_server_from_starting(tmp_path, monkeypatch):
    monkeypatch.setenv("DERMA_ROLES_FILE", str(tmp_path / "absent.toml"))
    result = serve(tmp_path, monkeypatch)
    assert result.exit_code == 1 and "roles file not found" in result.output


def test_a_bad_header_name_is_a_settings_error(tmp_path, monkeypatch):
    result = serve(tmp_path, monkeypatch, header="X Forwarded: Email")
    assert result.exit_code == 1 and "DERMA_IDENTITY_HEADER must be a header name" in result.output
