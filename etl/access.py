"""Who may see what: roles from the roles file, and the scoped warehouse every clinic-limited read goes through.

Roles (``DERMA_ROLES_FILE``, TOML)::

    [users."ana@clinic-a.example"]
    role = "manager"            # admin | analyst | manager | viewer
    clinics = ["ETB-01"]        # managers and viewers only: the clinics they may see

========  ===========  ==============================================================
role      clinics      may
========  ===========  ==============================================================
admin     all          every page, free SQL (sandbox), reports, downloads, uploads, audit log
analyst   all          every page, free SQL (sandbox), reports, downloads, uploads
manager   listed       every page of their clinics, named queries (no free SQL),
                       their clinics' reports and downloads
viewer    listed       the pages of their clinics; no SQL page, downloads or reports
========  ===========  ==============================================================

An identity that is not in the file gets :data:`NOBODY`'s rights: nothing.

Enforcement lives in the data layer, not in the pages. A user limited to some clinics reads a
*scoped warehouse*: a private in-memory DuckDB that attaches the snapshot read-only under the
catalog ``wh`` and defines, in its own default catalog, one view per warehouse object with that
object's row policy (:data:`TABLE_POLICIES`, :data:`MART_POLICIES`). The named queries use
unqualified names, so they resolve to these views and cannot reach ``wh``; an object without a
policy has no view at all, and a test fails when the warehouse gains one. The clinic list is a table
filled with bound parameters, never SQL text.

What a limited user sees: the rows of their clinics; files (with their load counts) only when every
clinic in the file is theirs; load batches with counts recomputed from those files; model results of
their clinics' own fits; from the network's fits only their own units' funnel points and control
charts, and the funnel limits (a yardstick without counts or names). Network totals, other clinics'
names, rows, files and model results are not reachable.
"""

from __future__ import annotations

import re
import string
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import duckdb

from etl.warehouse import LAKE_SOURCE, WarehouseError, allow_lake_files
from queries import list_queries

ROLES = ("admin", "analyst", "manager", "viewer")
ALL_CLINIC_ROLES = ("admin", "analyst")
CLINIC_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
CATALOG = "wh"
#: The scope of the network-wide model fits (a clinic's own fit is scoped by its clinic_id).
NETWORK = "network"


class AccessError(ValueError):
    """The roles file cannot be used (the message names the file, the identity and the rule)."""


class AccessDenied(PermissionError):
    """The signed-in user may not do this."""


@dataclass(frozen=True)
class Principal:
    """A signed-in identity with its role and clinics (``clinics`` None = every clinic)."""

    identity: str
    role: str | None
    clinics: tuple[str, ...] | None = ()

    @property
    def known(self) -> bool:
        return self.role in ROLES

    @property
    def all_clinics(self) -> bool:
        return self.known and self.clinics is None

    @property
    def can_free_sql(self) -> bool:
        return self.role in ALL_CLINIC_ROLES

    @property
    def can_named_queries(self) -> bool:
        return self.role in ("admin", "analyst", "manager")

    @property
    def can_download(self) -> bool:
        return self.role in ("admin", "analyst", "manager")

    @property
    def can_upload(self) -> bool:
        """Upload exports, preview their load and commit it (they see every clinic, so every file's rows)."""
        return self.role in ALL_CLINIC_ROLES

    @property
    def can_audit(self) -> bool:
        return self.role == "admin"

    def sees(self, clinic_id: str | None) -> bool:
        """Whether this user may see ``clinic_id`` (None = the whole network)."""
        if not self.known:
            return False
        if self.clinics is None:
            return True
        return clinic_id is not None and clinic_id in self.clinics

    def can_report(self, clinic_id: str | None) -> bool:
        return self.can_download and self.sees(clinic_id)

    def require(self, allowed: bool, what: str) -> None:
        if not allowed:
            raise AccessDenied(f"{self.identity} ({self.role or 'no role'}) may not {what}")


#: Who a request without any identity is (a trusted-header set-up whose proxy sent none).
NOT_SIGNED_IN = "(not signed in)"

#: The single user of a dashboard without sign-in (local use, ``derma demo``).
LOCAL_ADMIN = Principal("local admin (no sign-in configured)", "admin", None)


def nobody(identity: str) -> Principal:
    """An identity the roles file does not know: no role, no clinics."""
    return Principal(identity, None, ())


@dataclass(frozen=True)
class AccessConfig:
    """The parsed roles file: normalised identity -> principal."""

    path: Path
    users: Mapping[str, Principal]

    def principal(self, identity: str | None) -> Principal:
        """Who ``identity`` is; the principal carries the identity exactly as presented (for the audit log)."""
        if identity is None or not identity.strip():
            return nobody(NOT_SIGNED_IN)
        key = normalise(identity)
        user = self.users.get(key) if key else None
        return nobody(identity) if user is None else replace(user, identity=identity)


#: Only ASCII letters are compared without case: their case never distinguishes two mailboxes.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def normalise(identity: str | None) -> str | None:
    """The key an identity is compared by, or None when it cannot be compared safely.

    Surrounding space is dropped and ASCII letters are lower-cased; every other character is compared
    exactly. An identity is refused (None) when Unicode normalisation (NFKC) would change it (the
    Kelvin sign ``\u212a`` would become ``K``, full-width letters ASCII ones), when lower-casing would
    change a non-ASCII character (``Ö``, ``İ``), or when it holds a control character: such forms are
    how a different address is made to look, or fold to, someone else's. Two identities therefore
    share a key only when they differ in the case of ASCII letters.
    """
    text = (identity or "").strip()
    if not text or unicodedata.normalize("NFKC", text) != text:
        return None if text else ""
    if any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in text):
        return None
    if any(ord(ch) > 127 and ch.lower() != ch for ch in text):
        return None
    return text.translate(_ASCII_LOWER)


def load_roles(path: Path) -> AccessConfig:
    """Read and check the roles file; an :class:`AccessError` names the file, identity and rule broken."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AccessError(f"{path}: roles file not found (set DERMA_ROLES_FILE or create it)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessError(f"{path}: cannot read the roles file ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AccessError(f"{path}: not valid TOML ({exc})") from None
    unknown = sorted(set(raw) - {"users"})
    if unknown:
        raise AccessError(
            f'{path}: unknown section [{unknown[0]}]; the file has one table, [users."<email>"]'
        )
    users = raw.get("users", {})
    if not isinstance(users, dict):
        raise AccessError(f"{path}: [users] must be a table of identities")
    out: dict[str, Principal] = {}
    for identity, entry in users.items():
        key = normalise(identity)
        where = f"{path}: user {identity!r}"
        if key == "":
            raise AccessError(f"{path}: an empty identity is not allowed")
        if key is None:
            raise AccessError(
                f"{where}: cannot be compared safely (write it in lower case, without look-alike or "
                "control characters: Unicode NFKC form)"
            )
        if key in out:
            raise AccessError(
                f"{where}: listed twice as {out[key].identity!r} (identities are compared without case "
                "of ASCII letters)"
            )
        if not isinstance(entry, dict):
            raise AccessError(f"{where}: must be a table with role (and clinics)")
        extra = sorted(set(entry) - {"role", "clinics", "name"})
        if extra:
            raise AccessError(f"{where}: unknown field {extra[0]!r} (allowed: role, clinics, name)")
        role = entry.get("role")
        if role not in ROLES:
            raise AccessError(f"{where}: role must be one of {', '.join(ROLES)}, got {role!r}")
        clinics = entry.get("clinics")
        if role in ALL_CLINIC_ROLES:
            if clinics is not None:
                raise AccessError(f"{where}: an {role} sees every clinic; remove 'clinics'")
            out[key] = Principal(key, role, None)
            continue
        if not isinstance(clinics, list) or not clinics:
            raise AccessError(
                f'{where}: a {role} needs a non-empty list of clinics, e.g. clinics = ["ETB-01"]'
            )
        for clinic in clinics:
            if not isinstance(clinic, str) or not CLINIC_ID.match(clinic):
                raise AccessError(f"{where}: {clinic!r} is not a clinic id")
        out[key] = Principal(key, role, tuple(sorted(set(clinics))))
    return AccessConfig(path, out)


# --- The scoped warehouse -----------------------------------------------------------------------------------

_SCOPE = "(select clinic_id from access_scope)"
_OWN_RUNS = f"(select run_id from {CATALOG}.model_runs where scope in {_SCOPE})"
_NETWORK_RUNS = f"(select run_id from {CATALOG}.model_runs where scope = 'network')"
#: Files whose every clinic is in scope (a file mixing in another clinic's rows is not shown).
_FILES = f"(select file from {CATALOG}.file_clinics group by file having bool_and(clinic_id in {_SCOPE}))"
_OWN_RUN_ONLY = f"select * from {CATALOG}.{{name}} where run_id in {_OWN_RUNS}"
_YARDSTICK = f"select * from {CATALOG}.{{name}} where run_id in {_OWN_RUNS} or run_id in {_NETWORK_RUNS}"
_OWN_UNITS = (
    f"select * from {CATALOG}.{{name}} where (run_id in {_OWN_RUNS} or run_id in {_NETWORK_RUNS}) "
    f"and unit in {_SCOPE}"
)
_BY_CLINIC = f"select * from {CATALOG}.{{name}} where clinic_id in {_SCOPE}"

#: Row policy of every table the load and the model refresh write (``etl/schema.sql``).
TABLE_POLICIES: dict[str, str] = {
    "schema_info": f"select * from {CATALOG}.schema_info",
    "sessions": _BY_CLINIC,
    "quarantine": (
        f"select * from {CATALOG}.quarantine where clinic_id in {_SCOPE} "
        f"or (clinic_id is null and file in {_FILES})"
    ),
    "load_files": f"select * from {CATALOG}.load_files where file in {_FILES}",
    # Batch metadata stays (freshness compares run and batch ids); counts come from the visible files only.
    "load_batches": f"""
        select b.batch_id, b.snapshot, b.started_at, b.finished_at, b.software_version,
               coalesce(f.files, 0)::integer as files, coalesce(f.files_rejected, 0)::integer as files_rejected,
               coalesce(f.rows, 0)::bigint as rows, coalesce(f.inserted, 0)::bigint as inserted,
               coalesce(f.updated, 0)::bigint as updated, coalesce(f.unchanged, 0)::bigint as unchanged,
               coalesce(f.quarantined, 0)::bigint as quarantined
        from {CATALOG}.load_batches as b
        left join (
            select batch_id, count(*) as files, count(*) filter (status = 'rejected') as files_rejected,
                   sum(rows) as rows, sum(inserted) as inserted, sum(updated) as updated,
                   sum(unchanged) as unchanged, sum(quarantined) as quarantined
            from load_files group by batch_id
        ) as f using (batch_id)""",
    # The network's runs stay listed (their funnel limits and own units' charts are visible) without their size.
    "model_runs": f"""
        select run_id, scope, data_batch_id, fitted_at, software_version, seconds,
               case when scope in {_SCOPE} then n_sessions end as n_sessions
        from {CATALOG}.model_runs where scope in {_SCOPE} or scope = 'network'""",
    **{
        name: _OWN_RUN_ONLY
        for name in (
            "model_summaries",
            "model_effects",
            "model_curves",
            "model_po_check",
            "settings_explorer",
            "course_curves",
            "course_summaries",
            "course_dropout",
        )
    },
    "funnel_units": (
        f"select * from {CATALOG}.funnel_units where run_id in {_OWN_RUNS} "
        f"or (run_id in {_NETWORK_RUNS} and clinic_id in {_SCOPE})"
    ),
    "funnel_limits": _YARDSTICK,
    "funnel_summaries": _YARDSTICK,
    "spc_points": _OWN_UNITS,
    "spc_verdicts": _OWN_UNITS,
}

FILTER = "filter by clinic"
RECOMPUTE = "recompute over the scoped rows"
#: Marts either keep the rows of the clinics in scope or, when they compare against the whole network,
#: are recomputed from their own SQL over the scoped tables (so "the network" means the user's clinics).
MART_POLICIES: dict[str, str] = {
    "monthly_outcomes": FILTER,
    "monthly_patients": RECOMPUTE,
    "unit_patients": FILTER,
    "clinic_freshness": RECOMPUTE,
    "patient_months": FILTER,
    "settings_bands": FILTER,
    "session_number_outcomes": FILTER,
    "patient_courses": FILTER,
    "file_clinics": FILTER,
}


def check_clinics(clinics: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(sorted(set(clinics)))
    bad = [c for c in chosen if not isinstance(c, str) or not CLINIC_ID.match(c)]
    if bad:
        raise AccessError(f"{bad[0]!r} is not a clinic id")
    return chosen


def _macros() -> list[str]:
    ddl = resources.files("etl").joinpath("schema.sql").read_text(encoding="utf-8")
    return [m.group(0) for m in re.finditer(r"create or replace macro .*?;", ddl, re.S)]


def scoped_connection(
    snapshot_path: Path | str, clinics: Iterable[str], *, memory_limit: str = "1GB", threads: int = 2
) -> duckdb.DuckDBPyConnection:
    """A read-only warehouse limited to ``clinics``: the named queries run on it unchanged.

    A private in-memory DuckDB attaches the snapshot as ``wh`` and defines every table, staging view
    and mart as a view with its row policy in its default catalog. External access is switched off and
    the configuration locked once the views exist.
    """
    scope = check_clinics(clinics)
    con = duckdb.connect(":memory:", config={"memory_limit": memory_limit, "threads": threads})
    try:
        con.execute(f"attach ? as {CATALOG} (read_only)", [str(snapshot_path)])
        con.execute("create table access_scope (clinic_id varchar primary key)")
        if scope:
            con.executemany("insert into access_scope values (?)", [[c] for c in scope])
        for macro in _macros():
            con.execute(macro)
        present = {
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_catalog = ?", [CATALOG]
            ).fetchall()
        }
        staging = list_queries("staging")
        marts = list_queries("marts")
        # A lake's view database names the lake's folder (not served: the policies' views read through it).
        unknown = present - set(TABLE_POLICIES) - {q.name for q in staging} - {q.name for q in marts}
        unknown -= {LAKE_SOURCE}
        if unknown:  # fail closed: a table nobody has decided about is not served to a limited user
            raise WarehouseError(f"no access policy for warehouse object(s): {', '.join(sorted(unknown))}")
        for name, policy in TABLE_POLICIES.items():
            if name in present:
                con.execute(f"create view {name} as {policy.format(name=name)}")
        for query in staging:
            con.execute(f"create view {query.name} as\n{query.sql}")
        for query in marts:
            if query.name not in present:
                continue
            policy = MART_POLICIES.get(query.name)
            if policy is None:
                raise WarehouseError(f"no access policy for the mart {query.name}")
            sql = query.sql if policy == RECOMPUTE else _BY_CLINIC.format(name=query.name)
            con.execute(f"create view {query.name} as\n{sql}")
        allow_lake_files(con, CATALOG)
        con.execute("set enable_external_access = false")
        con.execute("set lock_configuration = true")
    except duckdb.Error as exc:
        con.close()
        raise WarehouseError(
            f"cannot open a scoped view of {snapshot_path}: {str(exc).splitlines()[0]}"
        ) from None
    except BaseException:
        con.close()
        raise
    return con
