"""What every registered part must do: each stopping rule in ``early_stop.RULES`` and
each search method in ``search.METHODS`` passes these (Optuna's BasicSamplerTestCase
idea). Adding a part is one file and one registry line; this suite says what it forgot."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from sweepcli.config import validate
from sweepcli.config.validate import METHODS as METHOD_NAMES
from sweepcli.early_stop import RULES, judge, promotion
from sweepcli.runs import Run, RunState
from sweepcli.search import METHODS

#: the smallest valid config of each rule (a new rule needs one here)
RULE_EXAMPLES = {
    "hyperband": {"type": "hyperband", "min_iter": 2, "eta": 2},
    "asha": {"type": "asha", "min_iter": 2, "max_iter": 8, "eta": 2},
    "median": {"type": "median", "min_iter": 2, "min_runs": 2},
}


def config(method: str = "random", early: dict | None = None, **sweepcli: object):
    raw: dict = {"method": method, "metric": {"name": "loss"},
                 "parameters": {"x": {"values": [1, 2, 3, 4]} if method == "grid"
                                else {"min": 0.0, "max": 1.0},
                                "opt": {"values": ["a", "b"]}}}
    if early is not None:
        raw["early_terminate"] = early
    if method == "pbt":
        raw["pbt"] = {"population": 4, "steps": 10}
    if sweepcli:
        raw["sweepcli"] = sweepcli
    return validate(raw)


def population() -> list[Run]:
    """Finished, stopped, paused and running runs of several lengths and values."""
    rng = np.random.default_rng(0)
    runs = []
    for i in range(12):
        length = [8, 8, 8, 6, 4, 2, 1, 3, 5, 7, 8, 2][i]
        state = [RunState.FINISHED] * 4 + [RunState.STOPPED, RunState.PAUSED] + [RunState.RUNNING] * 6
        base = float(rng.uniform(0, 1))
        runs.append(Run(f"r{i:07d}", {"x": base, "opt": "a"}, state[i],
                        [base + 1.0 / (k + 1) for k in range(length)]))
    return runs


def test_every_rule_has_an_example_here() -> None:
    assert set(RULE_EXAMPLES) == set(RULES), "add the new rule's smallest config to RULE_EXAMPLES"


@pytest.mark.parametrize("name", sorted(RULES))
def test_a_rule_parses_its_keys_and_names_a_wrong_one_by_its_path(name) -> None:
    rule = RULES[name]
    assert isinstance(rule.KEYS, tuple) and callable(rule.parse) and callable(rule.judge)
    assert config(early=RULE_EXAMPLES[name]).early_stop.type == name
    with pytest.raises(ValueError) as err:
        config(early={**RULE_EXAMPLES[name], "sideways": 1})
    assert "early_terminate.sideways" in str(err.value)


@pytest.mark.parametrize("name", sorted(RULES))
def test_a_rule_judges_running_runs_only_purely_and_never_one_at_its_end(name) -> None:
    c = config(early=RULE_EXAMPLES[name])
    assert judge(c, []) == {}
    runs = population()
    before = copy.deepcopy([(r.run_id, r.state, list(r.history)) for r in runs])
    verdicts = judge(c, runs)
    assert verdicts == judge(c, runs)  # the same answer for the same runs
    assert [(r.run_id, r.state, list(r.history)) for r in runs] == before  # nothing changed
    by_id = {r.run_id: r for r in runs}
    for rid, v in verdicts.items():
        assert by_id[rid].state == RunState.RUNNING
        assert v.action in ("stop", "pause") and v.reason
        json.dumps(v.reason)
    last_step = getattr(rule := RULES[name], "last_step", None)
    top = last_step(c.early_stop, runs) if last_step else None
    if top is not None:
        assert not any(len(by_id[rid].history) >= top for rid in verdicts)
    if hasattr(rule, "promote"):
        got = promotion(c, runs, exhausted=True)
        assert got is None or (got[0].state == RunState.PAUSED and got[1])


def test_every_method_the_validator_takes_is_registered() -> None:
    assert set(METHODS) == set(METHOD_NAMES)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_a_method_suggests_points_of_the_space_that_keep_the_rules(name) -> None:
    method = METHODS[name]
    c = config(name, forbid=[{"opt": "b"}])
    rng = np.random.default_rng(1)
    runs: list[Run] = []
    assert not method.exhausted(c, runs) and method.empty(c) is None
    for i in range(4):
        s = method.suggest(c, runs, rng)
        assert s is not None and c.space.holds(s.params) and s.params["opt"] == "a"
        assert (s.grid_index is not None) == (name == "grid")
        if s.grid_index is not None:
            assert method.grid_index(c, s.params) == s.grid_index
        runs.append(Run(f"r{i:07d}", s.params, RunState.FINISHED, [float(i)], grid_index=s.grid_index))
    if name in ("grid", "pbt"):  # every allowed point ran once / the population is whole
        assert method.suggest(c, runs, rng) is None and method.exhausted(c, runs)
    nothing = config(name, forbid=[{"opt": ["a", "b"]}])
    assert method.empty(nothing)


def test_every_ending_has_its_row_and_every_row_is_used() -> None:
    """Every way an agent ends a run goes through the endings table (Ctrl-C and a SIGTERM
    from outside too), and no row is dead."""
    import inspect

    from sweepcli.agent import loop, policy, watch
    from sweepcli.agent.endings import ENDINGS, Ending

    assert set(ENDINGS) == set(Ending)
    source = inspect.getsource(loop) + inspect.getsource(watch) + inspect.getsource(policy)
    for ending in Ending:
        assert f"Ending.{ending.name}" in source, f"no code ends a run with Ending.{ending.name}"


def test_every_journal_event_kind_has_its_handler_and_a_malformed_one_is_skipped() -> None:
    from sweepcli.store.events import Op, SweepState

    state = SweepState()
    for op in Op:
        assert callable(getattr(state, f"_apply_{op.value}", None)), f"no SweepState._apply_{op.value}"
        assert state.apply({"op": op.value}) is False  # nothing else given: skipped, counted
    assert state.skipped == len(Op)


def test_import_sweepcli_loads_only_the_helper_and_the_rest_when_named() -> None:
    """A training program imports sweepcli: the helper alone loads (standard library), the
    API and the layers when first used, as they always worked."""
    import importlib
    import sys

    saved = {k: v for k, v in sys.modules.items() if k == "sweepcli" or k.startswith("sweepcli.")}
    for k in saved:
        del sys.modules[k]
    try:
        sweepcli = importlib.import_module("sweepcli")
        assert sorted(k for k in sys.modules if k.startswith("sweepcli")) == ["sweepcli", "sweepcli.child"]
        assert callable(sweepcli.agent) and type(sweepcli.config).__name__ == "RunConfigModule"
        assert sweepcli.Api.__module__ == "sweepcli.api" and sweepcli.api.PointError
        with pytest.raises(AttributeError):
            sweepcli.no_such_thing  # noqa: B018
    finally:
        for k in [k for k in sys.modules if k == "sweepcli" or k.startswith("sweepcli.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def test_the_helper_and_its_agent_name_the_run_folder_s_files_alike() -> None:
    """child.py imports nothing of sweepcli (a program's Python may lack it), so it keeps
    its own copy of the names its agent reads from store/files.py."""
    from sweepcli import child
    from sweepcli.store import files

    for name in ("SIGNALED", "STOP_SEEN", "HELPER"):
        assert getattr(child, name) == getattr(files, name), name


#: the layers of docs/ARCHITECTURE.md, lowest first: a module imports its own layer or lower
LAYERS = [
    {"runs", "goals", "errors", "jsonline", "text", "checks", "backoff"},  # shared data
    {"early_stop"},  # (the validator reads its RULES)
    {"config"},
    {"search", "pareto", "store"},
    {"budget"},
    {"agent"},
]
#: the calls that point upwards, on purpose (ARCHITECTURE names each and why)
UPWARDS = {("sweepcli.agent", "sweepcli.api"),  # sweepcli.agent(ID, function=...)
           ("sweepcli.agent.inprocess", "sweepcli.child"),  # a function run as the program
           ("sweepcli.config", "sweepcli.child")}  # sweepcli.config.lr


def _imports() -> list[tuple[str, str, bool]]:
    """(module, what it imports of sweepcli, at module level?) for every module; imports
    for type checking alone are left out."""
    import ast
    from pathlib import Path

    import sweepcli

    root = Path(sweepcli.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        mod = ".".join(parts[:-1] if is_pkg else parts)
        tree = ast.parse(path.read_text())
        skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found += [(mod, t, id(node) in top) for t in targets
                      if t.startswith("sweepcli.")]
    return found


def _layer(module: str) -> int:
    unit = module.split(".")[1] if "." in module else ""
    return next((i for i, units in enumerate(LAYERS) if unit in units), len(LAYERS))


def test_nothing_imports_upwards_but_the_named_calls() -> None:
    upwards = sorted({(m, t) for m, t, _ in _imports()
                      if _layer(t) > _layer(m) and (m, t) not in UPWARDS})
    assert not upwards, upwards


def test_the_parts_import_each_other_in_no_circle() -> None:
    """At module level (what loads when a module loads), between the top-level parts."""
    edges: dict[str, set[str]] = {}
    for m, t, at_top in _imports():
        a, b = m.split(".")[1] if "." in m else m, t.split(".")[1]
        if at_top and a != b:
            edges.setdefault(a, set()).add(b)

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    circles = sorted(a for a in edges if a in reach(a))
    assert not circles, {a: sorted(edges[a]) for a in circles}
