"""Files loaded before byte for byte: their counts reused without reading them again, when nothing could differ."""

from __future__ import annotations

from pathlib import Path

from etl.batch import FileResult, software_version
from etl.escaping import shown_name
from etl.mapping import Mapping
from etl.upsert import record_file

# The last load of a file with these bytes through the same mapping (or none), if re-applying it now
# could change nothing: same software (same rules), no row set aside for a date rule that moves with
# today, and no stored session of its clinics within its date span written by a later batch or earlier
# in this one (else it might revert a correction, so it is loaded in full).
_SAME_FILE_LOADED = """
    select f.batch_id, f.file, f.format, f.rows, f.inserted + f.updated + f.unchanged as stored, f.quarantined,
           f.ignored_columns, f.dropped_columns, f.clinics, f.first_session_date, f.last_session_date
    from wh.load_files as f
    inner join wh.load_batches as b using (batch_id)
    where f.sha256 = $sha and f.status = 'loaded' and f.clinics is not null and b.software_version = $version
      and f.mapping_sha256 is not distinct from $mapping_sha
      and not exists (select 1 from wh.quarantine as q where q.batch_id = f.batch_id and q.file = f.file
                      and q.reason in ('future_date', 'out_of_range'))
      and not exists (select 1 from wh.sessions as s
                      where list_contains(f.clinics, s.clinic_id) and s.batch_id > f.batch_id
                        and s.session_date between f.first_session_date and f.last_session_date)
    order by f.batch_id desc, f.file_seq desc
    limit 1"""


def unchanged_since_loaded(
    con, path: Path, seq: int, batch_id: str, digest: str, mapping: Mapping | None
) -> FileResult | None:
    """Account for a file already loaded byte for byte without reading it again (None: load it in full).

    Its rows count as unchanged and its quarantined rows are recorded again for this batch, exactly
    as a full re-load of the same bytes would record them; nothing is written to ``sessions``. The
    same bytes read through another mapping (or a changed one) are loaded in full.
    """
    params = {
        "sha": digest,
        "version": software_version(),
        "mapping_sha": mapping.sha256 if mapping else None,
    }
    rows = con.execute(_SAME_FILE_LOADED, params).fetchall()
    if not rows:
        return None
    (before, old_name, fmt, total, stored, quarantined, ignored, dropped, clinics, first, last) = rows[0]
    copied = {"batch": batch_id, "file": shown_name(path.name), "before": before, "old": old_name}
    con.execute(
        """insert into wh.quarantine
        select $batch, $file, "row", "column", value, reason, clinic_id, session_id, patient_key
        from wh.quarantine where batch_id = $before and file = $old""",
        copied,
    )
    reasons = con.execute(
        """select reason, count(*) from wh.quarantine where batch_id = $before and file = $old
        group by reason order by reason""",
        {"before": before, "old": old_name},
    ).fetchall()
    result = FileResult(
        shown_name(path.name),
        "loaded",
        None,
        total,
        0,
        0,
        stored,
        quarantined,
        format=fmt,
        sha256=digest,
        ignored_columns=tuple(ignored or ()),
        dropped_columns=tuple(dropped or ()),
        same_as_batch=before,
        mapping=mapping.name if mapping else None,
        mapping_sha256=mapping.sha256 if mapping else None,
        reasons=tuple((r, int(n)) for r, n in reasons),
    )
    record_file(con, batch_id, seq, path, result, (clinics, first, last))
    return result
