"""Which mapping reads which export: ``--mapping``, or the first of ``<data dir>/mappings/*.toml`` that matches.

A mapping (``etl/mapping_format.py``) says how one source's export becomes the export format. Every
mapping a batch could use is read and checked before any export is read, so a broken one stops the
batch with one line naming the file, the key and the rule.
"""

from __future__ import annotations

from pathlib import Path

from etl.escaping import shown_name
from etl.mapping_format import MAX_MAPPING_BYTES, Mapping, MappingError, parse_mapping

__all__ = [
    "MAPPINGS_DIR",
    "Mapping",
    "MappingChooser",
    "MappingError",
    "find_mappings",
    "load_mapping",
    "parse_mapping",
]

#: Folder of ``<data dir>`` whose ``*.toml`` files are matched against each export's name.
MAPPINGS_DIR = "mappings"


def load_mapping(path: Path) -> Mapping:
    """Read and check the mapping at ``path``; :class:`MappingError` (one line) when it cannot be used."""
    path = Path(path)
    source = shown_name(path.name)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_MAPPING_BYTES + 1)
    except FileNotFoundError:
        raise MappingError(f"{shown_name(path)}: no such mapping file") from None
    except OSError as exc:
        raise MappingError(
            f"{shown_name(path)}: cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None
    return parse_mapping(data, source)


def find_mappings(data_dir: Path) -> list[Mapping]:
    """The mappings of ``<data dir>/mappings/*.toml`` in file-name order, each checked (the first error raises)."""
    folder = Path(data_dir) / MAPPINGS_DIR
    if not folder.is_dir():
        return []
    return [
        load_mapping(p) for p in sorted(folder.glob("*.toml")) if p.is_file() and not p.name.startswith(".")
    ]


class MappingChooser:
    """Which mapping reads each file of a batch: the one given, else the first whose globs match its name.

    Built before any export is read, so a broken mapping stops the batch with one line first.
    """

    def __init__(self, data_dir: Path, given: Mapping | Path | None = None) -> None:
        if isinstance(given, Path | str):
            given = load_mapping(Path(given))
        self.given = given
        self.candidates = [] if given is not None else find_mappings(data_dir)

    def choose(self, path: Path) -> Mapping | None:
        if self.given is not None:
            return self.given
        return next((m for m in self.candidates if m.matches(Path(path).name)), None)
