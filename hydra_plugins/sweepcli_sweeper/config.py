"""The sweeper's config (``hydra.sweeper.*``), registered as ``hydra/sweeper=sweepcli``."""


from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class SweepcliSweeperConf:
    _target_: str = "hydra_plugins.sweepcli_sweeper.sweeper.SweepcliSweeper"
    #: W&B's sweep config keys: grid, random or bayes over ``parameters``
    method: str = "bayes"
    metric: Optional[Dict[str, Any]] = None
    metrics: Optional[Any] = None
    parameters: Dict[str, Any] = field(default_factory=dict)
    early_terminate: Optional[Dict[str, Any]] = None
    run_cap: Optional[int] = None
    name: Optional[str] = None
    #: sweepcli's own settings (budget, conditions, max_retries, ...)
    sweepcli: Optional[Dict[str, Any]] = None
    #: join this sweep instead of creating one: several multiruns (on several nodes) share it
    sweep_id: Optional[str] = None
    #: the folder that holds the sweeps (default: SWEEPCLI_DIR, else ./sweeps); or a
    #: PostgreSQL URL in ``store`` (default: SWEEPCLI_STORE)
    dir: Optional[str] = None
    store: Optional[str] = None
    #: agents in this process, each launching one job at a time through Hydra's launcher
    #: (more than 1 needs a launcher that runs jobs elsewhere: joblib, submitit)
    agents: int = 1
    #: this multirun launches at most this many runs (None: until the sweep is done)
    count: Optional[int] = None


ConfigStore.instance().store(group="hydra/sweeper", name="sweepcli", node=SweepcliSweeperConf,
                             provider="sweepcli")
