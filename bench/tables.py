"""Print bench/README.md's tables from the recorded results (bench/results/*.json), with growth slopes.

    python -m bench.tables

A log-log slope is the exponent b in time ~ size^b between the smallest and the largest size:
1 grows like the data, 0 does not grow, above 1 faster than the data.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def slope(small_size: float, small: float, large_size: float, large: float) -> str:
    if small <= 0 or large <= 0 or large_size == small_size:
        return "–"
    return f"{math.log(large / small) / math.log(large_size / small_size):.2f}"


def queries_table() -> str:
    data = _load("queries")
    if not data:
        return ""
    sizes = sorted(data["results"], key=int)
    head = " | ".join(f"{int(s) // 1000:,}k p50 | {int(s) // 1000:,}k p95" for s in sizes)
    lines = [f"| query | scope | {head} | slope |", "| --- | --- |" + " ---: |" * (2 * len(sizes) + 1)]
    by_key: dict[tuple[str, str], dict[str, dict]] = {}
    for size in sizes:
        for row in data["results"][size]["queries"]:
            by_key.setdefault((row["query"], row["scope"]), {})[size] = row
    for (query, scope), rows in sorted(by_key.items()):
        cells = " | ".join(
            f"{rows[s]['p50_ms']} | {rows[s]['p95_ms']}" if s in rows else "– | –" for s in sizes
        )
        first, last = sizes[0], sizes[-1]
        growth = (
            slope(int(first), rows[first]["p50_ms"], int(last), rows[last]["p50_ms"])
            if first in rows and last in rows
            else "–"
        )
        lines.append(f"| {query} | {scope} | {cells} | {growth} |")
    return "\n".join(lines)


def stages_table() -> str:
    data = _load("ingest_stages")
    if not data:
        return ""
    sizes = sorted(data["results"], key=int)
    lines = [
        f"| stage | {' | '.join(f'{int(s):,} rows s' for s in sizes)} | slope |",
        "| --- |" + " ---: |" * (len(sizes) + 1),
    ]
    for stage in data["results"][sizes[0]]:
        cells = " | ".join(str(data["results"][s][stage]) for s in sizes)
        lines.append(f"| {stage} | {cells} | {data['loglog_slope'].get(stage, '–')} |")
    return "\n".join(lines)


def dashboard_table() -> str:
    data = _load("dashboard")
    if not data or not isinstance(data.get("data_calls"), dict):
        return ""
    lines = [
        "| sessions | page | scope | calls | page p50 ms | page p95 ms | slowest call | its p95 ms |",
        "| ---: | --- | --- | ---: | ---: | ---: | --- | ---: |",
    ]
    for size, rows in data["data_calls"].items():
        for r in rows:
            lines.append(
                f"| {int(size):,} | {r['page']} | {r['scope']} | {r['calls']} | {r['total_ms']['p50']} | "
                f"{r['total_ms']['p95']} | `{r['slowest_call']}` | {r['slowest_call_ms']['p95']} |"
            )
    return "\n".join(lines)


def main() -> None:
    for title, table in (
        ("Named queries", queries_table()),
        ("Ingest stages", stages_table()),
        ("Dashboard data calls", dashboard_table()),
    ):
        if table:
            print(f"### {title}\n\n{table}\n")


if __name__ == "__main__":
    main()
