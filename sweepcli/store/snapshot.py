"""``snapshot.jsonl``: the sweep's state replayed up to a journal offset, so that a reader
starts there instead of at the journal's first line.

The first line is a header: ``{"snapshot": 2, "offset": N, "tail": HEX, "events": K,
"skipped": S}``: the journal bytes it covers (``[0, N)``), the last (up to 64) of them, how
many event lines follow, and the lines the replay skipped. Then ``K`` events (see
``SweepState.compact``) that rebuild the state, and last ``{"sha256": H}``, the hash of
those ``K`` lines.

A snapshot is a cache, never the truth: it is written whole or not at all (a temporary
file renamed over the old one), by whichever reader has replayed far enough past the
newest one (any process may; two at once each rename a complete file, and either is
right, for it states the journal prefix it names). A reader takes it only as a whole:
the journal still holds the bytes it covers, the file is no larger than such a state can
be, its body hashes to what the header says, and every event in it applies. Anything
else (a torn file, a flipped byte, a record edited by hand, a file of another sweep or
version, a sparse file of gigabytes) costs a replay of the journal from its start, never
a decision; and the file is read a line at a time, never whole. Deleting it loses nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import jsonline
from .events import SweepState
from .files import FILE_MODE, open_nofollow, write_atomic

NAME = "snapshot.jsonl"
VERSION = 2  # 1 had no hash of its body: read as no snapshot (a replay), then written anew
#: temporary files of a writer that died mid-way are removed after this long
STALE_TEMP = 600.0
#: the largest snapshot a journal prefix of N bytes can give: each value of a history is
#: 8 bytes of float64 in base64 (under 11), where a journal can write it in 2 ("1,")
MAX_GROWTH = 8
SLACK = 1 << 20
_HEADER_MAX = 4096


@dataclass
class Loaded:
    """A snapshot that checked out: the state it rebuilds and where the journal goes on."""

    state: SweepState
    offset: int
    tail: bytes
    skipped: int


def _header(line: bytes) -> dict[str, Any] | None:
    try:
        header = jsonline.parse(line)
    except ValueError:
        return None
    if not (isinstance(header, dict) and header.get("snapshot") == VERSION
            and isinstance(header.get("offset"), int) and header["offset"] >= 0
            and isinstance(header.get("events"), int) and header["events"] >= 0
            and isinstance(header.get("skipped", 0), int)
            and isinstance(header.get("tail"), str)):
        return None
    try:
        bytes.fromhex(header["tail"])
    except ValueError:
        return None
    return header


def load(folder: Path, journal: Path) -> Loaded | None:
    """The folder's snapshot as a replayed state, when every check passes (see the module's
    docstring); None otherwise, and the caller replays the journal."""
    try:
        fd = open_nofollow(folder / NAME, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            header = _header(f.readline(_HEADER_MAX))
            if header is None or not matches(header["offset"], bytes.fromhex(header["tail"]),
                                             journal):
                return None
            if os.fstat(fd).st_size > MAX_GROWTH * header["offset"] + SLACK:
                return None  # larger than any state of that journal: not read at all
            digest = hashlib.sha256()
            state = SweepState()
            for _ in range(header["events"]):
                line = f.readline()
                digest.update(line)
                if not line.endswith(b"\n") or not state.apply(jsonline.parse(line, allow_nan=False)):
                    return None  # torn, or an event that does not check out: none of it is used
            trailer = jsonline.parse(f.readline(_HEADER_MAX) or b"null")
            if (not isinstance(trailer, dict) or trailer.get("sha256") != digest.hexdigest()
                    or f.read(1)):
                return None
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    return Loaded(state, header["offset"], bytes.fromhex(header["tail"]), header["skipped"])


def matches(offset: int, tail: bytes, journal: Path) -> bool:
    """Whether the journal still holds the bytes a snapshot covers."""
    try:
        fd = open_nofollow(journal, os.O_RDONLY)
    except OSError:
        return False
    try:
        if os.fstat(fd).st_size < offset:
            return False
        n = len(tail)
        return os.pread(fd, n, offset - n) == tail if n else True
    finally:
        os.close(fd)


def covered(folder: Path) -> int:
    """The journal offset the folder's snapshot covers (0: none), from its header alone."""
    try:
        fd = open_nofollow(folder / NAME, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        header = _header(os.pread(fd, _HEADER_MAX, 0).split(b"\n", 1)[0])
    except OSError:
        return 0
    finally:
        os.close(fd)
    return header["offset"] if header is not None else 0


def write(folder: Path, offset: int, tail: bytes, count: int,
          events: Iterable[dict[str, Any]], skipped: int) -> None:
    """Write a snapshot whole: a temporary file written event by event (never the whole
    thing in memory), fsync, renamed over the old one. Temporary files that writers which
    died mid-way left behind are removed."""
    header = {"snapshot": VERSION, "offset": offset, "tail": tail.hex(), "events": count,
              "skipped": skipped, "written": time.time()}

    def lines() -> Iterator[bytes]:
        yield json.dumps(header).encode() + b"\n"
        digest, n = hashlib.sha256(), 0
        for event in events:
            line = json.dumps(event, separators=(",", ":"), allow_nan=False).encode() + b"\n"
            digest.update(line)
            yield line
            n += 1
        if n != count:
            raise RuntimeError(f"snapshot: {n} events, {count} announced")
        yield json.dumps({"sha256": digest.hexdigest()}).encode() + b"\n"

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
