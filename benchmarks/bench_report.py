"""What ``sweepcli report`` and ``sweep --print`` (with parameter importance) cost on big sweeps.

Run by hand: ``python benchmarks/bench_report.py [--runs 200 1000 10000] [--lines 200]``.

Each sweep is ``bench_scale.py``'s generated random sweep (``runs`` ended runs of ``lines``
metric lines). For each size, as separate processes (wall time and peak RSS from
``wait4``): ``sweep --print`` once to build the snapshot, then ``sweep --print`` (with the
importance line), ``report`` (the interactive page: its size) and ``report --static``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import generate, timed_rss  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, nargs="+", default=[200, 1000, 10000])
    ap.add_argument("--lines", type=int, default=200)
    args = ap.parse_args()
    print(f"{'runs':>6}  {'--print':>14}  {'report':>14}  {'page':>8}  {'--static':>14}")
    for n in args.runs:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "sweeps"
            sweep_id, _ = generate(root, n, args.lines)
            env = {**os.environ, "SWEEPCLI_DIR": str(root)}
            timed_rss(["sweep", "--print", sweep_id], Path(tmp), env)  # the snapshot
            p_t, p_rss, out = timed_rss(["sweep", "--print", sweep_id], Path(tmp), env)
            assert "top " in out, out
            page = Path(tmp) / "r.html"
            r_t, r_rss, _ = timed_rss(["report", sweep_id, "--out", str(page)], Path(tmp), env)
            size = page.stat().st_size
            s_t, s_rss, _ = timed_rss(["report", sweep_id, "--static", "--out", str(page)],
                                      Path(tmp), env)
            print(f"{n:>6}  {p_t:6.2f} s {p_rss:4.0f} MB  {r_t:6.2f} s {r_rss:4.0f} MB  "
                  f"{size / 1e6:5.1f} MB  {s_t:6.2f} s {s_rss:4.0f} MB", flush=True)


if __name__ == "__main__":
    main()
