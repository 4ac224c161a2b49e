"""A broken mapping is one line naming the file, the key and the rule; ``derma ingest`` checks before reading."""

from __future__ import annotations

import pytest

from etl.mapping import MappingChooser, load_mapping, parse_mapping
from etl.mapping_format import MappingError
from tests.helpers import TODAY, derma, row, write_csv

GOOD = """
[source]
name = "Acme"
match = ["acme_*.csv"]

[columns]
"Appointment Ref" = "session_id"
"Client No." = "patient_id"
"Suction (inHg)" = "vacuum_inhg"
"Media" = "crystal_type"

[constants]
clinic_id = "ETB-01"

[formats]
session_date = "%d/%m/%Y"
decimal = ","

[lists]
side_effects = ","

[values.crystal_type]
"Diamond Peel" = "diamond_tip"

[values.satisfaction]
"Very satisfied" = 5
"No response" = ""

[values.follow_up_done]
"Completed" = true
"""

#: (what is changed, the key the line names, words of the rule)
MISTAKES = [
    ('"Media" = "crystal_type"', '"Media" = "crystal"', '[columns]."Media"', "'crystal' is not a column of the export format"),
    ('"Diamond Peel" = "diamond_tip"', '"Diamond Peel" = "diamond"', '[values.crystal_type]."Diamond Peel"',
     "'diamond' is not a value of crystal_type (expected corundum, aluminium_hydroxide"),
    ('"Very satisfied" = 5', '"Very satisfied" = 7', '[values.satisfaction]."Very satisfied"',
     "7 is not a value of satisfaction (expected a whole number 1-5"),
    ('"Completed" = true', '"Completed" = "done"', '[values.follow_up_done]."Completed"',
     "'done' is not a value of follow_up_done (expected true, false"),
    ('"Media" = "crystal_type"', '"Media" = "crystal_type"\n"Crystal" = "crystal_type"', '[columns]."Crystal"',
     'crystal_type is already the target of "Media"'),
    ('"Media" = "crystal_type"', '"Media" = "crystal_type"\n"Vacuum kPa" = "vacuum_kpa"', '[columns]."Vacuum kPa"',
     'the vacuum (in any unit) is already the target of "Suction (inHg)"'),
    ('session_date = "%d/%m/%Y"', 'session_date = "%d/%m"', "[formats].session_date",
     "'%d/%m' is not a date format: a date format needs a day (%d), a month (%m, %b or %B) and a year"),
    ('session_date = "%d/%m/%Y"', 'session_date = "%d/%m/%Y %Q"', "[formats].session_date", "uses %Q"),
    ('session_date = "%d/%m/%Y"', 'session_date = "%d/%m/%Y/%y"', "[formats].session_date",
     "gives the year twice"),
    ('clinic_id = "ETB-01"', 'clinic_id = "ETB-01"\ncrystal_type = "corundum"', "[constants].crystal_type",
     "crystal_type is also mapped from a header in [columns]; a column is mapped or a constant, never both"),
    ('clinic_id = "ETB-01"', 'clinic_id = "ETB-01"\nvacuum_kpa = 30', "[constants].vacuum_kpa",
     "vacuum_kpa is also mapped from a header"),
    ('[values.satisfaction]', '[values.passes]\n"three" = 3\n\n[values.satisfaction]', "[values.passes]",
     "passes takes no [values] table (only categories, booleans, fitzpatrick, satisfaction and side_effects do)"),
    ('[values.satisfaction]', '[values.colour]\n"x" = "y"\n\n[values.satisfaction]', "[values.colour]",
     "colour is not a column of the export format"),
    ('"Client No." = "patient_id"', '"Client No." = "patient_id"\n"Client Name" = "device_model"',
     '[columns]."Client Name"', "a protected column"),
    ('"Media" = "crystal_type"', '"Media" = "crystal_type"\n"media" = "device_model"', '[columns]."media"',
     'the same header as "Media"'),
    ('clinic_id = "ETB-01"', 'clinic_id = "ETB-01"\nsession_id = "S1"', "[constants].session_id",
     "session_id differs from row to row; it cannot be a constant"),
    ('clinic_id = "ETB-01"', 'clinic_id = "ETB-01"\ntreatment_area = "scalp"', "[constants].treatment_area",
     "'scalp' is not a code of treatment_area"),
    ('name = "Acme"', "", "[source].name", "missing: give the mapping a name"),
    ('match = ["acme_*.csv"]', 'match = ["in/acme_*.csv"]', "[source].match", "globs match the file name only"),
    ('decimal = ","', 'decimal = ";"', "[formats].decimal", 'the decimal separator is "." or ","'),
    ('side_effects = ","', 'satisfaction = ","', "[lists].satisfaction", "only side_effects is a list"),
    ('"No response" = ""', '" " = ""', '[values.satisfaction]." "', "an empty cell is always empty"),
    ('"No response" = ""', '"very SATISFIED " = 4', '[values.satisfaction]."very SATISFIED "',
     'the same value as "Very satisfied" with another code'),
    ("[lists]", "[columnz]\n\n[lists]", "[columnz]", "unknown section (expected source, columns, constants"),
    ('decimal = ","', 'decimal = ","\ndate = "%d"', "[formats].date", "unknown key (expected session_date, decimal)"),
    ('name = "Acme"', 'name = "Acme', "(file)", "not valid TOML"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("old", "new", "key", "rule"), MISTAKES, ids=[m[2] + " " + m[3][:30] for m in MISTAKES]
)
def test_each_kind_of_mistake_is_one_line_naming_the_file_the_key_and_the_rule(tmp_path, old, new, key, rule):
    assert old in GOOD
    path = tmp_path / "acme.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"acme.toml: {key}: "), message
    assert rule in message, message
    run = derma("mapping", "check", str(path))
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == f"derma: {message}\n"


def test_a_good_mapping_passes_its_check_with_exit_0(tmp_path):
    path = tmp_path / "acme.toml"
    path.write_text(GOOD, encoding="utf-8")
    checked = load_mapping(path)
    assert checked.columns == {
        "appointment_ref": "session_id",
        "client_no.": "patient_id",
        "suction_(inhg)": "vacuum_inhg",
        "media": "crystal_type",
    }
    assert checked.values["satisfaction"] == (("very satisfied", "5"), ("no response", ""))
    run = derma("mapping", "check", str(path), check_exit=0)
    assert "acme.toml: ok, mapping 'Acme'" in run.stdout


def test_a_mapping_that_is_not_there_or_not_text_is_one_line(tmp_path):
    assert derma("mapping", "check", str(tmp_path / "none.toml")).stderr.endswith(
        "none.toml: no such mapping file\n"
    )
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe[source]")
    run = derma("mapping", "check", str(tmp_path / "bin.toml"))
    assert run.returncode == 1 and "bin.toml: (file): not UTF-8 text" in run.stderr
    with pytest.raises(MappingError, match="at most 1 MB"):
        parse_mapping(b"#" * (2**20 + 1), "big.toml")


def test_ingest_checks_the_given_mapping_before_reading_any_file(tmp_path):
    export = write_csv(tmp_path / "in" / "acme_1.csv", [row()])
    broken = tmp_path / "broken.toml"
    broken.write_text(GOOD.replace('"Media" = "crystal_type"', '"Media" = "crystal"'), encoding="utf-8")
    data = tmp_path / "data"
    run = derma("ingest", str(export), "--mapping", str(broken), "--skip-models", data_dir=data)
    assert run.returncode == 1
    assert (
        run.stderr
        == "derma: broken.toml: [columns].\"Media\": 'crystal' is not a column of the export format\n"
    )
    assert not data.exists()  # nothing was read, locked or published


def test_ingest_checks_every_mapping_of_the_data_dir_before_reading_any_file(tmp_path):
    data = tmp_path / "data"
    (data / "mappings").mkdir(parents=True)
    (data / "mappings" / "a-good.toml").write_text(GOOD, encoding="utf-8")
    (data / "mappings" / "b-broken.toml").write_text(GOOD.replace("%d/%m/%Y", "%q"), encoding="utf-8")
    export = write_csv(tmp_path / "in" / "plain.csv", [row()])  # matches neither; still, nothing is read
    run = derma("ingest", str(export), "--skip-models", data_dir=data)
    assert run.returncode == 1 and run.stderr.startswith("derma: b-broken.toml: [formats].session_date: ")
    assert sorted(p.name for p in data.iterdir()) == ["mappings"]


def test_the_first_matching_mapping_in_file_name_order_reads_a_file(tmp_path):
    data = tmp_path / "data"
    (data / "mappings").mkdir(parents=True)
    for name, pattern in (("b.toml", "acme_*"), ("a.toml", "acme_2026*"), ("c.toml", "other_*")):
        text = GOOD.replace('name = "Acme"', f'name = "{name}"').replace('["acme_*.csv"]', f'["{pattern}"]')
        (data / "mappings" / name).write_text(text, encoding="utf-8")
    (data / "mappings" / "notes.txt").write_text("not a mapping")
    chooser = MappingChooser(data)
    assert chooser.choose(tmp_path / "acme_2026-10.csv").name == "a.toml"
    assert chooser.choose(tmp_path / "ACME_2025-10.CSV").name == "b.toml"  # globs compare without case
    assert chooser.choose(tmp_path / "plain.csv") is None  # read as the export format itself
    given = MappingChooser(
        data, data / "mappings" / "c.toml"
    )  # --mapping reads every file, whatever its name
    assert given.choose(tmp_path / "acme_2026-10.csv").name == "c.toml"


def test_a_constant_clinic_gives_the_same_pseudonyms_as_a_clinic_column(tmp_path):
    from etl.load import ingest
    from etl.settings import Settings
    from tests.etl.vendor_support import stored

    rows = [row(session_id=f"S{i}", patient_id=f"PN{i % 3}") for i in range(6)]
    plain = write_csv(tmp_path / "plain.csv", rows)
    without = write_csv(
        tmp_path / "acme_1.csv", [{k: v for k, v in r.items() if k != "clinic_id"} for r in rows]
    )
    mapping = tmp_path / "m.toml"
    mapping.write_text('[source]\nname = "no clinic"\n[constants]\nclinic_id = "ETB-01"\n', encoding="utf-8")
    a = Settings(data_dir=tmp_path / "a", secret_key="k", memory_limit="1GB", threads=2)
    b = Settings(data_dir=tmp_path / "b", secret_key="k", memory_limit="1GB", threads=2)
    ingest([plain], a, today=TODAY)
    ingest([without], b, today=TODAY, mapping=mapping)
    assert stored(a.data_dir) == stored(b.data_dir)
