"""Constraints: on parameters (``sweepcli.forbid``, ``sweepcli.require``: points that must
never run) and on outcomes (``sweepcli.constraints``: limits a run's final metric values
must keep to be *feasible*).

``require`` takes expressions in a small language of its own, parsed with Python's ``ast``
and then walked here node by node (never ``eval``): numbers, strings, true/false,
parameters by (dotted) name, ``+ - * / // % **``, comparisons (chained, ``in``/``not in``
a list), ``and or not``, ``x if c else y``, and ``abs min max log log2 log10 exp sqrt
floor ceil round``. Anything else is a config error naming what is not allowed.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .space import same_grid_value

MAX_EXPRESSION = 500  # characters: an expression is a rule, not a program
MAX_NODES = 200
#: every value a rule computes stays small, so no rule can take long or much memory (it is
#: evaluated under the sweep lock): integers of at most this many bits, strings of at most
#: MAX_STRING characters, round() to at most MAX_DIGITS digits
MAX_INT_BITS = 1024
MAX_STRING = 10_000
MAX_DIGITS = 30

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
            ast.GtE: operator.ge, ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"abs": abs, "min": min, "max": max, "log": math.log, "log2": math.log2,
              "log10": math.log10, "exp": math.exp, "sqrt": math.sqrt, "floor": math.floor,
              "ceil": math.ceil, "round": round}
_WORDS = {"true": True, "false": False, "True": True, "False": False, "null": None,
          "None": None}


class ExpressionError(ValueError):
    """An expression the language does not have (the message says what)."""


class Inactive(Exception):
    """The expression names a parameter a point does not have (inactive): it holds."""


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


@dataclass(frozen=True)
class Expression:
    """One ``require`` rule: its text (what errors and notes show) and the names it reads."""

    text: str
    names: tuple[str, ...]
    tree: Any = field(default=None, compare=False, hash=False, repr=False)

    @staticmethod
    def parse(text: Any, known: set[str]) -> Expression:
        if not isinstance(text, str) or not text.strip():
            raise ExpressionError(f"must be an expression as a string, e.g. "
                                  f"'layers * units <= 4096', got {text!r}")
        if len(text) > MAX_EXPRESSION:
            raise ExpressionError(f"is {len(text)} characters long: at most {MAX_EXPRESSION}")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as e:
            where = f" (at character {e.offset})" if e.offset and e.offset > 1 else ""
            raise ExpressionError(f"cannot be read: {e.msg}{where}") from None
        if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
            raise ExpressionError(f"has more than {MAX_NODES} parts: split it into several rules")
        names: list[str] = []
        _check(tree.body, known, names)
        body = tree.body
        if isinstance(body, (ast.BinOp, ast.Call, ast.List, ast.Tuple)) or (
                isinstance(body, ast.UnaryOp) and not isinstance(body.op, ast.Not)) or (
                isinstance(body, ast.Constant) and not isinstance(body.value, bool)):
            raise ExpressionError(f"{text.strip()!r} is a value, not a condition: compare it "
                                  "(e.g. 'layers * units <= 4096')")
        return Expression(text.strip(), tuple(dict.fromkeys(names)), tree.body)

    def holds(self, point: dict[str, Any]) -> bool:
        """Whether the point keeps the rule. A rule that names a parameter the point does
        not have (inactive under a condition) holds; one that cannot be computed (a
        division by zero, a log of 0) does not."""
        try:
            tree = self.tree if self.tree is not None else ast.parse(self.text, mode="eval").body
            return bool(_eval(tree, point))
        except Inactive:
            return True
        except (ArithmeticError, ValueError, TypeError):
            return False


def _check(node: ast.AST, known: set[str], names: list[str]) -> None:
    """Refuse what the language does not have; collect the parameters it reads."""
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool)) and node.value is not None:
            raise ExpressionError(f"{node.value!r} is not a number, a string or true/false")
        return
    name = _dotted(node)
    if name is not None:
        if name in known:
            names.append(name)
            return
        if name in _WORDS:
            return
        import difflib

        close = [k for k in known if k.endswith("." + name)] or \
            difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ExpressionError(f"'{name}' is not a parameter{hint} (parameters: "
                              f"{', '.join(sorted(known))})")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _check(node.left, known, names)
        _check(node.right, known, names)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        _check(node.operand, known, names)
    elif isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(v, known, names)
    elif isinstance(node, ast.Compare):
        _check(node.left, known, names)
        for op, right in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                if not isinstance(right, (ast.List, ast.Tuple, ast.Set)):
                    raise ExpressionError("'in' takes a list of values: x in [1, 2]")
            elif type(op) not in _COMPARE:
                raise ExpressionError(f"the comparison {type(op).__name__} is not allowed")
            _check(right, known, names)
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        for e in node.elts:
            _check(e, known, names)
    elif isinstance(node, ast.IfExp):
        for part in (node.test, node.body, node.orelse):
            _check(part, known, names)
    elif isinstance(node, ast.Call):
        fn = node.func.id if isinstance(node.func, ast.Name) else None
        if fn not in _FUNCTIONS or node.keywords:
            raise ExpressionError(f"{ast.unparse(node.func)}(...) is not allowed (functions: "
                                  f"{', '.join(_FUNCTIONS)})")
        for a in node.args:
            _check(a, known, names)
    else:
        raise ExpressionError(f"'{ast.unparse(node)}' is not allowed here (numbers, parameters, "
                              "arithmetic, comparisons, and, or, not, if-else, and "
                              f"{', '.join(_FUNCTIONS)})")


def _number(v: Any) -> Any:
    """A value computed by a rule, checked to stay small and real."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if v.bit_length() > MAX_INT_BITS:
            raise ArithmeticError(f"an integer of more than {MAX_INT_BITS} bits")
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("not finite")
        return v
    if isinstance(v, str) and len(v) > MAX_STRING:
        raise ValueError(f"a string of more than {MAX_STRING} characters")
    if isinstance(v, complex):
        raise ValueError("not a real number")
    return v


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float))  # (bool is an int)


def _arith(op: ast.operator, left: Any, right: Any) -> Any:
    """``left op right`` on numbers only (and ``+`` of two strings), each bounded before it
    is computed: no sequence repetition ('a' * 10**12), no string formatting ('%9999d' % x),
    no power whose result could not be held."""
    if isinstance(op, ast.Add) and isinstance(left, str) and isinstance(right, str):
        return _number(left + right)
    if not (_is_num(left) and _is_num(right)):
        raise TypeError(f"{type(op).__name__} takes numbers")
    if isinstance(op, ast.Pow):
        if abs(right) > 64:
            raise ArithmeticError("exponent too large")
        if isinstance(left, int) and isinstance(right, int) and right > 0 \
                and left.bit_length() * right > MAX_INT_BITS:
            raise ArithmeticError(f"an integer of more than {MAX_INT_BITS} bits")
    return _number(_BINARY[type(op)](left, right))


def _call(fn: str, args: list[Any]) -> Any:
    """One of the language's functions, on bounded arguments."""
    if fn == "round":
        if len(args) not in (1, 2) or not _is_num(args[0]):
            raise TypeError("round(x) or round(x, digits)")
        if len(args) == 2 and not (isinstance(args[1], int) and abs(args[1]) <= MAX_DIGITS):
            raise ValueError(f"round(x, digits) takes digits from -{MAX_DIGITS} to {MAX_DIGITS}")
    elif fn in ("min", "max"):
        if len(args) == 1 and isinstance(args[0], list):
            args = args[0]
        if not args:
            raise ValueError(f"{fn}() of nothing")
    elif not all(_is_num(a) for a in args):
        raise TypeError(f"{fn}() takes numbers")
    return _number(_FUNCTIONS[fn](*args))


def _eval(node: ast.AST, point: dict[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    name = _dotted(node)
    if name is not None:
        if name in point:
            return point[name]
        if name in _WORDS:
            return _WORDS[name]
        raise Inactive(name)
    if isinstance(node, ast.BinOp):
        return _arith(node.op, _eval(node.left, point), _eval(node.right, point))
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, point)
        if isinstance(node.op, ast.Not):
            return not v
        if not _is_num(v):
            raise TypeError("a sign takes a number")
        return -v if isinstance(node.op, ast.USub) else +v
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_eval(v, point) for v in node.values)
        return any(_eval(v, point) for v in node.values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, point)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, point)
            if isinstance(op, (ast.In, ast.NotIn)):
                inside = any(same_grid_value(v, left) for v in right)
                ok = inside if isinstance(op, ast.In) else not inside
            elif isinstance(op, (ast.Eq, ast.NotEq)):
                same = same_grid_value(right, left)
                ok = same if isinstance(op, ast.Eq) else not same
            else:
                ok = _COMPARE[type(op)](left, right)
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [_eval(e, point) for e in node.elts]
    if isinstance(node, ast.IfExp):
        return _eval(node.body, point) if _eval(node.test, point) else _eval(node.orelse, point)
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return _call(node.func.id, [_eval(a, point) for a in node.args])
    raise ExpressionError(f"'{ast.unparse(node)}' is not allowed")  # (refused at parse)


@dataclass(frozen=True)
class Forbid:
    """One ``forbid`` entry: a point matching every term (a value, or any of a list) is
    never run."""

    terms: tuple[tuple[str, tuple[Any, ...]], ...]

    def matches(self, point: dict[str, Any]) -> bool:
        for name, values in self.terms:
            if name not in point or not any(same_grid_value(v, point[name]) for v in values):
                return False
        return True

    def describe(self) -> str:
        return "{" + ", ".join(f"{n}: {v[0]!r}" if len(v) == 1 else f"{n}: {list(v)!r}"
                               for n, v in self.terms) + "}"


@dataclass(frozen=True)
class Rules:
    """A space's parameter constraints."""

    forbid: tuple[Forbid, ...] = ()
    require: tuple[Expression, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.forbid or self.require)

    def broken(self, point: dict[str, Any]) -> str | None:
        """Why ``point`` (flat names, active parameters) must not run; None when it may."""
        for f in self.forbid:
            if f.matches(point):
                return f"forbidden by sweepcli.forbid {f.describe()}"
        for e in self.require:
            if not e.holds(point):
                return f"breaks sweepcli.require '{e.text}'"
        return None


@dataclass(frozen=True)
class Limit:
    """One outcome constraint: the run's final value of ``metric`` within [min, max]."""

    metric: str
    min: float | None = None
    max: float | None = None

    def broken_by(self, value: float | None) -> str | None:
        if value is None:
            return f"{self.metric} never logged"
        if self.max is not None and not value <= self.max:
            return f"{self.metric} {value:g} > max {self.max:g}"
        if self.min is not None and not value >= self.min:
            return f"{self.metric} {value:g} < min {self.min:g}"
        return None

    def slack(self, value: float) -> float:
        """How far inside the limit (> 0) or outside it (< 0) a value is."""
        gaps = []
        if self.max is not None:
            gaps.append(self.max - value)
        if self.min is not None:
            gaps.append(value - self.min)
        return min(gaps)


def broken_limits(limits: tuple[Limit, ...], run: Any) -> list[str]:
    """The limits a run's latest values break, in words (a metric it never logged breaks
    its limit: nothing says it kept it)."""
    return [why for lim in limits if (why := lim.broken_by(run.last.get(lim.metric))) is not None]


def is_feasible(limits: tuple[Limit, ...], run: Any) -> bool | None:
    """Whether a run keeps every outcome constraint: True, False, or None while it runs
    (its final values are not known yet). True without constraints."""
    if not limits:
        return True
    if getattr(run.state, "value", run.state) == "running":
        return None
    return not broken_limits(limits, run)
