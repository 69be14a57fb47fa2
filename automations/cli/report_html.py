"""`report --format html`: one self-contained page (inline CSS and SVG, no network) with three charts
(runs per day by status, actions by outcome, estimated monthly savings over time) and the tables.

The charts are plain SVG drawn here: no chart library to vendor, nothing to load, and a page that
prints. A few lines of inline script only check, once the page is laid out, that every chart drew
(`data-charts` on <body>: "ok", or what failed), which is what the browser test reads.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from automations.cli.report import ReportData
from automations.cli.savings import realised_by_day

STATUS_COLOURS = {"ok": "#2e7d32", "partial": "#f9a825", "failed": "#c62828", "running": "#1565c0",
                  "continued": "#6a1b9a", "off": "#9e9e9e"}
OUTCOME_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "skipped": "#f9a825", "planned": "#1565c0"}
WIDTH, HEIGHT, MARGIN = 640, 240, 40
#: The page may load nothing: inline style and script only (the page works offline and leaks nothing).
_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"

_CHECK = """
window.addEventListener('load', function () {
  var problems = [];
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var box = svg.getBBox();
    if (!(box.width > 0 && box.height > 0)) { problems.push(svg.id + ' is empty'); }
  });
  document.body.setAttribute('data-charts', problems.length ? problems.join('; ') : 'ok');
});
window.addEventListener('error', function (e) { document.body.setAttribute('data-errors', String(e.message)); });
"""

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #212121; }
h1 { font-size: 1.4em; } h2 { font-size: 1.1em; margin-top: 2em; }
.charts { display: flex; flex-wrap: wrap; gap: 2em; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: .3em; }
table { border-collapse: collapse; margin-top: .5em; } th, td { border: 1px solid #ddd; padding: 3px 6px; }
th { background: #f5f5f5; text-align: left; } td.num { text-align: right; }
.legend span { display: inline-block; margin-right: 1em; } .legend i { display: inline-block; width: .8em;
  height: .8em; margin-right: .3em; } .muted { color: #757575; }
"""


def _legend(colours: Mapping[str, str], present: Sequence[str]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{colours.get(k, "#607d8b")}"></i>{escape(k)}</span>' for k in present) + "</div>"


def _axis(peak: float, label: str) -> str:
    bottom = HEIGHT - MARGIN
    return (f'<line x1="{MARGIN}" y1="{bottom}" x2="{WIDTH - 10}" y2="{bottom}" stroke="#9e9e9e"/>'
            f'<line x1="{MARGIN}" y1="10" x2="{MARGIN}" y2="{bottom}" stroke="#9e9e9e"/>'
            f'<text x="{MARGIN + 4}" y="16" font-size="10">{escape(label)}</text>'
            f'<text x="{MARGIN - 4}" y="{bottom}" text-anchor="end" font-size="10">0</text>'
            f'<title>peak {peak:g}</title>')


def _svg(chart_id: str, body: str, caption: str) -> str:
    return (f'<svg class="chart" id="{chart_id}" role="img" aria-label="{escape(caption)}" width="{WIDTH}" '
            f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">{body}</svg>')


def stacked_bars(chart_id: str, caption: str, series: Mapping[str, Mapping[str, float]],
                 colours: Mapping[str, str]) -> str:
    """One bar per key of `series` (x), stacked by the inner keys; an empty chart says so."""
    if not series:
        return _svg(chart_id, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                              f'class="muted">nothing recorded</text>', caption)
    peak = max(sum(v.values()) for v in series.values()) or 1
    plot_h, plot_w = HEIGHT - MARGIN - 20, WIDTH - MARGIN - 20
    step = plot_w / len(series)
    bar = max(2.0, step * 0.7)
    parts = [_axis(peak, f"{peak:g}")]
    for index, (x_label, stack) in enumerate(series.items()):
        x, base = MARGIN + 5 + index * step, float(HEIGHT - MARGIN)
        for key, value in stack.items():
            if value <= 0:
                continue
            h = plot_h * value / peak
            base -= h
            parts.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colours.get(key, "#607d8b")}"><title>{escape(x_label)} {escape(key)}: '
                         f'{value:g}</title></rect>')
        if len(series) <= 16 or index % max(1, len(series) // 8) == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{HEIGHT - MARGIN + 14}" text-anchor="middle" '
                         f'font-size="10">{escape(x_label[-5:] if len(x_label) == 10 else x_label)}</text>')
    return _svg(chart_id, "".join(parts), caption)


def line_chart(chart_id: str, caption: str, points: Sequence[tuple[str, float]], unit: str) -> str:
    if not points:
        return _svg(chart_id, f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
                              f'class="muted">no estimated savings recorded</text>', caption)
    peak = max(v for _, v in points) or 1
    plot_h, plot_w = HEIGHT - MARGIN - 20, WIDTH - MARGIN - 30
    step = plot_w / max(1, len(points) - 1)
    coords = [(MARGIN + 10 + i * step, HEIGHT - MARGIN - plot_h * v / peak) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    parts = [_axis(peak, f"{peak:g} {unit}"),
             f'<polyline points="{path}" fill="none" stroke="#2e7d32" stroke-width="2"/>']
    for (label, value), (x, y) in zip(points, coords, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2e7d32"><title>{escape(label)}: '
                     f'{value:g} {escape(unit)}</title></circle>')
    parts.append(f'<text x="{coords[0][0]:.1f}" y="{HEIGHT - MARGIN + 14}" font-size="10">'
                 f'{escape(points[0][0])}</text>')
    if len(points) > 1:
        parts.append(f'<text x="{coords[-1][0]:.1f}" y="{HEIGHT - MARGIN + 14}" text-anchor="end" '
                     f'font-size="10">{escape(points[-1][0])}</text>')
    return _svg(chart_id, "".join(parts), caption)


def runs_per_day(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    days: dict[str, Counter[str]] = defaultdict(Counter)
    for run in runs:
        days[str(run.get("started_at", ""))[:10] or "?"][str(run.get("status", "?"))] += 1
    return {day: {k: float(v) for k, v in counts.items()} for day, counts in sorted(days.items())}


def actions_by_outcome(actions: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """x: the automation, stacked by outcome."""
    by: dict[str, Counter[str]] = defaultdict(Counter)
    for item in actions:
        by[str(item.get("automation", "?"))][str(item.get("outcome", "?"))] += 1
    return {name: {k: float(v) for k, v in counts.items()} for name, counts in sorted(by.items())}


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: frozenset[int] = frozenset()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(
        f'<td{" class=num" if i in numeric else ""}>{escape(str(cell))}</td>' for i, cell in enumerate(row))
        + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(data: ReportData) -> str:
    runs_chart = runs_per_day(data.runs)
    outcome_chart = actions_by_outcome(data.actions)
    savings_points = realised_by_day(data.runs)
    statuses = sorted({k for v in runs_chart.values() for k in v})
    outcomes = sorted({k for v in outcome_chart.values() for k in v})
    runs_rows = [(str(r.get("started_at", ""))[:19].replace("T", " "), r.get("automation", ""), r.get("run_id", ""),
                  r.get("mode", ""), r.get("status", ""), r.get("succeeded", 0), r.get("failed", 0),
                  r.get("skipped", 0), r.get("planned", 0)) for r in data.runs]
    action_rows = [(str(a.get("at", ""))[:19].replace("T", " "), a.get("automation", ""), a.get("resource_id", ""),
                    a.get("action", ""), a.get("outcome", ""), "yes" if a.get("dry_run") else "",
                    a.get("reason", "")) for a in data.actions]
    error = f'<p class="muted">{escape(data.missing)}</p>' if data.missing else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Caretaker report: {escape(data.title)}</title>
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<style>{_STYLE}</style></head>
<body data-charts="pending">
<h1>Caretaker report: {escape(data.title)}</h1>
<p class="muted">state table {escape(data.table)}; {len(data.runs)} runs, {len(data.actions)} actions</p>{error}
<div class="charts">
<figure><figcaption>Runs per day, by status</figcaption>
{stacked_bars("runs-per-day", "Runs per day, by status", runs_chart, STATUS_COLOURS)}
{_legend(STATUS_COLOURS, statuses)}</figure>
<figure><figcaption>Actions by outcome, per automation</figcaption>
{stacked_bars("actions-by-outcome", "Actions by outcome", outcome_chart, OUTCOME_COLOURS)}
{_legend(OUTCOME_COLOURS, outcomes)}</figure>
<figure><figcaption>Estimated monthly savings realised, cumulative</figcaption>
{line_chart("savings-over-time", "Estimated monthly savings realised", savings_points, "USD/month")}</figure>
</div>
<h2>Runs</h2>
{_table(("started", "automation", "run id", "mode", "status", "ok", "failed", "skipped", "planned"), runs_rows,
        frozenset({5, 6, 7, 8}))}
<h2>Actions</h2>
{_table(("at", "automation", "resource", "action", "outcome", "dry-run", "reason"), action_rows)}
<script>{_CHECK}</script>
</body></html>
"""
