"""Early termination: pure rules that say which running runs to stop."""

from .hyperband import band_thresholds, runs_to_stop, stop_reasons

__all__ = ["band_thresholds", "runs_to_stop", "stop_reasons"]
