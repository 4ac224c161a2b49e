"""The dashboard's loads in a child process: the one place under the dashboard that holds the pseudonym key.

Started by :func:`derma.uploads.run_load` through :mod:`etl.confine` (``python -m derma.load_worker``).
The Streamlit process never reads the key: this child reads it from ``DERMA_SECRET_KEY_FILE`` (the
dashboard's environment has no ``DERMA_SECRET_KEY``), runs the batch (a dry run or the real load)
through the chosen mapping, prints the load's JSON report on stdout and exits. A failure the load can
name is one line; anything else is reported by its type only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from etl import confine


def main() -> None:
    confine.limit_self()
    request = confine.read_request()
    from etl.batch import LoadError
    from etl.escaping import escape_line
    from etl.load import ingest
    from etl.mapping import MappingError, load_mapping, parse_mapping
    from etl.pseudonym import SecretKeyError
    from etl.settings import Settings, SettingsError
    from etl.warehouse import WarehouseError

    confine.ready()
    try:
        settings = Settings.from_env(data_dir=request["data_dir"])
        if request.get("action") == "refresh":
            from derma.refresh import refresh_models

            run = refresh_models(settings)
            report = {"snapshot": run.snapshot if run else None}
        else:
            mapping = request.get("mapping")
            if mapping and mapping.get("path"):
                mapping = load_mapping(Path(mapping["path"]))
            elif mapping:
                mapping = parse_mapping(mapping["text"], mapping["source"])
            paths = [Path(p) for p in request["paths"]]
            report = ingest(paths, settings, mapping=mapping, dry_run=bool(request.get("dry_run"))).to_dict()
    except (LoadError, MappingError, WarehouseError, SecretKeyError, SettingsError) as exc:
        confine.fail(
            escape_line(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        )
    except MemoryError:
        confine.fail("needs more memory than the load may use (DERMA_MEMORY_LIMIT)", kind="memory")
    except Exception as exc:  # noqa: BLE001 - the page says what failed, never a traceback
        confine.fail(f"unexpected error ({type(exc).__name__}); nothing was published")
    sys.stdout.write(json.dumps(report, ensure_ascii=False))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
