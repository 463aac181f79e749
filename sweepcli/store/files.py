"""Small file primitives: atomic writes, IDs checked before any path is built."""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import tempfile
from pathlib import Path
from typing import Any

from ..config.validate import PROJECT_NAME_RE as PROJECT_RE

ID_ALPHABET = string.ascii_lowercase + string.digits
ID_RE = re.compile(r"^[a-z0-9]{8}$")


class InvalidId(ValueError):
    """A sweep ID, run ID or project name that is not of the allowed form."""


def new_id() -> str:
    """A short random ID: 8 lowercase letters and digits, like W&B's."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(8))


def check_id(value: str, what: str = "sweep ID") -> str:
    if not isinstance(value, str) or not ID_RE.match(value):
        raise InvalidId(f"invalid {what} {value!r}: expected 8 lowercase letters or digits")
    return value


def check_project(value: str) -> str:
    if not isinstance(value, str) or not PROJECT_RE.match(value):
        raise InvalidId(
            f"invalid project name {value!r}: use letters, digits, '_', '.', '-' "
            "(starting with a letter or digit, at most 100 characters)"
        )
    return value


def parse_sweep_ref(ref: str) -> tuple[str | None, str]:
    """'ID' or 'PROJECT/ID' -> (project or None, id), both checked."""
    if not isinstance(ref, str):
        raise InvalidId(f"invalid sweep {ref!r}")
    parts = ref.split("/")
    if len(parts) == 1:
        return None, check_id(parts[0])
    if len(parts) == 2:
        return check_project(parts[0]), check_id(parts[1])
    raise InvalidId(f"invalid sweep {ref!r}: expected ID or PROJECT/ID")


def fsync_dir(path: Path) -> None:
    """Make a rename or create in ``path`` durable (best effort: not every FS allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write a whole file so that readers see the old or the new content, never a part.

    Temp file in the same folder, fsync, rename over the target.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
