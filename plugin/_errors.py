"""Exceptions raised by the plugin. Run outcomes are results, not exceptions::

    PluginError
    ├── ConfigError         the configuration is malformed: every problem, with its key
    ├── BootFailed          a boot reconcile failed and the boot policy is ``fail``
    ├── SinkError           an alert sink cannot make its request (no secret in it)
    ├── DuplicateRunError   a run with this run id is already in the audit store
    ├── LifespanMissing     a route was called in an app not run by the plugin's lifespan
    ├── ForeignMigrations   the importable ``migrations`` package is another project's
    └── ReplicaLockError    a lock in PostgreSQL could not be taken: the database is
                            unreachable (another holder is ``reconcile.RepoLockTimeout``)

``ConfigError`` and ``DuplicateRunError`` are also ``ValueError``s and ``BootFailed``
a ``RuntimeError``, as they were before the hierarchy existed; ``LifespanMissing``
and ``ForeignMigrations`` are ``RuntimeError``s too. Misuse of the API itself (an
``Alerter`` run twice, a label the metrics do not know) raises the usual built-in
``RuntimeError``/``ValueError``, as the standard library does.
"""

from __future__ import annotations

__all__ = [
    "BootFailed",
    "ConfigError",
    "DuplicateRunError",
    "ForeignMigrations",
    "LifespanMissing",
    "PluginError",
    "ReplicaLockError",
    "SinkError",
    "raise_problems",
]


class PluginError(Exception):
    """Base class of every exception the plugin raises."""


class ConfigError(PluginError, ValueError):
    """The configuration is malformed. ``problems`` holds one line per problem, each
    naming its key (``repos[0].timeout: expected a number, got 'x'``); ``source`` is
    the file they were found in, when there is one. The message is the source, then
    the problems, one per line (a single problem stays on the source's line)."""

    def __init__(self, problem: str, *problems: str, source: str | None = None) -> None:
        self.problems: tuple[str, ...] = (problem, *problems)
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}" if self.source else self.problems[0]
        lines = [f"  {p}" for p in self.problems]
        head = f"{self.source}: " if self.source else ""
        return "\n".join([f"{head}{len(self.problems)} problems", *lines])


def raise_problems(problems: list[str]) -> None:
    """Raise ``ConfigError`` with every problem a value object found, if any: value
    objects check all their fields before they complain, so a file with several
    mistakes is told about all of them at once."""
    if problems:
        raise ConfigError(*problems)


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


class ForeignMigrations(PluginError, RuntimeError):
    """The importable ``migrations`` package is not git-reconcile's: another package of
    that name comes first on ``sys.path``, and the audit store will not run it."""


class ReplicaLockError(PluginError):
    """A lock shared by the replicas (in PostgreSQL) could not be taken because the
    database could not be reached or dropped the connection while waiting. Nothing was
    done without it. (A lock another replica holds too long is
    ``reconcile.RepoLockTimeout``, as for the host's file lock.)"""
