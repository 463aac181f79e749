"""The sweep's append-only journal of events, one JSON object per line.

Writers append under the sweep lock, each batch with a single ``write()`` of complete
lines, then fsync; a write that fails (a full disk, an I/O error) is cut back to where it
began, so it leaves no torn line. Readers remember their offset and read only what is
new; they take complete lines only and skip (never crash on) a line they cannot parse,
so a half-written last line left by a crash costs that one event and nothing else.

A reader also keeps the bytes it has read, and checks at each read that the file is
still the one it read (same inode, not shorter, the same bytes just before its offset).
When it is not (truncated, deleted or replaced under running agents), the reader says
so with :class:`JournalChanged`, and the folder restores it from those bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .files import FILE_MODE, open_nofollow, sync_attributes, write_atomic

_CHECK_BYTES = 64  # bytes before the offset compared at each read


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
        self.known = bytearray()  # the file's first ``offset`` bytes, as this reader read them
        self._ident: tuple[int, int] | None = None

    # ---- reading -----------------------------------------------------------------------------
    def read_new(self) -> list[dict[str, Any]]:
        """Events appended since the last call (a fresh open each time, for NFS).

        Raises :class:`JournalChanged` when the file is not the one read so far.
        """
        try:
            fd = open_nofollow(self.path, os.O_RDONLY)
        except FileNotFoundError:
            if self.offset:
                raise JournalChanged(b"") from None
            return []
        try:
            sync_attributes(fd)
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            if self._ident is not None and (
                ident != self._ident or st.st_size < self.offset or not self._same_tail(fd)
            ):
                current = _read_all(fd)
                if not current.startswith(self.known):
                    return self._adopt(current, ident)
                data = current[self.offset:]  # rewritten as a superset (restored): go on
            else:
                data = _read_all(fd, self.offset)
            self._ident = ident
        finally:
            os.close(fd)
        lines, end = complete_lines(data)
        self.known += data[:end]
        self.offset += end
        return self._parse(lines)

    def _adopt(self, current: bytes, ident: tuple[int, int]) -> list[dict[str, Any]]:
        """A file rewritten in another order: take it if it holds every line we had read
        (another reader restored it), returning its lines we had not; else it lost some."""
        lines, end = complete_lines(current)
        unseen = _missing(lines, _line_counts(bytes(self.known)))
        if len(lines) - len(unseen) < len(complete_lines(bytes(self.known))[0]):
            raise JournalChanged(current)
        self.known = bytearray(current[:end])
        self.offset, self._ident = end, ident
        return self._parse(unseen)

    def _same_tail(self, fd: int) -> bool:
        n = min(_CHECK_BYTES, self.offset)
        return n == 0 or os.pread(fd, n, self.offset - n) == bytes(self.known[-n:])

    def _parse(self, lines: list[bytes]) -> list[dict[str, Any]]:
        events = []
        for line in lines:
            try:
                event = json.loads(line)
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
        if b"\n" in unread:
            return False  # complete events we have not read yet: the caller must read
        if unread:
            self.skipped += 1  # the torn line our write just ended
        self.known += unread + data
        self.offset = end
        return True

    def _write(self, events: list[dict[str, Any]]) -> tuple[int, bytes, bytes]:
        """One write of whole lines, fsync; (the size after, what this reader left unread,
        what was written). On an error the file is cut back to its size before."""
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
        return size + len(data), unread, data

    # ---- restoring -----------------------------------------------------------------------------
    def restore(self, current: bytes) -> list[dict[str, Any]]:
        """Rewrite the file as what this reader knew, followed by the complete lines of the
        current file that it did not know (written meanwhile by others). Call with the lock
        held; returns the events of those lines, which the caller has not applied yet."""
        known = bytes(self.known)
        unseen = _missing(complete_lines(current)[0], _line_counts(known))
        data = known + b"".join(line + b"\n" for line in unseen)
        write_atomic(self.path, data, FILE_MODE)
        self.known = bytearray(data)
        self.offset = len(data)
        st = os.stat(self.path, follow_symlinks=False)
        self._ident = (st.st_dev, st.st_ino)
        return self._parse(unseen)


def _line_counts(data: bytes) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for line in complete_lines(data)[0]:
        counts[line] = counts.get(line, 0) + 1
    return counts


def _missing(lines: list[bytes], counts: dict[bytes, int]) -> list[bytes]:
    """The lines not accounted for by ``counts`` (a multiset), in their order."""
    left = dict(counts)
    out = []
    for line in lines:
        if left.get(line, 0) > 0:
            left[line] -= 1
        else:
            out.append(line)
    return out


def _read_all(fd: int, start: int = 0) -> bytes:
    chunks = []
    while True:
        chunk = os.pread(fd, 1 << 20, start)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        start += len(chunk)
