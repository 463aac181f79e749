"""The store: the sweep folder on shared disk, or PostgreSQL. It keeps data; it decides
nothing. Both are the protocol of ``protocol.py``; ``open_store`` picks one."""

import importlib
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
from .protocol import SweepStore
from .lock import LockLost, LockTimeout, SoftLock, SweepLock, transient
from .settings import DEFAULT_HEARTBEAT_TIMEOUT, SettingError, check_environment, heartbeat_timeout
from .files import KEPT_END
from .sweep import JournalDamaged, Sweep, SweepUnreadable
from .sweep_folder import (
    AmbiguousSweep,
    Store,
    SweepNotFound,
    agent_name,
)


#: the stores that are not the folder, by their URL's scheme: (module, class), imported
#: when one is used. A store is one module and one line here (see docs/ARCHITECTURE.md).
STORES = {
    "postgresql": ("postgres", "PgStore"),
    "postgres": ("postgres", "PgStore"),
}


def open_store(root: str | Path | None = None, url: str | None = None) -> SweepStore:
    """The folder store under ``root`` (``--dir``/``SWEEPCLI_DIR``/``./sweeps``), or the
    store at ``url`` (``--store``/``SWEEPCLI_STORE``; runs' folders still go under
    ``root``), picked by the URL's scheme."""
    url = url or os.environ.get("SWEEPCLI_STORE") or None
    if not url:
        return Store(root)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in STORES:
        raise SettingError("SWEEPCLI_STORE/--store: expected a PostgreSQL URL "
                           "(postgresql://USER@HOST:PORT/DATABASE)")
    module, name = STORES[scheme]
    store: SweepStore = getattr(importlib.import_module(f".{module}", __name__), name)(url, root)
    return store


__all__ = [
    "open_store",
    "STORES",
    "SweepStore",
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
    "Sweep",
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
