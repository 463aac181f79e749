"""What ``sweepcli ui`` costs: a 10,000-run sweep's page, the server's memory, and how long
a metric line takes to reach an open page. Run by hand (needs Chromium and the ui extra);
prints figures.

    python benchmarks/bench_ui.py [--runs 10000] [--lines 20] [--updates 40]

* load: ``GET /api/sweep/ID`` (the page's first request), and the page in headless
  Chromium until its runs table and best-so-far chart are drawn (navigation start to
  ready, the page's own clock), first and second opening;
* memory: the server's resident set after the page was served;
* latency: a program logs a line every 0.2 s with its wall time in it; the open page
  notes when each line arrives (same machine, same clock): median and worst.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_scale import generate  # noqa: E402
from tests.browser import Browser  # noqa: E402

CLI = [sys.executable, "-m", "sweepcli"]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_ui(root: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([*CLI, "ui", "--port", "0", "--dir", str(root)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    return proc, re.search(r"(http://\S+)", line).group(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10000)
    ap.add_argument("--lines", type=int, default=20)
    ap.add_argument("--updates", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    root = tmp / "sweeps"
    t0 = time.perf_counter()
    sweep_id, _ = generate(root, args.runs, args.lines)
    for i in range(args.runs):  # each run's metric lines, as its program wrote them
        with open(root / sweep_id / "runs" / f"r{i:07d}" / "metrics.jsonl", "w") as f:
            for step in range(args.lines):
                f.write(json.dumps({"loss": 1.0 / (step + 1) + i * 1e-6, "acc": step * 0.01,
                                    "epoch": step}) + "\n")
    print(f"generated {args.runs} runs x {args.lines} lines in {time.perf_counter() - t0:.1f} s")
    subprocess.run([*CLI, "sweep", "--print", sweep_id, "--dir", str(root)], check=True,
                   stdout=subprocess.DEVNULL)  # (the snapshot a first reader leaves)
    proc, url = start_ui(root)
    browser = Browser(tmp / "profile")
    try:
        for attempt in ("first", "second", "third"):  # the home page asks every second
            t = time.perf_counter()
            with urllib.request.urlopen(f"{url}api/sweeps", timeout=120) as r:
                r.read()
            print(f"GET /api/sweeps ({attempt}): {time.perf_counter() - t:.3f} s")
        for attempt in ("first", "second"):
            t = time.perf_counter()
            with urllib.request.urlopen(f"{url}api/sweep/{sweep_id}", timeout=120) as r:
                body = r.read()
            print(f"GET /api/sweep/ID ({attempt}): {time.perf_counter() - t:.2f} s, "
                  f"{len(body) / 1e6:.1f} MB")
        for attempt in ("first", "second"):
            browser.open(f"{url}sweep/{sweep_id}")
            browser.wait("document.body.dataset.ready === '1'", timeout=120)
            ready = browser.js("performance.getEntriesByName('charts')[0].startTime")
            table = browser.js("performance.getEntriesByName('table')[0].startTime")
            parts = browser.js("JSON.stringify(performance.getEntriesByType('resource')"
                               ".map(e => [e.name.split('/').slice(-2).join('/'), "
                               "Math.round(e.startTime), Math.round(e.responseEnd)]))")
            marks = browser.js("JSON.stringify(performance.getEntriesByType('mark')"
                               ".map(e => [e.name, Math.round(e.startTime)]))")
            print(f"  (resources: start and end, ms: {parts}; the page's steps: {marks})")
            print(f"page of {args.runs} runs ({attempt} opening): its head and runs table "
                  f"drawn {table / 1000:.2f} s after navigation, its charts {ready / 1000:.2f} s")
        print(f"server resident memory: {rss_mb(proc.pid):.0f} MB")
        # latency: a live run logs a line every 0.2 s with its time; the page notes arrival
        live_dir = tmp / "live"
        live_dir.mkdir()
        (live_dir / "train.py").write_text(
            "import time, sweepcli\nrun = sweepcli.init()\n"
            f"for i in range({args.updates}):\n    time.sleep(0.2)\n"
            "    run.log({'loss': 1.0 / (i + 1), 't': time.time()})\n")
        (live_dir / "sweep.yaml").write_text(
            "program: train.py\nmethod: grid\nmetric: {name: loss}\n"
            "parameters: {x: {values: [1]}}\n")
        live = subprocess.run([*CLI, "sweep", str(live_dir / "sweep.yaml"), "--dir", str(root)],
                              check=True, capture_output=True, text=True).stdout.strip()
        browser.open(f"{url}sweep/{live}")
        browser.wait("!!document.getElementById('runs-title')")
        browser.js("""window.__lat = []; window.__seen = 0;
            setInterval(() => { for (const lines of S.lines.values()) {
              while (window.__seen < lines.length) {
                const l = lines[window.__seen++]; if (l.t) window.__lat.push(Date.now() / 1000 - l.t); } } }, 10);""")
        agent = subprocess.run([*CLI, "agent", live, "--dir", str(root)], cwd=live_dir,
                               capture_output=True, text=True)
        assert agent.returncode == 0, agent.stderr
        lat = browser.wait(f"window.__lat.length >= {args.updates - 2} && window.__lat", timeout=60)
        first_seen = browser.js("window.__seen")
        lat = lat[2:]  # (the first lines come with the run's first fetch)
        print(f"a metric line to the open page: median {statistics.median(lat) * 1000:.0f} ms, "
              f"worst {max(lat) * 1000:.0f} ms over {len(lat)} lines ({first_seen} seen)")
    finally:
        browser.close()
        proc.terminate()
        proc.wait()
        os.system(f"rm -rf {tmp}")


if __name__ == "__main__":
    main()
