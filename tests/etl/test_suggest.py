"""``derma mapping suggest``: headers, codes and the date format from the data; guesses marked; no identifiers."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import duckdb
import pytest

from etl.load import ingest
from etl.mapping import parse_mapping
from etl.settings import Settings
from etl.suggest import SuggestError, suggest_mapping
from sample_data.generator import generate_sessions
from sample_data.vendors import write_vendor_exports
from tests.etl.vendor_support import stored
from tests.helpers import TODAY, derma


@pytest.fixture(scope="module")
def vendor(tmp_path_factory):
    """Clean October exports of both vendors, large enough that every vendor word occurs several times."""
    frame = generate_sessions(clinics=2, patients=700, months=2, seed=5, end_month="2026-10")
    frame = frame[frame["session_date"].dt.month == 10]
    return write_vendor_exports(frame, tmp_path_factory.mktemp("suggest") / "exports", messy_rate=0.0, seed=5)


def write(path: Path, header: list[str], rows: list[list[str]], delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def load_both(vendor, export: Path, suggested: str, tmp_path: Path):
    hand = next(p for p in vendor.mappings if (p.name == "glow.toml") == export.name.startswith("glow"))
    mine = tmp_path / "suggested.toml"
    mine.write_text(suggested, encoding="utf-8")
    a = Settings(data_dir=tmp_path / "hand", secret_key="k", memory_limit="1GB", threads=2)
    b = Settings(data_dir=tmp_path / "suggested", secret_key="k", memory_limit="1GB", threads=2)
    return (
        ingest([export], a, today=TODAY, mapping=hand),
        ingest([export], b, today=TODAY, mapping=mine),
        a,
        b,
    )


def test_a_suggestion_for_the_vendor_csv_loads_it_as_the_hand_written_mapping_does(vendor, tmp_path):
    export = next(p for p in vendor.files if p.name.startswith("acme"))
    proposal = suggest_mapping(export)
    parse_mapping(proposal.text, "suggested.toml")  # passes its own check as it is
    assert '# clinic_id = ""  # check: the export has no clinic column' in proposal.text
    assert 'session_date = "%d/%m/%Y"  # the first number goes up to' in proposal.text
    assert '"Suction (inHg)" = "vacuum_inhg"' in proposal.text and 'decimal = ","' in proposal.text
    assert '"Client Rating" = "satisfaction"' in proposal.text and '"No response" = ""' in proposal.text
    assert '"Aluminium Oxide 100" = "corundum"  # check:' in proposal.text
    assert '# "Client Name": protected' in proposal.text
    filled = proposal.text.replace('# clinic_id = ""', 'clinic_id = "ETB-01"')
    by_hand, suggested, a, b = load_both(vendor, export, filled, tmp_path)
    assert suggested.files[0].inserted == by_hand.files[0].inserted == by_hand.files[0].rows
    assert stored(a.data_dir) == stored(b.data_dir)


def test_a_suggestion_for_the_vendor_workbook_reads_the_sheet_that_fits_and_loads_it_alike(vendor, tmp_path):
    export = next(p for p in vendor.files if p.name.startswith("glow"))
    proposal = suggest_mapping(export)
    assert (
        'sheet = "Treatments"  # check: its header fits best (sheets: Summary, Treatments)' in proposal.text
    )
    assert '"Patient E-mail"' in proposal.text and "@mail.example" not in proposal.text
    by_hand, suggested, a, b = load_both(vendor, export, proposal.text, tmp_path)
    assert suggested.files[0].inserted == by_hand.files[0].inserted == by_hand.files[0].rows
    assert stored(a.data_dir) == stored(b.data_dir)


DATES = [
    (
        ["14/03/2026", "02/03/2026"],
        'session_date = "%d/%m/%Y"',
        "the first number goes up to 14, so it is the day",
    ),
    (
        ["03/14/2026", "03/02/2026"],
        'session_date = "%m/%d/%Y"',
        "the second number goes up to 14, so it is the day",
    ),
    (["14.03.26", "01.02.26"], 'session_date = "%d.%m.%y"', "so it is the day"),
    (["14/03/2026 10:30", "02/03/2026 16:05"], 'session_date = "%d/%m/%Y %H:%M"', "so it is the day"),
    (["14 Mar 2026", "2 Feb 2026"], 'session_date = "%d %b %Y"', "the values"),
    (["2026-03-14", "2026-03-02 10:00"], None, "ISO dates"),
]


@pytest.mark.parametrize(("values", "line", "why"), DATES, ids=[d[0][0] for d in DATES])
def test_the_date_format_is_worked_out_from_the_values(tmp_path, values, line, why):
    export = write(tmp_path / "x.csv", ["Visit", "Date"], [[f"V{i}", v] for i, v in enumerate(values * 3)])
    text = suggest_mapping(export).text
    if line is None:
        assert "session_date =" not in text and "[formats]" not in text
    else:
        assert re.search(rf"^{re.escape(line)}  # [^\n]*{re.escape(why)}", text, re.M), text


def test_a_day_month_order_the_data_cannot_decide_is_never_guessed(tmp_path):
    rows = [[f"V{i}", f"{d:02d}/{m:02d}/2026"] for i, (d, m) in enumerate([(3, 4), (12, 1), (5, 11), (1, 1)])]
    text = suggest_mapping(write(tmp_path / "x.csv", ["Visit", "Date"], rows)).text
    assert '# session_date = "%d/%m/%Y"  # check: every day and month in the data is 12 or less' in text
    assert '"%m/%d/%Y" if the month does' in text
    assert (
        parse_mapping(text, "x").date_format is None
    )  # commented out: loading it quarantines, never guesses


def test_no_patient_number_name_or_email_ever_reaches_the_suggestion(tmp_path):
    header = ["Visit", "Client No.", "Client Name", "Client E-mail", "Area", "Notes", "Reactions"]
    rows = []
    for i in range(12):
        leak = (
            ["PN55500001", "Anna Schmidt", "anna@clinic.example", "Ms Rare"][i % 4] if i < 9 else "Full Face"
        )
        rows.append([f"V{i}", f"PN5550000{i % 3}", "Anna Schmidt", "anna@clinic.example", leak,
                     "called her at 0170 1234567", "Redness, 0170 1234567"])  # fmt: skip
    text = suggest_mapping(write(tmp_path / "x.csv", header, rows)).text
    for secret in ("PN5550000", "Anna Schmidt", "anna@", "Ms Rare", "0170 1234567", "1234567"):
        assert secret not in text, secret
    assert '"Full Face" = "face"' in text
    assert "other value(s) are not shown" in text
    parse_mapping(text, "x")


def test_headers_are_matched_exactly_by_synonym_by_containment_and_by_resemblance(tmp_path):
    header = ["session_id", "Client No.", "Treatment Area Code", "Pases", "Suction", "Room", "Practitioner"]
    rows = [["S1", "P1", "Face", "3", "210", "R1", "K1"], ["S2", "P2", "Neck", "2", "300,5", "R2", "K2"]] * 2
    text = suggest_mapping(write(tmp_path / "x.csv", header, rows)).text
    assert '"session_id" = "session_id"  # the format\'s own name' in text
    assert '"Client No." = "patient_id"\n' in text and '"Practitioner" = "clinician_id"\n' in text
    assert '"Treatment Area Code" = "treatment_area"  # check: the header contains \'treatment area\'' in text
    assert '"Pases" = "passes"  # check: the header looks like \'passes\'' in text
    assert '"Suction" = "vacuum_mmhg"  # check: the header names no unit; the values fit mmhg' in text
    assert '# "Room": no column of the export format matched; ignored' in text


def test_awkward_headers_still_give_a_mapping_that_passes_its_check(tmp_path):
    header = ['Say "hi"', "back\\slash", "tab\there", "Visit", "visit", "Date"]
    rows = [["a", "b", "c", "V1", "V1", "2026-03-01"]] * 3
    text = suggest_mapping(write(tmp_path / "x.csv", header, rows)).text
    parse_mapping(text, "x")
    assert '# "visit": the same header again (any case); only the first is read' in text


def test_the_cli_writes_a_suggestion_that_passes_check_and_never_overwrites(vendor, tmp_path):
    export = next(p for p in vendor.files if p.name.startswith("glow"))
    out = tmp_path / "glow.toml"
    run = derma("mapping", "suggest", str(export), "--out", str(out), check_exit=0)
    assert "wrote" in run.stdout and "marked '# check:'" in run.stdout
    derma("mapping", "check", str(out), check_exit=0)
    again = derma("mapping", "suggest", str(export), "--out", str(out))
    assert again.returncode == 1 and "exists" in again.stderr
    bad = derma("mapping", "suggest", str(tmp_path / "x.txt"))
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "not a supported export" in bad.stderr
    with pytest.raises(SuggestError, match='no sheet named "Visits"'):
        suggest_mapping(export, sheet="Visits")


def test_a_suggestion_reads_parquet_and_json_lines_too(tmp_path):
    con = duckdb.connect()
    con.execute(f"""copy (select 'V' || i as "Visit Ref", 'Full Face' as "Area" from range(5) t(i))
                    to '{tmp_path / "x.parquet"}' (format parquet)""")
    con.close()
    assert '"Full Face" = "face"' in suggest_mapping(tmp_path / "x.parquet").text
    (tmp_path / "x.jsonl").write_text(
        "".join(f'{{"Visit Ref": "V{i}", "Area": "Full Face"}}\n' for i in range(5))
    )
    assert '"Visit Ref" = "session_id"' in suggest_mapping(tmp_path / "x.jsonl").text
