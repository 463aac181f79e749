"""Population Based Training (Jaderberg et al. 2017), and PB2's explore (Parker-Holder et
al. 2020): pure functions of the config and the runs, like every search method.

A member is a run that trains in segments of ``pbt.interval`` steps (a step: a metric line
of the sweep's metric). At the end of a segment it is paused, its checkpoint in its folder;
the claim of its next segment, under the sweep lock, decides what that segment is
(:func:`next_segment`): ranked by its value at that step against every member that reached
it, a member of the bottom ``quantile`` copies a top member's checkpoint kept at that step
(exploit) and changes the copied configuration (explore); any other goes on as it is. The
decision is written with the claim (``attempt`` event, ``seg``), so it is made once.

A member's ``history`` holds the values it logged itself; its ``segments`` say where each
segment starts in it, at which step of the lineage, with which config, and from which donor
(run, step) when it exploited. A member's step is its lineage's: the donor's steps count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import SweepConfig
from ..runs import Run, RunState

#: members in these states may still train (their kept copies may still be wanted)
UNDERWAY = frozenset({RunState.RUNNING, RunState.PAUSED, RunState.CRASHED, RunState.PREEMPTED})
MAX_DEPTH = 10_000  # a lineage longer than this is a damaged record


@dataclass(frozen=True)
class Segment:
    """A member's next segment: its config (flat), the step it starts at, the donor whose
    checkpoint it starts from (None: its own), and why, in words."""

    params: dict[str, Any]
    step: int
    parent: tuple[str, int] | None
    why: str

    def event(self) -> dict[str, Any]:
        return {"step": self.step, "params": self.params,
                "parent": list(self.parent) if self.parent else None}


def segments_of(run: Run) -> list[dict[str, Any]]:
    """The run's segments, its first (implicit until a second one comes) included."""
    return run.segments or [{"from": 0, "step": 0, "params": run.params, "parent": None}]


def step_of(run: Run) -> int:
    """The member's step: its lineage's steps (a donor's count) plus its own since."""
    last = segments_of(run)[-1]
    return int(last["step"]) + len(run.history) - int(last["from"])


def segment_end(config: SweepConfig, run: Run) -> int:
    """The step at which the member's current segment ends."""
    pbt = config.pbt
    start = int(segments_of(run)[-1]["step"])
    if pbt.schedule:
        later = [c.step for c in pbt.schedule if c.step > start]
        return min(later[0], pbt.steps) if later else pbt.steps
    return min((start // pbt.interval + 1) * pbt.interval, pbt.steps)


def _metric(config: SweepConfig) -> Any:
    if config.metric is None:  # (refused by the validator: pbt needs one)
        raise ValueError("pbt needs a metric")
    return config.metric


def members(runs: list[Run]) -> list[Run]:
    return [r for r in runs if r.prior is None]


def _spans(run: Run, cut: int | None) -> list[tuple[dict[str, Any], int, int]]:
    """The run's segments with where each one's own values lie in its history, newest
    first; with ``cut``, only those that started before that step: the model a kept copy
    at ``cut`` holds (a member that exploited at its kept step did so after the copy)."""
    segs = segments_of(run)
    out = []
    for i, seg in enumerate(segs):
        to = int(segs[i + 1]["from"]) if i + 1 < len(segs) else len(run.history)
        if cut is None or int(seg["step"]) < cut or i == 0:
            out.append((seg, int(seg["from"]), to))
    return out[::-1]


def value_at(run: Run, step: int, by_id: dict[str, Run], cut: int | None = None,
             depth: int = 0) -> float | None:
    """The value the member's lineage logged at ``step`` (1: the first), or None. ``cut``:
    as the model it held at that step had it (before a segment that started there)."""
    for seg, frm, to in _spans(run, cut):
        start = int(seg["step"])
        if step > start:
            k = frm + step - start - 1
            return float(run.history[k]) if k < to else None
        parent = seg.get("parent")
        if parent and depth < MAX_DEPTH:
            donor = by_id.get(parent[0])
            return (value_at(donor, step, by_id, int(parent[1]), depth + 1)
                    if donor is not None else None)
    return None


def params_at(run: Run, step: int, by_id: dict[str, Run], cut: int | None = None,
              depth: int = 0) -> dict[str, Any]:
    """The config the member's lineage trained with up to ``step`` (``cut``: as above)."""
    spans = _spans(run, cut)
    for seg, _, _ in spans:
        if step > int(seg["step"]) or seg is spans[-1][0]:
            return dict(seg["params"])
        parent = seg.get("parent")
        if parent and depth < MAX_DEPTH and parent[0] in by_id:
            return params_at(by_id[parent[0]], step, by_id, int(parent[1]), depth + 1)
    return dict(run.params)


def lineage(run: Run, by_id: dict[str, Run], upto: int | None = None, depth: int = 0
            ) -> list[tuple[int, int, str, dict[str, Any]]]:
    """The member's lineage as (from step, to step, run, config) pieces, oldest first: what
    trained the model it holds now, or (``upto``) the one a copy kept at that step holds."""
    end = step_of(run) if upto is None else upto
    pieces: list[tuple[int, int, str, dict[str, Any]]] = []
    for seg, _, _ in _spans(run, upto):
        start = int(seg["step"])
        if start > end:
            continue  # trained after the point looked at
        if end > start:
            pieces.append((start, end, run.run_id, dict(seg["params"])))
        parent = seg.get("parent")
        if parent:
            donor = by_id.get(parent[0])
            if donor is not None and depth < MAX_DEPTH:
                pieces.extend(reversed(lineage(donor, by_id, int(parent[1]), depth + 1)))
            break
        end = start
    return list(reversed(pieces))


def floor(runs: list[Run]) -> int:
    """Kept copies below this step can go: every member that may still train is past it
    (the ones that start a segment from a copy are at the copy's step until they train)."""
    steps = [step_of(r) for r in members(runs) if r.state in UNDERWAY]
    return min(steps) if steps else 2**62


def done(config: SweepConfig, run: Run) -> bool:
    return step_of(run) >= config.pbt.steps


def next_member(config: SweepConfig, runs: list[Run]) -> Run | None:
    """The paused member to go on next: the one furthest behind (the population stays
    together when there are fewer agents than members)."""
    paused = [r for r in members(runs) if r.state == RunState.PAUSED and not done(config, r)]
    return min(paused, key=lambda r: (step_of(r), r.started_at, r.run_id)) if paused else None


def rank(config: SweepConfig, runs: list[Run], step: int) -> list[tuple[Run, float]]:
    """Every member that reached ``step``, best first, with its value there."""
    by_id = {r.run_id: r for r in runs}
    got = []
    for m in members(runs):
        if step_of(m) >= step and m.state != RunState.FAILED:
            v = value_at(m, step, by_id, cut=step)  # its own model's, as kept at that step
            if v is not None and math.isfinite(v):
                got.append((m, v))
    sign = -1.0 if _metric(config).goal == "maximize" else 1.0
    return sorted(got, key=lambda mv: (sign * mv[1], mv[0].run_id))


def next_segment(config: SweepConfig, runs: list[Run], member: Run, rng: np.random.Generator
                 ) -> Segment:
    """What the member's next segment is: it goes on, or (in the bottom quantile at its
    step) it copies a top member's checkpoint kept at that step and explores from there."""
    pbt = config.pbt
    s = step_of(member)
    if pbt.schedule:
        params = dict(member.params)
        changed = [c for c in pbt.schedule if c.step <= s]
        for c in changed:
            params.update(c.params)
        news = [c for c in changed if c.step > int(segments_of(member)[-1]["step"])]
        why = (f"step {s}: the schedule sets " + ", ".join(f"{k} = {v}" for c in news
                                                           for k, v in c.params.items())
               if news else f"step {s}: goes on")
        return Segment(params, s, None, why)
    ranked = rank(config, runs, s)
    n = len(ranked)
    name = _metric(config).name
    place = next((i for i, (m, _) in enumerate(ranked) if m.run_id == member.run_id), None)
    if n < 2 or place is None:
        return Segment(dict(member.params), s, None,
                       f"step {s}: no other member has reached it yet; goes on")
    k = min(n // 2, max(1, math.ceil(n * pbt.quantile)))
    mine = ranked[place][1]
    if place < n - k:
        return Segment(dict(member.params), s, None,
                       f"step {s}: {name} {mine:.4g}, {place + 1} of {n}; goes on")
    low = floor(runs)
    candidates = []
    for m, v in ranked[:k]:
        steps = sorted(x for x in m.kept if x >= s and x >= low)
        if m.run_id != member.run_id and steps:
            candidates.append((m, v, steps[0]))
    if not candidates:
        return Segment(dict(member.params), s, None,
                       f"step {s}: {name} {mine:.4g}, {place + 1} of {n}, but no top member's "
                       "checkpoint is kept at this step; goes on")
    donor, value, at = candidates[int(rng.integers(len(candidates)))]
    by_id = {r.run_id: r for r in runs}
    base = params_at(donor, at, by_id, cut=at)
    new = explore(config, runs, base, at, rng)
    changes = ", ".join(f"{p} {_short(base.get(p))} -> {_short(new.get(p))}"
                        for p in pbt.mutable if new.get(p) != base.get(p)) or "nothing changed"
    return Segment(new, at, (donor.run_id, at),
                   f"step {s}: {name} {mine:.4g}, {place + 1} of {n} (bottom {k}): copies run "
                   f"{donor.run_id} at step {at} ({value:.4g}); {changes}")


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def explore(config: SweepConfig, runs: list[Run], base: dict[str, Any], step: int,
            rng: np.random.Generator) -> dict[str, Any]:
    """The donor's config, its mutable parameters changed: PB2's choice, or each one
    drawn again (``resample_probability``) or moved: a number times one of ``factors``
    (kept in its range), a value of a list to a neighbour. The sweep's rules
    (``forbid``/``require``) are kept: a change they refuse is drawn again (the donor's
    own config if none of 20 is allowed)."""
    pbt, space = config.pbt, config.space
    for _ in range(20):
        new = dict(base)
        if pbt.pb2:
            new.update(pb2_choice(config, runs, base, step, rng))
        active = space.active_names(new)
        for name in pbt.mutable:
            if name not in active or name not in new or (pbt.pb2 and _numeric(space[name])):
                continue
            p = space[name]
            if rng.random() < pbt.resample_probability:
                new[name] = p.sample(rng)
            elif p.is_categorical or not _numeric(p):
                values = p.spec["values"]
                try:
                    i = p._index_of(new[name])
                except ValueError:
                    continue
                j = min(max(i + (1 if rng.random() < 0.5 else -1), 0), len(values) - 1)
                new[name] = values[j]
            else:
                new[name] = _moved(p, new[name], float(rng.choice(pbt.factors)))
        new = space.active(new)
        if space.broken(new) is None:
            return new
    return dict(base)


def _numeric(p: Any) -> bool:
    return p.searchable and not p.is_categorical


def _moved(p: Any, value: Any, factor: float) -> Any:
    """``value`` times ``factor``, kept in the parameter's range (its steps, its ints)."""
    from ..config.space import plain

    try:
        x = float(value) * factor
    except (TypeError, ValueError):
        return value
    if p.distribution == "int_uniform":
        moved = int(round(x))
        if moved == value and factor != 1.0:  # a small int would never move
            moved = value + (1 if factor > 1 else -1)
        return min(max(moved, p.spec["min"]), p.spec["max"])
    return plain(p.from_unit(p.to_unit(x)))


# ---- PB2: a GP bandit over the mutable numbers, fitted on the improvements per segment ----

PB2_CANDIDATES = 512
PB2_KAPPA = 2.0  # how far above the mean the bandit's bound reaches (in standard deviations)
PB2_MAX_POINTS = 150


def pb2_data(config: SweepConfig, runs: list[Run]) -> tuple[np.ndarray, np.ndarray]:
    """(mutable numbers mapped to [0, 1], and time: the step / steps) -> how much the metric
    improved over the segment's interval, one row per interval any member trained."""
    pbt, space = config.pbt, config.space
    names = [n for n in pbt.mutable if _numeric(space[n])]
    by_id = {r.run_id: r for r in runs}
    sign = 1.0 if _metric(config).goal == "maximize" else -1.0
    rows, ys = [], []
    for m in members(runs):
        segs = segments_of(m)
        for i, seg in enumerate(segs):
            start = int(seg["step"])
            to = int(segs[i + 1]["from"]) if i + 1 < len(segs) else len(m.history)
            end = start + to - int(seg["from"])
            b = (start // pbt.interval + 1) * pbt.interval
            while b <= end:
                a = b - pbt.interval
                va = value_at(m, a, by_id, cut=b) if a > 0 else None
                vb = value_at(m, b, by_id, cut=b)
                if va is not None and vb is not None:
                    try:
                        x = [space[n].to_unit(seg["params"][n]) for n in names]
                    except (KeyError, ValueError, TypeError):
                        x = None
                    if x is not None:
                        rows.append(x + [b / pbt.steps])
                        ys.append(sign * (vb - va))
                b += pbt.interval
    X = np.asarray(rows, dtype=float).reshape(len(rows), len(names) + 1)
    return X[-PB2_MAX_POINTS:], np.asarray(ys[-PB2_MAX_POINTS:], dtype=float)


def pb2_choice(config: SweepConfig, runs: list[Run], base: dict[str, Any], step: int,
               rng: np.random.Generator) -> dict[str, Any]:
    """PB2's explore: the mutable numbers whose upper confidence bound of the next
    interval's improvement, at this time, is highest (random draws and moves of the donor's
    values as candidates). Too little data (fewer rows than 2 per parameter): moved as PBT
    moves them."""
    from .bayes.gp import Layout, SweepGP

    pbt, space = config.pbt, config.space
    names = [n for n in pbt.mutable if _numeric(space[n]) and n in base]
    if not names:
        return {}
    X, y = pb2_data(config, runs)
    if len(y) < 2 * len(names) + 2 or float(np.ptp(y)) == 0.0:
        return {n: _moved(space[n], base[n], float(rng.choice(pbt.factors))) for n in names}
    d = len(names) + 1
    layout = Layout(d, np.eye(d), np.ones(d), np.arange(d))
    gp = SweepGP(layout, prior_mean="mean").fit(X, -y)  # the model minimises
    here = np.array([space[n].to_unit(base[n]) for n in names])
    cand = np.vstack([rng.random((PB2_CANDIDATES // 2, len(names))),
                      np.clip(here + rng.normal(0, 0.1, (PB2_CANDIDATES // 2, len(names))), 0, 1),
                      here[None, :]])
    t = min(1.0, (step + pbt.interval) / pbt.steps)
    Xq = np.hstack([cand, np.full((len(cand), 1), t)])
    mean, var = gp.posterior(Xq)
    best = cand[int(np.argmin(mean - PB2_KAPPA * np.sqrt(var)))]
    from ..config.space import plain

    return {n: plain(space[n].from_unit(float(u))) for n, u in zip(names, best)}


# ---- what a person reads -------------------------------------------------------------------

def schedule(config: SweepConfig, runs: list[Run], run: Run) -> list[dict[str, Any]]:
    """The config the member's model was trained with, step by step: one entry per change
    along its lineage, ``{"step", "params" (what changed; all at step 0), "run" (whose
    segment), "from" (where it came with a copied checkpoint: the donor; else None)}``."""
    by_id = {r.run_id: r for r in runs}
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    last_run = None
    for start, _, rid, params in lineage(run, by_id):
        changed = {k: v for k, v in params.items() if current.get(k, object()) != v}
        if not out:
            out.append({"step": 0, "params": dict(params), "run": rid, "from": None})
        elif changed or rid != last_run:
            out.append({"step": start, "params": changed, "run": rid,
                        "from": last_run if rid != last_run else None})
        current = dict(params)
        last_run = rid
    return out


def schedule_text(config: SweepConfig, runs: list[Run], run: Run) -> list[str]:
    """``lr: 0.1 -> 0.08 (step 20, from run b) -> 0.064 (step 40)``, one line per mutable
    parameter along the member's lineage (``lr: 0.1 (all 60 steps)`` if it never changed)."""
    sched = schedule(config, runs, run)
    lines = []
    for name in config.pbt.mutable:
        parts = []
        for i, entry in enumerate(sched):
            if name not in entry["params"]:
                continue
            v = _short(entry["params"][name])
            if i == 0:
                parts.append(v)
            else:
                origin = f", from run {entry['from']}" if entry["from"] else ""
                parts.append(f"{v} (step {entry['step']}{origin})")
        if len(parts) > 1:
            lines.append(f"{name}: " + " -> ".join(parts))
        elif parts:
            lines.append(f"{name}: {parts[0]} (all {step_of(run)} steps)")
    return lines


def replay_config(config: SweepConfig, runs: list[Run], run: Run) -> dict[str, Any]:
    """A sweep config that trains the member's lineage again alone: one member, the
    parameters that stay fixed at its lineage's values, the mutable ones set by a
    ``pbt.schedule`` of the changes it went through (``sweepcli pbt replay``)."""
    import copy

    pbt = config.pbt
    sched = schedule(config, runs, run)
    first = sched[0]["params"] if sched else dict(run.params)
    raw = copy.deepcopy(config.raw)
    for p in config.space.params:
        if p.name in pbt.mutable or p.name not in first:
            continue
        node = raw["parameters"]
        for part in p.path[:-1]:
            node = node[part]["parameters"]
        node[p.path[-1]] = {"value": first[p.name]}
    changes = [{"step": 0, "params": {k: v for k, v in first.items() if k in pbt.mutable}}]
    for entry in sched[1:]:
        moved = {k: v for k, v in entry["params"].items() if k in pbt.mutable}
        if moved:
            changes.append({"step": entry["step"], "params": moved})
    raw["pbt"] = {"population": 1, "steps": pbt.steps, "interval": pbt.interval,
                  "mutable": list(pbt.mutable),
                  "schedule": [c for c in changes if c["params"]]}
    raw.pop("run_cap", None)
    raw["description"] = (f"the schedule of run {run.run_id}, replayed alone"
                          + (f" ({config.name})" if config.name else ""))
    return raw
