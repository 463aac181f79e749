"""Read the metric lines a program appends to its JSONL file, incrementally."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..store.journal import read_lines


class MetricReader:
    """Follows a metrics file from a remembered offset.

    Complete lines only; a line that is not a JSON object is skipped, and a value that is
    not a finite number is ignored. ``problems`` keeps one message per kind of problem
    so the agent can mention each once.
    """

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.problems: list[str] = []
        self._seen_kinds: set[str] = set()

    def _problem(self, kind: str, message: str) -> None:
        if kind not in self._seen_kinds:
            self._seen_kinds.add(kind)
            self.problems.append(message)

    def read(self, final: bool = False) -> list[dict[str, Any]]:
        """New complete lines as dicts; with ``final``, also a last line with no newline."""
        lines, self.offset, tail = read_lines(self.path, self.offset)
        if final and tail.strip():
            try:
                json.loads(tail)
            except ValueError:
                self._problem("partial", f"{self.path.name}: skipped a half-written last line")
            else:
                lines.append(tail)  # a complete object the program did not end with a newline
            self.offset += len(tail)
        out = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                self._problem("json", f"{self.path.name}: skipped a line that is not JSON: "
                              f"{line[:60]!r}")
                continue
            if not isinstance(obj, dict):
                self._problem("object", f"{self.path.name}: skipped a line that is not a JSON "
                              f"object: {line[:60]!r}")
                continue
            out.append(obj)
        return out

    def metric_values(self, lines: list[dict[str, Any]], name: str) -> list[float]:
        """The finite values of ``name`` in these lines, in order."""
        values = []
        for obj in lines:
            if name not in obj:
                continue
            v = obj[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                self._problem(f"value:{name}", f"{self.path.name}: ignored a {name} value that "
                              f"is not a finite number: {v!r}")
                continue
            values.append(float(v))
        return values
