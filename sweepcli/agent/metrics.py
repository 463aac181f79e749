"""Read the metric lines a program appends to its JSONL file, incrementally."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from .. import jsonline
from ..config import is_number
from ..store.files import open_nofollow

#: a line longer than this is skipped without being kept in memory or read again
MAX_LINE = 1 << 20


#: how many logged keys a reader remembers (for the hint when the metric is missing)
MAX_KEYS = 50


class MetricReader:
    """Follows a metrics file as ``tail -F`` would.

    It keeps the file open and reads only new bytes, with a line still being written kept
    in memory (up to :data:`MAX_LINE`; a longer one is skipped). A file that is rotated
    (renamed away and made anew) is read to its end and then the new one from its start;
    a file truncated in place is read again from its start. Complete lines only, and at
    the end a last line without its newline. A line that is not a JSON object is
    skipped, a value that is not a finite number ignored; ``problems`` keeps one message
    per kind of problem so the agent can mention each once.
    """

    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []
        self._seen_kinds: set[str] = set()
        self._fd: int | None = None
        self._pos = 0
        self._partial = b""
        self._overlong = False  # inside a line longer than MAX_LINE: drop until its newline
        #: the keys the program logged (the first MAX_KEYS), to say which it did when the
        #: sweep's metric is not among them
        self.keys: list[str] = []

    def _problem(self, kind: str, message: str) -> None:
        if kind not in self._seen_kinds:
            self._seen_kinds.add(kind)
            self.problems.append(message)

    def _open(self) -> int | None:
        try:
            return open_nofollow(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                self._problem("symlink", f"{self.path.name} is a symlink: not read")
            return None

    def _drain(self) -> bytes:
        assert self._fd is not None
        chunks: list[bytes] = []
        while True:
            chunk = os.pread(self._fd, 1 << 20, self._pos)
            if not chunk:
                return b"".join(chunks)
            self._pos += len(chunk)
            chunks.append(chunk)

    def _take(self, data: bytes) -> list[bytes]:
        """Split new bytes into complete lines, keeping the unfinished one."""
        lines: list[bytes] = []
        while data:
            cut = data.find(b"\n")
            if cut < 0:
                if self._overlong:
                    return lines
                self._partial += data
                if len(self._partial) > MAX_LINE:
                    self._problem("long", f"{self.path.name}: skipped a line longer than "
                                  f"{MAX_LINE >> 20} MiB")
                    self._partial, self._overlong = b"", True
                return lines
            line, data = self._partial + data[:cut], data[cut + 1:]
            self._partial = b""
            if self._overlong:
                self._overlong = False
            elif len(line) > MAX_LINE:
                self._problem("long", f"{self.path.name}: skipped a line longer than "
                              f"{MAX_LINE >> 20} MiB")
            elif line.strip():
                lines.append(line)
        return lines

    def _raw_lines(self) -> list[bytes]:
        if self._fd is None:
            self._fd = self._open()
            if self._fd is None:
                return []
        try:
            if os.fstat(self._fd).st_size < self._pos:  # truncated in place: a new start
                self._problem("truncated", f"{self.path.name} was truncated; reading it again "
                              "from its start")
                self._pos, self._partial, self._overlong = 0, b"", False
            lines = self._take(self._drain())
            try:
                now = os.stat(self.path, follow_symlinks=False)
            except FileNotFoundError:
                return lines  # renamed away and not made anew yet: keep following the old one
            mine = os.fstat(self._fd)
            if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                lines += self._take(self._drain())  # rotated: the old file's last lines first
                lines += self._finish_partial()
                os.close(self._fd)
                self._fd, self._pos = None, 0
                lines += self._raw_lines()
            return lines
        except OSError:
            return []

    def _finish_partial(self) -> list[bytes]:
        tail, self._partial, self._overlong = self._partial, b"", False
        return [tail] if tail.strip() else []

    def read(self, final: bool = False) -> list[dict[str, Any]]:
        """New complete lines as dicts; with ``final``, also a last line with no newline."""
        lines = self._raw_lines()
        if final:
            tail = self._finish_partial()
            if tail:
                try:
                    jsonline.parse(tail[0])
                except ValueError:
                    self._problem("partial", f"{self.path.name}: skipped a half-written last line")
                else:
                    lines += tail  # a complete object the program did not end with a newline
            self.close()
        out = []
        for line in lines:
            try:
                obj = jsonline.parse(line)
            except ValueError:
                self._problem("json", f"{self.path.name}: skipped a line that is not JSON: "
                              f"{line[:60]!r}")
                continue
            if not isinstance(obj, dict):
                self._problem("object", f"{self.path.name}: skipped a line that is not a JSON "
                              f"object: {line[:60]!r}")
                continue
            out.append(obj)
            if len(self.keys) < MAX_KEYS:
                self.keys.extend(k for k in obj if k not in self.keys and not k.startswith("_"))
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def metric_values(self, lines: list[dict[str, Any]], name: str) -> list[float]:
        """The finite values of ``name`` in these lines, in order."""
        values = []
        for obj in lines:
            if name not in obj:
                continue
            v = obj[name]
            if not is_number(v):
                self._problem(f"value:{name}", f"{self.path.name}: ignored a {name} value that "
                              f"is not a finite number: {v!r}")
                continue
            values.append(float(v))
        return values
