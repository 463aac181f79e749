"""The store: the sweep folder on shared disk, or PostgreSQL. It keeps data; it decides
nothing. Both are the protocol of ``protocol.py``; ``open_store`` picks one."""

import os
from pathlib import Path

from .events import (
    Control,
    Op,
    SweepState,
    attempt_event,
    claim_event,
    config_event,
    control_event,
    end_event,
    enqueue_event,
    metric_event,
    prior_event,
    rerun_event,
)
from .files import (
    InvalidId,
    check_id,
    check_project,
    open_nofollow,
    parse_sweep_ref,
    touch,
    write_atomic,
    write_json_atomic,
)
from .journal import Journal
from .lock import LockLost, LockTimeout, SoftLock, SweepLock, transient
from .settings import DEFAULT_HEARTBEAT_TIMEOUT, SettingError, check_environment, heartbeat_timeout
from .sweep_folder import (
    KEPT_END,
    AmbiguousSweep,
    JournalDamaged,
    Store,
    SweepFolder,
    SweepNotFound,
    SweepUnreadable,
    agent_name,
)


def open_store(root: str | Path | None = None, url: str | None = None) -> Store:
    """The folder store under ``root`` (``--dir``/``SWEEPCLI_DIR``/``./sweeps``), or the
    PostgreSQL store at ``url`` (``--store``/``SWEEPCLI_STORE``; runs' folders still go
    under ``root``)."""
    url = url or os.environ.get("SWEEPCLI_STORE") or None
    if url:
        from .postgres import PgStore, is_url

        if not is_url(url):
            raise SettingError("SWEEPCLI_STORE/--store: expected a PostgreSQL URL "
                               "(postgresql://USER@HOST:PORT/DATABASE)")
        return PgStore(url, root)  # type: ignore[return-value]
    return Store(root)


__all__ = [
    "open_store",
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "KEPT_END",
    "AmbiguousSweep",
    "Control",
    "InvalidId",
    "Journal",
    "JournalDamaged",
    "LockLost",
    "LockTimeout",
    "Op",
    "SettingError",
    "SoftLock",
    "Store",
    "SweepFolder",
    "SweepLock",
    "SweepNotFound",
    "SweepState",
    "SweepUnreadable",
    "agent_name",
    "attempt_event",
    "check_environment",
    "check_id",
    "check_project",
    "claim_event",
    "config_event",
    "control_event",
    "end_event",
    "enqueue_event",
    "heartbeat_timeout",
    "metric_event",
    "open_nofollow",
    "parse_sweep_ref",
    "prior_event",
    "rerun_event",
    "touch",
    "transient",
    "write_atomic",
    "write_json_atomic",
]
