"""The environment variables sweepcli reads, each checked once with a message a user can act on.

Nothing is read at import time: a bad value never breaks ``--help``; commands check
:func:`check_environment` first and exit 2 with the message.
"""

from __future__ import annotations

import math
import os

from ..errors import UsageError

DEFAULT_HEARTBEAT_TIMEOUT = 60.0
MIN_HEARTBEAT_TIMEOUT = 1.0
DEFAULT_SOFT_LOCK_STALE = 30.0
MIN_SOFT_LOCK_STALE = 2.0
#: the lock kinds a user may ask for, and what each means
LOCK_KINDS = {
    "both": "flock and the lock.soft file together (the default: right on every shared filesystem)",
    "flock": "flock only (faster; right only where flock works across hosts)",
    "soft": "the lock.soft file only",
}
_LOCK_ALIASES = {"": "both", "auto": "both", "default": "both", "fcntl": "flock"}


class SettingError(UsageError, ValueError):
    """An environment variable with a value sweepcli cannot use."""


def _seconds(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    text = raw[:-1].strip() if raw.lower().endswith("s") else raw
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise SettingError(f"{name}={raw!r}: expected a number of seconds >= {minimum:g} "
                           f"(default {default:g}), e.g. {name}={default:g}")
    return value


def heartbeat_timeout() -> float:
    """Seconds without a heartbeat after which a run is crashed (SWEEPCLI_HEARTBEAT_TIMEOUT)."""
    return _seconds("SWEEPCLI_HEARTBEAT_TIMEOUT", DEFAULT_HEARTBEAT_TIMEOUT, MIN_HEARTBEAT_TIMEOUT)


def soft_lock_stale() -> float:
    """Seconds a lock.soft may stay unrefreshed before it is broken (SWEEPCLI_SOFT_LOCK_STALE)."""
    return _seconds("SWEEPCLI_SOFT_LOCK_STALE", DEFAULT_SOFT_LOCK_STALE, MIN_SOFT_LOCK_STALE)


def lock_kind() -> str:
    """``both`` (default), ``flock`` or ``soft`` (SWEEPCLI_LOCK)."""
    raw = os.environ.get("SWEEPCLI_LOCK", "")
    kind = raw.strip().lower()
    kind = _LOCK_ALIASES.get(kind, kind)
    if kind not in LOCK_KINDS:
        allowed = "; ".join(f"{k}: {v}" for k, v in LOCK_KINDS.items())
        raise SettingError(f"SWEEPCLI_LOCK={raw!r}: expected one of {allowed}")
    return kind


DEFAULT_SNAPSHOT_EVERY = 2 << 20


def snapshot_every() -> int:
    """Bytes of journal a reader replays past the newest snapshot before it writes a new one
    (SWEEPCLI_SNAPSHOT_EVERY, default 2 MiB; 0: write none)."""
    raw = os.environ.get("SWEEPCLI_SNAPSHOT_EVERY", "").strip()
    if not raw:
        return DEFAULT_SNAPSHOT_EVERY
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise SettingError(f"SWEEPCLI_SNAPSHOT_EVERY={raw!r}: expected a number of bytes >= 0 "
                           f"(default {DEFAULT_SNAPSHOT_EVERY}; 0 writes no snapshot)")
    return value


def max_initial_failures() -> int:
    """``SWEEPCLI_AGENT_MAX_INITIAL_FAILURES`` or W&B's ``WANDB_AGENT_MAX_INITIAL_FAILURES``
    (default 5): failures of an agent's first runs, all failed, that stop it."""
    for name in ("SWEEPCLI_AGENT_MAX_INITIAL_FAILURES", "WANDB_AGENT_MAX_INITIAL_FAILURES"):
        text = os.environ.get(name, "").strip()
        if text:
            try:
                value = int(text)
            except ValueError:
                value = 0
            if value < 1:
                raise SettingError(f"{name}={text!r}: expected a whole number >= 1 (default 5)")
            return value
    return 5


def check_environment() -> None:
    """Raise :class:`SettingError` for the first variable that cannot be used."""
    max_initial_failures()
    heartbeat_timeout()
    soft_lock_stale()
    lock_kind()
    snapshot_every()
