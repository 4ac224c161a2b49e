"""What the upload page's tests share: a writable copy of the sample warehouse with its key, and a new month in Acme's shape."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

from etl.settings import Settings
from sample_data.generator import generate_sessions
from sample_data.vendors import write_vendor_exports

#: The month after the sample's last (October 2026): what an upload adds.
NEW_MONTH = "2026-11"


@dataclass(frozen=True)
class NewMonth:
    export: Path  # Acme's CSV of ETB-01's November sessions
    mapping: Path  # Acme's mapping for ETB-01
    rows: int
    planted: int  # rows given a vendor-shaped defect (all quarantined)


def writable_sample(sample_warehouse: Settings, folder: Path) -> tuple[Path, Path]:
    """A copy of the sample warehouse and a key file holding its key (what the loading child reads)."""
    data_dir = folder / "data"
    shutil.copytree(sample_warehouse.data_dir, data_dir, symlinks=True)
    key = folder / "keys" / "secret.key"
    key.parent.mkdir(mode=0o700)
    key.write_text(sample_warehouse.secret_key + "\n")
    key.chmod(0o600)
    return data_dir, key


def new_month(folder: Path) -> NewMonth:
    """ETB-01's November 2026 sessions as Acme exports them (session ids of their own, no date after today)."""
    frame = generate_sessions(clinics=1, patients=120, months=1, seed=21, end_month=NEW_MONTH)
    frame = frame[frame["session_date"].dt.date <= dt.date.today()].copy()
    frame["session_id"] = "N" + frame["session_id"].str[1:]
    written = write_vendor_exports(frame, folder / "vendor", messy_rate=0.03, seed=21)
    planted = [d for d in written.planted if d.column]
    return NewMonth(written.files[0], written.mappings[0], len(frame) + len(written.planted) - len(planted),
                    len({d.row for d in planted}))  # fmt: skip
