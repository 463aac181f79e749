"""LCBench learning curves (YAHPO Gym's ONNX surrogate, ``../shared/benchmarks/lcbench``):
the sweep config of its space and the curve of one configuration, for the LCBench
benchmarks. Needs ``onnxruntime`` (``pip install -e '.[bench]'``)."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

EPOCHS = 52
#: YAHPO's single-objective protocol: ceil(20*52 + sqrt(7)*52*40)
BUDGET = 6544
DEV_TASKS = ("146212", "168330", "189862", "167190", "34539", "167181")
ORDER = ("batch_size", "learning_rate", "momentum", "weight_decay", "num_layers", "max_units",
         "max_dropout")


def model_dir() -> Path:
    """Where the surrogate is: ``LCBENCH_DIR``, else the shared folder beside the repo."""
    env = os.environ.get("LCBENCH_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent
    for up in (here.parent / "shared", here.parent.parent / "shared"):
        if (up / "benchmarks" / "lcbench" / "model.onnx").exists():
            return up / "benchmarks" / "lcbench"
    raise SystemExit("the LCBench surrogate is not found: set LCBENCH_DIR to the folder with "
                     "model.onnx and encoding.json")


@lru_cache(maxsize=1)
def _session() -> tuple[Any, dict[str, int]]:
    import onnxruntime as ort

    d = model_dir()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(d / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    codes = json.loads((d / "encoding.json").read_text())["OpenML_task_id"]
    return sess, codes


def curve(task: str, params: dict[str, Any]) -> np.ndarray:
    """val_accuracy (percent) at epochs 1..52 of one configuration on one task."""
    sess, codes = _session()
    x = np.array([[e] + [float(params[k]) for k in ORDER] for e in range(1, EPOCHS + 1)],
                 dtype=np.float32)
    cat = np.full((EPOCHS, 1), codes[str(task)], dtype=np.int32)
    out = sess.run(None, {"x_cat": cat, "x_cont": x})[0]
    return out[:, 1].astype(float)


def sweep_config(method: str = "bayes", early: dict[str, Any] | None = None,
                 extension: dict[str, Any] | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "method": method,
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {
            "batch_size": {"distribution": "q_log_uniform_values", "min": 16, "max": 512, "q": 1},
            "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
            "momentum": {"distribution": "uniform", "min": 0.1, "max": 0.99},
            "weight_decay": {"distribution": "uniform", "min": 1e-5, "max": 0.1},
            "num_layers": {"distribution": "int_uniform", "min": 1, "max": 5},
            "max_units": {"distribution": "q_log_uniform_values", "min": 64, "max": 1024, "q": 1},
            "max_dropout": {"distribution": "uniform", "min": 0.0, "max": 1.0},
        },
        "sweepcli": {"budget": {"steps": BUDGET}, **(extension or {})},
    }
    if early:
        raw["early_terminate"] = early
    return raw
