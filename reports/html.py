"""The report as one offline HTML file (interactive charts), and its print variant for the PDF.

plotly.js is inlined once, in ``<head>``; figures get fixed div ids, so the same snapshot and month give
the same bytes apart from the generation time.
"""

from __future__ import annotations

import datetime as dt
import html
import string
from pathlib import Path

import pandas as pd
from plotly.offline import get_plotlyjs

from reports.content import Content, Section
from reports.suppression import Table

PRINT_WIDTH = 700  # px of an A4 page between the margins
STAMP_ID = "generated-at"


def _template() -> string.Template:
    return string.Template((Path(__file__).parent / "templates" / "report.html").read_text(encoding="utf-8"))


def cell(value, fmt: str, unit: str | None = None) -> str:
    """A value as the report prints it."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    if fmt in ("by_unit", "by_unit_delta"):
        fmt = ("pct" if fmt == "by_unit" else "pp") if unit == "rate" else "int"
    if fmt == "int":
        return f"{round(float(value)):,}"
    if fmt == "level":
        return str(int(value))
    if fmt == "pct":
        return f"{100 * float(value):.1f}%"
    if fmt == "pp":
        return f"{100 * float(value):+.1f} pp"
    if fmt == "ratio":
        return f"{float(value):.2f}"
    if fmt == "num":
        return f"{float(value):.3g}"
    if fmt == "month":
        return pd.Timestamp(value).strftime("%b %Y")
    if fmt == "date":
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if fmt == "datetime":
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")
    return str(value).replace("_", " ") if fmt == "text" else str(value)


def hidden_text(fmt: str, min_cell: int | None) -> str:
    return f"<{min_cell}" if fmt in ("int", "by_unit") else "suppressed"


def _table_html(table: Table, min_cell: int | None) -> str:
    mask = table.hidden_mask()
    head = "".join(f"<th>{html.escape(c.replace('_', ' '))}</th>" for c in table.formats)
    rows = []
    for i, row in table.frame.iterrows():
        cells = []
        for column, fmt in table.formats.items():
            text = (
                hidden_text(fmt, min_cell) if mask.at[i, column] else cell(row[column], fmt, row.get("unit"))
            )
            cls = "" if fmt in ("text", "month", "date", "datetime") else ' class="n"'
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    body = "".join(rows) or f'<tr><td colspan="{len(table.formats)}">No rows.</td></tr>'
    return (
        f'<figure class="table"><figcaption>{html.escape(table.title)}</figcaption>'
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></figure>"
    )


def _section_html(section: Section, index: int, content: Content, printable: bool) -> str:
    parts = [f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>']
    if section.tiles:
        parts.append('<div class="tiles">')
        for tile in section.tiles:
            deltas = [
                f"vs last month: {tile.delta_prev or 'no comparison'}",
                f"vs last year: {tile.delta_year or 'no comparison'}",
            ]
            parts.append(
                f'<div class="tile"><div class="label">{html.escape(tile.label)}</div>'
                f'<div class="value">{html.escape(tile.value)}</div>'
                f'<div class="note">{html.escape(tile.note)}<br>{html.escape(" · ".join(deltas))}</div></div>'
            )
        parts.append("</div>")
    parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    for j, fig in enumerate(section.figures):
        figure = fig.figure
        config = {"displaylogo": False, "responsive": True}
        if printable:
            figure = type(figure)(figure).update_layout(width=PRINT_WIDTH)
            config = {"staticPlot": True, "displayModeBar": False}
        div = figure.to_html(
            full_html=False, include_plotlyjs=False, div_id=f"fig-{index}-{j}", config=config
        )
        parts.append(
            f'<figure class="chart"><figcaption>{html.escape(fig.title)}</figcaption>{div}'
            f'<p class="caption">{html.escape(fig.caption)}</p></figure>'
        )
    parts += [_table_html(t, content.min_cell) for t in section.tables]
    parts.append("</section>")
    return "".join(parts)


def render(content: Content, printable: bool = False) -> str:
    """The whole document; ``printable`` gives the print variant (static charts, fixed widths)."""
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in content.sections)
    body = "".join(_section_html(s, i, content, printable) for i, s in enumerate(content.sections))
    stamp = "".join(
        f"<dt>{html.escape(k)}</dt><dd"
        + (f' id="{STAMP_ID}"' if k.startswith("Generated") else "")
        + f">{html.escape(v)}</dd>"
        for k, v in content.stamp
    )
    return _template().substitute(
        title=html.escape(content.title),
        plotlyjs=get_plotlyjs(),
        toc=toc,
        body=body,
        stamp=stamp,
        mode="print" if printable else "screen",
    )


def write_html(content: Content, path: Path) -> Path:
    path.write_text(render(content), encoding="utf-8")
    return path


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
