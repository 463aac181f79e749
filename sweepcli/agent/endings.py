"""The ways an agent ends a run before its program does, as one table: the state the run
ends in, the grace its program gets between SIGTERM and SIGKILL, the reason ``--json``
shows, and what the agent says. ``Agent._end`` applies a row; nothing else spells an
ending out."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import Enum

from ..runs import RunState

CANCEL_GRACE = 5.0  # --cancel: SIGTERM, then SIGKILL after this (contract: dead within 10 s)
PREEMPT_GRACE = 10.0  # SIGTERM from the batch system: its own SIGKILL follows soon


class Ending(str, Enum):
    """Why the agent ends a run (the value is the verdict a watch returns)."""

    RULE = "stop"  # the sweep's stopping rule: the run is worse than its peers
    PAUSE = "pause"  # the stopping rule pauses it at a rung (asha): resumed if promoted
    ASKED = "asked"  # a person asked for this run to stop (sweep --stop ID --run RUN, the page)
    BUDGET = "budget"  # the sweep's budget is spent
    TIMEOUT = "timeout"  # it outlived its run_timeout
    WALLTIME = "walltime"  # the agent's own time limit is near
    PREEMPTED = "preempted"  # the agent got SIGTERM/SIGUSR1 from the batch system
    CANCELED = "cancel"  # sweep --cancel
    SUPERSEDED = "superseded"  # declared crashed while its agent was silent, resumed elsewhere
    INTERRUPTED = "interrupted"  # Ctrl-C twice at the agent: terminated
    INTERRUPT_PASSED = "interrupt-passed"  # Ctrl-C at an agent with -f: SIGINT to the run
    KILLED_BY_USER = "killed"  # Ctrl-C three times (twice with -f): SIGKILL now
    SIGNALED = "signaled"  # it ended after a SIGTERM its agent did not send (a batch system's)


@dataclass(frozen=True)
class EndingRule:
    state: RunState
    #: seconds between SIGTERM and SIGKILL (None: -t, else sweepcli.stop_grace_seconds)
    grace: float | None
    #: the run's ``reason`` (None: the one the rule gave, or none)
    reason: str | None
    #: what the agent says, after "run ID: "
    message: str
    #: whether ``run.should_stop`` turns true first (a ``stop`` file in the run's folder)
    stop_file: bool = False
    #: whether the signal the agent got is passed on as it is (-f), not as SIGTERM
    forwards: bool = False
    #: the signal it is sent (None: SIGTERM, or the one passed on); 0: none (it has ended)
    sig: int | None = None


ENDINGS: dict[Ending, EndingRule] = {
    Ending.ASKED: EndingRule(RunState.STOPPED, None, "stopped on request",
                             "stopped on request; stopping it", stop_file=True),
    Ending.RULE: EndingRule(RunState.STOPPED, None, None, "{rule} stops it ({reason})",
                            stop_file=True),
    Ending.PAUSE: EndingRule(RunState.PAUSED, None, None, "{rule} pauses it ({reason}); its "
                             "folder is kept for when it is promoted", stop_file=True),
    Ending.BUDGET: EndingRule(RunState.STOPPED, None, None, "{reason}; stopping it",
                              stop_file=True),
    Ending.TIMEOUT: EndingRule(RunState.STOPPED, None, "timeout",
                               "still going after its run_timeout ({limit:g} s); stopping it"),
    Ending.WALLTIME: EndingRule(RunState.PREEMPTED, PREEMPT_GRACE, "the agent's time limit",
                                "the agent's time limit is near; stopping it ({signal}) and "
                                "returning its point to the queue", forwards=True),
    Ending.PREEMPTED: EndingRule(RunState.PREEMPTED, PREEMPT_GRACE, None,
                                 "preempted; stopping it ({signal}) and returning its point to "
                                 "the queue", forwards=True),
    Ending.CANCELED: EndingRule(RunState.KILLED, CANCEL_GRACE, None,
                                "the sweep was canceled; killing it"),
    Ending.SUPERSEDED: EndingRule(RunState.CRASHED, CANCEL_GRACE, None,
                                  "declared crashed while this agent was silent, and resumed "
                                  "elsewhere; stopping this copy"),
    Ending.INTERRUPTED: EndingRule(RunState.KILLED, None, None,
                                   "Ctrl-C: terminating it (Ctrl-C again to kill it)"),
    Ending.INTERRUPT_PASSED: EndingRule(RunState.KILLED, None, None,
                                        "Ctrl-C: passed on to it (SIGINT; -f); no new runs "
                                        "(Ctrl-C again to kill it)", sig=signal.SIGINT),
    Ending.KILLED_BY_USER: EndingRule(RunState.KILLED, 0.0, None, "Ctrl-C: killing it",
                                      sig=signal.SIGKILL),
    Ending.SIGNALED: EndingRule(RunState.PREEMPTED, None, None,
                                "{reason}, before its end; its point goes back to the queue",
                                sig=0),
}
