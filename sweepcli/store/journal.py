"""The sweep's append-only journal of events, one JSON object per line.

Writers append under the sweep lock, each batch with a single ``write()`` of complete
lines, then fsync. Readers remember their offset and read only what is new; they take
complete lines only and skip (never crash on) a line they cannot parse, so a
half-written last line left by a crash costs that one event and nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_lines(path: Path, offset: int) -> tuple[list[bytes], int, bytes]:
    """The complete lines appended to ``path`` since ``offset`` (a fresh open, for NFS).

    Returns the non-blank lines, the offset after the last complete line, and what
    follows it (a line still being written, or left half-written by a crash).
    """
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset, b""
    end = data.rfind(b"\n") + 1
    lines = [line for line in data[:end].splitlines() if line.strip()]
    return lines, offset + end, data[end:]


class Journal:
    """An append-only JSONL file read incrementally."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.skipped = 0  # lines that could not be parsed (reported by --print)

    def read_new(self) -> list[dict[str, Any]]:
        """Events appended since the last call (a fresh open each time, for NFS)."""
        lines, self.offset, _ = read_lines(self.path, self.offset)
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                self.skipped += 1
                continue
            if isinstance(event, dict) and "op" in event:
                events.append(event)
            else:
                self.skipped += 1
        return events

    def append(self, events: list[dict[str, Any]]) -> None:
        """Append events durably. Call with the sweep lock held."""
        if events:
            self._write(events)

    def append_seen(self, events: list[dict[str, Any]]) -> bool:
        """Append events and, when this reader had read everything before them, move it
        past them too (True): the caller applies them without reading them back."""
        if not events:
            return False
        end, unread = self._write(events)
        if b"\n" in unread:
            return False  # complete events we have not read yet: the caller must read
        if unread:
            self.skipped += 1  # the torn line our write just ended
        self.offset = end
        return True

    def _write(self, events: list[dict[str, Any]]) -> tuple[int, bytes]:
        """One write of whole lines, fsync; (the size after, what this reader left unread)."""
        data = b"".join(
            json.dumps(e, separators=(",", ":"), allow_nan=False).encode() + b"\n" for e in events
        )
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
                # A writer that died mid-line left no newline: end that line first so our
                # events start on a line of their own (the broken line is skipped).
                data = b"\n" + data
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
            unread = os.pread(fd, size - self.offset, self.offset) if self.offset < size else b""
        finally:
            os.close(fd)
        return size + len(data), unread
