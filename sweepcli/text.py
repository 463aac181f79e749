"""User-given text (parameter values, names, journal contents) as it is shown on a terminal.

A value is data, never markup or a terminal command: control characters (escape
sequences, carriage returns, C1 controls) are shown as Python escapes, and rich receives
``Text`` objects, never a markup string holding a value.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character replaced by its escape (``\\x1b``)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
