"""The keys of the advisory locks: two 32-bit integers, a fixed namespace and a
stable hash of a name.

PostgreSQL's two-integer advisory lock, ``pg_advisory_lock(int4, int4)``, is shown
in ``pg_locks`` with ``classid`` the first key, ``objid`` the second and
``objsubid`` 2, so these keys never meet the one-``bigint`` locks of other programs
(``objsubid`` 1), nor the audit store's own migration lock. Both halves are kept
non-negative, so ``pg_locks`` shows them as they are (its columns are unsigned).

The hash is the first four bytes of the name's SHA-256, not Python's ``hash()``,
which changes from one process to the next: every replica must find the same key.
Two names with one hash only share a lock (their runs take turns); nothing is lost.
"""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["ONCE", "REPOSITORY", "advisory_key", "name_hash"]


def _namespace(tag: bytes) -> int:
    value = int.from_bytes(tag, "big")
    assert value < 2**31
    return value


#: The namespace of the repositories' locks ("grec").
REPOSITORY: Final = _namespace(b"grec")
#: The namespace of the locks of work that must happen once at a time ("grc1").
ONCE: Final = _namespace(b"grc1")


def name_hash(name: str) -> int:
    """A stable, non-negative 32-bit hash of ``name``, the same in every process."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def advisory_key(namespace: int, name: str) -> tuple[int, int]:
    """The two integers of the advisory lock of ``name`` in ``namespace``."""
    return namespace, name_hash(name)
