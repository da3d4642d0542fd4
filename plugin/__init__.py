"""Starlette integration of git-reconcile: runners, lifespan and routes.

>>> from starlette.applications import Starlette                       # doctest: +SKIP
>>> plugin = ReconcilePlugin(PluginConfig(repos=(RepoConfig("data", Path("/srv/data")),)))
>>> app = Starlette(routes=[plugin.mount("/reconcile")], lifespan=plugin.lifespan())
"""

from __future__ import annotations

from ._alerts import (
    AlertConfig,
    Alerter,
    AlertEvent,
    PullRequestSink,
    Sink,
    SlackSink,
    WebhookSink,
)
from ._config import ConfigError, PluginConfig, RepoConfig, load_config
from ._plugin import BootFailed, ReconcilePlugin
from ._runner import Runner, RunRecord, Ticket

__all__ = [
    "AlertConfig",
    "AlertEvent",
    "Alerter",
    "BootFailed",
    "ConfigError",
    "PluginConfig",
    "PullRequestSink",
    "ReconcilePlugin",
    "RepoConfig",
    "RunRecord",
    "Runner",
    "Sink",
    "SlackSink",
    "Ticket",
    "WebhookSink",
    "load_config",
]
