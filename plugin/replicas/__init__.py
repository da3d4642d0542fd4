"""Several replicas of one application, coordinated by PostgreSQL.

When the audit store (or ``lock_database_url``) is PostgreSQL, the replicas share:

- a lock per repository, a session-level advisory lock taken after the host's file
  lock, on a connection of each replica's own: one run of a repository at a time
  across every replica (``AdvisoryLock``, keyed by ``advisory_key``); the run asks
  it before each write (it is the run's ``reconcile.RunGuard``) and stops once it is
  lost;
- the triggers: a webhook or manual trigger one replica receives is published with
  ``NOTIFY`` and every other replica runs that repository too (``Trigger``);
- work that must happen once at a time, under a lock of its own
  (``Replicas.exclusive(name)``: the audit store's pruning, a fleet cycle).

>>> replicas = Replicas("postgresql://reconcile@db/reconcile")         # doctest: +SKIP
>>> async with replicas.exclusive("nightly-report") as once:           # doctest: +SKIP
...     if once.held:
...         ...

psycopg (the ``postgres`` extra) is imported only when a connection is made.
"""

from __future__ import annotations

from .._errors import ReplicaLockError
from ._connection import is_postgres, libpq_url
from ._keys import ONCE, REPOSITORY, advisory_key, name_hash
from ._lock import AdvisoryLock
from ._replicas import Exclusive, Replicas, default_replica_id
from ._triggers import CHANNEL, Listener, Publisher, Trigger

__all__ = [
    "CHANNEL",
    "ONCE",
    "REPOSITORY",
    "AdvisoryLock",
    "Exclusive",
    "Listener",
    "Publisher",
    "ReplicaLockError",
    "Replicas",
    "Trigger",
    "advisory_key",
    "default_replica_id",
    "is_postgres",
    "libpq_url",
    "name_hash",
]
