"""Read the metric lines a program appends to its JSONL file, incrementally."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


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
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n")
        if final and data and not data.endswith(b"\n"):
            tail = data[end + 1:]
            try:
                json.loads(tail)
            except ValueError:
                self._problem("partial", f"{self.path.name}: skipped a half-written last line")
                data = data[: end + 1]
            else:
                data = data + b"\n"
            end = len(data) - 1
        if end < 0:
            return []
        self.offset += end + 1
        out = []
        for line in data[: end + 1].splitlines():
            if not line.strip():
                continue
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
