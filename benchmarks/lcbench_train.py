"""A training program for the LCBench benchmarks, as a user would write one: it reads its
hyperparameters from the command line, trains one epoch per ``--pace`` seconds (the
surrogate's curve stands in for the training), keeps a checkpoint in its run folder
before each metric line, resumes from it when ``SWEEPCLI_RESUME=1``, and stops cleanly on
SIGTERM. Every epoch it trains is written to ``LCBENCH_LEDGER`` (a JSONL file shared by
all runs) so a benchmark can check that no epoch is paid twice."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from lcbench import EPOCHS, ORDER, curve  # noqa: E402

stopping = False


def _stop(signum, frame):  # noqa: ANN001 - a signal handler
    global stopping
    stopping = True


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    ap = argparse.ArgumentParser()
    for k in ORDER:
        ap.add_argument(f"--{k}", type=float, required=True)
    ap.add_argument("--task", default=os.environ.get("LCBENCH_TASK", "146212"))
    ap.add_argument("--pace", type=float, default=float(os.environ.get("LCBENCH_PACE", "0.1")))
    args = ap.parse_args()
    params = {k: getattr(args, k) for k in ORDER}
    values = curve(args.task, params)
    run_dir = Path(os.environ["SWEEPCLI_RUN_DIR"])
    ckpt = run_dir / "checkpoint.json"
    epoch = 0
    if os.environ.get("SWEEPCLI_RESUME") == "1" and ckpt.exists():
        epoch = json.loads(ckpt.read_text())["epoch"]
    ledger = os.environ.get("LCBENCH_LEDGER")
    metrics = open(os.environ["SWEEPCLI_METRICS_FILE"], "a")
    while epoch < EPOCHS and not stopping and not (run_dir / "stop").exists():
        time.sleep(args.pace)  # the epoch's training
        epoch += 1
        tmp = ckpt.with_suffix(".tmp")
        tmp.write_text(json.dumps({"epoch": epoch}))
        os.replace(tmp, ckpt)  # checkpoint first: a stop between the two loses one line
        if ledger:
            with open(ledger, "a") as f:
                f.write(json.dumps({"run": os.environ["SWEEPCLI_RUN_ID"], "epoch": epoch,
                                    "attempt": int(os.environ.get("SWEEPCLI_ATTEMPT", "1"))})
                        + "\n")
        metrics.write(json.dumps({"epoch": epoch, "val_accuracy": float(values[epoch - 1])})
                      + "\n")
        metrics.flush()


if __name__ == "__main__":
    main()
