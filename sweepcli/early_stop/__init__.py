"""Early termination: one pure rule per file, one registry, one answer for the agent.

A rule is a module with

* ``KEYS`` (its ``early_terminate`` keys) and ``parse(e, add) -> config | None``: the
  checked config of the rule (``add(path, message)`` collects a problem with its key path);
* ``judge(rule, metric, runs, seen) -> {run_id: (action, why)}``: the running runs to
  stop or pause now, each with why in words (what ``--json`` shows as the run's
  ``reason``); ``seen``, each run's length when it was last judged, lets a rule judge a
  rung once per run (asha does; hyperband and median, W&B's way, judge every look);
* optionally ``promote(rule, metric, runs) -> (run, why) | None``: a paused run to resume
  before any new point is claimed (ASHA's promotion);
* optionally ``last_step(rule, runs) -> int | None``: how many values a whole run logs (a
  run that logged them all is at its end, saving, and never stopped or paused).

The agent applies a verdict in one place (``Agent._end``); the journal, ``--print``, the
API and the report show the reason the rule gave. Nothing here reads a file or a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..checks import unknown_key
from . import asha, hyperband, median
from .hyperband import band_thresholds

if TYPE_CHECKING:
    from ..config import SweepConfig
    from ..runs import Run

#: ``early_terminate.type`` -> its rule
RULES: dict[str, ModuleType] = {"hyperband": hyperband, "asha": asha, "median": median}


class VerdictKind(str, Enum):
    """What a rule does to a running run: ``stop`` it for good, or ``pause`` it (its
    folder kept, resumed if promoted). A str, so "stop" compares equal to it."""

    STOP = "stop"
    PAUSE = "pause"


@dataclass(frozen=True)
class Verdict:
    """What the rule does to a run, and why (the run's ``reason`` in ``--json``)."""

    action: VerdictKind
    reason: str


def rule_of(config: SweepConfig) -> ModuleType | None:
    es = config.early_stop
    return RULES[es.type] if es is not None else None


def judge(config: SweepConfig, runs: list[Run], seen: Mapping[str, int] | None = None
          ) -> dict[str, Verdict]:
    """The running runs the sweep's stopping rule stops or pauses now. ``seen``: how many
    values a run had when it was last judged (a rung is judged once per run). A run that
    has logged every step of a whole run (``max_iter``, else the longest run that finished
    by itself, as the rule's ``last_step`` says) is at its end, saving: never stopped or paused."""
    rule = rule_of(config)
    if rule is None or config.metric is None:
        return {}
    verdicts = rule.judge(config.early_stop, config.metric, runs, seen or {})
    if not verdicts:
        return {}
    last_step = getattr(rule, "last_step", None)
    top = last_step(config.early_stop, runs) if last_step is not None else None
    by_id = {r.run_id: r for r in runs}
    return {rid: Verdict(VerdictKind(v[0]), v[1]) for rid, v in verdicts.items()
            if top is None or rid not in by_id or len(by_id[rid].history) < top}


def promotion(config: SweepConfig, runs: list[Run], exhausted: bool = False
              ) -> tuple[Run, str] | None:
    """A paused run the rule promotes now (resumed before any new point), and why.
    ``exhausted``: no new point can start any more (the rule may then be less strict)."""
    rule = rule_of(config)
    if rule is None or config.metric is None or not hasattr(rule, "promote"):
        return None
    got: tuple[Run, str] | None = rule.promote(config.early_stop, config.metric, runs,
                                               exhausted)
    return got


def parse(e: Any, add: Any) -> Any:
    """``early_terminate``, checked by its rule (None and problems added when wrong)."""
    names = ", ".join(RULES)
    if not isinstance(e, dict):
        add("early_terminate", f"must be a mapping with a type ({names}), got {e!r:.60}")
        return None
    kind = e.get("type")
    rule = RULES.get(kind) if isinstance(kind, str) else None
    if rule is None:
        add("early_terminate.type", f"must be one of {names}, got {kind!r:.60}")
        return None
    for k in e:
        if k != "type" and k not in rule.KEYS:
            add(f"early_terminate.{k}", unknown_key(k, ("type",) + tuple(rule.KEYS)))
    return rule.parse(e, add)


__all__ = ["RULES", "Verdict", "VerdictKind", "band_thresholds", "judge", "parse", "promotion"]
