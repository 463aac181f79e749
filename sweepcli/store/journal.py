"""The sweep's append-only journal of events, one JSON object per line.

Writers append under the sweep lock, each batch with a single ``write()`` of complete
lines, then fsync; a write that fails (a full disk, an I/O error) is cut back to where it
began, so it leaves no torn line. Readers remember their offset and read only what is
new, in bounded chunks (a 200 MB journal is never held in memory at once); they take
complete lines only and skip (never crash on) a line they cannot parse, so a half-written
last line left by a crash costs that one event and nothing else.

A reader keeps the file's identity and the bytes just before its offset, and checks at
each read that the file is still the one it read (same inode, not shorter, the same bytes
before its offset). When it is not (truncated, deleted or replaced under running agents),
the reader says so with :class:`JournalChanged`; the folder then restores the file from
the state it has replayed (every event is idempotent, so lines that end up twice in a
restored journal change nothing).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import jsonline
from .files import FILE_MODE, open_nofollow, sync_attributes, write_atomic

_CHECK_BYTES = 64  # bytes before the offset compared at each read
CHUNK = 4 << 20  # bytes read and parsed at a time


class JournalChanged(Exception):
    """The file is no longer what this reader read: ``current`` is what it holds now."""

    def __init__(self, current: bytes):
        super().__init__("the journal changed under this reader")
        self.current = current


def complete_lines(data: bytes) -> tuple[list[bytes], int]:
    """The non-blank complete lines of ``data`` and the length they cover."""
    end = data.rfind(b"\n") + 1
    return [line for line in data[:end].splitlines() if line.strip()], end


class Journal:
    """An append-only JSONL file read incrementally."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.skipped = 0  # lines that are not JSON objects (reported by --print)
        self.tail = b""  # the (up to 64) bytes just before ``offset``, as this reader read them
        self._ident: tuple[int, int] | None = None

    def start_at(self, offset: int, tail: bytes) -> None:
        """Read on from ``offset`` (a snapshot covers what lies before it)."""
        self.offset, self.tail, self._ident = offset, tail[-_CHECK_BYTES:], None

    # ---- reading -----------------------------------------------------------------------------
    def read_new(self) -> list[dict[str, Any]]:
        """Events appended since the last call, all at once (small reads)."""
        return [e for chunk in self.chunks() for e in chunk]

    def chunks(self) -> Iterator[list[dict[str, Any]]]:
        """Events appended since the last call, a bounded chunk at a time (a fresh open
        each call, for NFS). Raises :class:`JournalChanged` when the file is not the one
        read so far, before yielding anything."""
        try:
            fd = open_nofollow(self.path, os.O_RDONLY)
        except FileNotFoundError:
            if self.offset:
                raise JournalChanged(b"") from None
            return
        try:
            sync_attributes(fd)
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            known_file = self._ident is None or ident == self._ident
            if self.offset and (not known_file or st.st_size < self.offset
                                or not self._same_tail(fd)):
                raise JournalChanged(_read_all(fd))
            self._ident = ident
            partial = b""
            while True:
                data = os.pread(fd, CHUNK, self.offset + len(partial))
                if not data:
                    return
                data = partial + data
                lines, end = complete_lines(data)
                partial = data[end:]
                if end:
                    self.tail = (self.tail + data[:end])[-_CHECK_BYTES:]
                    self.offset += end
                    yield self._parse(lines)
                if len(partial) > 64 * CHUNK:  # one absurd line: skip what we have of it
                    self.skipped += 1
                    self.offset += len(partial)
                    self.tail = partial[-_CHECK_BYTES:]
                    partial = b""
        finally:
            os.close(fd)

    def _same_tail(self, fd: int) -> bool:
        n = min(_CHECK_BYTES, self.offset, len(self.tail))
        return n == 0 or os.pread(fd, n, self.offset - n) == self.tail[-n:]

    def _parse(self, lines: list[bytes]) -> list[dict[str, Any]]:
        events = []
        for line in lines:
            try:
                event = jsonline.parse(line)
            except ValueError:
                self.skipped += 1
                continue
            if isinstance(event, dict):
                events.append(event)
            else:
                self.skipped += 1
        return events

    # ---- writing -----------------------------------------------------------------------------
    def append(self, events: list[dict[str, Any]]) -> None:
        """Append events durably. Call with the sweep lock held."""
        if events:
            self._write(events)

    def append_seen(self, events: list[dict[str, Any]]) -> bool:
        """Append events and, when this reader had read everything before them, move it
        past them too (True): the caller applies them without reading them back."""
        if not events:
            return False
        end, unread, data = self._write(events)
        if b"\n" in unread or end < 0:
            return False  # complete events we have not read yet: the caller must read
        if unread:
            self.skipped += 1  # the torn line our write just ended
        self.tail = (self.tail + unread + data)[-_CHECK_BYTES:]
        self.offset = end
        return True

    def _write(self, events: list[dict[str, Any]]) -> tuple[int, bytes, bytes]:
        """One write of whole lines, fsync; (the size after, or -1 when another writer's
        lines came between our look and our write; what this reader left unread, what was
        written). On an error the file is cut back to its size before."""
        data = b"".join(
            json.dumps(e, separators=(",", ":"), allow_nan=False).encode() + b"\n" for e in events
        )
        fd = open_nofollow(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            sync_attributes(fd)
            size = os.fstat(fd).st_size
            if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
                # A writer that died mid-line left no newline: end that line first so our
                # events start on a line of their own (the broken line is skipped).
                data = b"\n" + data
            try:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, size)  # we hold the lock: nobody wrote after us
                except OSError:
                    pass
                raise
            unread = os.pread(fd, size - self.offset, self.offset) if self.offset < size else b""
            st = os.fstat(fd)
            self._ident = (st.st_dev, st.st_ino)
        finally:
            os.close(fd)
        if st.st_size != size + len(data):
            # someone wrote beside us (the breaker of a lock we held, as we stalled): where
            # our lines landed is known only by reading them back (end -1)
            return -1, unread, data
        return size + len(data), unread, data

    # ---- restoring -----------------------------------------------------------------------------
    def rewrite(self, events: list[dict[str, Any]], then: bytes) -> None:
        """Replace the file, atomically, by ``events`` followed by the complete lines of
        ``then`` (what the damaged file holds: lines others wrote since). Call with the lock
        held; this reader then stands at the end of the new file."""
        head = b"".join(json.dumps(e, separators=(",", ":"), allow_nan=False).encode() + b"\n"
                        for e in events)
        lines, _ = complete_lines(then)
        data = head + b"".join(line + b"\n" for line in lines)
        write_atomic(self.path, data, FILE_MODE)
        st = os.stat(self.path, follow_symlinks=False)
        self.offset, self.tail, self._ident = len(data), data[-_CHECK_BYTES:], (st.st_dev, st.st_ino)


def _read_all(fd: int, start: int = 0) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.pread(fd, 1 << 20, start)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        start += len(chunk)
