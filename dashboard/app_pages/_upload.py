"""The upload page's parts: choosing the mapping (match, saved, uploaded, or suggested and edited) and a load's report."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import uploads
from derma.uploads import MappingChoice, Upload, UploadError
from etl.access import Principal
from etl.escaping import escape_line
from etl.mapping import MappingError

MATCH = "Match by file name (the mappings saved in the data folder)"
SAVED = "A saved mapping"
UPLOADED = "Upload a mapping file"
EDITED = "Write or edit a mapping (start from a suggestion)"
TEXT_KEY = "upload_mapping_text"
COUNTS = ["rows", "inserted", "updated", "unchanged", "quarantined"]


def as_uploads(files) -> list[Upload]:
    return [Upload(f.name, f) for f in files or []]


def _suggest(who: Principal, files, name: str) -> None:
    """Callback: fill the editor with a suggestion for the chosen export (before the editor is drawn)."""
    chosen = next(f for f in files if f.name == name)
    try:
        st.session_state[TEXT_KEY] = uploads.suggest(who, Upload(chosen.name, chosen))
        st.session_state.pop("upload_suggest_error", None)
    except UploadError as exc:
        st.session_state["upload_suggest_error"] = str(exc)


def _checked(who: Principal, text: str, source: str) -> MappingChoice | None:
    try:
        mapping = uploads.check(who, text, source)
    except MappingError as exc:
        st.error(f"This mapping cannot be used: {exc}", icon=":material/rule:")
        return None
    st.success(f"Mapping **{escape_line(mapping.name)}** passes its check.", icon=":material/check_circle:")
    return MappingChoice(text=text, source=source)


def mapping_choice(who: Principal, files) -> MappingChoice | None:
    """Draw the mapping widgets; the choice, or None while no usable mapping is chosen."""
    mode = st.radio("How the files are read", [MATCH, SAVED, UPLOADED, EDITED], key="upload_mapping_mode")
    if mode == MATCH:
        st.caption(
            "Each file is read through the first saved mapping whose name pattern matches it; a file that "
            "matches none is read as the export format itself."
        )
        return MappingChoice()
    if mode == SAVED:
        names = uploads.saved_mappings(who)
        if not names:
            st.info("No mappings are saved in the data folder's `mappings/` yet.", icon=":material/info:")
            return None
        return uploads.saved_choice(who, st.selectbox("Saved mapping", names, key="upload_saved_mapping"))
    if mode == UPLOADED:
        file = st.file_uploader(
            "Mapping file (.toml)",
            type=["toml"],
            key="upload_mapping_file",
            max_upload_size=uploads.MAX_MAPPING_MB,
        )
        if file is None:
            return None
        try:
            text = file.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            st.error(
                f"{escape_line(file.name)}: not UTF-8 text; save the mapping as UTF-8", icon=":material/rule:"
            )
            return None
        return _checked(who, text, file.name)
    if files:
        names = [f.name for f in files]
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        base = left.selectbox("Suggest from", names, key="upload_suggest_from")
        right.button(
            "Suggest a mapping", key="upload_suggest", icon=":material/auto_fix_high:",
            on_click=_suggest, args=(who, files, base),
        )  # fmt: skip
    if "upload_suggest_error" in st.session_state:
        st.error(st.session_state["upload_suggest_error"], icon=":material/error:")
    st.caption("Every line marked `# check:` is a guess: look at it before you load.")
    text = st.text_area("Mapping (TOML)", key=TEXT_KEY, height=360)
    return _checked(who, text, "edited mapping") if text.strip() else None


def report(result: dict, *, committed: bool) -> None:
    """A load's report: counts per file (with the mapping that read it) and the quarantine with masked values."""
    files = pd.DataFrame(
        [
            {
                "file": escape_line(f["file"]),
                "status": f["status"],
                "mapping": (f["mapping"] or {}).get("name", ""),
                **{k: f[k] for k in COUNTS},
                "reasons": ", ".join(f"{r} {n}" for r, n in f["reasons"].items()),
                "why rejected": escape_line(f["reason"] or ""),
            }
            for f in result["files"]
        ]
    )
    totals = result["totals"]
    verb = "was loaded" if committed else "would load"
    st.markdown(
        f"**{totals['rows']:,} rows** in {len(files)} file(s) {verb}: {totals['inserted']:,} inserted, "
        f"{totals['updated']:,} updated, {totals['unchanged']:,} unchanged, {totals['quarantined']:,} quarantined."
    )
    st.dataframe(files, hide_index=True, key=f"upload_files_{'done' if committed else 'preview'}")
    records = result.get("quarantine") or []
    if records:
        shown = pd.DataFrame(records).assign(
            file=lambda d: d["file"].map(escape_line), value=lambda d: d["value"].map(_value)
        )
        st.markdown(f"**Quarantine** (the first {len(shown):,} records; patient numbers are masked)")
        st.dataframe(shown, hide_index=True, key="upload_quarantine")


def _value(value: object) -> str:
    return "" if value is None else escape_line(value)
