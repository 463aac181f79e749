"""The agent: claim runs under the lock, start them, follow them, record their end."""

import sys
import types
from typing import Any

from .claim import Claim, Decision, claim_next_run, decide, retry_queue, sweep_status, target_reached
from .command import CommandError, render_command
from .loop import Agent, AgentError, AgentReport, RunResult
from .metrics import MetricReader

__all__ = [
    "Agent",
    "AgentError",
    "AgentReport",
    "Claim",
    "CommandError",
    "Decision",
    "MetricReader",
    "RunResult",
    "claim_next_run",
    "decide",
    "render_command",
    "retry_queue",
    "sweep_status",
    "target_reached",
]


class _CallableAgentModule(types.ModuleType):
    """This module's class: the agent layer, and ``sweepcli.agent(ID, function=...)``."""

    def __call__(self, sweep_id: str, function: Any = None, count: int | None = None,
                 dir: str | None = None, project: str | None = None) -> Any:  # noqa: A002
        """Run runs of a sweep in this process (``function``) or as the config's program."""
        from ..api import agent as run_agent

        return run_agent(sweep_id, function=function, count=count, dir=dir, project=project)


sys.modules[__name__].__class__ = _CallableAgentModule
