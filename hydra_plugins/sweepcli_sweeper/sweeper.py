"""``hydra/sweeper=sweepcli``: Hydra's sweeper interface over sweepcli (the work is in
``sweepcli.hydra``). Hydra accepts plugin classes only from this namespace."""

from __future__ import annotations

from typing import Any, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class SweepcliSweeper(Sweeper):
    def __init__(self, **options: Any):
        from sweepcli.hydra import SweeperOptions

        self.options = SweeperOptions.from_config(options)
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from sweepcli.hydra import Task

        self.hydra_context = hydra_context
        self.config = config
        # the launcher runs the program's function wrapped: a number it returns is also
        # written to the run's metric lines, which the agents read
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=Task(task_function, self.options.metric_name),
            config=config)

    def sweep(self, arguments: List[str]) -> Any:
        from sweepcli.hydra import run_sweep

        return run_sweep(self, arguments)
