"""Exceptions raised by git-reconcile.

Outcomes such as ``fetch-failed`` or ``blocked`` are *results*, not exceptions:
``reconcile()`` returns them. Exceptions are raised for bad input, which no amount
of retrying will fix, for a repository lock that stayed taken, and for errors inside
the library itself::

    ReconcileError
    ├── BadInputError              the spec names something that is not there (CLI exit 2)
    │   ├── NotARepositoryError    the path is not a git repository
    │   │   └── PathInUseError     (clone) the path holds other files, not a repository
    │   ├── DubiousOwnershipError  another user owns the repository, and it is not trusted
    │   ├── UnknownRemoteError     the repository has no remote of that name
    │   ├── UnknownBranchError     the branch does not exist locally and HEAD does not name it
    │   └── InvalidSpecError       a value in the spec is malformed (timeout, prefix, key)
    ├── RepoLockTimeout            another reconcile kept the repository's lock too long
    ├── LockLostError              the run's guard lost its lock: the run writes nothing more
    └── GitError                   a git operation failed; ``kind`` says which one
        ├── NetworkError           the remote could not be reached or read;
        │   │                      ``transient`` says whether a retry may help
        │   ├── HostKeyError       the server's SSH host key is unknown or has changed
        │   ├── AuthenticationError  the credentials were refused or missing
        │   └── CancelledError     the operation was cancelled
        ├── CheckoutBlockedError   local changes are in the way of a checkout
        └── RefMovedError          a ref moved during the run (compare-and-swap lost, or
                                   the remote's ref is not where a push's lease expects it)

Every ``GitError`` message has its URLs redacted. ``GitError`` and its subclasses
are caught inside ``reconcile()`` and turned into outcomes and push statuses, and so
is ``RepoLockTimeout`` (the run ends ``blocked``), and ``LockLostError`` (the run
ends ``fetch-failed`` or ``blocked``); callers normally only see
``BadInputError``, and ``RepoLockTimeout`` when they take a ``RepoLock`` themselves.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadInputError",
    "CancelledError",
    "CheckoutBlockedError",
    "DubiousOwnershipError",
    "GitError",
    "HostKeyError",
    "InvalidSpecError",
    "LockLostError",
    "NetworkError",
    "NotARepositoryError",
    "PathInUseError",
    "ReconcileError",
    "RefMovedError",
    "RepoLockTimeout",
    "UnknownBranchError",
    "UnknownRemoteError",
]


class ReconcileError(Exception):
    """Base class of every exception git-reconcile raises."""


class BadInputError(ReconcileError):
    """The spec names something that does not exist or is malformed."""


class NotARepositoryError(BadInputError):
    """The path is not a git repository (neither a working tree nor a bare one)."""


class PathInUseError(NotARepositoryError):
    """A clone was asked for at a path that exists, is not empty, and is not a
    repository: nothing there is touched."""


class DubiousOwnershipError(BadInputError):
    """The repository belongs to another user, and libgit2 (like git) refuses to open
    it ("dubious ownership"). Run as its owner, change its owner, or trust this one
    path (``RepoSpec(trust=True)``, ``trust = true`` in the configuration)."""


class UnknownRemoteError(BadInputError):
    """The repository has no remote of the given name."""


class UnknownBranchError(BadInputError):
    """The branch does not exist locally and HEAD does not name it."""


class InvalidSpecError(BadInputError):
    """A value in the spec is malformed."""


class RepoLockTimeout(ReconcileError):
    """The repository's lock was not free within the timeout (or the wait was cancelled).

    Neither bad input nor a failed git operation: another reconcile of the same
    repository is at work, and time fixes it. So it sits beside those two branches,
    not under them: ``except BadInputError`` keeps meaning "fix the spec", and
    ``except GitError`` keeps meaning "git failed".
    """


class LockLostError(ReconcileError):
    """The lock a run's guard stands for (``reconcile(..., guard=...)``: another
    replica's lock, in PostgreSQL) was lost before a write: the run stops there.

    Like ``RepoLockTimeout`` it is no bad input and no failed git operation, so it
    sits beside those branches. ``reconcile()`` catches it: the run ends
    ``fetch-failed`` when nothing was written yet, else ``blocked``; the message says
    where it stopped and why the lock is gone.
    """


class GitError(ReconcileError):
    """A git operation failed.

    ``kind`` names the operation (``fetch``, ``push``, ``checkout``, ``ref``,
    ``rebase``, ``open``); the message is already redacted.
    """

    def __init__(self, message: str, *, kind: str = "git") -> None:
        super().__init__(message)
        self.kind = kind


class NetworkError(GitError):
    """The remote could not be reached, timed out, or broke the protocol.

    ``code`` names the problem (``timeout``, ``connection``, ``dns``,
    ``server-error``, ``rate-limited``, ``auth``, ``host-key``, ``not-found``, ...);
    ``transient`` is True when time may fix it, so a retry is worth it.
    """

    def __init__(
        self, message: str, *, kind: str = "git", code: str = "unknown", transient: bool = False
    ) -> None:
        super().__init__(message, kind=kind)
        self.code = code
        self.transient = transient


class HostKeyError(NetworkError):
    """The server's SSH host key is not in known_hosts, or differs from it."""

    def __init__(self, message: str, *, kind: str = "git") -> None:
        super().__init__(message, kind=kind, code="host-key", transient=False)


class AuthenticationError(NetworkError):
    """The server refused the credentials, or none were configured."""

    def __init__(self, message: str, *, kind: str = "git") -> None:
        super().__init__(message, kind=kind, code="auth", transient=False)


class CancelledError(NetworkError):
    """The operation was cancelled through its CancelToken."""

    def __init__(self, message: str = "cancelled", *, kind: str = "git") -> None:
        super().__init__(message, kind=kind, code="cancelled", transient=False)


class CheckoutBlockedError(GitError):
    """Uncommitted changes or untracked files are in the way of a checkout.

    ``paths`` lists the files in the way.
    """

    def __init__(self, message: str, *, paths: tuple[str, ...] = ()) -> None:
        super().__init__(message, kind="checkout")
        self.paths = paths


class RefMovedError(GitError):
    """A ref no longer holds the value the run read or expects.

    Locally, a branch moved under the run's compare-and-swap. In a push under a
    lease, the remote's ref is not where the lease expects it; the push then sent
    nothing.
    """
