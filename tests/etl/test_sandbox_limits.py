"""The sandbox's process limits: what a statement returns is bounded in bytes, memory and time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from etl.sandbox import MAX_RESULT_BYTES, PROCESS_HEADROOM, SandboxError, run_sandboxed
from tests.etl.sandbox_support import fingerprint

# Run in a process of its own, so the peak memory of the caller and of its one child can be read.
MEASURE = textwrap.dedent("""
    import json, resource, sys
    from etl.sandbox import SandboxError, run_sandboxed
    try:
        run_sandboxed(sys.argv[2], sys.argv[1], timeout_s=10.0, memory_limit="256MB")
        message = None
    except SandboxError as exc:
        message = str(exc)
    print(json.dumps({
        "message": message,
        # VmHWM, not ru_maxrss: Linux carries the forking parent's (pytest's) peak into ru_maxrss.
        "caller_peak_mb": int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024,
        "child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))
""")


def test_a_statement_returning_gigabytes_fails_with_one_line_in_bounded_memory(snapshot):
    # The red team's statement: 10,000 rows of 1 MB each peaked at 7.9 GB and ran past the time limit.
    before = fingerprint(snapshot)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(snapshot), "select repeat('x', 1000000) from range(10000)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    message = got["message"]
    assert message is not None and "\n" not in message
    # Stopped by a size or memory limit, not by running into the time limit.
    assert message.startswith("stopped:") and "time limit" not in message, message
    assert got["caller_peak_mb"] < 1024, got  # the caller never held the result
    assert got["child_peak_mb"] <= (256 * 10**6 + PROCESS_HEADROOM) / 2**20, got
    assert fingerprint(snapshot) == before


def test_a_few_wide_rows_past_the_byte_cap_are_refused_not_cut(snapshot):
    rows = MAX_RESULT_BYTES // 100_000 + 100  # under the row cap, over the byte cap
    with pytest.raises(SandboxError, match=r"result is larger than 64 MB"):
        run_sandboxed(f"select repeat('x', 100000) as wide from range({rows})", snapshot)


def test_a_result_under_the_byte_cap_comes_back_whole(snapshot):
    result = run_sandboxed("select repeat('x', 100000) as wide from range(50)", snapshot)
    assert len(result.frame) == 50 and set(result.frame["wide"].str.len()) == {100_000}


def test_a_decimal_column_comes_back_as_a_number_like_duckdb_gives_it(snapshot):
    result = run_sandboxed("select 1.25::decimal(10, 2) as d, 7::hugeint as h", snapshot)
    assert result.frame["d"].tolist() == [1.25]
    assert float(result.frame["h"][0]) == 7.0
