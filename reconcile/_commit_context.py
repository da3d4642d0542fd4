"""What a ``MessageGenerator`` reads to write a commit message: the changes, and
the context of the commit. Loaded by the commits that are written, not by a run
that only reads the policy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

__all__ = ["ChangeStatus", "FileChange", "MessageContext"]

ChangeStatus = Literal["added", "modified", "deleted"]


@dataclass(frozen=True)
class FileChange:
    """A path the commit changes: ``added``, ``modified`` or ``deleted``."""

    path: str
    status: ChangeStatus


@dataclass(frozen=True)
class MessageContext:
    """What a ``MessageGenerator`` may read to write a message. ``diff()`` gives the
    unified diff of the staged changes against HEAD, computed when first called."""

    repo: str
    branch: str
    trigger: str
    hostname: str
    when: datetime  # UTC
    changes: tuple[FileChange, ...]
    diff: Callable[[], str] = field(repr=False, compare=False, default=lambda: "")
    skipped: tuple[str, ...] = ()  # changed paths ``exclude`` left out of the commit
    exclude: tuple[str, ...] = ()  # the policy's exclude globs

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(c.path for c in self.changes)
