"""A sweep's status as text: the plain lines ``sweepcli sweep --print`` writes to a pipe
(one ``label  value`` per line, for grep) and the rich tables it draws on a terminal. The
renderer beside ``report.py`` (the terminal plot, the static page) and ``dashboard.py``
(the interactive report); what it shows comes from ``status.look``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..config import SweepConfig, flat_names
from ..text import printable
from .report import fmt
from .status import Status


def _run_note(run: dict[str, Any]) -> str:
    """' (attempt 2; timeout)' when a run was resumed or ended for a reason of its own."""
    if "segments" in run:  # pbt: where the member is, and what it took from others
        copies = sum(1 for seg in run["segments"] if seg["parent"])
        notes = [f"step {run['step']}"] + ([f"{copies} cop{'y' if copies == 1 else 'ies'}"]
                                          if copies else [])
        crashed = sum(1 for a in run["attempts"] if a["state"] in ("crashed", "preempted"))
        notes += [f"{crashed} resumed"] if crashed else []
    else:
        notes = [f"attempt {run['attempt']}"] if run["attempt"] > 1 else []
    if run["reason"]:
        notes.append(fmt(run["reason"]))
    if run.get("feasible") is False:
        notes.append("infeasible: " + fmt(", ".join(run["broken"])))
    return f"  ({'; '.join(notes)})" if notes else ""


SPARKS = "▁▂▃▄▅▆▇█"


def _progress_text(progress: Any) -> str:
    """The best value against what was spent, as a line: a spark line over the spent axis
    (best is up), then the value at a quarter, half and all of what was spent (or of the
    budget, where one is set)."""
    if not progress or len(progress["points"]) < 2:
        return ""
    points = progress["points"]
    unit, budget = progress["unit"], progress["budget"]
    end = float(budget) if budget else points[-1][0]
    if end <= 0:
        return ""
    values = [b for _, b in points]
    lo, hi = min(values), max(values)
    first, last = values[0], values[-1]
    better_up = last >= first  # (best so far only improves: its direction is the goal's)

    def best_at(x: float) -> float | None:
        got = None
        for spent, b in points:
            if spent > x:
                break
            got = b
        return got

    cells = []
    for i in range(24):
        b = best_at(end * (i + 1) / 24)
        if b is None:
            cells.append(" ")
            continue
        level = 0.5 if hi == lo else (b - lo) / (hi - lo)
        level = level if better_up else 1 - level
        cells.append(SPARKS[min(len(SPARKS) - 1, int(level * (len(SPARKS) - 1) + 0.5))])
    marks = [f"{int(f * 100)}% {fmt(b)}" for f in (0.25, 0.5, 1.0)
             if (b := best_at(end * f)) is not None and points[-1][0] >= end * f * 0.999]
    of = f"of the budget ({fmt(budget)} {unit})" if budget else f"of the {fmt(end)} {unit} spent"
    return f"{unit} {''.join(cells)}  " + ", ".join(marks) + f"  {of}"


def _population_text(status: Status) -> list[tuple[str, str]]:
    """pbt: the population where it stands, and the schedule the best member followed."""
    p = status.pbt
    if not p:
        return []
    steps = [m["step"] for m in p["members"]]
    exploits = sum(1 for r in status.runs for s in r.get("segments", ()) if s["parent"])
    where = (f"at step {min(steps)}" if steps and min(steps) == max(steps)
             else f"at steps {min(steps)}-{max(steps)}" if steps else "none started")
    lines = [("pbt", f"{len(p['members'])} of {p['population']} members {where} of "
                     f"{p['steps']} (judged every {p['interval']}); {exploits} exploit(s)")]
    best = p.get("best") or {}
    for line in best.get("text", ()):
        lines.append(("lineage", printable(f"{best['run_id']}  {line}")))
    return lines


def render_status(status: Status, shown: Status, config: SweepConfig, ref: str, last: int,
                  top: int | None, tty: bool, echo: Callable[[str], Any]) -> None:
    """``status`` as text; ``shown`` is the look whose runs are listed (the best ``top``
    first, else the ``last`` ones)."""
    valued = [r for r in shown.runs if r["value"] is not None]
    importance = None
    if status.metric:
        from .insight import importance as rank

        importance = rank(config.space, [flat_names(r["config"]) for r in valued],
                          [r["value"] for r in valued], status.metric["goal"])
    metric = status.metric
    metric_text = printable(f"{metric['name']} ({metric['goal']})") if metric else "-"
    front: list[str] = []
    if status.pareto is not None:  # several objectives: the front instead of one best run
        metric_text = printable(", ".join(f"{m['name']} ({m['goal']})" for m in status.metrics or ()))
        for p in status.pareto:
            values = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in p["values"].items())
            params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(p["config"]).items())
            front.append(f"{p['run_id']}  {values}  {params}")
    counts = ", ".join(f"{n} {k}" for k, n in status.counts.items() if n) or "no runs yet"
    if status.prior_runs:
        counts += f" ({status.prior_runs} prior)"
    queued = status.queue
    queue_text = (f"{len(queued)} point(s) enqueued" + (
        f", {sum(not q['in_space'] for q in queued)} outside today's space (not run)"
        if any(not q["in_space"] for q in queued) else "")) if queued else ""
    revisions = status.revisions
    config_text = ("revision " + ", ".join(
        f"{r['revision']} ({time.strftime('%Y-%m-%d %H:%M', time.localtime(r['at']))})"
        if r["at"] else str(r["revision"]) for r in revisions)) if len(revisions) > 1 else ""
    budget_text = "; ".join(
        f"{b['spent']:,g} of {b['budget']:,g} {unit} spent, {b['left']:,g} left"
        for unit, b in (status.budget or {}).items())
    progress_text = _progress_text(status.progress)
    limits = config.constraints
    feasible_text = ""
    if limits:
        said = {"True": 0, "False": 0, "None": 0}
        for r in status.runs:
            said[str(r.get("feasible"))] += 1
        feasible_text = (f"{said['True']} feasible, {said['False']} infeasible"
                         + (f", {said['None']} running" if said["None"] else "") + "  ("
                         + ", ".join(f"{lim.metric}" + (f" >= {lim.min:g}" if lim.min is not None
                                                        else "")
                                     + (f" <= {lim.max:g}" if lim.max is not None else "")
                                     for lim in limits) + ")")
    skipped = status.journal_lines_skipped
    journal_text = (f"{skipped} line(s) skipped: damaged, or not events of ours"
                    if skipped else "")
    best = status.best
    best_text = "-"
    if best:
        params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(best["config"]).items())
        best_text = f"{best['run_id']}  {fmt(best['value'])}  {params}"
    top_text = ""
    if importance:
        top_text = ", ".join(f"{fmt(d['name'])} {d['importance']:.2f}"
                             for d in importance[:5]) + (
            f"  (importance over {len(valued)} runs)")
    recent = shown.runs if top is not None else shown.runs[-last:] if last > 0 else []
    # the lines shown only when they say something, the same in both renderings
    optional = [("limits", feasible_text), ("budget", budget_text), ("curve", progress_text),
                *_population_text(status), ("queue", queue_text), ("config", config_text),
                ("journal", journal_text)]
    if not tty:
        echo(f"sweep   {ref}")
        if status.name:
            echo(f"name    {printable(str(status.name))}")
        if status.description:
            echo(f"about   {printable(str(status.description))}")
        echo(f"state   {status.state}")
        echo(f"method  {status.method}")
        echo(f"metric  {metric_text}")
        echo(f"runs    {counts}")
        for label, value in optional:
            if value:
                echo(f"{label:<7} {value}")
        if status.pareto is not None:
            echo(f"pareto  {len(front)} run(s) on the front (none dominated by another)")
            for line in front:
                echo(f"front   {line}")
        else:
            echo(f"best    {best_text}")
        if top_text:
            echo(f"top     {top_text}")
        for r in recent:
            params = " ".join(f"{fmt(k)}={fmt(v)}" for k, v in flat_names(r["config"]).items())
            origin = f"  (prior: {fmt(r['prior'])})" if r["prior"] else _run_note(r)
            echo(f"run     {r['run_id']}  {r['state']:<9}  {fmt(r['value']):>10}  "
                       f"{params}{origin}")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    head = Table.grid(padding=(0, 2))
    # every cell is a Text: a value is never read as rich markup
    for label, value in [("sweep", ref + (f"  ({fmt(status.name)})" if status.name else "")),
                         ("about", printable(str(status.description or ""))),
                         ("state", status.state), ("method", status.method), ("metric", metric_text),
                         ("runs", counts), *optional,
                         ("best", "" if status.pareto is not None else best_text),
                         ("pareto", f"{len(front)} run(s) on the front" if status.pareto is not None else ""),
                         ("top", top_text)]:
        if value:
            head.add_row(Text(label, "bold"), Text(value))
    for line in front:
        head.add_row(Text("front", "bold"), Text(line))
    console.print(head)
    if recent:
        table = Table(title=f"{'best' if top is not None else 'last'} {len(recent)} runs",
                      title_justify="left")
        table.add_column("run")
        table.add_column("state")
        table.add_column(Text(fmt(metric["name"]) if metric else "value"), justify="right")
        names = list(flat_names(recent[0]["config"]))
        for n in names:
            table.add_column(Text(fmt(n)), justify="right")
        for r in recent:
            flat = flat_names(r["config"])
            table.add_row(r["run_id"], r["state"] + (" (prior)" if r["prior"] else _run_note(r)),
                          fmt(r["value"]),
                          *(Text(fmt(flat.get(n, ""))) for n in names))
        console.print(table)


