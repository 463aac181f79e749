"""``snapshot.jsonl``: the sweep's state replayed up to a journal offset, so that a reader
starts there instead of at the journal's first line.

The first line is a header: ``{"snapshot": 1, "offset": N, "tail": HEX, "events": K,
"skipped": S}``: the journal bytes it covers (``[0, N)``), the last (up to 64) of them,
how many event lines follow, and the lines the replay skipped. Then ``K`` events (see
``SweepState.compact``) that rebuild the state.

A snapshot is a cache, never the truth: it is written whole or not at all (a temporary
file renamed over the old one), by whichever reader has replayed far enough past the
newest one (any process may; two at once each rename a complete file, and either is
right, for it states the journal prefix it names). A reader takes it only when it is
complete and the journal still holds those very bytes (size at least ``N``, the same
bytes before ``N``); else it replays the journal from its start, as before snapshots
existed. Deleting it loses nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .. import jsonline
from .files import FILE_MODE, open_nofollow, write_atomic

NAME = "snapshot.jsonl"
VERSION = 1
#: temporary files of a writer that died mid-way are removed after this long
STALE_TEMP = 600.0


class Snapshot:
    """A snapshot's header and its events, read from one open of the file."""

    def __init__(self, data: bytes, header: dict[str, Any], body: int):
        self._data = data
        self._body = body
        self.offset: int = header["offset"]
        self.tail: bytes = bytes.fromhex(header["tail"])
        self.count: int = header["events"]
        self.skipped: int = header.get("skipped", 0)

    def events(self) -> Iterator[dict[str, Any]]:
        """Its events, one line at a time (ValueError when the file is not whole)."""
        data, start, n = self._data, self._body, 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:
                raise ValueError("a torn last line")
            event = jsonline.parse(data[start:end], allow_nan=False)
            if not isinstance(event, dict):
                raise ValueError("a line that is not an event")
            n += 1
            start = end + 1
            yield event
        if n != self.count:
            raise ValueError(f"{n} events where the header says {self.count}")


def read_header(folder: Path) -> Snapshot | None:
    """The folder's snapshot, when there is one whose header makes sense (read through no
    symlink, in one piece: a writer renaming a new one meanwhile does not mix the two)."""
    try:
        fd = open_nofollow(folder / NAME, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    except OSError:
        return None
    finally:
        os.close(fd)
    body = data.find(b"\n") + 1
    try:
        header = jsonline.parse(data[:body])
    except ValueError:
        return None
    if not (isinstance(header, dict) and header.get("snapshot") == VERSION
            and isinstance(header.get("offset"), int) and header["offset"] >= 0
            and isinstance(header.get("events"), int) and isinstance(header.get("tail"), str)):
        return None
    try:
        bytes.fromhex(header["tail"])
    except ValueError:
        return None
    return Snapshot(data, header, body)


def matches(snapshot: Snapshot, journal: Path) -> bool:
    """Whether the journal still holds the bytes the snapshot covers."""
    try:
        fd = open_nofollow(journal, os.O_RDONLY)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_size < snapshot.offset:
            return False
        n = len(snapshot.tail)
        return os.pread(fd, n, snapshot.offset - n) == snapshot.tail if n else True
    finally:
        os.close(fd)


def covered(folder: Path) -> int:
    """The journal offset the folder's snapshot covers (0: none), from its header alone."""
    try:
        fd = open_nofollow(folder / NAME, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        header = jsonline.parse(os.pread(fd, 4096, 0).split(b"\n", 1)[0])
    except (OSError, ValueError):
        return 0
    finally:
        os.close(fd)
    offset = header.get("offset") if isinstance(header, dict) else None
    return offset if isinstance(offset, int) and offset >= 0 else 0


def write(folder: Path, offset: int, tail: bytes, count: int,
          events: Iterable[dict[str, Any]], skipped: int) -> None:
    """Write a snapshot whole: a temporary file written event by event (never the whole
    thing in memory), fsync, renamed over the old one. Temporary files that writers which
    died mid-way left behind are removed."""
    header = {"snapshot": VERSION, "offset": offset, "tail": tail.hex(), "events": count,
              "skipped": skipped, "written": time.time()}

    def lines() -> Iterator[bytes]:
        yield json.dumps(header).encode() + b"\n"
        n = 0
        for event in events:
            yield json.dumps(event, separators=(",", ":"), allow_nan=False).encode() + b"\n"
            n += 1
        if n != count:
            raise RuntimeError(f"snapshot: {n} events, {count} announced")

    write_atomic(folder / NAME, lines(), FILE_MODE)
    now = time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(f".{NAME}.") and name.endswith(".tmp"):
            try:
                if now - os.stat(folder / name, follow_symlinks=False).st_mtime > STALE_TEMP:
                    os.unlink(folder / name)
            except OSError:
                pass
