"""The store: the sweep folder on shared disk. It keeps data; it decides nothing."""

from .files import InvalidId, check_id, check_project, parse_sweep_ref, write_atomic, write_json_atomic
from .journal import Journal
from .lock import LockTimeout, SoftLock, SweepLock
from .sweep_folder import (
    DEFAULT_HEARTBEAT_TIMEOUT,
    Store,
    SweepFolder,
    SweepNotFound,
    SweepState,
    agent_name,
    heartbeat_timeout,
)

__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "InvalidId",
    "Journal",
    "LockTimeout",
    "SoftLock",
    "Store",
    "SweepFolder",
    "SweepLock",
    "SweepNotFound",
    "SweepState",
    "agent_name",
    "check_id",
    "check_project",
    "heartbeat_timeout",
    "parse_sweep_ref",
    "write_atomic",
    "write_json_atomic",
]
