"""A sweep at a glance: the data behind ``sweepcli sweep --print`` (and its ``--json``)."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from ..agent import sweep_status
from ..agent.liveness import end_silent_runs
from ..budget import spending
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


def _value(sweep: Sweep, run: Run) -> float | None:
    m = sweep.config.metric
    return run.best(m.goal) if m else None


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
        v = run.best(m.goal)
        if v is not None and (best is None or m.better(v, best.best(m.goal))):  # type: ignore[arg-type]
            best = run
    return best


def summarize(sweep: Sweep, mark_stale: bool = True,
              say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Everything ``--print`` shows, as plain data (``--json`` prints it as is).

    Looking marks runs whose heartbeat is too old as crashed (the contract), once a short
    watch has shown that it is silent indeed; pass ``mark_stale=False`` for a read-only look.
    """
    try:
        if mark_stale:
            end_silent_runs(sweep, heartbeat_timeout(), say)
        with sweep.lock:  # a journal that lost runs is said, never shown as a smaller sweep
            sweep.refresh()
            sweep.check_complete()
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        # a teammate who may read the sweep but not write it (or a read-only mount): a look
        # without the lock, which marks nothing
        sweep.refresh()
    else:
        try:
            sweep.write_snapshot()  # the next look, and the next agent, start from here
        except (OSError, RuntimeError):
            pass
    cfg, state = sweep.config, sweep.state
    counts = {s.value: 0 for s in RunState}
    for run in state.runs.values():
        counts[run.state.value] += 1
    best = best_run(sweep)
    runs = sorted(state.runs.values(), key=lambda r: r.started_at)
    out: dict[str, Any] = {
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
        "runs": [
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
        ],
        "prior_runs": sum(1 for r in state.runs.values() if r.prior is not None),
        "queue": [{"id": pid, "config": cfg.space.nest(p), "in_space": cfg.space.holds(p)}
                  for pid, p in state.queue.items()],
        "revision": cfg.revision,
        "revisions": [{"revision": 0, "at": sweep.meta.get("created"),
                       "config": sweep.base_config.raw}]
                     + [{"revision": r["rev"], "at": r["t"], "config": r["config"]}
                        for r in state.revisions],
        "journal_lines_skipped": sweep.skipped_lines,
        #: sweepcli.budget: {"steps"|"hours": {"budget", "spent", "left"}} (None: no budget)
        "budget": spending(cfg, runs, time.time()),
    }
    if cfg.multi:  # several objectives: each run's value of each, and the front
        from ..pareto import front, values_of

        out["metrics"] = [{"name": m.name, "goal": m.goal} for m in cfg.metrics]
        for r, record in zip(runs, out["runs"]):
            record["values"] = values_of(cfg, r)
        out["pareto"] = [{"run_id": r.run_id, "values": values_of(cfg, r),
                          "config": cfg.space.nest(r.params)} for r in front(cfg, runs)]
    return out
