"""Settings: the one frozen configuration read from ``DERMA_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

#: Every environment variable the product reads, with its default and meaning.
#: The README lists each of them (a test keeps the two in step).
ENV_VARS: dict[str, tuple[str, str]] = {
    "DERMA_DATA_DIR": (
        "./data",
        "warehouse folder: published snapshots, current-snapshot link, load lineage",
    ),
    "DERMA_SECRET_KEY_FILE": (
        "~/.config/derma/secret.key",
        "file holding the pseudonym key (created with mode 0600 on first use); never inside the data dir",
    ),
    "DERMA_SECRET_KEY": ("(unset)", "the pseudonym key itself; wins over DERMA_SECRET_KEY_FILE when set"),
    "DERMA_KEEP_SNAPSHOTS": ("3", "how many published snapshots to keep (the current one included)"),
    "DERMA_MEMORY_LIMIT": (
        "2GB",
        "DuckDB memory limit for loads; larger work spills to a private temp folder",
    ),
    "DERMA_THREADS": ("0", "DuckDB worker threads for loads (0 = all cores)"),
    "DERMA_CHROMIUM": ("/usr/bin/chromium", "the Chromium binary that prints the monthly report's PDF"),
    "DERMA_DEBUG": ("(unset)", "when set, the CLI shows tracebacks of unexpected errors instead of one line"),
    "DERMA_ROLES_FILE": (
        "~/.config/derma/roles.toml",
        "who may see what: identities (email) -> role and clinics; read when sign-in is configured",
    ),
    "DERMA_IDENTITY_HEADER": (
        "(unset)",
        "trust this request header (e.g. X-Forwarded-Email) as the signed-in identity set by a reverse proxy",
    ),
    "DERMA_AUDIT_FILE": ("<data dir>/audit.jsonl", "the append-only audit log of views, queries and exports"),
    "DERMA_SMTP_URL": (
        "(unset)",
        "mail server for --send and --notify: smtp://host:port or smtps://user:password@host:port",
    ),
    "DERMA_MAIL_FROM": ("(unset)", "the sender address of every mail (required with DERMA_SMTP_URL)"),
    "DERMA_WEBHOOK_URL": ("(unset)", "optional: alerts are also POSTed there as JSON"),
}


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else None


@dataclass(frozen=True)
class Settings:
    """Where data lives and how loads run; explicit arguments win over the environment."""

    data_dir: Path = field(default_factory=lambda: Path("./data"))
    secret_key_file: Path = field(default_factory=lambda: Path("~/.config/derma/secret.key").expanduser())
    secret_key: str | None = field(default=None, repr=False)
    keep_snapshots: int = 3
    memory_limit: str = "2GB"
    threads: int = 0
    chromium: Path = field(default_factory=lambda: Path("/usr/bin/chromium"))
    roles_file: Path = field(default_factory=lambda: Path("~/.config/derma/roles.toml").expanduser())
    identity_header: str | None = None
    audit_file: Path | None = None  # None: <data_dir>/audit.jsonl
    smtp_url: str | None = field(default=None, repr=False)  # may hold a password
    mail_from: str | None = None
    webhook_url: str | None = field(default=None, repr=False)  # may hold a token

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Read the ``DERMA_*`` variables; keyword arguments that are not ``None`` win."""
        values: dict[str, object] = {}
        if (v := _env("DERMA_DATA_DIR")) is not None:
            values["data_dir"] = Path(v)
        if (v := _env("DERMA_SECRET_KEY_FILE")) is not None:
            values["secret_key_file"] = Path(v).expanduser()
        if (v := _env("DERMA_SECRET_KEY")) is not None:
            values["secret_key"] = v
        if (v := _env("DERMA_KEEP_SNAPSHOTS")) is not None:
            values["keep_snapshots"] = _positive_int("DERMA_KEEP_SNAPSHOTS", v)
        if (v := _env("DERMA_MEMORY_LIMIT")) is not None:
            values["memory_limit"] = v
        if (v := _env("DERMA_THREADS")) is not None:
            values["threads"] = _positive_int("DERMA_THREADS", v, allow_zero=True)
        if (v := _env("DERMA_CHROMIUM")) is not None:
            values["chromium"] = Path(v)
        if (v := _env("DERMA_ROLES_FILE")) is not None:
            values["roles_file"] = Path(v).expanduser()
        if (v := _env("DERMA_IDENTITY_HEADER")) is not None:
            values["identity_header"] = _header_name(v)
        if (v := _env("DERMA_AUDIT_FILE")) is not None:
            values["audit_file"] = Path(v).expanduser()
        for name, key in (("DERMA_SMTP_URL", "smtp_url"), ("DERMA_MAIL_FROM", "mail_from")):
            if (v := _env(name)) is not None:
                values[key] = v
        if (v := _env("DERMA_WEBHOOK_URL")) is not None:
            values["webhook_url"] = v
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data_dir" in values:
            values["data_dir"] = Path(values["data_dir"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    @property
    def audit_path(self) -> Path:
        """The audit log: ``DERMA_AUDIT_FILE``, else ``audit.jsonl`` in the data dir (outside every snapshot)."""
        return self.audit_file if self.audit_file is not None else self.data_dir / "audit.jsonl"

    def with_data_dir(self, data_dir: Path | str | None) -> Settings:
        return self if data_dir is None else replace(self, data_dir=Path(data_dir))


class SettingsError(ValueError):
    """A setting has a value the product cannot use."""


def _positive_int(name: str, value: str, allow_zero: bool = False) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
    if number < (0 if allow_zero else 1):
        raise SettingsError(f"{name} must be at least {0 if allow_zero else 1}, got {number}")
    return number


def _header_name(value: str) -> str:
    name = value.strip()
    if not name or not all(c.isalnum() or c == "-" for c in name):
        raise SettingsError(
            f"DERMA_IDENTITY_HEADER must be a header name such as X-Forwarded-Email, got {value!r}"
        )
    return name
