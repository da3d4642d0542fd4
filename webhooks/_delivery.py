"""What a verified webhook delivery says: which event, which refs moved, which repository."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from ._provider import Provider
from ._urls import normalise_repo_url

__all__ = ["ZERO_SHA", "Delivery", "Kind", "RefChange", "is_deleted"]

#: The object id hosts send as the new value of a deleted ref (SHA-1 length).
ZERO_SHA = "0" * 40

_HEADS = "refs/heads/"


def is_deleted(after: str | None) -> bool:
    """Whether ``after`` says the ref was deleted: ``None`` or an all-zero object id."""
    return after is None or (after != "" and after.strip("0") == "")


class Kind(StrEnum):
    """What a delivery is about; the caller queues a run only for ``push``."""

    PUSH = "push"
    PING = "ping"  # the host testing the hook: answer 2xx, do nothing
    OTHER = "other"  # any other valid event: answer 202, ignore


class RefChange(NamedTuple):
    """One ref a push moved: its full name and new commit (``None`` when deleted)."""

    ref: str
    after: str | None

    @property
    def branch(self) -> str | None:
        """The short branch name, or ``None`` when the ref is not a branch (a tag)."""
        return _branch(self.ref)


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """A verified delivery.

    For a push, ``ref``/``after``/``before`` describe the first branch change
    (the first change when no branch moved), and ``changes`` lists every ref
    the push moved: one for most hosts, several for Bitbucket and Azure DevOps.
    ``after`` and ``before`` are lower-case hex, or ``None`` for a deleted
    (``after``) or created (``before``) ref. ``clone_urls`` and ``full_name``
    come from the payload: a hint for matching the delivery to a configured
    repository, never a URL to fetch from.
    """

    provider: Provider
    kind: Kind
    event: str | None
    delivery_id: str | None
    ref: str | None = None
    after: str | None = None
    before: str | None = None
    changes: tuple[RefChange, ...] = ()
    clone_urls: tuple[str, ...] = ()
    full_name: str | None = None

    @property
    def branch(self) -> str | None:
        """The short name of ``ref`` when it is a branch (``main``), else ``None``."""
        return None if self.ref is None else _branch(self.ref)

    @property
    def deleted(self) -> bool:
        """Whether this is a push that deleted ``ref``."""
        return self.kind is Kind.PUSH and self.ref is not None and self.after is None

    def touches(self, branch: str) -> bool:
        """Whether the push moved (or deleted) the branch called ``branch``."""
        return any(change.ref == _HEADS + branch for change in self.changes)

    def after_for(self, branch: str) -> str | None:
        """The new commit of ``branch`` in this push; ``None`` when the push did not
        move it to a commit (another branch only, a deletion, not a push)."""
        for change in self.changes:
            if change.ref == _HEADS + branch:
                return change.after
        return None

    def matches(self, url: str) -> bool:
        """Whether ``url`` names the same repository as one of the payload's URLs,
        compared with ``normalise_repo_url``; an unparseable URL matches nothing."""
        try:
            wanted = normalise_repo_url(url)
        except ValueError:
            return False
        for candidate in self.clone_urls:
            try:
                if normalise_repo_url(candidate) == wanted:
                    return True
            except ValueError:
                continue
        return False


def _branch(ref: str) -> str | None:
    return ref[len(_HEADS) :] if ref.startswith(_HEADS) and len(ref) > len(_HEADS) else None
