"""The picture in the README: best val_accuracy so far (trained to epoch 52) against the
epochs spent, the median over seeds, ours against each peer, one panel per LCBench task.

Run by hand (matplotlib, which the peers' virtualenv has)::

    python benchmarks/plot_lcbench.py OUT.png TRACES.json [TRACES.json ...]
    python benchmarks/plot_lcbench.py --table TRACES.json [TRACES.json ...]  (Markdown)

where each TRACES.json is written by ``sim_lcbench.py --json`` or ``peers_lcbench.py --json``.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from collections import defaultdict


def median_curve(traces: list[list[list[float]]], budget: int, points: int = 120
                 ) -> tuple[list[float], list[float]]:
    xs = [budget * (i + 1) / points for i in range(points)]
    ys = []
    for x in xs:
        at = []
        for trace in traces:
            v = float("nan")
            for spent, final, _ in trace:
                if spent > x:
                    break
                v = final
            at.append(0.0 if math.isnan(v) else v)
        ys.append(statistics.median(at))
    return xs, ys


def table(files: list[str]) -> None:
    """Markdown: per method, the median / worst seed at 25, 50 and 100% of the budget, on
    each task (the best val_accuracy at epoch 52 so far)."""
    from anytime import summary

    import re

    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for f in files:
        if f.endswith(".log"):  # peers_lcbench's lines, for a run stopped before its JSON
            for line in open(f):
                m = re.match(r"\s+(\S+)\s+(\d+) seed \d+: (.*?)  spent", line)
                if m:
                    words = m.group(3).split()
                    results.setdefault(m.group(1), {}).setdefault(m.group(2), []).append(
                        {k: float(v) for k, v in zip(words[::2], words[1::2])})
            continue
        for method, by_task in json.loads(open(f).read())["results"].items():
            for task, points in by_task.items():
                results.setdefault(method, {}).setdefault(task, []).extend(points)
    tasks = sorted({t for by_task in results.values() for t in by_task})
    for f in (25, 50, 100):
        print(f"\n{f}% of the budget (median / worst seed)\n")
        print("| | " + " | ".join(tasks) + " |")
        print("|---|" + "---:|" * len(tasks))
        for method, by_task in results.items():
            cells = []
            for t in tasks:
                pts = by_task.get(t)
                if not pts:
                    cells.append("-")
                    continue
                med, worst = summary([p[f"final@{f}"] for p in pts])
                cells.append(f"{med:.2f} / {worst:.2f}")
            seeds = sorted({len(v) for v in by_task.values()})
            print(f"| {method} ({'-'.join(map(str, seeds))} seeds) | " + " | ".join(cells) + " |")


def main() -> None:
    if sys.argv[1] == "--table":
        return table(sys.argv[2:])
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, files = sys.argv[1], [f for f in sys.argv[2:] if not f.startswith("--skip=")]
    skip = {m for f in sys.argv[2:] if f.startswith("--skip=") for m in f[7:].split(",")}
    by: dict[str, dict[str, list[list[list[float]]]]] = defaultdict(lambda: defaultdict(list))
    budget = 6544
    for f in files:
        data = json.loads(open(f).read())
        budget = data["budget"]
        for key, trace in data["traces"].items():
            method, task, _ = key.split("/")
            if method not in skip:
                by[task][method].append(trace)
    tasks = sorted(by)
    cols = 3
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    methods = sorted({m for t in tasks for m in by[t]})
    peers = [m for m in methods if not m.startswith("sweepcli")]
    palette = plt.get_cmap("tab20").colors
    style = {m: {"color": palette[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20],
                 "linestyle": ("-", "--", ":")[i % 3], "linewidth": 1.1, "zorder": 2}
             for i, m in enumerate(peers)}
    ours = [m for m in methods if m.startswith("sweepcli")]
    for i, m in enumerate(ours):
        style[m] = {"color": ("#b00020", "#111111", "#6a1b9a")[i % 3], "linestyle": "-",
                    "linewidth": 2.6, "zorder": 3}
    handles = {}
    for ax, task in zip([a for row in axes for a in row], tasks):
        finals = []
        for method in sorted(by[task]):
            xs, ys = median_curve(by[task][method], budget)
            (line,) = ax.plot(xs, ys, label=method, **style[method])
            handles[method] = line
            finals.append(ys[-1])
        good = sorted(v for v in finals if v > 0)
        if good:
            top = max(good)
            ax.set_ylim(max(0.0, top - 2.5 * max(0.5, top - statistics.median(good))), top + 0.3)
        for f in (0.25, 0.5):
            ax.axvline(budget * f, color="#aaa", linestyle=":", linewidth=0.8)
        ax.set_title(f"LCBench task {task}")
        ax.set_xlabel("epochs spent")
        ax.set_ylabel("best val_accuracy at epoch 52")
    for ax in [a for row in axes for a in row][len(tasks):]:
        ax.axis("off")
    labels = ours + peers
    fig.legend([handles[m] for m in labels], labels, loc="lower center",
               ncol=min(6, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
