"""What to reconcile, and how: small immutable value objects."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import InvalidSpecError

__all__ = ["Identity", "RepoSpec", "SSHKey"]


@dataclass(frozen=True)
class Identity:
    """A name and e-mail address, used as committer of replayed commits."""

    name: str
    email: str


@dataclass(frozen=True)
class SSHKey:
    """An SSH client key, read from a file or given in memory.

    Give ``private_key`` (a path) or ``private_key_data`` (the key text). The file
    is read when a connection is made, so a rotated key needs no restart. The
    public key is derived from the private one when ``public_key`` is not given.
    Key text and passphrase never appear in ``repr()``.
    """

    private_key: Path | None = None
    private_key_data: str | None = field(default=None, repr=False)
    public_key: Path | None = None
    passphrase: str = field(default="", repr=False)
    username: str | None = None

    def __post_init__(self) -> None:
        if (self.private_key is None) == (self.private_key_data is None):
            raise InvalidSpecError(
                "SSHKey needs exactly one of private_key (a path) "
                "or private_key_data (the key text)"
            )


@dataclass(frozen=True)
class RepoSpec:
    """One branch of one repository, to reconcile against one remote.

    ``branch`` defaults to the branch HEAD names. ``timeout`` is in seconds and
    bounds every network wait (connect and each read). ``known_hosts`` defaults to
    ``~/.ssh/known_hosts``; SSH host keys are always verified against it.
    ``committer`` signs replayed commits; it defaults to the repository's
    configured user, else to each commit's original committer.
    """

    path: Path | str
    remote: str = "origin"
    branch: str | None = None
    timeout: float = 30.0
    credentials: SSHKey | None = None
    known_hosts: Path | None = None
    conflict_prefix: str = "conflicts/"
    committer: Identity | None = None
    push: bool = True
    max_rounds: int = 3

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise InvalidSpecError(
                f"timeout must be a positive number of seconds, not {self.timeout!r}"
            )
        if self.max_rounds < 1:
            raise InvalidSpecError(f"max_rounds must be at least 1, not {self.max_rounds!r}")
        prefix = self.conflict_prefix
        if not prefix or prefix.startswith("/") or ".." in prefix or " " in prefix:
            raise InvalidSpecError(
                f"conflict_prefix {prefix!r} is not a valid ref prefix (e.g. 'conflicts/')"
            )
        if self.branch is not None and (not self.branch or self.branch.startswith("refs/")):
            raise InvalidSpecError(
                f"branch {self.branch!r}: give a short branch name such as 'main', not a full ref"
            )

    @property
    def resolved_path(self) -> Path:
        """The repository path, with ``~`` expanded and made absolute."""
        return Path(os.path.expanduser(self.path)).absolute()
