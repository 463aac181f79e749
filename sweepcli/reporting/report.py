"""Pictures of a sweep without a server: a self-contained HTML report and a terminal plot.

The report is one HTML file with inline SVG, drawn here with no plotting library and no
script or CDN: it opens on an air-gapped cluster, in a mail attachment, in any browser.
"""

from __future__ import annotations

import html
import math
from typing import Any

from ..config import flat_names
from .. import goals
from ..config import is_number
from ..text import printable

_W, _H, _PAD = 640, 300, 48


def fmt(v: Any) -> str:
    """A value as shown in tables: floats to 4 significant digits, None as blank."""
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else printable(str(v))


def _colour(t: float) -> str:
    """Good (t=0) is dark blue, bad (t=1) is yellow: a viridis-like ramp."""
    stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
    t = min(max(t, 0.0), 1.0) * (len(stops) - 1)
    i = min(int(t), len(stops) - 2)
    f = t - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(stops[i], stops[i + 1]))
    return f"#{r:02x}{g:02x}{b:02x}"


class _Axis:
    """Maps a parameter's values to [0, 1]: numbers linearly (log when they span decades),
    anything else as evenly spaced categories."""

    def __init__(self, values: list[Any], log: bool | None = None):
        """``log``: whether the parameter is drawn on a log scale (None: when its values
        span decades, for what the config does not say: the metric's axis)."""
        nums = [v for v in values if is_number(v)]
        self.numeric = len(nums) == len([v for v in values if v is not None]) and bool(nums)
        if self.numeric:
            lo, hi = min(nums), max(nums)
            self.log = lo > 0 and (hi / lo >= 20 if log is None else log)
            if self.log:
                lo, hi = math.log10(lo), math.log10(hi)
            self.lo, self.hi = lo, hi
        else:
            self.cats = sorted({str(v) for v in values}, key=str)

    def __call__(self, v: Any) -> float:
        if self.numeric:
            if v is None:
                return 0.5
            x = math.log10(v) if self.log else v
            return 0.5 if self.hi == self.lo else (x - self.lo) / (self.hi - self.lo)
        n = len(self.cats)
        return 0.5 if n == 1 else self.cats.index(str(v)) / (n - 1)

    def ticks(self) -> list[tuple[float, str]]:
        if self.numeric:
            lo, hi = self.lo, self.hi
            fmt = (lambda x: f"{10 ** x:.3g}") if self.log else (lambda x: f"{x:.3g}")
            return [(0.0, fmt(lo)), (1.0, fmt(hi))] if hi != lo else [(0.5, fmt(lo))]
        n = len(self.cats)
        return [(0.5 if n == 1 else i / (n - 1), c) for i, c in enumerate(self.cats)]


def _svg(body: str, w: int = _W, h: int = _H, cls: str = "") -> str:
    return (f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img">{body}</svg>')


def _frame(x_title: str, lo: float, hi: float, y_title: str) -> str:
    """A chart's axes, its x title (markup, escaped by the caller), the metric's range."""
    return (f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - _PAD}" y2="{_H - _PAD}" stroke="#999"/>'
            f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_H - _PAD}" stroke="#999"/>'
            f'<text x="{_W / 2}" y="{_H - 12}" text-anchor="middle">{x_title}</text>'
            f'<text x="{_PAD - 6}" y="{_PAD}" text-anchor="end">{fmt(hi)}</text>'
            f'<text x="{_PAD - 6}" y="{_H - _PAD}" text-anchor="end">{fmt(lo)}</text>'
            f'<text x="{_PAD}" y="{_PAD - 14}">{y_title}</text>')


def _best_so_far(runs: list[dict], goal: str, name: str) -> str:
    pts = [(i, r["value"]) for i, r in enumerate(runs) if r["value"] is not None]
    if not pts:
        return "<p>No run has logged the metric yet.</p>"
    ys = [y for _, y in pts]
    lo, hi = min(ys), max(ys)
    span = (hi - lo) or 1.0
    n = max(len(runs) - 1, 1)

    def xy(i: int, y: float) -> tuple[float, float]:
        return (_PAD + (_W - 2 * _PAD) * i / n, _H - _PAD - (_H - 2 * _PAD) * (y - lo) / span)

    dots, line = [], []
    for (i, y), best in zip(pts, goals.best_so_far([y for _, y in pts], goal)):
        x, yy = xy(i, y)
        dots.append(f'<circle class="run-dot" cx="{x:.1f}" cy="{yy:.1f}" r="3.5" fill="#7f8c9a">'
                    f'<title>{html.escape(runs[i]["run_id"])}: {fmt(y)}</title></circle>')
        line.append("{:.1f},{:.1f}".format(*xy(i, best)))
    axes = _frame("run (in start order)", lo, hi, html.escape(name))
    path = f'<polyline points="{" ".join(line)}" fill="none" stroke="#c0392b" stroke-width="2"/>'
    return _svg(axes + "".join(dots) + path, cls="best-so-far")


def _against_spent(progress: dict[str, Any] | None, name: str) -> str:
    """The best value against what was spent (``budget.progress``), a step line; the
    budget, where there is one, as a dotted line."""
    if not progress or not progress["points"]:
        return ""
    pts = progress["points"]
    unit, budget = progress["unit"], progress["budget"]
    right = max([p[0] for p in pts] + [float(budget or 0)]) or 1.0
    ys = [p[1] for p in pts]
    lo, hi = min(ys), max(ys)
    span = (hi - lo) or 1.0

    def xy(x: float, y: float) -> tuple[float, float]:
        return (_PAD + (_W - 2 * _PAD) * x / right, _H - _PAD - (_H - 2 * _PAD) * (y - lo) / span)

    line: list[str] = []
    for (x, y), before in zip(pts, [None, *ys[:-1]]):
        if before is not None:  # a step: the best holds until it improves
            line.append("{:.1f},{:.1f}".format(*xy(x, before)))
        line.append("{:.1f},{:.1f}".format(*xy(x, y)))
    bx = xy(float(budget), lo)[0] if budget else None
    marks = (f'<line class="budget" x1="{bx:.1f}" y1="{_PAD}" x2="{bx:.1f}" y2="{_H - _PAD}" '
             f'stroke="#888" stroke-dasharray="4 3"><title>the budget: {fmt(budget)} '
             f'{html.escape(unit)}</title></line>' if bx is not None else "")
    axes = _frame(f"{html.escape(unit)} spent"
                  + (f" (dotted: the budget, {fmt(budget)})" if budget else ""), lo, hi,
                  f"best {html.escape(name)}")
    path = f'<polyline points="{" ".join(line)}" fill="none" stroke="#c0392b" stroke-width="2"/>'
    return _svg(axes + marks + path, cls="against-spent")


def _parallel(runs: list[dict], names: list[str], goal: str, metric: str,
              logs: dict[str, bool] | None = None) -> str:
    scored = [r for r in runs if r["value"] is not None]
    if not scored or not names:
        return "<p>Nothing to draw yet.</p>"
    flats = [flat_names(r["config"]) for r in scored]
    cols = names + [metric]
    axes = {n: _Axis([f.get(n) for f in flats], (logs or {}).get(n)) for n in names}
    axes[metric] = _Axis([r["value"] for r in scored])
    w = max(_W, 120 * len(cols))
    step = (w - 2 * _PAD) / max(len(cols) - 1, 1)
    ys = [r["value"] for r in scored]
    lo, hi = min(ys), max(ys)
    body = []
    for j, c in enumerate(cols):
        x = _PAD + j * step
        body.append(f'<line x1="{x:.1f}" y1="{_PAD}" x2="{x:.1f}" y2="{_H - _PAD}" stroke="#888"/>'
                    f'<text x="{x:.1f}" y="{_PAD - 18}" text-anchor="middle" font-weight="bold">'
                    f'{html.escape(c)}</text>')
        for t, label in axes[c].ticks()[:12]:
            y = _H - _PAD - (_H - 2 * _PAD) * t
            body.append(f'<text x="{x + 4:.1f}" y="{y:.1f}" font-size="10">{html.escape(label)}</text>')
    order = sorted(range(len(scored)), key=lambda i: -goals.sign(goal) * ys[i])
    for i in order:  # the best drawn last, on top
        r, f = scored[i], flats[i]
        t = 0.5 if hi == lo else (ys[i] - lo) / (hi - lo)
        if goals.sign(goal) < 0:
            t = 1 - t
        pts = []
        for j, c in enumerate(cols):
            v = r["value"] if c == metric else f.get(c)
            pts.append(f"{_PAD + j * step:.1f},{_H - _PAD - (_H - 2 * _PAD) * axes[c](v):.1f}")
        body.append(f'<polyline class="run-line" points="{" ".join(pts)}" fill="none" '
                    f'stroke="{_colour(t)}" stroke-width="1.6" opacity="0.85">'
                    f'<title>{html.escape(r["run_id"])}: {fmt(r["value"])}</title></polyline>')
    return _svg("".join(body), w=int(w), cls="parallel")


def _scatter(runs: list[dict], name: str, metric: str, log: bool | None = None) -> str:
    scored = [(flat_names(r["config"]).get(name), r["value"]) for r in runs if r["value"] is not None]
    if not scored:
        return ""
    ax = _Axis([p for p, _ in scored], log)
    ys = [v for _, v in scored]
    lo, hi = min(ys), max(ys)
    w, h, pad = 300, 220, 40
    body = [f'<text x="{w / 2}" y="{h - 6}" text-anchor="middle">{html.escape(name)}</text>',
            f'<line x1="{pad}" y1="{h - pad}" x2="{w - 10}" y2="{h - pad}" stroke="#999"/>',
            f'<line x1="{pad}" y1="10" x2="{pad}" y2="{h - pad}" stroke="#999"/>',
            f'<text x="{pad - 4}" y="16" text-anchor="end" font-size="10">{fmt(hi)}</text>',
            f'<text x="{pad - 4}" y="{h - pad}" text-anchor="end" font-size="10">{fmt(lo)}</text>']
    for t, label in ax.ticks()[:8]:
        body.append(f'<text x="{pad + (w - pad - 10) * t:.1f}" y="{h - pad + 14}" font-size="10" '
                    f'text-anchor="middle">{html.escape(label)}</text>')
    for p, v in scored:
        x = pad + (w - pad - 10) * ax(p)
        y = h - pad - (h - pad - 10) * (0.5 if hi == lo else (v - lo) / (hi - lo))
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2c7fb8" opacity="0.8"/>')
    return _svg("".join(body), w=w, h=h, cls="scatter")


#: at most this many of the runs' own summary keys get a column in the runs table
SUMMARY_COLUMNS = 12


def summary_keys(runs: list[dict[str, Any]]) -> list[str]:
    """The keys programs set in their runs' summaries (``run.summary[...] = x``) that hold
    a number, a string or true/false, in first-seen order: the runs table's last columns."""
    keys: list[str] = []
    for r in runs:
        for k, v in (r.get("summary") or {}).items():
            if k not in keys and (v is None or isinstance(v, (int, float, str, bool))):
                keys.append(k)
    return keys[:SUMMARY_COLUMNS]


def feasibility_text(run: dict[str, Any]) -> str:
    """A run's feasibility in the runs table (``sweepcli.constraints``)."""
    f = run.get("feasible")
    return "yes" if f is True else ("no: " + ", ".join(run.get("broken") or [])) if f is False \
        else "running"


def html_report(summary: dict[str, Any], refresh: float | None = None,
                logs: dict[str, bool] | None = None) -> str:
    """The whole report page for the data of a look (``status.Status.as_json``) (reloading itself every
    ``refresh`` seconds when given: ``report --static --watch``). ``logs``: which parameters
    are drawn on a log scale (``insight.is_log``; the rest linear)."""
    s = summary
    runs = s["runs"]
    metric = s["metric"]["name"] if s["metric"] else None
    goal = s["metric"]["goal"] if s["metric"] else "minimize"
    names: list[str] = []
    for r in runs:
        for k in flat_names(r["config"]):
            if k not in names:
                names.append(k)
    varying = [n for n in names if len({repr(flat_names(r["config"]).get(n)) for r in runs}) > 1]
    esc = html.escape
    counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n) or "no runs yet"
    best = s["best"]
    best_html = "-" if not best else (
        f"<code>{esc(best['run_id'])}</code> {esc(fmt(best['value']))} &nbsp; "
        + " ".join(f"{esc(k)}=<b>{esc(fmt(v))}</b>" for k, v in flat_names(best["config"]).items()))
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<meta http-equiv='refresh' content='{refresh:g}'>" if refresh else "",
        f"<title>sweep {esc(s['id'])}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #ddd;"
        "text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}svg{font-size:11px;"
        "margin:6px 0}.grid{display:flex;flex-wrap:wrap;gap:8px}dt{font-weight:bold;float:left;"
        "width:6em}dd{margin-left:7em}",
        "</style></head><body>",
        f"<h1>Sweep {esc(s['id'])}{' — ' + esc(s['name']) if s.get('name') else ''}</h1>",
        f"<dl><dt>state</dt><dd>{esc(s['state'])}</dd><dt>method</dt><dd>{esc(s['method'])}</dd>"
        f"<dt>metric</dt><dd>{esc(metric or '-')} ({esc(goal)})</dd><dt>runs</dt><dd>{esc(counts)}</dd>"
        f"<dt>best</dt><dd>{best_html}</dd></dl>",
    ]
    if metric:
        spent = _against_spent(s.get("progress"), metric)
        parts += [f"<h2>Best {esc(metric)} so far</h2>", _best_so_far(runs, goal, metric),
                  *([f"<h2>Best {esc(metric)} against what was spent</h2>", spent] if spent
                    else []),
                  "<h2>Parameters against the metric</h2>", _parallel(runs, varying, goal, metric, logs),
                  f"<h2>{esc(metric)} against each parameter</h2><div class='grid'>",
                  *(_scatter(runs, n, metric, (logs or {}).get(n)) for n in varying), "</div>"]
    kept = summary_keys(runs)
    limited = any("feasible" in r for r in runs)
    parts.append(f"<h2>Runs ({len(runs)})</h2><table id='runs'><thead><tr><th class='l'>run</th>"
                 f"<th class='l'>state</th><th>{esc(metric or 'value')}</th><th>steps</th>"
                 + ("<th class='l'>feasible</th>" if limited else "")
                 + "".join(f"<th>{esc(n)}</th>" for n in names)
                 + "".join(f"<th>summary.{esc(k)}</th>" for k in kept) + "</tr></thead><tbody>")
    for r in runs:
        f = flat_names(r["config"])
        own = r.get("summary") or {}
        parts.append(f"<tr class='run'><td class='l'><code>{esc(r['run_id'])}</code></td>"
                     f"<td class='l'>{esc(r['state'])}</td><td>{esc(fmt(r['value']))}</td>"
                     f"<td>{r['steps']}</td>"
                     + (f"<td class='l'>{esc(feasibility_text(r))}</td>" if limited else "")
                     + "".join(f"<td>{esc(fmt(f.get(n)))}</td>" for n in names)
                     + "".join(f"<td>{esc(fmt(own.get(k)))}</td>" for k in kept) + "</tr>")
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts)


def terminal_plot(summary: dict[str, Any], width: int = 60, height: int = 12,
                  full: bool = False) -> str:
    """Every run's value (·) and the best so far (█) in a text chart. Diverged runs (worse
    than the median by more than three interquartile ranges) would flatten every other
    run onto one line: the axis leaves them out and marks them ▲ (▼ to maximise) on its
    edge, unless ``full``."""
    from .insight import robust_range

    runs = summary["runs"]
    metric = summary["metric"]
    pts = [(i, r["value"]) for i, r in enumerate(runs) if r["value"] is not None]
    if not metric or not pts:
        return "no metric values yet"
    goal = metric["goal"]
    ys = [y for _, y in pts]
    lo, hi = min(ys), max(ys)
    bounds = None if full else robust_range(ys, goal)
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    span = (hi - lo) or 1.0
    grid = [[" "] * width for _ in range(height)]
    n = max(len(runs) - 1, 1)
    best = None
    edge = "▼" if goals.sign(goal) < 0 else "▲"
    beyond = 0

    def cell(i: int, y: float) -> tuple[int, int]:
        y = min(max(y, lo), hi)
        return (height - 1 - round((height - 1) * (y - lo) / span), round((width - 1) * i / n))

    for i, y in pts:
        row, col = cell(i, y)
        if not lo <= y <= hi:
            grid[row][col] = edge
            beyond += 1
        elif grid[row][col] == " ":
            grid[row][col] = "·"
    for (i, _), best in zip(pts, goals.best_so_far([y for _, y in pts], goal)):
        row, col = cell(i, best)
        grid[row][col] = "█"
    label_w = max(len(fmt(hi)), len(fmt(lo)))
    chart = [f"{metric['name']} ({goal}): · a run, █ best so far"
             + (f", {edge} {beyond} run(s) beyond the axis (--full shows them)" if beyond else "")]
    for r, cells in enumerate(grid):
        label = fmt(hi) if r == 0 else fmt(lo) if r == height - 1 else ""
        chart.append(f"{label:>{label_w}} │{''.join(cells)}")
    chart.append(f"{'':>{label_w}} └{'─' * width}")
    chart.append(f"{'':>{label_w}}  run 1{'':>{max(width - 12, 1)}}run {len(runs)}")
    return "\n".join(chart)
