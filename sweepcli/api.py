"""The Python API, a thin front over the store and the agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .agent import Agent, AgentReport
from .config import validate
from .store import Store


def sweep(config: dict[str, Any], project: str | None = None, dir: str | None = None) -> str:  # noqa: A002
    """Validate ``config`` and create a sweep; returns its ID (agents also find it by ID)."""
    cfg = validate(config)
    folder = Store(dir).create(cfg, project=project or cfg.project_folder)
    return folder.sweep_id


def agent(
    sweep_id: str,
    function: Callable[[], Any] | None = None,
    count: int | None = None,
    dir: str | None = None,  # noqa: A002
) -> AgentReport:
    """Run runs of a sweep: ``function`` in this process, else the config's program."""
    folder = Store(dir).open(sweep_id)
    return Agent(folder, count=count, function=function).run()
