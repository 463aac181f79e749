"""The best model per budget, the same for us and every peer: a meter that charges each
epoch a method really trains and keeps the best model it has at every point of the budget.

Two measures, both kept: ``final``, the best val_accuracy at epoch 52 among the runs
trained to their end so far (the model a person would ship; last round's measure), and
``any``, the best val_accuracy of any run at any epoch it reached (a checkpoint of it
exists). Read at 25%, 50% and 100% of YAHPO's budget of 6,544 epochs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from lcbench import BUDGET, EPOCHS

FRACTIONS = (0.25, 0.5, 1.0)


@dataclass
class Meter:
    budget: int = BUDGET
    spent: int = 0
    best_final: float = float("nan")
    best_any: float = float("nan")
    #: (epochs spent, best final, best any) after every change
    trace: list[tuple[int, float, float]] = field(default_factory=list)

    @property
    def left(self) -> int:
        return self.budget - self.spent

    def train(self, values: Sequence[float], start: int, stop: int) -> int:
        """Charge epochs ``start+1 .. stop`` of a run whose curve is ``values`` (epoch e at
        ``values[e-1]``), within what is left; returns the last epoch trained."""
        for epoch in range(start + 1, stop + 1):
            if self.spent >= self.budget:
                return epoch - 1
            self.spent += 1
            self.see(float(values[epoch - 1]), epoch)
        return stop

    def see(self, value: float, epoch: int) -> None:
        if not math.isnan(value):
            if math.isnan(self.best_any) or value > self.best_any:
                self.best_any = value
            if epoch >= EPOCHS and (math.isnan(self.best_final) or value > self.best_final):
                self.best_final = value
        self.trace.append((self.spent, self.best_final, self.best_any))

    def at(self, fraction: float) -> tuple[float, float]:
        """(best final, best any) once ``fraction`` of the budget was spent."""
        limit = fraction * self.budget
        got = (float("nan"), float("nan"))
        for spent, final, anyv in self.trace:
            if spent > limit:
                break
            got = (final, anyv)
        return got

    def points(self) -> dict[str, float]:
        out = {}
        for f in FRACTIONS:
            final, anyv = self.at(f)
            out[f"final@{int(f * 100)}"] = final
            out[f"any@{int(f * 100)}"] = anyv
        return out


def summary(values: list[float]) -> tuple[float, float]:
    """(median, worst) of seeds, nan-aware (a seed with no whole run counts as 0)."""
    vs = [0.0 if math.isnan(v) else v for v in values]
    return statistics.median(vs), min(vs)
