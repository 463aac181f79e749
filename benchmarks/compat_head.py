"""How often sweepcli's verdict on a config agrees with W&B's engine as it is today.

Run by hand: ``python benchmarks/compat_head.py SCHEMA.json [--n 20000] [--seed 1]``.

The oracle is W&B's current rules: its JSON schema (the file given, e.g.
``../shared/reference/wandb-sweeps-head/schema.json``; it is not part of this project),
the checks its ``SweepConfig`` makes beyond the schema (min < max, probabilities, the
deprecated base-e forms, ``metric``/``metrics``/``scheduler`` rules), and grid search's
refusal of distributions it cannot enumerate. The configs are mutations of valid ones:
values of the wrong type or range, keys added, dropped or misspelt, the new keys of today's
schema. It prints the agreement, the disagreements by kind, and a few examples of each.
The documented differences (README, "Moving from W&B") are counted apart.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema  # noqa: E402
from sweeps.config.schema import (  # noqa: E402  (W&B's checks beyond the schema, unchanged since 0.2.0)
    check_for_deprecated_distributions,
    validate_categorical_prob,
    validate_min_max,
)

from sweepcli.config import ConfigError, validate  # noqa: E402

GRID_TYPES = ("categorical", "constant", "int_uniform", "q_uniform")
ENGINES = {"wandb": ("grid", "bayes", "random"), "optuna": ("custom",), "ax": ("custom",)}


def make_oracle(schema: dict) -> Any:
    checker = jsonschema.FormatChecker()
    checker.checks("float")(lambda v: isinstance(v, float))
    checker.checks("integer")(lambda v: isinstance(v, int))
    validator = jsonschema.Draft7Validator(schema, format_checker=checker)
    resolver_defs = schema["definitions"]
    param_validators = {ref["$ref"].split("/")[-1]: jsonschema.Draft7Validator(
        {**resolver_defs[ref["$ref"].split("/")[-1]], "definitions": resolver_defs},
        format_checker=checker) for ref in resolver_defs["parameter"]["anyOf"]}

    def kind_of(spec: dict) -> str | None:
        for name, v in param_validators.items():
            if v.is_valid(spec):
                return name
        return None

    def accepts(config: Any) -> bool:
        if not isinstance(config, dict):
            return False
        if any(True for _ in validator.iter_errors(config)):
            return False
        method, scheduler = config.get("method"), config.get("scheduler")
        if "parameters" not in config and not (isinstance(scheduler, dict)
                                               and scheduler.get("search_space")):
            return False
        if "metric" in config and "metrics" in config:
            return False
        if "metrics" in config and method != "custom":
            return False
        if scheduler is not None:
            if config.get("controller", {}).get("type") == "local" or "early_terminate" in config:
                return False
            if method not in ENGINES.get(scheduler.get("engine"), ()):
                return False
        for name, spec in config.get("parameters", {}).items():
            try:
                validate_min_max(name, spec)
                validate_categorical_prob(name, spec)
                check_for_deprecated_distributions(name, spec)
            except (ValueError, jsonschema.ValidationError, TypeError):
                return False
        # what W&B's engine refuses at the first suggestion or the first stop check (a
        # ValueError there ends its sweep): counted as its verdict, as grid's check is
        if method == "bayes" and "metric" not in config:
            return False
        et = config.get("early_terminate")
        if et is not None:
            if "metric" not in config:
                return False
            eta = et.get("eta", 3)
            if "max_iter" in et:
                band, bands = et["max_iter"], []
                try:
                    for _ in range(et["s"]):
                        band /= eta
                        if band < 1:
                            break
                        bands.append(band)
                except TypeError:
                    return False
                if not bands:
                    return False
        if method == "grid":
            def walk(params: dict) -> bool:
                for spec in params.values():
                    if "parameters" in spec and len(spec) == 1:
                        if not walk(spec["parameters"]):
                            return False
                        continue
                    kind = kind_of(spec)
                    dist = spec.get("distribution")
                    if kind == "param_categorical_w_probabilities" or (
                            dist not in (None,) + GRID_TYPES):
                        return False
                    if dist is None and kind in ("param_uniform",):
                        return False
                return True
            if not walk(config.get("parameters", {})):
                return False
        return True

    return accepts


def ours(config: Any) -> bool:
    try:
        validate(copy.deepcopy(config))
    except ConfigError:
        return False
    return True


BASES = [
    {"method": "grid", "parameters": {"lr": {"values": [0.1, 0.01]}, "bs": {"value": 32}}},
    {"method": "random", "parameters": {"lr": {"min": 0.0001, "max": 0.1},
                                        "layers": {"min": 1, "max": 8}},
     "metric": {"name": "loss", "goal": "minimize"}, "run_cap": 20},
    {"method": "bayes", "metric": {"name": "acc", "goal": "maximize", "target": 0.99,
                                   "impute": "worst", "impute_while_running": "latest"},
     "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
                    "opt": {"values": ["adam", "sgd"]},
                    "model": {"parameters": {"depth": {"distribution": "int_uniform",
                                                       "min": 1, "max": 4}}}},
     "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3, "strict": True}},
    {"method": "random", "program": "train.py", "command": ["${env}", "python", "${program}",
                                                            "${args}"],
     "name": "n", "description": "d", "project": "p", "entity": "e",
     "parameters": {"x": {"distribution": "normal", "mu": 0, "sigma": 1},
                    "y": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
                    "z": {"distribution": "beta", "a": 2, "b": 3},
                    "w": {"values": [1, 2, 3], "probabilities": [0.2, 0.3, 0.5]}},
     "early_terminate": {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3}},
    {"method": "grid", "parameters": {"a": {"distribution": "int_uniform", "min": 0, "max": 3},
                                      "b": {"distribution": "q_uniform", "min": 0, "max": 1,
                                            "q": 0.25}},
     "controller": {"type": "local"}, "kind": "sweep", "apiVersion": "v1"},
]

ODD_VALUES = [None, True, False, 0, 1, -1, 2, 3.0, 0.5, -2.5, 1e6, "x", "", "false", "latest",
              "best", "worst", "maximize", "hyperband", "grid", "custom", [], [1], [1, 2],
              {}, {"a": 1}, {"name": "m"}, {"type": "local"}, {"engine": "optuna"}]
NEW_KEYS = {"metrics": [[{"name": "a"}, {"name": "b", "goal": "maximize"}], [{"name": "a"}]],
            "job": ["wandb/p/job:v0"], "image_uri": ["img:latest"],
            "scheduler": [{"engine": "optuna"}, {"engine": "wandb"}],
            "run_cap": [5, 0, 5.0, -1, "5"],
            "controller": [{"type": "cloud"}, {"type": "local", "x": 1}, {}]}
KEYS = ["distribution", "min", "max", "q", "mu", "sigma", "a", "b", "values", "value",
        "probabilities", "parameters", "name", "goal", "target", "impute",
        "impute_while_running", "type", "min_iter", "max_iter", "s", "eta", "strict", "foo"]


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, prefix + (i,))
    return out


def mutate(config: dict, rng: random.Random) -> dict:
    config = copy.deepcopy(config)
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        choice = rng.random()
        if choice < 0.15:
            k = rng.choice(list(NEW_KEYS))
            config[k] = copy.deepcopy(rng.choice(NEW_KEYS[k]))
            if k == "scheduler" and rng.random() < 0.5:
                config["method"] = "custom"
            continue
        if choice < 0.2:
            config["method"] = rng.choice(["grid", "random", "bayes", "custom"])
            continue
        ps = [p for p in paths(config) if p]
        if not ps:
            continue
        path = rng.choice(ps)
        parent: Any = config
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if choice < 0.55:
            parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif choice < 0.7 and isinstance(parent, dict):
            del parent[last]
        elif isinstance(parent, dict):
            parent[rng.choice(KEYS)] = copy.deepcopy(rng.choice(ODD_VALUES))
    return config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("schema", type=Path)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=3)
    args = ap.parse_args()
    theirs = make_oracle(json.loads(args.schema.read_text()))
    rng = random.Random(args.seed)
    agree, kinds, examples = 0, Counter(), {}
    documented = 0
    for _ in range(args.n):
        config = mutate(rng.choice(BASES), rng)
        try:
            a, b = ours(config), theirs(config)
        except Exception as exc:  # noqa: BLE001 - an oracle that cannot judge: skip
            kinds[f"oracle error {type(exc).__name__}"] += 1
            continue
        if a == b:
            agree += 1
            continue
        launch = config.get("method") == "custom" or any(k in config for k in (
            "job", "image_uri", "scheduler"))
        several = "metrics" in config and a and not b  # several objectives without custom
        if (launch and not a) or several:
            documented += 1
            continue
        kind = f"ours={a} theirs={b}"
        kinds[kind] += 1
        examples.setdefault(kind, []).append(config)
    judged = args.n - sum(v for k, v in kinds.items() if k.startswith("oracle"))
    print(f"{judged} configs judged: {agree} agree ({100 * agree / judged:.2f}%), "
          f"{documented} are W&B Launch configs we refuse on purpose or several objectives "
          "we accept without method: custom; "
          f"agreement outside them {100 * agree / max(1, judged - documented):.2f}%")
    for kind, n in kinds.most_common():
        print(f"  {kind}: {n}")
        for ex in examples.get(kind, [])[: args.show]:
            print("     ", json.dumps(ex)[:300])


if __name__ == "__main__":
    main()
