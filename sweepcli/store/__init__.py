"""The store: the sweep folder on shared disk. It keeps data; it decides nothing."""

from .events import Control, Op, SweepState, claim_event, control_event, end_event, metric_event, rerun_event
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
from .lock import LockLost, LockTimeout, SoftLock, SweepLock
from .settings import DEFAULT_HEARTBEAT_TIMEOUT, SettingError, check_environment, heartbeat_timeout
from .sweep_folder import (
    AmbiguousSweep,
    JournalDamaged,
    Store,
    SweepFolder,
    SweepNotFound,
    SweepUnreadable,
    agent_name,
)

__all__ = [
    "DEFAULT_HEARTBEAT_TIMEOUT",
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
    "check_environment",
    "check_id",
    "check_project",
    "claim_event",
    "control_event",
    "end_event",
    "heartbeat_timeout",
    "metric_event",
    "open_nofollow",
    "parse_sweep_ref",
    "rerun_event",
    "touch",
    "write_atomic",
    "write_json_atomic",
]
