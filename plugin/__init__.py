"""Starlette integration of git-reconcile: runners, lifespan and routes.

>>> from starlette.applications import Starlette                       # doctest: +SKIP
>>> plugin = ReconcilePlugin(PluginConfig(repos=(RepoConfig("data", Path("/srv/data")),)))
>>> app = Starlette(routes=[plugin.mount("/reconcile")], lifespan=plugin.lifespan())

The names are imported on first use, on purpose: the command line lives in this
package too (``plugin.cli``), and must start without importing the web stack
(starlette, anyio, prometheus-client) that ``import plugin`` would otherwise load.
The audit store is ``plugin.audit``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import PluginConfig, RepoConfig
    from ._errors import (
        BootFailed,
        ConfigError,
        ForeignMigrations,
        LifespanMissing,
        PluginError,
    )
    from ._load import load_config
    from ._metrics import Metrics
    from ._notify import Notifier
    from ._plugin import ReconcilePlugin
    from ._record import HookRun, RunRecord
    from ._runner import Runner, Ticket
    from .alerts import (
        AlertConfig,
        Alerter,
        AlertEvent,
        PullRequestSink,
        Sink,
        SlackSink,
        WebhookSink,
    )

_WHERE = {
    "AlertConfig": "alerts",
    "AlertEvent": "alerts",
    "Alerter": "alerts",
    "PullRequestSink": "alerts",
    "Sink": "alerts",
    "SlackSink": "alerts",
    "WebhookSink": "alerts",
    "ConfigError": "_errors",
    "PluginError": "_errors",
    "PluginConfig": "_config",
    "RepoConfig": "_config",
    "load_config": "_load",
    "BootFailed": "_errors",
    "LifespanMissing": "_errors",
    "ForeignMigrations": "_errors",
    "Metrics": "_metrics",
    "Notifier": "_notify",
    "HookRun": "_record",
    "ReconcilePlugin": "_plugin",
    "Runner": "_runner",
    "RunRecord": "_record",
    "Ticket": "_runner",
}

__all__ = [
    "AlertConfig",
    "AlertEvent",
    "Alerter",
    "BootFailed",
    "ConfigError",
    "ForeignMigrations",
    "HookRun",
    "LifespanMissing",
    "Metrics",
    "Notifier",
    "PluginConfig",
    "PluginError",
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


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'plugin' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
