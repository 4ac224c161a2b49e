"""The upload page's door to loading: administrators and analysts only, every upload and commit in the audit log.

Refusal lives here, not only on the page: each function checks ``Principal.can_upload`` first, so no
address, session state or widget can make a manager or viewer load a file. Uploaded files are staged
in a private temporary folder for one step and removed (``derma/uploads.py``); the load itself runs
in a child process that holds the pseudonym key. Nothing here is cached.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dashboard.auditing import log
from derma.uploads import MappingChoice, Upload, UploadError, refresh_models_now, run_load, staged
from etl.access import Principal
from etl.escaping import shown_name
from etl.mapping import MAPPINGS_DIR, Mapping, parse_mapping
from etl.settings import Settings
from etl.suggest import SuggestError, suggest_mapping

#: The largest export file the page takes, in MB (the server's ``maxUploadSize`` is the same figure).
MAX_EXPORT_MB = 32
#: The largest mapping file the page takes, in MB.
MAX_MAPPING_MB = 1
#: File types the export uploader offers (the load decides by the full name: ``.csv.gz`` included).
EXPORT_TYPES = ["csv", "gz", "xlsx", "parquet", "jsonl", "ndjson"]


def _require(user: Principal, what: str) -> None:
    user.require(user.can_upload, what)


def settings() -> Settings:
    return Settings.from_env()


def saved_mappings(user: Principal) -> list[str]:
    """File names of the mappings in ``<data dir>/mappings/`` (the ones the CLI matches by name)."""
    _require(user, "use the saved mappings")
    folder = settings().data_dir / MAPPINGS_DIR
    return (
        sorted(p.name for p in folder.glob("*.toml") if p.is_file() and not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


def saved_choice(user: Principal, name: str) -> MappingChoice:
    _require(user, "use the saved mappings")
    path = settings().data_dir / MAPPINGS_DIR / Path(name).name
    return MappingChoice(path=path, source=path.name)


def check(user: Principal, text: str, source: str) -> Mapping:
    """The mapping ``text`` checked (``MappingError``: one line naming the key and the rule)."""
    _require(user, "check a mapping")
    return parse_mapping(text, source)


def suggest(user: Principal, upload: Upload) -> str:
    """A suggested mapping for one uploaded export (never holding a patient number, name or e-mail)."""
    _require(user, "suggest a mapping")
    with staged([upload]) as paths:
        try:
            text = suggest_mapping(paths[0]).text
        except SuggestError as exc:
            log(user, "upload", f"suggest a mapping for {shown_name(upload.name)}", outcome="error")
            raise UploadError(str(exc)) from None
    log(user, "upload", f"suggest a mapping for {shown_name(upload.name)}", {"step": "suggest"})
    return text


def _lineage(choice: MappingChoice) -> dict:
    if choice.path is not None:
        return {
            "mapping": choice.source,
            "mapping_sha256": hashlib.sha256(choice.path.read_bytes()).hexdigest(),
        }
    if choice.text is not None:
        return {
            "mapping": choice.source,
            "mapping_sha256": hashlib.sha256(choice.text.encode("utf-8")).hexdigest(),
        }
    return {"mapping": "matched by file name"}


def _what(uploads: list[Upload]) -> str:
    return ", ".join(shown_name(u.name) for u in uploads)


def preview(user: Principal, uploads: list[Upload], choice: MappingChoice) -> dict:
    """The dry run of the uploads against the current snapshot: the load's report, nothing published."""
    _require(user, "preview a load")
    params = {"step": "preview", "files": len(uploads), **_lineage(choice)}
    try:
        with staged(uploads) as paths:
            report = run_load(settings(), paths, choice, dry_run=True)
    except UploadError:
        log(user, "upload", _what(uploads), params, outcome="error")
        raise
    log(user, "upload", _what(uploads), params, rows=report["totals"]["rows"])
    return report


def commit(user: Principal, uploads: list[Upload], choice: MappingChoice) -> dict:
    """Load the uploads as one batch and publish a new snapshot; the load's report.

    The attempt is written to the audit log before anything is loaded (no log, no load), the outcome after.
    """
    _require(user, "load data")
    params = {"files": len(uploads), **_lineage(choice)}
    log(user, "upload", _what(uploads), {"step": "commit", **params})
    try:
        with staged(uploads) as paths:
            report = run_load(settings(), paths, choice, dry_run=False)
    except UploadError:
        log(user, "load", _what(uploads), params, outcome="error")
        raise
    counts = {k: report["totals"][k] for k in ("inserted", "updated", "unchanged", "quarantined")}
    log(user, "load", str(report["snapshot"]), {**params, **counts}, rows=report["totals"]["rows"])
    return report


def refresh(user: Principal) -> dict:
    """Refit the network's models on the new snapshot (what ``derma ingest`` does after a load)."""
    _require(user, "refresh the model results")
    report = refresh_models_now(settings())
    log(user, "load", f"model refresh {report.get('snapshot')}", {"step": "refresh models"})
    return report
