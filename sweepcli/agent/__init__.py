"""The agent: claim runs under the lock, start them, follow them, record their end."""

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
