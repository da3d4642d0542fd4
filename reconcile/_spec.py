"""What to reconcile, and how: small immutable value objects."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ._commit import CommitPolicy
from ._errors import InvalidSpecError
from ._github_app import GitHubApp
from ._hostkeys import check_fingerprint
from ._identity import Identity

__all__ = ["Credentials", "HTTPAuth", "Identity", "RepoSpec", "Retry", "SSHKey"]


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
class HTTPAuth:
    """Credentials for http(s) remotes, sent out of band: never in the URL or config.

    The secret (a password or an access token) is given as ``password`` or, better,
    as ``password_file``, which is read at every run, so a rotated token needs no
    restart. By default it answers the server's Basic challenge as
    ``username``/secret (GitHub: any user name with a token; GitLab:
    ``oauth2``; Bitbucket: ``x-token-auth``). With ``bearer=True`` it is sent up
    front as ``Authorization: Bearer <secret>`` instead.
    """

    username: str = "git"
    password: str | None = field(default=None, repr=False)
    password_file: Path | None = None
    bearer: bool = False

    def __post_init__(self) -> None:
        if (self.password is None) == (self.password_file is None):
            raise InvalidSpecError(
                "HTTPAuth needs exactly one of password (the secret) or password_file (a path)"
            )

    def secret(self) -> str:
        """The password or token, read from its file now when it is in one."""
        if self.password_file is None:
            return self.password or ""
        path = Path(os.path.expanduser(self.password_file))
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidSpecError(
                f"cannot read the HTTP secret from {path}: {exc.strerror}"
            ) from None


@dataclass(frozen=True)
class Retry:
    """How transient network failures are retried: exponential backoff, full jitter.

    An operation is tried at most ``attempts`` times. Before try *n* + 1 it waits a
    random time between 0 and ``min(max_delay, initial * multiplier ** (n - 1))``
    seconds. Only failures that time may fix are retried (timeouts, refused or
    reset connections, DNS, HTTP 5xx, rate limiting); authentication, host keys,
    missing repositories and refused pushes are not.
    """

    attempts: int = 4
    initial: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise InvalidSpecError(f"retry attempts must be at least 1, not {self.attempts!r}")
        if self.initial < 0 or self.max_delay < 0 or self.multiplier < 1:
            raise InvalidSpecError(
                "retry delays must be non-negative and the multiplier at least 1"
            )


#: What a repository's remote may be given: an SSH key, an HTTP(S) secret, or a
#: GitHub App installation (HTTPS).
Credentials = SSHKey | HTTPAuth | GitHubApp

_MAX_TIMEOUT = 24 * 3600.0
# What git's check-ref-format refuses in a branch name.
_BAD_REF = re.compile(r"(^[/.]|/[/.]|\.\.|@\{|[\x00-\x20\x7f~^:?*\[\\]|\.lock(/|$)|[/.]$|^@$)")


def _valid_ref_part(name: str) -> bool:
    return bool(name) and _BAD_REF.search(name) is None


@dataclass(frozen=True)
class RepoSpec:
    """One branch of one repository, to reconcile against one remote.

    ``branch`` defaults to the branch HEAD names. ``timeout`` is in seconds and
    bounds every network wait (connect and each read); ``deadline`` bounds the
    run's network work as a whole, retries included, counted from its first
    network operation: no try starts after it, and a try under way is stopped at
    it. ``known_hosts`` defaults to
    ``~/.ssh/known_hosts``; SSH host keys are always verified against it.
    ``committer`` signs replayed commits; it defaults to the repository's
    configured user, else to each commit's original committer.
    ``host_key_fingerprints`` pins the server's SSH host key (``SHA256:...`` as
    ``ssh-keygen -l`` prints it) instead of looking it up in known_hosts.
    ``retry`` says how transient network failures are retried; ``max_rounds``
    how many times a run fetches again when the remote moved under its push.
    ``lock_timeout`` is how long a run waits for another reconcile of the same
    repository (in this process or another) to finish. ``trust`` opens the
    repository even when another user owns it (git's ``safe.directory``, for this
    path alone); without it such a repository raises ``DubiousOwnershipError``.
    ``commit_policy`` says how a run asked to commit (``reconcile(spec, commit=...)``)
    makes and guards its commit.
    """

    path: Path | str
    remote: str = "origin"
    branch: str | None = None
    timeout: float = 30.0
    credentials: Credentials | None = None
    known_hosts: Path | None = None
    host_key_fingerprints: tuple[str, ...] = ()
    conflict_prefix: str = "conflicts/"
    committer: Identity | None = None
    push: bool = True
    max_rounds: int = 3
    retry: Retry = field(default_factory=Retry)
    lock_timeout: float = 300.0
    trust: bool = False
    deadline: float = 60.0
    commit_policy: CommitPolicy = field(default_factory=CommitPolicy)

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:  # every one at once: a fix of one should not reveal the next
            raise InvalidSpecError("; ".join(problems))

    def _problems(self) -> list[str]:
        problems = [
            f"{name} must be a positive number of seconds, at most a day, not {value!r}"
            for name, value in (("timeout", self.timeout), ("deadline", self.deadline))
            if not (0 < value <= _MAX_TIMEOUT)
        ]
        if not (0 <= self.lock_timeout <= _MAX_TIMEOUT):
            problems.append(
                "lock_timeout must be a number of seconds from 0 (do not wait) to a day, "
                f"not {self.lock_timeout!r}"
            )
        problems += [
            f"host_key_fingerprints: {problem}"
            for problem in map(check_fingerprint, self.host_key_fingerprints)
            if problem is not None
        ]
        if self.max_rounds < 1:
            problems.append(f"max_rounds must be at least 1, not {self.max_rounds!r}")
        prefix = self.conflict_prefix
        if not prefix or not _valid_ref_part(prefix + "x"):
            problems.append(
                f"conflict_prefix {prefix!r} is not a valid ref prefix (e.g. 'conflicts/')"
            )
        if self.branch is not None and (not self.branch or self.branch.startswith("refs/")):
            problems.append(
                f"branch {self.branch!r}: give a short branch name such as 'main', not a full ref"
            )
        return problems

    @property
    def resolved_path(self) -> Path:
        """The repository path, with ``~`` expanded and made absolute."""
        return Path(os.path.expanduser(self.path)).absolute()
