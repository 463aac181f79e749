"""The checks every layer shares when it reads what a person wrote: is this a finite
number, a whole one, how to quote a bad value in a message, which known key was meant.
It imports nothing of ours, so the config's validator and the parts it reads (stopping
rules, search methods) can all use it without importing each other."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any, TypeGuard

import numpy as np

MAX_EXACT_INT = 2**53  # larger ints do not survive a float, and some overflow it


def is_number(v: Any) -> TypeGuard[int | float]:
    """A finite int or float (not a bool); an int only as large as a float holds exactly.

    The one finite-number test of every layer (a huge int would overflow ``math.isfinite``).
    """
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, np.integer)):
        return abs(int(v)) <= MAX_EXACT_INT
    return isinstance(v, (float, np.floating)) and math.isfinite(v)


def is_int(v: Any) -> TypeGuard[int]:
    """An int (not a bool) that a float holds exactly."""
    return isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_EXACT_INT


def is_whole(v: Any) -> TypeGuard[int | float]:
    """An integer as JSON schema counts them: 5 or 5.0 (YAML reads 1e6 as a float)."""
    return is_int(v) or (is_number(v) and isinstance(v, float) and v.is_integer())


def describe(v: Any) -> str:
    """A value as a message quotes it (at most 60 characters)."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def unknown_key(key: str, allowed: Sequence[str]) -> str:
    """What to say of a key that is not one of ``allowed``: the likely one first."""
    close = difflib.get_close_matches(str(key), list(allowed), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown key{hint} (allowed: {', '.join(allowed)})"
