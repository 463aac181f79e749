"""Two variants of ours on LCBench, seed against seed: is a change a gain or the seeds' noise?

A task's median over 12 seeds moves by about a point between two sets of seeds, which is
as much as most changes move it, so comparing medians says little. The same seed gives
both variants the same initial design, so the difference seed by seed is the change's
effect with most of the noise taken out. Prints, at 25/50/100% of the budget, the mean
difference over every (task, seed) both ran, its standard error, the wins and losses, and
each task's median difference; and the worst seed of each (reliability is part of the job).

Run by hand, on files written by ``sim_lcbench.py --json``::

    python benchmarks/compare_lcbench.py BASE.json [BASE2.json ...] -- NEW.json [NEW2.json ...]
"""

from __future__ import annotations

import json
import math
import statistics
import sys

from anytime import FRACTIONS


def load(files: list[str]) -> dict[tuple[str, int], dict[str, float]]:
    """(task, seed) -> the points a variant reached, from sim_lcbench's JSON files (traces
    keyed ``method/task/seed`` in the same order as the results' lists). One variant a
    side: files holding several methods would overwrite each other's seeds."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    methods: set[str] = set()
    for f in files:
        data = json.loads(open(f).read())
        seeds: dict[tuple[str, str], list[int]] = {}
        for key in data["traces"]:
            method, task, seed = key.rsplit("/", 2)
            seeds.setdefault((method, task), []).append(int(seed))
        methods.update(data["results"])
        for method, by_task in data["results"].items():
            for task, points in by_task.items():
                for seed, p in zip(seeds.get((method, task), []), points):
                    out[(task, seed)] = p
    if len(methods) > 1:
        sys.exit(f"{', '.join(files)}: several variants ({', '.join(sorted(methods))}); "
                 "give one a side (sim_lcbench.py --rule one --json FILE)")
    return out


def compare(base: dict[tuple[str, int], dict[str, float]],
            new: dict[tuple[str, int], dict[str, float]]) -> list[str]:
    both = sorted(set(base) & set(new))
    if len(both) < 2:
        return [f"only {len(both)} (task, seed) in both: nothing to compare"]
    lines = [f"{len(both)} (task, seed) pairs, {len({t for t, _ in both})} tasks; "
             "new minus base, points of val_accuracy at epoch 52"]
    for f in FRACTIONS:
        key = f"final@{int(f * 100)}"
        pairs: dict[str, list[tuple[float, float]]] = {}  # task -> (base, new) per seed
        for task, seed in both:
            pairs.setdefault(task, []).append((_value(base[(task, seed)], key),
                                               _value(new[(task, seed)], key)))
        diffs = [n - b for v in pairs.values() for b, n in v]
        se = statistics.stdev(diffs) / math.sqrt(len(diffs))
        lines.append(f"{int(f * 100):>3}%: mean {statistics.mean(diffs):+.2f} +- {se:.2f} (se), "
                     f"{sum(d > 0.01 for d in diffs)} better, {sum(d < -0.01 for d in diffs)} worse")
        lines.append("      median by task: " + ", ".join(
            f"{t} {statistics.median(n - b for b, n in v):+.2f}" for t, v in sorted(pairs.items())))
        lines.append("      worst seed base -> new: " + ", ".join(
            f"{t} {min(b for b, _ in v):.2f} -> {min(n for _, n in v):.2f}"
            for t, v in sorted(pairs.items())))
    return lines


def _value(points: dict[str, float], key: str) -> float:
    v = points[key]
    return 0.0 if math.isnan(v) else v  # no whole run yet counts as 0, as anytime.summary


def main() -> None:
    args = sys.argv[1:]
    if "--" not in args or args.index("--") == 0 or args[-1] == "--":
        sys.exit(__doc__)
    cut = args.index("--")
    print("\n".join(compare(load(args[:cut]), load(args[cut + 1:]))))


if __name__ == "__main__":
    main()
