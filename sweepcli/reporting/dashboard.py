"""The interactive report: one offline HTML page drawn with plotly.js.

Why plotly: it is what Optuna's visualisations and most of the field's reports use, it is
kept up, its Python package carries plotly.js (so the page inlines the script and opens
with no network, on an air-gapped cluster or from a mail attachment), and it has what a
sweep page needs built in: hover on every point, zoom, legend toggles, and parallel
coordinates with brushing. The figures are written here as plain plotly JSON (no figure
objects: a 10,000-run sweep builds in a fraction of a second); ``plotly`` itself is only
asked for its script. It is an optional extra (``pip install 'sweepcli[report]'``, ~15 MB);
without it ``sweepcli report`` writes the static SVG page of ``report.py``.

The page: header, best so far, learning curves with hyperband's bands and thresholds,
parameter importance (``insight.py``), parallel coordinates, the metric against each
parameter, the sortable runs table. Every metric axis has one switch: outliers clipped
(diverged runs drawn as triangles on the axis's edge, their real value on hover), the full
range, or log. ``report --watch`` rewrites the page and a small ``*.stamp.js`` beside it;
an open page loads that stamp every few seconds and reloads only when it changed, keeping
its scroll position, the axis switch and the table's sort.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import time
from functools import lru_cache
from importlib import resources
from typing import Any

from .. import goals
from ..config import is_number
from ..early_stop.hyperband import band_thresholds
from .insight import METHOD, MIN_RUNS, importance, is_categorical, is_log, robust_range
from ..config import flat_names
from .report import feasibility_text, fmt, summary_keys
from ..runs import RunState
from .status import look, reap
from ..store import Sweep

MAX_CURVES = 1000  # learning curves drawn (the running runs, then the best)
MAX_POINTS = 400  # points of one curve (longer histories are thinned, the last kept)
MANY_POINTS = 2000  # markers drawn with WebGL past this many runs
ALL_POINTS = 150_000  # points of all curves together (more curves: fewer points each)
STATE_COLOURS = {"finished": "#2c7fb8", "running": "#27ae60", "stopped": "#e67e22",
                 "failed": "#c0392b", "crashed": "#8e1b10", "killed": "#7f8c8d",
                 "preempted": "#8e44ad", "paused": "#f1c40f"}


def available() -> bool:
    try:
        import plotly  # noqa: F401
    except ImportError:
        return False
    return True


def report_data(sweep: Sweep) -> dict[str, Any]:
    """The look's data (``Status.as_json``) with what the page adds: each run's history and
    flat config, hyperband's thresholds, parameter kinds and importance."""
    reap(sweep)
    s = look(sweep).as_json()
    s["runs"] = [dict(r) for r in s["runs"]]  # (the page's own rows: it adds to them)
    cfg = sweep.config
    runs = sweep.state.runs
    metric = cfg.metric
    sign = metric.sign if metric else 1.0
    now = time.time()
    per_curve = max(20, min(MAX_POINTS, ALL_POINTS // max(1, min(len(s["runs"]), MAX_CURVES))))
    for r in s["runs"]:
        run = runs[r["run_id"]]
        h = run.history
        step = max(1, math.ceil(len(h) / per_curve))
        xs = list(range(1, len(h) + 1, step))
        if xs and xs[-1] != len(h):
            xs.append(len(h))
        r["curve"] = [xs, [h[x - 1] for x in xs]]
        r["flat"] = dict(run.params)
        end = r["ended_at"] if r["ended_at"] is not None else (now if r["state"] == "running"
                                                               else None)
        r["duration"] = None if end is None or not r["started_at"] else max(end - r["started_at"], 0.0)
    bands: list[dict[str, Any]] = []
    hb = cfg.hyperband
    if hb is not None and metric is not None:
        judged = [r for r in runs.values() if r.history and not r.summary_only]
        for band, t in band_thresholds(hb, [r.history for r in judged], sign):
            reached = sum(1 for r in judged if len(r.history) >= band)
            bands.append({"band": band, "threshold": None if math.isinf(t) else sign * t,
                          "reached": reached})
        for r in s["runs"]:
            if r["state"] != RunState.STOPPED.value or not r["curve"][0]:
                continue
            n = runs[r["run_id"]].history
            at = [b for b in bands if len(n) >= b["band"] and b["threshold"] is not None]
            if at:
                b = at[-1]
                r["stop_note"] = (f"stopped by hyperband after line {len(n)}: at band {b['band']} "
                                  f"its value {fmt(n[b['band'] - 1])} is worse than the band's "
                                  f"threshold {fmt(b['threshold'])} (today's)")
    for r in s["runs"]:  # every other rule (asha, median, the budget) says why in its reason
        if r["state"] in (RunState.STOPPED.value, RunState.PAUSED.value) and r["reason"]\
                and "stop_note" not in r:
            r["stop_note"] = f"{r['state']} after line {r['steps']}: {r['reason']}"
    s["bands"] = bands
    s["eta"] = hb.eta if hb else None
    names = [p.name for p in cfg.space.params if p.searchable]
    for r in s["runs"]:
        for k in r["flat"]:
            if k not in names:
                names.append(k)
    params = {p.name: p for p in cfg.space.params}
    kinds = {}
    for n in names:
        values = [r["flat"][n] for r in s["runs"] if n in r["flat"]]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) < 2:
            continue  # constant across the runs
        kinds[n] = ("category" if is_categorical(params.get(n), values)
                    else "log" if is_log(params.get(n), values) else "linear")
    s["kinds"] = kinds
    valued = [r for r in s["runs"] if r["value"] is not None]
    s["importance"] = None if metric is None else importance(
        cfg.space, [r["flat"] for r in valued], [r["value"] for r in valued], metric.goal)
    s["robust"] = None if metric is None else robust_range([r["value"] for r in valued],
                                                           metric.goal)
    if cfg.pbt is not None:
        _population_data(cfg, runs, s)
    s["made_at"] = now
    return s


def _population_data(cfg: Any, runs: dict[str, Any], s: dict[str, Any]) -> None:
    """pbt: each member's own values at its lineage's steps, where it copied a donor (the
    donor's value there, its own first after), and the best member's schedule."""
    from ..search import pbt

    for r in s["runs"]:
        run = runs[r["run_id"]]
        xs: list[Any] = []
        ys: list[Any] = []
        jumps = []
        segs = pbt.segments_of(run)
        for i, seg in enumerate(segs):
            to = int(segs[i + 1]["from"]) if i + 1 < len(segs) else len(run.history)
            own = list(run.history[int(seg["from"]):to])
            steps = list(range(int(seg["step"]) + 1, int(seg["step"]) + 1 + len(own)))
            parent = seg.get("parent")
            if parent:
                donor = runs.get(parent[0])
                v = pbt.value_at(donor, int(parent[1]), runs, cut=int(parent[1])) if donor else None
                if v is not None:
                    jumps.append({"step": int(parent[1]), "from": parent[0], "value": v,
                                  "to": own[0] if own else None})
                xs.append(None)  # a new model: the line breaks
                ys.append(None)
            xs.extend(steps)
            ys.extend(own)
        r["pcurve"] = [xs, ys]
        r["jumps"] = jumps
    best = (s.get("pbt") or {}).get("best")
    if best:
        s["pbt_schedule"] = pbt.lineage(runs[best["run_id"]], runs)


def _population_figures(s: dict[str, Any], base: dict[str, Any], figs: dict[str, Any],
                        index: dict[str, int]) -> None:
    """pbt: the population's curves, a colour a member, exploits marked; the best member's
    mutable parameters over its steps."""
    metric = s["metric"]["name"]
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf"]
    data: list[dict[str, Any]] = []
    jx: list[Any] = []
    jy: list[Any] = []
    jt: list[str] = []
    for k, r in enumerate(s["runs"]):
        if not r.get("pcurve") or not r["pcurve"][0]:
            continue
        colour = palette[k % len(palette)]
        data.append({"type": "scatter", "mode": "lines", "name": r["run_id"],
                     "x": r["pcurve"][0], "y": r["pcurve"][1], "connectgaps": False,
                     "_runs": [index[r["run_id"]]] * len(r["pcurve"][0]),
                     "hovertemplate": "%{text}<br>step %{x}: %{y:.4g}<extra></extra>",
                     "line": {"color": colour, "width": 1.4}})
        for j in r["jumps"]:
            if j["to"] is None:
                continue
            jx += [j["step"], j["step"] + 1, None]
            jy += [j["value"], j["to"], None]
            text = _text(f"{r['run_id']} copied {j['from']} at step {j['step']}")
            jt += [text, text, ""]
    if jx:
        data.append({"type": "scatter", "mode": "lines+markers", "name": "exploit (a copy)",
                     "x": jx, "y": jy, "text": jt, "hoverinfo": "text",
                     "line": {"color": "#444", "width": 1, "dash": "dot"},
                     "marker": {"symbol": "triangle-right", "size": 7, "color": "#444"}})
    figs["population"] = {"data": data, "layout": {
        **base, "height": 420, "xaxis": {"title": {"text": "step (its lineage's)"}},
        "yaxis": {"title": {"text": metric}}}}
    pieces = s.get("pbt_schedule") or []
    mutable = [n for n, kind in s["kinds"].items() if kind != "category"]
    sched: list[dict[str, Any]] = []
    for n in mutable:
        xs, ys = [], []
        for start, end, _, params in pieces:
            if n in params:
                xs += [start, end]
                ys += [params[n], params[n]]
        if xs:
            sched.append({"type": "scatter", "mode": "lines", "name": n, "x": xs, "y": ys,
                          "hovertemplate": f"{_text(n)} %{{y:.4g}} at step %{{x}}<extra></extra>",
                          "yaxis": "y" if not sched else f"y{len(sched) + 1}"})
    if sched:
        layout = {**base, "height": 300, "xaxis": {"title": {"text": "step"}},
                  "yaxis": {"title": {"text": sched[0]["name"]},
                            "type": "log" if s["kinds"].get(sched[0]["name"]) == "log" else "linear"}}
        for i, t in enumerate(sched[1:], start=2):
            layout[f"yaxis{i}"] = {"overlaying": "y", "side": "right",
                                   "title": {"text": t["name"]},
                                   "type": "log" if s["kinds"].get(t["name"]) == "log" else "linear"}
        figs["schedule"] = {"data": sched, "layout": layout}


def _text(value: str) -> str:
    """A value in plotly's hover text (a subset of HTML): <, > and & escaped."""
    return html.escape(value, quote=False)


def _hover(r: dict[str, Any], metric: str | None, extra: str = "") -> str:
    lines = [f"<b>{_text(r['run_id'])}</b> · {_text(r['state'])}"]
    if metric:
        lines.append(f"{_text(metric)} = {_text(fmt(r['value']))}")
    if r.get("attempt", 1) > 1:
        lines.append(f"attempt {r['attempt']}")
    lines += [f"{_text(k)} = {_text(fmt(v))}" for k, v in list(r["flat"].items())[:16]]
    if extra:
        lines.append(_text(extra))
    return "<br>".join(lines)


def _axis_values(kind: str, values: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Values for a plotly axis of this kind, and the axis settings."""
    if kind == "category":
        return [str(v) if v is not None else "(absent)" for v in values], {"type": "category"}
    if kind == "log":
        return values, {"type": "log"}
    return values, {}


def _figures(s: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(figure id -> {data, layout}, figure id -> where its metric axis is)."""
    metric = s["metric"]["name"] if s["metric"] else None
    goal = s["metric"]["goal"] if s["metric"] else "minimize"
    runs = s["runs"]
    figs: dict[str, Any] = {}
    axes: dict[str, Any] = {}
    if not metric:
        return figs, axes
    base = {"margin": {"l": 60, "r": 20, "t": 30, "b": 50}, "hovermode": "closest",
            "template": None, "paper_bgcolor": "white", "plot_bgcolor": "#fafafa",
            "legend": {"orientation": "h", "y": 1.12}}
    valued: list[tuple[int, dict[str, Any]]] = [
        (i, r) for i, r in enumerate(runs) if r["value"] is not None]
    index = {r["run_id"]: i for i, r in enumerate(runs)}
    kind = "scattergl" if len(valued) > MANY_POINTS else "scatter"  # SVG slows past that
    # hover texts are the page's once (SWEEP.texts); a trace names its runs by index in
    # "_runs" and the page's script fills its "text" from them
    # best so far
    data: list[dict[str, Any]] = []
    for state in STATE_COLOURS:
        pts = [(i, r) for i, r in valued if r["state"] == state]
        if pts:
            data.append({"type": kind, "mode": "markers", "name": state,
                         "x": [i + 1 for i, _ in pts], "y": [r["value"] for _, r in pts],
                         "_runs": [i for i, _ in pts], "hoverinfo": "text",
                         "marker": {"color": STATE_COLOURS[state], "size": 7, "opacity": 0.85}})
    bx = [i + 1 for i, _ in valued]
    by = goals.best_so_far([r["value"] for _, r in valued], goal)
    data.append({"type": "scatter", "mode": "lines", "name": "best so far", "x": bx, "y": by,
                 "line": {"color": "#c0392b", "width": 2, "shape": "hv"}, "hoverinfo": "y"})
    figs["best"] = {"data": data, "layout": {**base, "height": 380,
                    "xaxis": {"title": {"text": "run (in start order)"}},
                    "yaxis": {"title": {"text": metric}}}}
    axes["best"] = {"traces": list(range(len(data))), "range": s["robust"]}
    progress = s.get("progress")
    if progress and progress["points"]:
        unit, budget = progress["unit"], progress["budget"]
        spent = [p[0] for p in progress["points"]]
        shapes = ([{"type": "line", "x0": budget, "x1": budget, "yref": "paper", "y0": 0,
                    "y1": 1, "line": {"color": "#888", "dash": "dot"}}] if budget else [])
        figs["spent"] = {"data": [{
            "type": "scatter", "mode": "lines+markers", "name": "best so far", "x": spent,
            "y": [p[1] for p in progress["points"]], "hoverinfo": "x+y",
            "line": {"color": "#c0392b", "width": 2, "shape": "hv"}, "marker": {"size": 4}}],
            "layout": {**base, "height": 320, "shapes": shapes,
                       "xaxis": {"title": {"text": f"{unit} spent" + (
                           f" (the dotted line: the budget, {budget:g})" if budget else "")},
                           "range": [0, max([*spent, float(budget or 0)]) * 1.02]},
                       "yaxis": {"title": {"text": f"best {metric}"}}}}
    # learning curves
    curved = sorted((r for r in runs if r["curve"][0]), key=lambda r: (
        r["state"] != "running", r["value"] is None,
        goals.sign(goal) * r["value"] if r["value"] is not None else 0))
    curved = curved[:MAX_CURVES]
    data = []
    for state in STATE_COLOURS:
        xs: list[Any] = []
        ys: list[Any] = []
        refs: list[Any] = []
        for r in curved:
            if r["state"] != state:
                continue
            i = index[r["run_id"]]
            xs.extend(r["curve"][0])
            ys.extend(r["curve"][1])
            refs.extend([i] * len(r["curve"][0]))
            xs.append(None)
            ys.append(None)
            refs.append(i)
        if xs:
            data.append({"type": "scattergl" if len(xs) > 20000 else "scatter", "mode": "lines",
                         "name": state, "x": xs, "y": ys, "_runs": refs,
                         "hovertemplate": "%{text}<br>line %{x}: %{y:.4g}<extra></extra>",
                         "line": {"color": STATE_COLOURS[state], "width": 1.3},
                         "opacity": 0.75, "connectgaps": False})
    stopped = [r for r in curved if r["state"] == "stopped"]
    if stopped:
        data.append({"type": "scatter", "mode": "markers", "name": "stopped here",
                     "x": [r["curve"][0][-1] for r in stopped],
                     "y": [r["curve"][1][-1] for r in stopped],
                     "text": [_hover(r, metric, r.get("stop_note", "stopped")) for r in stopped],
                     "hoverinfo": "text",
                     "marker": {"symbol": "x", "size": 10, "color": STATE_COLOURS["stopped"],
                                "line": {"width": 1, "color": "#333"}}})
    shapes = []
    bands = [b for b in s["bands"] if b["threshold"] is not None]
    if bands:
        data.append({"type": "scatter", "mode": "markers", "name": "hyperband threshold",
                     "x": [b["band"] for b in bands], "y": [b["threshold"] for b in bands],
                     "text": [f"band at line {b['band']}: threshold {_text(fmt(b['threshold']))}"
                              f"<br>{b['reached']} run(s) reached it; a running run worse "
                              f"than this here is stopped (eta {s['eta']:g})" for b in bands],
                     "hoverinfo": "text",
                     "marker": {"symbol": "line-ew-open", "size": 22, "color": "#000",
                                "line": {"width": 3}}})
        longest = max((r["curve"][0][-1] for r in curved), default=0)
        for b in s["bands"]:
            if b["band"] > longest:
                break  # bands no run has reached: they would only stretch the axis
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": b["band"],
                           "x1": b["band"], "y0": 0, "y1": 1,
                           "line": {"color": "#999", "width": 1, "dash": "dot"}})
    figs["curves"] = {"data": data, "layout": {
        **base, "height": 420, "shapes": shapes,
        "xaxis": {"title": {"text": "metric line (hyperband counts bands in these)"}},
        "yaxis": {"title": {"text": metric}}}}
    axes["curves"] = {"traces": list(range(len(data))), "range": _curves_range(curved, goal)}
    if "pareto" in s:
        figs["pareto"] = _pareto_figure(s, index, base)
    if s.get("pbt"):
        _population_figures(s, base, figs, index)
        axes["population"] = {"traces": [i for i, t in enumerate(figs["population"]["data"])
                                         if t.get("name") != "exploit (a copy)"],
                              "range": s["robust"]}
    # parallel coordinates
    kinds = s["kinds"]
    if valued and kinds:
        dims = []
        for name, kind in kinds.items():
            raw = [r["flat"].get(name) for _, r in valued]
            dims.append(_dimension(name, kind, raw))
        ys = [r["value"] for _, r in valued]
        dims.append({"label": metric, "values": ys})
        figs["parallel"] = {"data": [{
            "type": "parcoords", "dimensions": dims,
            "line": {"color": ys, "colorscale": "Viridis", "reversescale": goals.sign(goal) < 0,
                     "showscale": True, "colorbar": {"title": {"text": metric}}}}],
            "layout": {**base, "height": 460, "margin": {"l": 80, "r": 80, "t": 70, "b": 30}}}
        axes["parallel"] = {"parcoords": len(dims) - 1, "range": s["robust"]}
    # the metric against each parameter
    for j, (name, kind) in enumerate(kinds.items()):
        shown = [r for _, r in valued]
        xs, xaxis = _axis_values(kind, [r["flat"].get(name) for r in shown])
        figs[f"param{j}"] = {"data": [{
            "type": kind, "mode": "markers", "name": name, "x": xs,
            "y": [r["value"] for r in shown], "_runs": [index[r["run_id"]] for r in shown],
            "hoverinfo": "text",
            "marker": {"color": [STATE_COLOURS.get(r["state"], "#333") for r in shown], "size": 7,
                       "opacity": 0.8}}],
            "layout": {**base, "height": 300, "width": 400, "showlegend": False,
                       "margin": {"l": 55, "r": 10, "t": 30, "b": 45},
                       "title": {"text": name, "font": {"size": 13}},
                       "xaxis": {**xaxis, "title": {"text": name}},
                       "yaxis": {"title": {"text": metric}}}}
        axes[f"param{j}"] = {"traces": [0], "range": s["robust"]}
    return figs, axes


def _pareto_figure(s: dict[str, Any], index: dict[str, int], base: dict[str, Any]
                   ) -> dict[str, Any]:
    """Two objectives: every run, the front drawn through its runs; more: parallel
    coordinates of the objectives, the front's runs highlighted."""
    metrics = [m["name"] for m in s["metrics"]]
    on_front = {p["run_id"] for p in s["pareto"]}
    runs = [r for r in s["runs"] if r.get("values") and all(
        r["values"].get(m) is not None for m in metrics)]
    if len(metrics) == 2:
        a, b = metrics
        rest = [r for r in runs if r["run_id"] not in on_front]
        best = sorted((r for r in runs if r["run_id"] in on_front),
                      key=lambda r: (r["values"][a], r["values"][b]))
        goal_a = s["metrics"][0]["goal"]
        shape = "hv" if (goal_a == "minimize") == (s["metrics"][1]["goal"] == "minimize") else "vh"
        data = [{"type": "scatter", "mode": "markers", "name": "dominated",
                 "x": [r["values"][a] for r in rest], "y": [r["values"][b] for r in rest],
                 "_runs": [index[r["run_id"]] for r in rest], "hoverinfo": "text",
                 "marker": {"color": "#9aa5b1", "size": 7, "opacity": 0.7}},
                {"type": "scatter", "mode": "lines+markers", "name": "Pareto front",
                 "x": [r["values"][a] for r in best], "y": [r["values"][b] for r in best],
                 "_runs": [index[r["run_id"]] for r in best], "hoverinfo": "text",
                 "line": {"color": "#c0392b", "width": 2, "shape": shape},
                 "marker": {"color": "#c0392b", "size": 9}}]
        return {"data": data, "layout": {**base, "height": 440,
                "xaxis": {"title": {"text": f"{a} ({s['metrics'][0]['goal']})"}},
                "yaxis": {"title": {"text": f"{b} ({s['metrics'][1]['goal']})"}}}}
    dims = [{"label": f"{m['name']} ({m['goal']})", "values": [r["values"][m["name"]] for r in runs]}
            for m in s["metrics"]]
    return {"data": [{"type": "parcoords", "dimensions": dims,
                      "line": {"color": [1 if r["run_id"] in on_front else 0 for r in runs],
                               "colorscale": [[0, "#c9d1d9"], [1, "#c0392b"]], "showscale": False}}],
            "layout": {**base, "height": 440, "margin": {"l": 80, "r": 80, "t": 70, "b": 30}}}


def _curves_range(curved: list[dict[str, Any]], goal: str) -> list[float] | None:
    """The curves' metric axis without diverged runs: the fence is found among each
    run's worst value (a curve's early lines are not outliers, a run at 1e6 is)."""
    maximize = goals.sign(goal) < 0
    worst = [min(r["curve"][1]) if maximize else max(r["curve"][1]) for r in curved]
    fence = robust_range(worst, goal)
    if fence is None:
        return None
    kept = [y for r, w in zip(curved, worst) if fence[0] <= w <= fence[1] for y in r["curve"][1]]
    if maximize:
        return [fence[0], max(kept)]
    return [min(kept), fence[1]]


def _dimension(name: str, kind: str, raw: list[Any]) -> dict[str, Any]:
    if kind == "category":
        labels = sorted({str(v) for v in raw})
        return {"label": name, "values": [labels.index(str(v)) for v in raw],
                "tickvals": list(range(len(labels))), "ticktext": labels,
                "range": [-0.2, len(labels) - 0.8] if len(labels) > 1 else [-1, 1]}
    nums = [float(v) if is_number(v) else math.nan for v in raw]
    finite = [v for v in nums if not math.isnan(v)]
    mid = sorted(finite)[len(finite) // 2] if finite else 0.0
    nums = [mid if math.isnan(v) else v for v in nums]
    if kind == "log":
        logs = [math.log10(v) for v in nums]
        lo, hi = math.floor(min(logs)), math.ceil(max(logs))
        ticks = list(range(lo, hi + 1))
        return {"label": f"{name} (log)", "values": logs, "tickvals": ticks,
                "ticktext": [f"{10 ** t:g}" for t in ticks]}
    return {"label": name, "values": nums}


def _table(s: dict[str, Any]) -> str:
    metric = s["metric"]["name"] if s["metric"] else "value"
    names = list(s["kinds"]) + [n for r in s["runs"] for n in r["flat"] if n not in s["kinds"]]
    names = list(dict.fromkeys(names))
    esc = html.escape
    kept = summary_keys(s["runs"])
    limited = any("feasible" in r for r in s["runs"])
    head = ["run", "state", metric, "steps", "duration", "attempts",
            *(["feasible"] if limited else []), *names, *(f"summary.{k}" for k in kept)]
    rows = []
    for r in s["runs"]:
        d = r["duration"]
        cells = [(r["run_id"], esc(r["run_id"]), "l"),
                 (r["state"], esc(r["state"]) + (" (prior)" if r["prior"] else ""), "l"),
                 (r["value"], esc(fmt(r["value"])), ""),
                 (r["steps"], str(r["steps"]), ""),
                 (d, "" if d is None else _duration(d), ""),
                 (r["attempt"], str(r["attempt"]), "")]
        if limited:
            text = feasibility_text(r)
            cells.append((text, esc(text), "l"))
        cells += [(r["flat"].get(n), esc(fmt(r["flat"].get(n))), "") for n in names]
        own = r.get("summary") or {}
        cells += [(own.get(k), esc(fmt(own.get(k))), "") for k in kept]
        rows.append("<tr class='run'>" + "".join(
            f"<td class='{c}' data-v='{esc(_sort_key(v), quote=True)}'>{text}</td>"
            for v, text, c in cells) + "</tr>")
    return ("<table id='runs'><thead><tr>"
            + "".join(f"<th class='{'l' if i < 2 else ''}' data-col='{i}' title='sort'>{esc(h)}"
                      "<span class='arrow'></span></th>" for i, h in enumerate(head))
            + "</tr></thead><tbody>" + "\n".join(rows) + "</tbody></table>")


def _sort_key(v: Any) -> str:
    if v is None:
        return ""
    if is_number(v):
        return repr(float(v))
    return str(v)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _importance_html(s: dict[str, Any]) -> str:
    imp = s["importance"]
    valued = sum(1 for r in s["runs"] if r["value"] is not None)
    if imp is None:
        return (f"<p class='note'>Importance needs {MIN_RUNS} runs with a value of the metric "
                f"({valued} so far).</p>")
    if not imp:
        return "<p class='note'>No parameter varies across the runs.</p>"
    esc = html.escape
    rows = []
    for d in imp:
        r = d["correlation"]
        corr = "" if r is None else (
            f"<span class='bar {'pos' if r > 0 else 'neg'}' style='width:{abs(r) * 100:.0f}px'>"
            f"</span> {r:+.2f}" + (f" <small>({esc(d['name'])} = {esc(d['correlation_of'])})"
                                   f"</small>" if d["correlation_of"] is not None else ""))
        rows.append(f"<tr class='imp'><td class='l'>{esc(d['name'])}</td><td class='l'>"
                    f"<span class='bar' style='width:{d['importance'] * 200:.0f}px'></span> "
                    f"{d['importance']:.2f}</td><td class='l'>{corr}</td></tr>")
    caution = (f" With {valued} runs this is indicative only." if valued < 30 else "")
    return ("<table id='importance'><thead><tr><th class='l'>parameter</th>"
            "<th class='l'>importance</th><th class='l'>correlation</th></tr></thead><tbody>"
            + "".join(rows) + f"</tbody></table><p class='note'>Method: {esc(METHOD)}; "
            f"{valued} runs.{caution}</p>")


def _json(value: Any) -> str:
    """JSON that is safe inside a <script> element."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def json_safe(value: Any) -> Any:
    """NaN and infinities (JSON has none) as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def data_stamp(s: dict[str, Any]) -> str:
    """What the page shows that can change while a sweep runs (not the clock): a new
    stamp means a new page is worth loading."""
    key = [s["state"], s["counts"], s["revision"],
           [(r["run_id"], r["state"], r["steps"], r["value"], r["attempt"]) for r in s["runs"]]]
    return hashlib.sha256(json.dumps(key, default=str).encode()).hexdigest()[:16]


def interactive_report(s: dict[str, Any], watch: float | None = None,
                       stamp_file: str | None = None, stamp: str | None = None
                       ) -> tuple[str, str]:
    """The page for ``report_data``'s data, and its stamp (``data_stamp``). With ``watch``
    (seconds), the page loads ``stamp_file`` (a name beside the page) every few seconds
    and reloads when the stamp there is not its own."""
    from plotly.offline import get_plotlyjs

    esc = html.escape
    figs, axes = _figures(s)
    metric = s["metric"]["name"] if s["metric"] else None
    goal = s["metric"]["goal"] if s["metric"] else "minimize"
    counts = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n) or "no runs yet"
    best = s["best"]
    best_html = "-" if not best else (
        f"<code>{esc(best['run_id'])}</code> {esc(fmt(best['value']))} &nbsp; "
        + " ".join(f"{esc(k)}=<b>{esc(fmt(v))}</b>" for k, v in flat_names(best["config"]).items()))
    robust = s["robust"]
    values = [r["value"] for r in s["runs"] if r["value"] is not None]
    positive = bool(values) and min(values) > 0
    made = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["made_at"]))
    body = [
        f"<h1>Sweep {esc(s['id'])}{' — ' + esc(s['name']) if s.get('name') else ''}</h1>",
        f"<dl><dt>state</dt><dd id='state'>{esc(s['state'])}</dd><dt>method</dt>"
        f"<dd>{esc(s['method'])}</dd>"
        + (f"<dt>metrics</dt><dd>{esc(', '.join(m['name'] + ' (' + m['goal'] + ')' for m in s['metrics']))}"
           f"</dd><dt>runs</dt><dd>{esc(counts)}</dd><dt>pareto</dt><dd>{len(s['pareto'])} run(s) "
           "on the front</dd>" if "pareto" in s else
           f"<dt>metric</dt><dd>{esc(metric or '-')} ({esc(goal)})</dd>"
           f"<dt>runs</dt><dd>{esc(counts)}</dd><dt>best</dt><dd>{best_html}</dd>")
        + f"<dt>written</dt><dd>{esc(made)}"
        + (f" · live: rewritten every {watch:g} s while the sweep runs" if watch else "")
        + "</dd></dl>",
    ]
    if metric:
        switch = ["<div id='axis-mode' class='switch'>metric axis: "]
        modes = [("clip", "clip outliers"), ("full", "full range")] + (
            [("log", "log")] if positive else [])
        for mode, label in modes:
            switch.append(f"<label><input type='radio' name='axis' value='{mode}'> {label}</label>")
        clipped = 0
        if robust:
            lo, hi = robust
            clipped = sum(1 for v in values if v < lo or v > hi)
        switch.append(f"<span class='note'> {clipped} run(s) beyond the clipped axis, drawn as "
                      "triangles on its edge</span>" if clipped else
                      "<span class='note'> (no outliers)</span>")
        switch.append("</div>")
        body.append("".join(switch))
        body += [f"<h2>Best {esc(metric)} so far</h2><div class='fig' id='fig-best'></div>"]
        if "spent" in figs:
            body += [f"<h2>Best {esc(metric)} against what was spent</h2>"
                     "<div class='fig' id='fig-spent'></div>"]
        body += [
                 "<h2>Learning curves</h2>",
                 "<p class='note'>Each run's metric against its metric lines. "
                 + ("Dotted lines: hyperband's bands; black bars: each band's threshold today "
                    "(a running run worse than it at that line is stopped); ✕: where a run was "
                    "stopped (hover for why)." if s["bands"] else "")
                 + (f" The {MAX_CURVES} most relevant runs are drawn." if sum(
                     1 for r in s["runs"] if r["curve"][0]) > MAX_CURVES else "")
                 + "</p><div class='fig' id='fig-curves'></div>",
                 "<h2>Parameter importance</h2>", _importance_html(s)]
        if "population" in figs:
            best_run = (s["pbt"].get("best") or {}).get("run_id", "")
            at = next(i for i, part in enumerate(body) if part.startswith("<h2>Learning curves"))
            body[at:at] = [
                "<h2>The population</h2><p class='note'>Each member's metric against its "
                "lineage's steps (a colour a member); a dotted arrow: a member copied another's "
                "checkpoint there (exploit) and went on from it with a changed config.</p>"
                "<div class='fig' id='fig-population'></div>"] + ([
                    f"<h2>The schedule of the best member ({esc(best_run)})</h2><p class='note'>"
                    "Its mutable parameters over the steps of its lineage: what "
                    "<code>sweepcli pbt replay</code> trains again.</p>"
                    "<div class='fig' id='fig-schedule'></div>"] if "schedule" in figs else [])
        if "pareto" in figs:
            at = next(i for i, part in enumerate(body) if part.startswith("<h2>Best "))
            body[at:at] = [f"<h2>Pareto front ({len(s['pareto'])} run(s))</h2><p class='note'>"
                           "Every run with a value of each objective; the runs no other run "
                           "beats on every objective at once, in red"
                           + (" (the highlighted lines)" if len(s["metrics"]) > 2 else "")
                           + ".</p><div class='fig' id='fig-pareto'></div>"]
        if "parallel" in figs:
            body += ["<h2>Parallel coordinates</h2><p class='note'>Drag along an axis to keep "
                     "only the runs within; click the band to clear it.</p>"
                     "<div class='fig' id='fig-parallel'></div>"]
        params = [k for k in figs if k.startswith("param")]
        if params:
            body.append(f"<h2>{esc(metric)} against each parameter</h2><div class='grid'>")
            body += [f"<div class='fig small' id='fig-{k}'></div>" for k in params]
            body.append("</div>")
    body += [f"<h2>Runs ({len(s['runs'])})</h2><p class='note'>Click a column to sort.</p>",
             _table(s)]
    settings = {"figs": json_safe(figs), "axes": json_safe(axes), "goal": goal,
                "texts": [_hover(r, metric) for r in s["runs"]],
                "watch": watch, "stamp_file": stamp_file, "stamp": stamp or data_stamp(s)}
    page = "\n".join([
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>sweep {esc(s['id'])}</title><style>{_page_file('dashboard.css')}</style>",
        f"<script>{get_plotlyjs()}</script>",
        "</head><body>", *body,
        f"<script>const SWEEP = {_json(settings)};</script>",
        f"<script>{_page_file('dashboard.js')}</script></body></html>"])
    return page, settings["stamp"]


@lru_cache(maxsize=2)
def _page_file(name: str) -> str:
    """The page's stylesheet or script: files of this package, so each is read (and linted)
    as what it is."""
    return (resources.files(__package__) / name).read_text(encoding="utf-8")
