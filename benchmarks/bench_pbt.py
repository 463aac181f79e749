"""PBT against fixed configurations with the same total steps, on two problems where the
best hyperparameters change while a model trains. Run by hand; prints figures.

* ``sgd``: examples/pbt/train.py's problem (noisy SGD on a linear regression; a large rate
  is fast and imprecise, a small one precise and slow); the loss at the end, lower is
  better.
* ``toy``: the PBT paper's toy (Jaderberg et al. 2017, section 4.1): maximise
  Q(theta) = 1.2 - |theta|^2 by gradient ascent on a surrogate 1.2 - (h0 theta0^2 + h1
  theta1^2) whose weights h are the hyperparameters; Q at the end, higher is better.

Ours is sweepcli's own decisions (``search/pbt.py``: ``next_segment``, the same code an
agent runs under the lock) driving a population in this process, members judged one by
one as agents would claim them. The fixed configurations: random search and sweepcli's
bayes, one run per member's steps (the same total steps), each run's value at its end.
Ray Tune's PBT and PB2 (``--ray``, extra ``bench``) run the same population, interval and
steps through Ray's own schedulers.

    python benchmarks/bench_pbt.py [--seeds 10] [--problem sgd|toy|both] [--ray]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweepcli.config import validate  # noqa: E402
from sweepcli.runs import Run, RunState  # noqa: E402
from sweepcli.search import pbt, suggest  # noqa: E402


# ---- the problems: a model is a dict; a step trains it one step with a config -----------------

class Sgd:
    name, goal = "sgd", "minimize"
    DIM, BATCH, UPDATES = 20, 4, 25
    space = {"lr": {"distribution": "log_uniform_values", "min": 0.001, "max": 0.1}}
    steps, interval = 60, 5

    def __init__(self) -> None:
        data = np.random.default_rng(12345)
        self.w_true = data.normal(size=self.DIM)
        self.X_val = data.normal(size=(500, self.DIM))
        self.y_val = self.X_val @ self.w_true

    def new(self) -> dict[str, Any]:
        return {"w": np.zeros(self.DIM), "step": 0}

    def step(self, model: dict[str, Any], cfg: dict[str, Any], seed: int) -> float:
        w = model["w"]
        rng = np.random.default_rng([seed, model["step"]])
        for _ in range(self.UPDATES):
            xb = rng.normal(size=(self.BATCH, self.DIM))
            yb = xb @ self.w_true + rng.normal(scale=2.0, size=self.BATCH)
            w = np.clip(w - cfg["lr"] * xb.T @ (xb @ w - yb) / self.BATCH, -1e3, 1e3)
        model["w"], model["step"] = w, model["step"] + 1
        return float(np.mean((self.X_val @ w - self.y_val) ** 2))


class Toy:
    name, goal = "toy", "maximize"
    space = {"h0": {"min": 0.0, "max": 1.0}, "h1": {"min": 0.0, "max": 1.0}}
    steps, interval = 40, 4

    def new(self) -> dict[str, Any]:
        return {"theta": np.array([0.9, 0.9]), "step": 0}

    def step(self, model: dict[str, Any], cfg: dict[str, Any], seed: int) -> float:
        theta = model["theta"]
        h = np.array([cfg["h0"], cfg["h1"]])
        theta = theta + 0.01 * (-2.0 * h * theta)  # ascent on the surrogate
        model["theta"], model["step"] = theta, model["step"] + 1
        return float(1.2 - np.sum(theta**2))


def config(problem: Any, method: str, population: int, **block: Any) -> Any:
    raw: dict[str, Any] = {"method": method, "metric": {"name": "v", "goal": problem.goal},
                           "parameters": problem.space}
    if method == "pbt":
        raw["pbt"] = {"population": population, "steps": problem.steps,
                      "interval": problem.interval, **block}
    return validate(raw)


# ---- ours: the population driven by next_segment ----------------------------------------------

def run_pbt(problem: Any, population: int, seed: int, **block: Any) -> float:
    c = config(problem, "pbt", population, **block)
    rng = np.random.default_rng(seed)
    runs: list[Run] = []
    models: dict[str, dict[str, Any]] = {}
    kept: dict[tuple[str, int], dict[str, Any]] = {}
    for i in range(population):
        s = suggest(c, runs, rng)
        assert s is not None
        rid = f"m{i:07d}"
        runs.append(Run(rid, s.params, RunState.RUNNING))
        models[rid] = problem.new()

    def train(r: Run) -> None:
        end = pbt.segment_end(c, r)
        model = models[r.run_id]
        while pbt.step_of(r) < end:
            r.history.append(problem.step(model, r.params, 0))
        if pbt.step_of(r) >= c.pbt.steps:
            r.state = RunState.FINISHED
        else:
            r.state = RunState.PAUSED
            kept[(r.run_id, pbt.step_of(r))] = {k: np.copy(v) if isinstance(v, np.ndarray)
                                                else v for k, v in model.items()}
            r.kept.append(pbt.step_of(r))

    for r in runs:
        train(r)
    while True:
        m = pbt.next_member(c, runs)
        if m is None:
            break
        seg = pbt.next_segment(c, runs, m, rng)
        if not m.segments:
            m.segments.append({"from": 0, "step": 0, "params": dict(m.params), "parent": None})
        m.segments.append({"from": len(m.history), "step": seg.step, "params": seg.params,
                           "parent": list(seg.parent) if seg.parent else None})
        m.params = dict(seg.params)
        if seg.parent is not None:
            src = kept[seg.parent]
            models[m.run_id] = {k: np.copy(v) if isinstance(v, np.ndarray) else v
                                for k, v in src.items()}
        m.state = RunState.RUNNING
        train(m)
    finals = [r.history[-1] for r in runs]
    return min(finals) if problem.goal == "minimize" else max(finals)


# ---- fixed configurations with the same total steps -------------------------------------------

def run_fixed(problem: Any, method: str, population: int, seed: int) -> float:
    from dataclasses import replace

    c = replace(config(problem, method, population), salt=str(seed))  # (a sweep's own draws)
    rng = np.random.default_rng(seed)
    runs: list[Run] = []
    for i in range(population):
        s = suggest(c, runs, rng)
        assert s is not None
        model = problem.new()
        values = [problem.step(model, s.params, 0) for _ in range(problem.steps)]
        runs.append(Run(f"f{i:07d}", s.params, RunState.FINISHED, [values[-1]]))
    finals = [r.history[-1] for r in runs]
    return min(finals) if problem.goal == "minimize" else max(finals)


def best_fixed(problem: Any) -> float:
    """The best fixed configuration there is (a fine grid): what no search of fixed ones
    can beat."""
    if problem.name == "sgd":
        grid = [{"lr": float(x)} for x in np.geomspace(0.001, 0.1, 200)]
    else:
        grid = [{"h0": a, "h1": b} for a in np.linspace(0, 1, 21) for b in np.linspace(0, 1, 21)]
    best = []
    for cfg in grid:
        model = problem.new()
        best.append([problem.step(model, cfg, 0) for _ in range(problem.steps)][-1])
    return min(best) if problem.goal == "minimize" else max(best)


# ---- Ray Tune's PBT and PB2 ---------------------------------------------------------------------

def run_ray(problem: Any, population: int, seed: int, which: str) -> float:  # pragma: no cover
    import tempfile

    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.schedulers.pb2 import PB2

    def trainable(cfg: dict[str, Any]) -> None:
        import pickle

        from ray import tune as t

        model = problem.new()
        ckpt = t.get_checkpoint()
        if ckpt:
            with ckpt.as_directory() as d:
                model = pickle.loads((Path(d) / "m.pkl").read_bytes())
        while model["step"] < problem.steps:
            v = problem.step(model, cfg, 0)
            with tempfile.TemporaryDirectory() as d:
                (Path(d) / "m.pkl").write_bytes(pickle.dumps(model))
                t.report({"v": v, "training_iteration": model["step"]},
                         checkpoint=t.Checkpoint.from_directory(d))

    names = list(problem.space)
    bounds = {n: [problem.space[n]["min"], problem.space[n]["max"]] for n in names}
    if which == "pbt":
        mutations = {n: tune.loguniform(*bounds[n]) if problem.name == "sgd"
                     else tune.uniform(*bounds[n]) for n in names}
        sched: Any = PopulationBasedTraining(
            time_attr="training_iteration", metric="v",
            mode="min" if problem.goal == "minimize" else "max",
            perturbation_interval=problem.interval, hyperparam_mutations=mutations,
            quantile_fraction=0.25, resample_probability=0.25)
    else:
        sched = PB2(time_attr="training_iteration", metric="v",
                    mode="min" if problem.goal == "minimize" else "max",
                    perturbation_interval=problem.interval, hyperparam_bounds=bounds)
    rng = np.random.default_rng(seed)
    space = {n: tune.sample_from(lambda _, n=n: float(np.exp(rng.uniform(*np.log(bounds[n]))))
                                 if problem.name == "sgd" else float(rng.uniform(*bounds[n])))
             for n in names}
    tuner = tune.Tuner(trainable, param_space=space, tune_config=tune.TuneConfig(
        scheduler=sched, num_samples=population, reuse_actors=False))
    results = tuner.fit()
    finals = [r.metrics["v"] for r in results if r.metrics]
    return min(finals) if problem.goal == "minimize" else max(finals)


def run_real(sweeps: int, agents: int, explore: str | None = None) -> None:
    """The example itself (examples/pbt), run by real agents: its best member's loss at the
    end, over several sweeps."""
    import json
    import shutil
    import subprocess
    import tempfile

    example = Path(__file__).resolve().parent.parent / "examples" / "pbt"
    got = []
    for _ in range(sweeps):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "pbt"
            shutil.copytree(example, folder, ignore=shutil.ignore_patterns("sweeps"))
            if explore == "pb2":
                text = (folder / "sweep.yaml").read_text()
                (folder / "sweep.yaml").write_text(text.replace(
                    "  explore: {factors: [0.5, 0.8, 1.25], resample_probability: 0.2}",
                    "  explore: pb2"))
            cli = [sys.executable, "-m", "sweepcli"]
            sid = subprocess.run([*cli, "sweep", "sweep.yaml"], cwd=folder, check=True,
                                 capture_output=True, text=True).stdout.strip()
            procs = [subprocess.Popen([*cli, "agent", sid], cwd=folder,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                     for _ in range(agents)]
            for p in procs:
                p.wait()
            status = json.loads(subprocess.run([*cli, "sweep", "--print", sid, "--json"],
                                               cwd=folder, check=True, capture_output=True,
                                               text=True).stdout)
            got.append(status["best"]["value"])
    print(f"examples/pbt with {agents} real agents, {sweeps} sweeps ({explore or 'the example'}"
          f"): median {statistics.median(got):.4f}  worst {max(got):.4f}  best {min(got):.4f}"
          f"  all: {' '.join(f'{g:.4f}' for g in sorted(got))}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--population", type=int, default=8)
    ap.add_argument("--problem", default="both")
    ap.add_argument("--ray", action="store_true")
    ap.add_argument("--pb2", action="store_true", help="also sweepcli's PB2 explore")
    ap.add_argument("--real", type=int, default=0, metavar="SWEEPS",
                    help="instead: run examples/pbt with real agents this many times")
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--explore", default=None, help="with --real: pb2")
    args = ap.parse_args()
    if args.real:
        run_real(args.real, args.agents, args.explore)
        return
    problems = [Sgd(), Toy()] if args.problem == "both" else [
        {"sgd": Sgd, "toy": Toy}[args.problem]()]
    for problem in problems:
        print(f"\n{problem.name}: population {args.population}, {problem.steps} steps, interval "
              f"{problem.interval}, {args.seeds} seeds ({problem.goal}; value at the end)")
        print(f"  best fixed configuration there is (a fine grid): {best_fixed(problem):.4f}")
        methods: dict[str, Any] = {
            "sweepcli pbt": lambda s, p=problem: run_pbt(p, args.population, s),
            "random (fixed)": lambda s, p=problem: run_fixed(p, "random", args.population, s),
            "bayes (fixed)": lambda s, p=problem: run_fixed(p, "bayes", args.population, s),
        }
        if args.pb2:
            methods["sweepcli pb2"] = lambda s, p=problem: run_pbt(p, args.population, s,
                                                                   explore="pb2")
        if args.ray:
            methods["ray pbt"] = lambda s, p=problem: run_ray(p, args.population, s, "pbt")
            methods["ray pb2"] = lambda s, p=problem: run_ray(p, args.population, s, "pb2")
        for name, f in methods.items():
            t0 = time.perf_counter()
            got = [f(s) for s in range(1, args.seeds + 1)]
            worst = max(got) if problem.goal == "minimize" else min(got)
            print(f"  {name:<16} median {statistics.median(got):.4f}  worst {worst:.4f}  "
                  f"best {min(got) if problem.goal == 'minimize' else max(got):.4f}  "
                  f"({time.perf_counter() - t0:.1f} s)")


if __name__ == "__main__":
    main()
