"""A sweep at a glance: the data behind ``sweepcli sweep --print`` (and its ``--json``).

Looking never writes: ``look(sweep)`` reads the events and returns a frozen ``Status``.
Ending runs whose heartbeat went silent (the contract: a look marks them crashed) is
``reap(sweep)``, which ``--print``, the report and the API ask for first, under the lock;
a teammate who may only read the sweep looks without it. ``text.py`` renders a Status for
a terminal, ``dashboard.py`` as the HTML report; ``Status.as_json()`` is ``--json``.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields as fields_of, replace
from pathlib import Path
from typing import Any

from ..agent import sweep_status
from ..agent.liveness import end_silent_runs
from ..budget import progress, spending
from ..config.constraints import broken_limits, is_feasible
from ..runs import Run, RunState
from .. import jsonline
from ..store import Sweep
from ..store.files import open_nofollow
from ..store.settings import heartbeat_timeout


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The summary a program set itself (``run.summary["k"] = v``, W&B's), kept in its
    folder as ``summary.json``; {} when there is none (or it is not ours to read)."""
    try:
        fd = open_nofollow(run_dir / "summary.json", os.O_RDONLY)
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as f:
        data = f.read(1 << 20)
    try:
        got = jsonline.parse(data)
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def run_value(config: Any, run: Run) -> float | None:
    """A run's value: its best metric value (W&B's rule); a pbt member's is its last, the
    value of the model it holds (a member that exploited dropped the model it had)."""
    m = config.metric
    if m is None:
        return None
    if config.pbt is not None and run.prior is None:
        return float(run.history[-1]) if run.history else None
    return run.best(m.goal)


def _value(sweep: Sweep, run: Run) -> float | None:
    return run_value(sweep.config, run)


def best_run(sweep: Sweep) -> Run | None:
    """The run with the best value (ties: the earliest)."""
    m = sweep.config.metric
    if m is None or sweep.config.multi:
        return None  # several objectives: a front, not one best run
    best: Run | None = None
    limits = sweep.config.constraints
    for run in sweep.state.runs.values():
        if limits and is_feasible(limits, run) is not True:
            continue  # the best run is a feasible one (sweepcli.constraints)
        v = run_value(sweep.config, run)
        if v is not None and (best is None or m.better(v, run_value(sweep.config, best))):  # type: ignore[arg-type]
            best = run
    return best


def overview(sweep: Sweep) -> dict[str, Any]:
    """A sweep in one row (``sweepcli list``, the home page of ``sweepcli ui``): state,
    method, counts by state, best value, the agents with a run going, the budget spent.
    Reads only."""
    state = sweep.refresh()
    counts: dict[str, int] = {}
    for run in state.runs.values():
        counts[run.state.value] = counts.get(run.state.value, 0) + 1
    best = best_run(sweep)
    metric = sweep.config.metric
    return {
        "id": sweep.ref, "name": sweep.meta.get("name"),
        "state": sweep_status(sweep.config, state), "method": sweep.config.method,
        "metric": metric.name if metric else None, "counts": counts,
        "best": None if best is None else run_value(sweep.config, best),
        "agents": sorted({r.agent for r in state.runs.values()
                          if r.state.value == "running" and r.agent}),
        "created": sweep.meta.get("created"),
        "budget": spending(sweep.config, list(state.runs.values()), time.time()),
    }


@dataclass(frozen=True)
class Status:
    """A sweep as one look saw it. ``runs`` are the rows ``--json`` prints (keys in
    docs/commands.md), oldest first; ``metrics``/``pareto`` only for several objectives."""

    id: str
    project: str | None
    name: str | None
    description: str | None
    path: str
    state: str
    method: str
    metric: Mapping[str, Any] | None
    run_cap: int | None
    counts: Mapping[str, int]
    best: Mapping[str, Any] | None
    runs: tuple[dict[str, Any], ...]
    prior_runs: int
    queue: tuple[dict[str, Any], ...]
    revision: int
    revisions: tuple[dict[str, Any], ...]
    journal_lines_skipped: int
    #: sweepcli.budget: {"steps"|"hours"|"gpu_hours": {"budget", "spent", "left"}} (None: no
    #: budget), and the best value against what was spent (``progress``)
    budget: Mapping[str, Any] | None
    #: the best value against what was spent (``budget.progress``): {"unit", "budget",
    #: "points": [[spent, best], ...]}, None before a value
    progress: Mapping[str, Any] | None = field(default=None)
    metrics: tuple[dict[str, Any], ...] | None = field(default=None)
    pareto: tuple[dict[str, Any], ...] | None = field(default=None)
    #: method pbt: {"population", "steps", "interval", "members": [{"run_id", "state",
    #: "step", "config"}], "best": {"run_id", "step", "schedule": [{"step", "params"
    #: (what changed, nested), "run" (who trained on), "from" (the donor it copied, or
    #: None)}], "text": ["lr: 0.1 -> 0.08 (step 20, from run b) -> ..."]}}
    pbt: Mapping[str, Any] | None = field(default=None)

    @property
    def goal(self) -> str:
        """The goal runs are ranked by (the first objective's, with several)."""
        first = self.metric or (self.metrics[0] if self.metrics else None)
        return str(first["goal"]) if first else "minimize"

    def best_first(self, k: int) -> Status:
        """The same look with only the ``k`` runs of best value (feasible ones first; ties:
        the earlier run)."""
        goal = self.goal
        valued = [r for r in self.runs if r["value"] is not None]
        valued.sort(key=lambda r: (r.get("feasible") is False,
                                   -r["value"] if goal == "maximize" else r["value"]))
        return replace(self, runs=tuple(valued[:k]))

    def as_json(self) -> dict[str, Any]:
        """What ``--json`` prints."""
        # shallow (fast), lists where a look holds tuples: what --json always gave
        out = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
               for f in fields_of(self)}
        for key in ("metrics", "pareto", "pbt"):
            if out[key] is None:
                del out[key]
        return out


def reap(sweep: Sweep, say: Callable[[str], None] | None = None) -> None:
    """What a look does to a sweep before it shows it: runs whose heartbeat went silent are
    ended as crashed (once a short watch has shown them silent indeed), a journal that lost
    runs is refused (never shown as a smaller sweep), and a snapshot is left for the next
    reader. A teammate who may read the sweep but not write it (or a read-only mount) gets
    the events read, nothing marked."""
    try:
        end_silent_runs(sweep, heartbeat_timeout(), say)
        with sweep.lock:
            sweep.refresh()
            sweep.check_complete()
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        sweep.refresh()
        return
    try:
        sweep.write_snapshot()  # the next look, and the next agent, start from here
    except (OSError, RuntimeError):
        pass


def look(sweep: Sweep) -> Status:
    """The sweep as its events say now; reads, never writes."""
    sweep.refresh()
    cfg, state = sweep.config, sweep.state
    now = time.time()
    counts = {s.value: 0 for s in RunState}
    for run in state.runs.values():
        counts[run.state.value] += 1
    best = best_run(sweep)
    runs = sorted(state.runs.values(), key=lambda r: r.started_at)
    fields: dict[str, Any] = {
        "id": sweep.sweep_id,
        "project": sweep.project,
        "name": sweep.meta.get("name"),
        "description": cfg.description,
        "path": str(sweep.path),
        "state": sweep_status(cfg, state),
        "method": cfg.method,
        "metric": None if cfg.metric is None else {
            "name": cfg.metric.name, "goal": cfg.metric.goal, "target": cfg.metric.target,
        },
        "run_cap": cfg.run_cap,
        "counts": counts,
        "best": None if best is None else {
            "run_id": best.run_id,
            "value": _value(sweep, best),
            "config": cfg.space.nest(best.params),
        },
        "runs": tuple(
            {
                "run_id": r.run_id,
                "state": r.state.value,
                "config": cfg.space.nest(r.params),
                "value": _value(sweep, r),
                "steps": len(r.history),
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "exit_code": r.exit_code,
                "retry_of": r.retry_of,
                "agent": r.agent,
                "prior": r.prior,
                "queued": r.queued,
                "reason": r.reason,
                **({"feasible": is_feasible(cfg.constraints, r),
                    "broken": broken_limits(cfg.constraints, r) if r.state != RunState.RUNNING
                    else []} if cfg.constraints else {}),
                "summary": read_summary(sweep.run_dir(r.run_id)) if r.prior is None else {},
                "attempt": r.attempt,
                "attempts": [*r.attempts, {
                    "attempt": r.attempt, "state": r.state.value, "agent": r.agent,
                    "started_at": r.attempt_started_at, "ended_at": r.ended_at,
                    "exit_code": r.exit_code, "reason": r.reason}],
            }
            for r in runs
        ),
        "prior_runs": sum(1 for r in state.runs.values() if r.prior is not None),
        "queue": tuple({"id": pid, "config": cfg.space.nest(p), "in_space": cfg.space.holds(p)}
                       for pid, p in state.queue.items()),
        "revision": cfg.revision,
        "revisions": tuple([{"revision": 0, "at": sweep.meta.get("created"),
                       "config": sweep.base_config.raw}]
                     + [{"revision": r["rev"], "at": r["t"], "config": r["config"]}
                        for r in state.revisions]),
        "journal_lines_skipped": sweep.skipped_lines,
        "budget": spending(cfg, runs, now),
        # (pbt: a member's value is the model it holds now, not the best it ever logged; a
        # curve of the best logged would show models no member holds any more)
        "progress": progress(cfg, runs, now) if cfg.pbt is None else None,
    }
    if cfg.multi:  # several objectives: each run's value of each, and the front
        from ..pareto import front, values_of

        fields["metrics"] = tuple({"name": m.name, "goal": m.goal} for m in cfg.metrics)
        for r, record in zip(runs, fields["runs"]):
            record["values"] = values_of(cfg, r)
        fields["pareto"] = tuple({"run_id": r.run_id, "values": values_of(cfg, r),
                                  "config": cfg.space.nest(r.params)} for r in front(cfg, runs))
    if cfg.pbt is not None:
        _population(sweep, runs, best, fields)
    return Status(**fields)


def _population(sweep: Sweep, runs: list[Run], best: Run | None, fields: dict[str, Any]) -> None:
    """pbt: each run's step and segments, the members, the best one's schedule."""
    from ..search import pbt

    cfg = sweep.config
    for r, record in zip(runs, fields["runs"]):
        segs = pbt.segments_of(r)
        record["step"] = pbt.step_of(r)
        record["segments"] = [{"step": s["step"], "config": cfg.space.nest(s["params"]),
                               "parent": None if not s.get("parent") else
                               {"run_id": s["parent"][0], "step": s["parent"][1]},
                               # where its own values are in the run's history
                               "values": [s["from"], segs[i + 1]["from"] if i + 1 < len(segs)
                                          else len(r.history)]}
                              for i, s in enumerate(segs)]
        exploits = [s["parent"] for s in segs if s.get("parent")]
        record["parent"] = ({"run_id": exploits[-1][0], "step": exploits[-1][1]}
                            if exploits else None)
    members = pbt.members(runs)
    fields["pbt"] = {
        "population": cfg.pbt.population, "steps": cfg.pbt.steps, "interval": cfg.pbt.interval,
        "members": [{"run_id": m.run_id, "state": m.state.value, "step": pbt.step_of(m),
                     "config": cfg.space.nest(m.params)} for m in members],
        "best": None if best is None else {
            "run_id": best.run_id, "step": pbt.step_of(best),
            "schedule": [{**e, "params": cfg.space.nest(e["params"])}
                         for e in pbt.schedule(cfg, runs, best)],
            "text": pbt.schedule_text(cfg, runs, best),
        },
    }
