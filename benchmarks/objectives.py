"""Test objectives for the bayes benchmark: Branin, Hartmann6 and a mixed ML-like space."""

from __future__ import annotations

import math

import numpy as np

BRANIN_OPT = 0.397887
HARTMANN6_OPT = -3.32237

BRANIN = {
    "method": "bayes", "metric": {"name": "y"},
    "parameters": {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}},
}


def branin(p: dict) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


HARTMANN6 = {
    "method": "bayes", "metric": {"name": "y"},
    "parameters": {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(6)},
}
_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
               [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                      [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(p: dict) -> float:
    x = np.array([p[f"x{i}"] for i in range(6)])
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A * (x - _P) ** 2, axis=1))))


MIXED = {
    "method": "bayes", "metric": {"name": "val_loss"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
        "batch_size": {"values": [16, 32, 64, 128, 256]},
        "dropout": {"min": 0.0, "max": 0.6},
        "layers": {"min": 1, "max": 6},
        "optimizer": {"values": ["adam", "sgd", "rmsprop"]},
    },
}
MIXED_NESTED = {
    "method": "bayes", "metric": {"name": "val_loss"},
    "parameters": {
        "optimizer": {"parameters": {
            "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
            "name": {"values": ["adam", "sgd", "rmsprop"]},
        }},
        "model": {"parameters": {"dropout": {"min": 0.0, "max": 0.6},
                                 "layers": {"min": 1, "max": 6}}},
        "batch_size": {"values": [16, 32, 64, 128, 256]},
    },
}
MIXED_OPT = 0.05


def mixed(p: dict) -> float:
    """A smooth synthetic validation loss with an optimum of 0.05."""
    lr, bs, drop, layers, opt = (p["lr"], p["batch_size"], p["dropout"], p["layers"],
                                 p["optimizer"])
    best_lr = {"adam": 1e-3, "sgd": 3e-2, "rmsprop": 5e-4}[opt]
    loss = 0.05 + 0.08 * (math.log10(lr) - math.log10(best_lr)) ** 2
    loss += 0.15 * (drop - 0.2) ** 2 + 0.01 * (layers - 3) ** 2
    loss += 0.02 * abs(math.log2(bs) - 6) + {"adam": 0.0, "sgd": 0.03, "rmsprop": 0.015}[opt]
    return loss


def mixed_nested(p: dict) -> float:
    return mixed({"lr": p["optimizer.lr"], "optimizer": p["optimizer.name"],
                  "dropout": p["model.dropout"], "layers": p["model.layers"],
                  "batch_size": p["batch_size"]})


def mixed_diverging(p: dict) -> float:
    """The mixed space with interactions and a cliff: the best learning rate grows with the
    batch size, dropout wants more depth, and a learning rate 20x too high diverges (loss
    2.3, as a 10-class cross-entropy at chance). Optimum 0.05."""
    lr, bs, drop, layers, opt = (p["lr"], p["batch_size"], p["dropout"], p["layers"],
                                 p["optimizer"])
    best_lr = {"adam": 1e-3, "sgd": 3e-2, "rmsprop": 5e-4}[opt] * (bs / 64) ** 0.5
    if lr > 20 * best_lr:
        return 2.3
    loss = 0.05 + 0.1 * (math.log10(lr) - math.log10(best_lr)) ** 2
    loss += 0.3 * (drop - 0.05 * layers) ** 2 + 0.012 * (layers - 4) ** 2
    loss += 0.01 * (math.log2(bs) - 5) ** 2 + {"adam": 0.0, "sgd": 0.02, "rmsprop": 0.01}[opt]
    return loss


HARTMANN3_OPT = -3.86278
HARTMANN3 = {
    "method": "bayes", "metric": {"name": "y"},
    "parameters": {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(3)},
}
_A3 = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_P3 = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                       [381, 5743, 8828]])


def hartmann3(p: dict) -> float:
    x = np.array([p[f"x{i}"] for i in range(3)])
    return float(-np.sum(_ALPHA * np.exp(-np.sum(_A3 * (x - _P3) ** 2, axis=1))))


CAMEL_OPT = -1.031628
CAMEL = {
    "method": "bayes", "metric": {"name": "y"},
    "parameters": {"x1": {"min": -3.0, "max": 3.0}, "x2": {"min": -2.0, "max": 2.0}},
}


def camel(p: dict) -> float:
    """The six-hump camel: two global minima among six."""
    x1, x2 = p["x1"], p["x2"]
    return (4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2


LEVY4_OPT = 0.0
LEVY4 = {
    "method": "bayes", "metric": {"name": "y"},
    "parameters": {f"x{i}": {"min": -10.0, "max": 10.0} for i in range(4)},
}


def levy4(p: dict) -> float:
    """Levy in 4-D: many local minima on a bowl."""
    w = 1 + (np.array([p[f"x{i}"] for i in range(4)]) - 1) / 4
    out = math.sin(math.pi * w[0]) ** 2 + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)
    out += float(np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(math.pi * w[:-1] + 1) ** 2)))
    return out


OBJECTIVES = {
    "branin": (BRANIN, branin, BRANIN_OPT),
    "hartmann6": (HARTMANN6, hartmann6, HARTMANN6_OPT),
    "mixed": (MIXED, mixed, MIXED_OPT),
    "mixed_nested": (MIXED_NESTED, mixed_nested, MIXED_OPT),
    "mixed_diverging": (MIXED, mixed_diverging, MIXED_OPT),
    "hartmann3": (HARTMANN3, hartmann3, HARTMANN3_OPT),
    "camel": (CAMEL, camel, CAMEL_OPT),
    "levy4": (LEVY4, levy4, LEVY4_OPT),
}


# ---- multimodal objectives nothing here was tuned on (bench_basins.py) -------------------
def _box(n: int, lo: float, hi: float) -> dict:
    return {"method": "bayes", "metric": {"name": "y"},
            "parameters": {f"x{i}": {"min": lo, "max": hi} for i in range(n)}}


def ackley5(p: dict) -> float:
    """Ackley in 5-D on [-32.768, 32.768]^5 (shifted off the centre, where a symmetric
    design would land on it): a needle in a field of local minima."""
    x = np.array([p[f"x{i}"] for i in range(5)]) - 3.0
    return float(-20 * math.exp(-0.2 * math.sqrt(np.mean(x**2)))
                 - math.exp(np.mean(np.cos(2 * math.pi * x))) + 20 + math.e)


def rastrigin4(p: dict) -> float:
    """Rastrigin in 4-D on [-5.12, 5.12]^4, shifted by 1: a regular lattice of minima."""
    x = np.array([p[f"x{i}"] for i in range(4)]) - 1.0
    return float(10 * 4 + np.sum(x**2 - 10 * np.cos(2 * math.pi * x)))


STYBLINSKI4_OPT = -39.16617 * 4


def styblinski4(p: dict) -> float:
    """Styblinski-Tang in 4-D on [-5, 5]^4: 2^4 basins, one global."""
    x = np.array([p[f"x{i}"] for i in range(4)])
    return float(0.5 * np.sum(x**4 - 16 * x**2 + 5 * x))


MULTIMODAL = {
    "ackley5": (_box(5, -32.768, 32.768), ackley5, 0.0),
    "rastrigin4": (_box(4, -5.12, 5.12), rastrigin4, 0.0),
    "styblinski4": (_box(4, -5.0, 5.0), styblinski4, STYBLINSKI4_OPT),
}
