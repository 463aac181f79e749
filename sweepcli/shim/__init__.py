"""Modules a program imports in place of others under an agent: ``wandb`` (``--wandb shim``).

This folder, not the package, goes first on the program's ``PYTHONPATH``."""
