"""Stopping rules and bayes on LCBench, simulated: the pure functions the agents call
(``decide``, the stopping rule, the journal's replay), N virtual agents, one epoch per
tick, no processes. A quick way to compare rules and models before ``bench_lcbench.py``
measures them with real agents.

Run by hand: ``python benchmarks/sim_lcbench.py [--tasks ...] [--seeds 3] [--agents 8]
[--rule none|hyperband|asha|median|asha-stop ...]``. Prints, per rule and task, the median
over seeds of the best val_accuracy at epoch 52 within 6,544 epochs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from anytime import Meter  # noqa: E402
from lcbench import BUDGET, DEV_TASKS, EPOCHS, curve, sweep_config  # noqa: E402

from sweepcli.agent.claim import decide  # noqa: E402
from sweepcli.config import validate  # noqa: E402
from sweepcli.early_stop import judge  # noqa: E402
from sweepcli.runs import RunState  # noqa: E402
from sweepcli.store.events import SweepState, attempt_event, claim_event, end_event, metric_event  # noqa: E402

RULES: dict[str, dict[str, Any] | None] = {
    "none": None,
    "hyperband": {"type": "hyperband", "min_iter": 1, "eta": 3},
    "asha": {"type": "asha"},
    "asha-stop": {"type": "asha", "promote": False},
    "median": {"type": "median"},
}


def simulate(task: str, rule: dict[str, Any] | None, seed: int, agents: int = 8,
             settings: dict[str, Any] | None = None) -> dict[str, Any]:
    config = validate(sweep_config("bayes", rule, {"seed": seed, **(settings or {})}))
    state = SweepState()
    rng = np.random.default_rng(seed)
    curves: dict[str, np.ndarray] = {}
    slots: list[str | None] = [None] * agents
    n = 0
    t = 0.0
    done = False
    trained = 0  # epochs trained, re-trained ones included
    meter = Meter()  # the best model at every point of the budget
    judged_at: dict[str, int] = {}  # each run's length when the rule last judged it
    fit_time = 0.0
    while True:
        for i in range(agents):
            if slots[i] is not None or done:
                continue
            t0 = time.perf_counter()
            d = decide(config, state, rng, now=t)
            fit_time += time.perf_counter() - t0
            if d.action == "done":
                done = True
                break
            if d.action == "wait":
                continue
            if d.retry_of is not None:
                run = state.runs[d.retry_of]
                state.apply(attempt_event(run.run_id, run.attempt + 1, f"a{i}", 60.0))
                slots[i] = run.run_id
            else:
                n += 1
                rid = f"{n:08d}"
                assert d.suggestion is not None
                state.apply(claim_event(rid, d.suggestion.params, None, None, f"a{i}", 60.0))
                curves[rid] = curve(task, d.suggestion.params)
                slots[i] = rid
        if all(s is None for s in slots):
            break
        t += 1.0
        for i, rid in enumerate(slots):
            if rid is None:
                continue
            run = state.runs[rid]
            k = len(run.history)
            state.apply(metric_event(rid, [float(curves[rid][k])], run.attempt, k))
            trained += 1
            meter.train(curves[rid], k, k + 1)
            if k + 1 >= EPOCHS:
                state.apply(end_event(rid, RunState.FINISHED, 0, run.attempt))
                slots[i] = None
        runs = list(state.runs.values())
        # as an agent's watch does: a rung is judged once per run (its length when last judged)
        verdicts = judge(config, runs, judged_at)
        judged_at.update({rid: len(state.runs[rid].history) for rid in slots if rid is not None})
        spent = sum(len(r.history) for r in runs) >= BUDGET
        for i, rid in enumerate(slots):
            if rid is None:
                continue
            run = state.runs[rid]
            v = verdicts.get(rid)
            if spent:
                state.apply(end_event(rid, RunState.STOPPED, None, run.attempt, "budget"))
            elif v is not None:
                st = RunState.PAUSED if v.action == "pause" else RunState.STOPPED
                state.apply(end_event(rid, st, None, run.attempt, v.reason))
            else:
                continue
            slots[i] = None
    finals = [r.history[EPOCHS - 1] for r in state.runs.values() if len(r.history) >= EPOCHS]
    return {"best52": max(finals) if finals else float("nan"), "runs": len(state.runs),
            "whole": len(finals), "trained": trained, "fit": fit_time,
            "points": meter.points(), "trace": meter.trace}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", nargs="+", default=list(DEV_TASKS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--rule", nargs="+", default=list(RULES), choices=list(RULES))
    ap.add_argument("--early", help="an early_terminate as JSON, instead of --rule")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--json", help="write every trace to this file")
    ap.add_argument("--settings", help="sweepcli settings as JSON, e.g. '{\"initial_random\": 5}'")
    ap.add_argument("--name", help="the name of this variant in the tables")
    args = ap.parse_args()
    if args.early:
        RULES["custom"] = json.loads(args.early)
        args.rule = ["custom"]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    traces: dict[str, Any] = {}
    settings = json.loads(args.settings) if args.settings else None
    for rule in args.rule:
        row = []
        name = args.name or f"sweepcli-{rule}-{args.agents}"
        for task in args.tasks:
            seeds = range(args.first_seed, args.first_seed + args.seeds)
            got = [simulate(task, RULES[rule], s, args.agents, settings) for s in seeds]
            for s, g in zip(seeds, got):
                traces[f"{name}/{task}/{s}"] = g["trace"][:: max(1, len(g["trace"]) // 400)]
            results.setdefault(name, {})[task] = [g["points"] for g in got]
            row.append(statistics.median(g["best52"] for g in got))
            print(f"  {rule:10s} {task:>7s} " + " ".join(f"{g['best52']:.2f}" for g in got)
                  + f"  runs {statistics.median(g['runs'] for g in got):.0f}"
                  f" whole {statistics.median(g['whole'] for g in got):.0f}"
                  f" fit {statistics.mean(g['fit'] for g in got):.0f}s  "
                  + " ".join(f"{k} {statistics.median(g['points'][k] for g in got):.2f}"
                             for k in got[0]["points"]), flush=True)
        print(f"{rule:10s} " + " ".join(f"{v:6.2f}" for v in row), flush=True)
    from peers_lcbench import report, write_traces

    report(results, args.tasks)
    write_traces(args.json, results, traces)


if __name__ == "__main__":
    main()
