"""Starlette integration of git-reconcile: runners, lifespan and routes.

>>> from starlette.applications import Starlette                       # doctest: +SKIP
>>> plugin = ReconcilePlugin(PluginConfig(repos=(RepoConfig("data", Path("/srv/data")),)))
>>> app = Starlette(routes=[plugin.mount("/reconcile")], lifespan=plugin.lifespan())
"""

from __future__ import annotations

from ._config import ConfigError, PluginConfig, RepoConfig, load_config
from ._plugin import BootFailed, ReconcilePlugin
from ._runner import Runner, RunRecord, Ticket

__all__ = [
    "BootFailed",
    "ConfigError",
    "PluginConfig",
    "ReconcilePlugin",
    "RepoConfig",
    "RunRecord",
    "Runner",
    "Ticket",
    "load_config",
]
