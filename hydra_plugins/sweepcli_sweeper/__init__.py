"""Hydra's sweeper plugin for sweepcli (``hydra/sweeper=sweepcli``); the work is done in
``sweepcli.hydra``. Hydra finds this package in its ``hydra_plugins`` namespace."""
