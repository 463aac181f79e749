"""The store: the sweep folder on shared disk, or PostgreSQL. It keeps data; it decides
nothing. A store (``protocol.SweepStore``) opens sweeps; a sweep (``sweep.Sweep``) is the
same over every store's ``protocol.Backend``; ``open_store`` picks the store.

Only the store's face is here; its parts are named by their module: events and their
constructors (``store.events``), file helpers (``store.files``), the lock (``store.lock``),
settings (``store.settings``)."""

import importlib
import os
from pathlib import Path

from .files import InvalidId
from .lock import LockLost, LockTimeout
from .protocol import Backend, SweepStore
from .settings import SettingError
from .sweep import JournalDamaged, Sweep, SweepUnreadable
from .sweep_folder import AmbiguousSweep, Store, SweepNotFound

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
    "Backend",
    "SweepStore",
    "Store",
    "Sweep",
    "AmbiguousSweep",
    "InvalidId",
    "JournalDamaged",
    "LockLost",
    "LockTimeout",
    "SettingError",
    "SweepNotFound",
    "SweepUnreadable",
]
