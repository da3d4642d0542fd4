"""Exceptions raised by the plugin. Run outcomes are results, not exceptions::

    PluginError
    ├── ConfigError         the configuration is malformed; the message names the key
    ├── BootFailed          a boot reconcile failed and the boot policy is ``fail``
    ├── SinkError           an alert sink cannot make its request (no secret in it)
    ├── DuplicateRunError   a run with this run id is already in the audit store
    └── LifespanMissing     a route was called in an app not run by the plugin's lifespan

``ConfigError`` and ``DuplicateRunError`` are also ``ValueError``s and ``BootFailed``
a ``RuntimeError``, as they were before the hierarchy existed; ``LifespanMissing``
is a ``RuntimeError`` too.
"""

from __future__ import annotations

__all__ = [
    "BootFailed",
    "ConfigError",
    "DuplicateRunError",
    "LifespanMissing",
    "PluginError",
    "SinkError",
]


class PluginError(Exception):
    """Base class of every exception the plugin raises."""


class ConfigError(PluginError, ValueError):
    """The configuration is malformed; the message names the key and what is wrong."""


class BootFailed(PluginError, RuntimeError):
    """A boot reconcile failed and the boot policy is ``fail``."""


class SinkError(PluginError):
    """A sink cannot make its request (a missing token, an unreadable file): the send
    fails at once, without retries. The message carries no secret."""


class DuplicateRunError(PluginError, ValueError):
    """A run with this run_id is already stored."""


class LifespanMissing(PluginError, RuntimeError):
    """A route of the plugin was called in an app whose lifespan state has no plugin:
    the app was not built with ``lifespan=plugin.lifespan(...)``."""
