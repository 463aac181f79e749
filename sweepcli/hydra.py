"""The Hydra sweeper (``python train.py --multirun hydra/sweeper=sweepcli``): the sweep's
config lives in ``hydra.sweeper`` (W&B-style ``method``, ``metric``, ``parameters``,
``early_terminate``, ``run_cap``, ``sweepcli``); the sweeper creates the sweep (or joins
``sweep_id``), then runs agents in this process until the sweep is done. Each agent takes
a run as any agent does and launches it as one Hydra job through the configured launcher
(basic, joblib, submitit), the run's parameters as the job's overrides; the job's
``SWEEPCLI_*`` variables go through ``hydra.job.env_set``, so ``sweepcli.log`` in the task
writes the run's metric lines, and a number the task returns is written there too. The
sweep's stopping rule, budget and retries work as under ``sweepcli agent``.

Hydra itself is an optional extra (``sweepcli[hydra]``); nothing here is imported by the
rest of sweepcli.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .errors import SweepcliError

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
_WORDS = {"true", "false", "null", "nan", "inf", "none"}


class HydraSweepError(SweepcliError):
    """The sweeper's config or the command line cannot make a sweep."""


def hydra_value(value: Any) -> str:
    """A parameter's value in Hydra's override grammar (strings quoted unless plain)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _WORDS:
        return text
    # Hydra's quoted strings: a backslash is itself except before a quote (or the closing
    # quote), where each is doubled; a quote is escaped (C:\new stays C:\new)
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)
    return "'" + text.replace("'", "\\'") + "'"


def flatten(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"lr": 0.1}}`` -> ``{"model.lr": 0.1}`` (Hydra's dotted keys)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


class Task:
    """The program's task function as Hydra's launcher runs it for a run: the run's helper
    state is fresh for each job (jobs may share a process), and a number the function
    returns is written to the run's metric lines under the sweep's metric when the function
    logged none itself. Picklable (joblib and submitit send it to other processes)."""

    def __init__(self, function: Any, metric: str | None):
        self.function = function
        self.metric = metric

    def __call__(self, cfg: Any) -> Any:
        from . import child

        told = _run_variables()
        saved = {k: os.environ.get(k) for k in told}
        os.environ.update(told)  # (the job's own processes inherit them)
        child.reset()
        try:
            result = self.function(cfg)
        finally:
            child.finish_current()
            child.reset()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        metrics = told.get("SWEEPCLI_METRICS_FILE") or os.environ.get("SWEEPCLI_METRICS_FILE")
        if metrics and self.metric and _number(result) is not None\
                and not _logged(Path(metrics), self.metric):
            line = json.dumps({self.metric: _number(result)}, allow_nan=True) + "\n"
            fd = os.open(metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        return result


#: the folder, in the multirun's sweep folder, where each job finds its run's variables
JOB_FILES = ".sweepcli-jobs"


def _job_file(sweep_dir: Path, num: int) -> Path:
    return sweep_dir / JOB_FILES / f"{int(num)}.json"


def _run_variables() -> dict[str, str]:
    """The run of this job (found by the job's number in the multirun's sweep folder; the
    job's log line stays the overrides a person wrote)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        sweep_dir = Path(hc.sweep.dir)
        if not sweep_dir.is_absolute():
            sweep_dir = Path(hc.runtime.cwd) / sweep_dir
        told = json.loads(_job_file(sweep_dir, hc.job.num).read_text())
    except Exception:  # noqa: BLE001 - not a job of this sweeper's: nothing to tell
        return {}
    return {k: str(v) for k, v in told.items() if k in RUN_VARIABLES and isinstance(v, str)}


def _number(value: Any) -> float | None:
    try:
        value = value.item()  # numpy and torch scalars
    except AttributeError:
        pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _logged(path: Path, metric: str) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        try:
            if metric in json.loads(line):
                return True
        except (ValueError, TypeError):
            continue
    return False


#: what a job is told of its run (through ``hydra.job.env_set``; nothing else of ours)
RUN_VARIABLES = ("SWEEPCLI_SWEEP_ID", "SWEEPCLI_RUN_ID", "SWEEPCLI_RUN_DIR", "SWEEPCLI_CONFIG_FILE",
                 "SWEEPCLI_METRICS_FILE", "SWEEPCLI_ATTEMPT", "SWEEPCLI_RESUME")

_SWEEP_KEYS = ("method", "metric", "metrics", "parameters", "early_terminate", "run_cap",
               "name", "sweepcli")


@dataclass
class SweeperOptions:
    config: dict[str, Any]  # the sweep's config, W&B's keys
    sweep_id: str | None
    dir: str | None
    store: str | None
    agents: int
    count: int | None

    @property
    def metric_name(self) -> str | None:
        metric = self.config.get("metric")
        if isinstance(metric, dict) and isinstance(metric.get("name"), str):
            return metric["name"]
        metrics = self.config.get("metrics")
        if isinstance(metrics, list) and metrics and isinstance(metrics[0], dict):
            name = metrics[0].get("name")
            return name if isinstance(name, str) else None
        return None

    @classmethod
    def from_config(cls, options: dict[str, Any]) -> SweeperOptions:
        try:
            from omegaconf import DictConfig, ListConfig, OmegaConf

            plain: dict[str, Any] = {k: (OmegaConf.to_container(v, resolve=True)
                         if isinstance(v, (DictConfig, ListConfig)) else v)
                     for k, v in options.items()}
        except ImportError:  # (only Hydra calls this)
            plain = dict(options)
        config = {k: plain[k] for k in _SWEEP_KEYS if plain.get(k) is not None}
        agents = plain.get("agents", 1)
        if not isinstance(agents, int) or isinstance(agents, bool) or agents < 1:
            raise HydraSweepError(f"hydra.sweeper.agents: give 1 or more, got {agents!r}")
        count = plain.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise HydraSweepError(f"hydra.sweeper.count: give 1 or more, got {count!r}")
        texts: list[str | None] = []
        for key in ("sweep_id", "dir", "store"):
            value = plain.get(key)
            if value is not None and not isinstance(value, str):
                raise HydraSweepError(f"hydra.sweeper.{key}: give a string, got {value!r}")
            texts.append(value)
        return cls(config, texts[0], texts[1], texts[2], agents, count)


def _refuse(message: str) -> NoReturn:
    """A user's mistake: one message and exit status 2, not Hydra's traceback."""
    import sys

    print(f"sweepcli: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def sweep_parameter(override: Any) -> dict[str, Any]:
    """A Hydra sweep on the command line as a W&B parameter, as Hydra's Optuna sweeper
    reads them: ``choice(a,b)`` and ``a,b`` -> values; ``range(1,5)`` -> its values;
    ``interval(0.001,0.1)`` -> uniform min/max, ``tag(log, interval(...))`` -> log-uniform,
    ``tag(int, interval(1,8))`` -> integers."""
    from hydra.core.override_parser.types import IntervalSweep

    sweep = override.value()
    if isinstance(sweep, IntervalSweep):
        tags = set(getattr(sweep, "tags", ()) or ())
        lo: Any = sweep.start
        hi: Any = sweep.end
        if "int" in tags:
            return {"distribution": "int_uniform", "min": int(lo), "max": int(hi)}
        if "log" in tags:
            return {"distribution": "log_uniform_values", "min": float(lo), "max": float(hi)}
        return {"distribution": "uniform", "min": float(lo), "max": float(hi)}
    return {"values": list(override.sweep_iterator())}


def _with_parameter(parameters: dict[str, Any], key: str, spec: dict[str, Any]) -> None:
    """``model.depth`` goes under a nested ``model`` group when there is one, else it is a
    flat dotted name (as W&B takes them)."""
    head, _, rest = key.partition(".")
    group = parameters.get(head)
    if rest and isinstance(group, dict) and isinstance(group.get("parameters"), dict):
        _with_parameter(group["parameters"], rest, spec)
    else:
        parameters[key] = spec


def _open_or_create(options: SweeperOptions) -> Any:
    from . import api

    store = options.store or os.environ.get("SWEEPCLI_STORE") or None
    if options.sweep_id:
        sweep = api.open_sweep(options.sweep_id, options.dir, store=store)
        cap = options.config.get("run_cap")
        if cap is not None and cap != sweep.config.run_cap:
            # given with the sweep to join: the sweep's own run_cap becomes it (said)
            api.update(sweep.ref, {**sweep.config.raw, "run_cap": cap}, options.dir, store=store)
            import logging

            logging.getLogger(__name__).info(
                f"sweepcli: hydra.sweeper.run_cap {cap}: sweep {sweep.ref}'s run_cap was "
                f"{sweep.config.run_cap}, now {cap}")
            sweep = api.open_sweep(options.sweep_id, options.dir, store=store)
        return sweep
    if not options.config.get("parameters"):
        raise HydraSweepError("hydra.sweeper.parameters is empty: give the parameters to "
                              "search (W&B's form: lr: {min: 0.001, max: 0.1})")
    sweep, _ = api.create(options.config, dir=options.dir, store=store)
    return sweep


def run_sweep(sweeper: Any, arguments: list[str]) -> Any:
    """``Sweeper.sweep``: create or join the sweep, then run agents until it is done."""
    import logging

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.utils import JobStatus
    from hydra.errors import HydraException

    from .store.files import write_json_atomic
    from omegaconf import OmegaConf

    from .agent import Agent
    from .agent.display import make_display
    from .config import ConfigError

    log = logging.getLogger(__name__)
    options: SweeperOptions = sweeper.options
    config = sweeper.config
    loader = sweeper.hydra_context.config_loader
    try:
        parsed = OverridesParser.create(config_loader=loader).parse_overrides(list(arguments))
    except HydraException as exc:
        _refuse(str(exc))
    base: list[str] = []
    swept: list[str] = []
    for override in parsed:
        if override.is_sweep_override():
            # Hydra's sweep syntax (choice, range, interval, a,b): parameters of the sweep
            swept.append(override.input_line or "")
            parameters = options.config.setdefault("parameters", {})
            _with_parameter(parameters, override.get_key_element().lstrip("+~"),
                            sweep_parameter(override))
        else:
            base.append(override.input_line or "")
    if swept and options.sweep_id:
        _refuse(f"{' '.join(swept)}: sweep {options.sweep_id} has its parameters already; a "
                "sweep on the command line makes a new sweep (leave out hydra.sweeper.sweep_id), "
                "or change this one with sweepcli sweep --update")
    if options.config.get("method") == "pbt":
        _refuse("hydra.sweeper.method: pbt is not run by the Hydra sweeper (a member trains in "
                "segments that resume from the checkpoint in its run folder, which a Hydra job "
                "does not keep): run a pbt sweep with sweepcli agent")
    if options.agents > 1 and type(sweeper.launcher).__name__ == "BasicLauncher":
        _refuse("hydra.sweeper.agents > 1 needs a launcher that runs jobs outside this process "
                "(hydra/launcher=joblib or submitit_slurm); the basic launcher runs one job at "
                "a time here")
    try:
        sweep = _open_or_create(options)
    except (ConfigError, SweepcliError) as exc:
        _refuse(str(exc))
    if sweep.config.pbt is not None:  # (joined by its ID)
        _refuse(f"sweep {sweep.ref} is a pbt sweep, which the Hydra sweeper does not run: run "
                "it with sweepcli agent")
    sweep_dir = Path(config.hydra.sweep.dir).resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    jobs_dir = sweep_dir / JOB_FILES
    jobs_dir.mkdir(exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    log.info(f"sweepcli: sweep {sweep.ref} ({sweep.config.method}) in {sweep.path}; "
             f"{options.agents} agent(s) launching jobs")
    returns: list[Any] = []
    lock = threading.Lock()
    next_index = [0]
    groups: dict[str, bool] = {}

    def is_group(key: str) -> bool:
        if key not in groups:
            try:
                groups[key] = bool(loader.get_group_options(key.replace(".", "/")))
            except Exception:  # noqa: BLE001 - Hydra's own errors: not a group
                groups[key] = False
        return groups[key]

    def launch(env: dict[str, str]) -> Any:
        nested = json.loads(Path(env["SWEEPCLI_CONFIG_FILE"]).read_text())
        overrides = list(base)
        for key, value in flatten(nested).items():
            # a config group takes its option's name; a value is set, or added if new
            overrides.append(f"{key}={value}" if is_group(key) and isinstance(value, str)
                             else f"++{key}={hydra_value(value)}")
        with lock:
            index = next_index[0]
            next_index[0] += 1
        # the job finds its run's variables by its number (Task), not through ~700
        # characters of overrides in every job's log line
        write_json_atomic(_job_file(jobs_dir.parent, index),
                          {k: env[k] for k in RUN_VARIABLES if k in env})
        results = sweeper.launcher.launch([overrides], initial_job_idx=index)
        with lock:
            returns.append(results)
        result = results[0]
        if result.status == JobStatus.FAILED:
            raise result._return_value  # the agent records the run failed, with its traceback
        return result.return_value

    agent = Agent(sweep, count=options.count, function=launch, function_env=True,
                  gpus=[None] * options.agents,  # slots, no GPU of their own
                  display=make_display(options.count, options.agents, live=False))
    report = agent.run()
    from .reporting.status import look, reap

    reap(sweep)
    status = look(sweep)
    results: dict[str, Any] = {"name": "sweepcli", "sweep_id": sweep.ref,
                               "state": status.state, "runs": len(status.runs),
                               "agents": report.reason}
    if status.best:
        results["best_params"] = status.best["config"]
        results["best_value"] = status.best["value"]
    OmegaConf.save(OmegaConf.create(results), sweep_dir / "optimization_results.yaml")
    log.info(f"sweepcli: {report.reason}; best {results.get('best_value')} with "
             f"{results.get('best_params')}")
    return returns
