"""Work that must not take the caller with it: a child process with memory, CPU and output limits.

The analyst sandbox runs typed SQL and the Excel reader parses untrusted workbooks; either can be made
to need unbounded memory or time (a ``repeat('x', 1e6)`` over many rows, a 300 MB cell). Each runs in
a fresh ``python -m <module>`` child that limits itself (address space and CPU seconds) before it
touches the input, and streams its result back on stdout. The parent reads at most ``max_output``
bytes, kills the child at the wall-clock limit, and turns every way the child can end into one line.

Protocol: the request is one JSON object on the child's stdin. On success the child writes its
result to stdout and exits 0; on a failure it can name, it writes one JSON line ``{"error": ...}`` to
stderr and exits :data:`FAILED`. Any other end (a signal, the memory limit hit inside a library that
aborts) is reported by the parent from how the child ended.
"""

from __future__ import annotations

import json
import os
import re
import resource
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import NoReturn

#: Exit status of a child that reported its own failure on stderr.
FAILED = 3
_READY = b'{"ready": true}\n'
_STDERR_CAP = 64 * 1024


@dataclass(frozen=True)
class Outcome:
    """How a confined child ended."""

    output: bytes
    returncode: int | None
    error: str | None  # the child's own one-line failure, when it gave one
    error_kind: str | None  # what kind of failure the child named ("failed", "warehouse", ...)
    timed_out: bool
    too_big: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not (self.timed_out or self.too_big)

    @property
    def killed_by(self) -> int | None:
        """The signal that ended the child (SIGKILL, SIGXCPU, SIGSEGV, SIGABRT, ...), if one did."""
        return -self.returncode if self.returncode is not None and self.returncode < 0 else None


_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_UNITS.update({"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4})


def memory_bytes(limit: str, default: int = 2 * 10**9) -> int:
    """A DuckDB memory limit in bytes (``"2GB"`` -> 2,000,000,000); ``default`` when not understood."""
    found = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$", limit or "")
    if not found or found.group(2).lower() not in _UNITS:
        return default
    return int(float(found.group(1)) * _UNITS[found.group(2).lower()])


def run_confined(
    module: str,
    request: dict,
    *,
    memory_bytes: int,
    cpu_seconds: int,
    wall_seconds: float,
    max_output: int,
    startup_seconds: float = 15.0,
) -> Outcome:
    """Run ``python -m module`` on ``request`` with the given limits; never raises for the child's sake.

    The child has ``startup_seconds`` to start and say it is ready (:func:`ready`), then
    ``wall_seconds`` to finish; it is killed when either runs out or its output passes ``max_output``.
    """
    env = {
        **os.environ,
        "DERMA_CONFINE_MEMORY": str(int(memory_bytes)),
        "DERMA_CONFINE_CPU": str(max(1, int(cpu_seconds))),
    }
    env.pop("DERMA_SECRET_KEY", None)  # the child never needs the pseudonym key
    proc = subprocess.Popen(
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        close_fds=True,
        start_new_session=True,
    )
    output, errors = bytearray(), bytearray()
    timed_out = too_big = False
    try:
        try:
            proc.stdin.write(json.dumps(request).encode("utf-8"))
            proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died before reading: its exit status says why
        deadline = time.monotonic() + startup_seconds
        started = False
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ, output)
            selector.register(proc.stderr, selectors.EVENT_READ, errors)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                for key, _ in selector.select(timeout=min(left, 0.5)):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        continue
                    key.data.extend(chunk)
                    if not started and key.data is errors and _READY in errors:
                        started = True
                        deadline = time.monotonic() + wall_seconds
                if len(output) > max_output:
                    too_big = True
                    break
                if len(errors) > _STDERR_CAP:
                    del errors[_STDERR_CAP:]
        if timed_out or too_big:
            proc.kill()
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    error, kind = _child_error(bytes(errors))
    return Outcome(bytes(output), proc.returncode, error, kind, timed_out, too_big)


def _child_error(stderr: bytes) -> tuple[str | None, str | None]:
    for line in reversed(stderr.decode("utf-8", "replace").splitlines()):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("error"), str):
            return message["error"], str(message.get("kind", "failed"))
    return None, None


# --- the child's side -------------------------------------------------------------------------------


def limit_self() -> None:
    """In the child, first thing: cap its own address space and CPU seconds (from the parent's env)."""
    memory = int(os.environ.get("DERMA_CONFINE_MEMORY", "0"))
    cpu = int(os.environ.get("DERMA_CONFINE_CPU", "0"))
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    if cpu > 0:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no memory image behind


def ready() -> None:
    """In the child: the work starts now (the parent's wall-clock limit counts from here)."""
    sys.stderr.buffer.write(_READY)
    sys.stderr.flush()


def read_request() -> dict:
    return json.loads(sys.stdin.buffer.read().decode("utf-8"))


def fail(message: str, kind: str = "failed") -> NoReturn:
    """In the child: report a failure the parent can show, and exit."""
    sys.stderr.write(json.dumps({"error": message, "kind": kind}) + "\n")
    sys.stderr.flush()
    os._exit(FAILED)
