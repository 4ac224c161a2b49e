"""Pseudonyms: the secret key and the keyed hash that replaces patient numbers at the door."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from etl.settings import Settings

#: Hex characters of the HMAC kept in a pseudonym (96 bits: collisions are negligible at any clinic size).
KEY_HEX_CHARS = 24
PREFIX = "pk_"


class SecretKeyError(RuntimeError):
    """The pseudonym key cannot be read, created, or sits somewhere it must not."""


def load_secret_key(settings: Settings) -> bytes:
    """Return the pseudonym key, creating the key file (mode 0600) on first use.

    ``DERMA_SECRET_KEY`` wins over the file. The key file must not live inside the data
    directory, since that folder is shared with analysts and backed up with the data.
    """
    if settings.secret_key:
        return settings.secret_key.encode("utf-8")
    path = settings.secret_key_file.expanduser()
    data_dir = settings.data_dir.expanduser().resolve()
    resolved = path.resolve()
    if resolved == data_dir or data_dir in resolved.parents:
        raise SecretKeyError(
            f"the secret key file {path} is inside the data directory {settings.data_dir}; "
            "move it out (DERMA_SECRET_KEY_FILE)"
        )
    if path.exists():
        key = path.read_text(encoding="utf-8").strip()
        if not key:
            raise SecretKeyError(f"the secret key file {path} is empty")
        return key.encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return load_secret_key(settings)
    except OSError as exc:
        raise SecretKeyError(f"cannot create the secret key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return load_secret_key(settings)


def pseudonymise(key: bytes, clinic_id: str, patient_id: str) -> str:
    """HMAC-SHA256 of clinic and patient number: the same pair always gives the same pseudonym.

    The clinic is part of the message because patient numbers are only unique within a clinic.
    A unit separator keeps ``("A1", "23")`` and ``("A", "123")`` apart.
    """
    message = f"{clinic_id}\x1f{patient_id}".encode()
    return PREFIX + hmac.new(key, message, hashlib.sha256).hexdigest()[:KEY_HEX_CHARS]


def pseudonymise_many(key: bytes, clinic_ids: list[str], patient_ids: list[str]) -> list[str]:
    """Vector form of :func:`pseudonymise` over distinct (clinic, patient) pairs."""
    base = hmac.new(key, digestmod=hashlib.sha256)
    out = []
    for clinic_id, patient_id in zip(clinic_ids, patient_ids, strict=True):
        h = base.copy()
        h.update(f"{clinic_id}\x1f{patient_id}".encode())
        out.append(PREFIX + h.hexdigest()[:KEY_HEX_CHARS])
    return out


#: The fixed message whose HMAC under the key identifies the key (never the key itself).
FINGERPRINT_LABEL = b"derma-outcomes pseudonym key fingerprint v1"


def key_fingerprint(key: bytes) -> str:
    """A short public name of the key: HMAC-SHA256 of a fixed label, 16 hex characters.

    Recorded in the warehouse (``schema_info``) so that a load under another key is refused instead
    of giving every patient a second pseudonym; it reveals nothing about the key or any pseudonym.
    """
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def hmac_params(key: bytes) -> dict[str, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104), bound as ``$ipad``/``$opad`` for :func:`pseudonym_sql`."""
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    return {"ipad": bytes(b ^ 0x36 for b in block), "opad": bytes(b ^ 0x5C for b in block)}


def pseudonym_sql(clinic: str, patient: str) -> str:
    """SQL computing :func:`pseudonymise` of two text expressions, with ``$ipad``/``$opad`` bound.

    The load computes pseudonyms in the very projection that reads a file, so a raw patient number
    never lands in any table (in memory or spilled to disk); a test holds it equal to the Python one.
    """
    message = f"encode({clinic} || chr(31) || {patient})"
    inner = f"unhex(sha256($ipad || {message}))"
    return f"('{PREFIX}' || left(sha256($opad || {inner}), {KEY_HEX_CHARS}))"
