"""The one way to read a JSON value that someone else wrote: a metric line, a journal line,
a points or results file, a lock file. Whatever the text, the answer is a value or
``ValueError``: nesting too deep for the parser (a ``RecursionError`` inside ``json``)
and, where asked, the non-standard ``NaN``/``Infinity`` are refused like any other line
that is not JSON, never a traceback."""

from __future__ import annotations

import json
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: made once: json.loads with any keyword builds a decoder at every call
_STRICT = json.JSONDecoder(parse_constant=_no_constant)


def parse(text: str | bytes, allow_nan: bool = True) -> Any:
    """``json.loads`` that fails only with ValueError. ``allow_nan=False``: ``NaN``,
    ``Infinity`` and ``-Infinity`` are refused too (what we write never holds them)."""
    try:
        if allow_nan:
            return json.loads(text)
        return _STRICT.decode(text.decode() if isinstance(text, bytes) else text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
