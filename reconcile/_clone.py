"""First boot and rotation: ``ensure_clone(spec, url)`` makes the spec's path a clone
of ``url``, whatever it finds there.

- the path is missing, or an empty directory: clone (working tree or bare; full
  history; the spec's credentials, host keys always verified), retrying what time
  may fix as a run does;
- the path is a repository: point the spec's remote at ``url`` if it names
  another URL (a rotated URL needs no clone), and say so in the log;
- the path is anything else: ``PathInUseError``, nothing touched.

A clone is never seen half made. It is made in a sibling directory
(``.<name>.git-reconcile-clone``) and renamed into place in one step. Where that
cannot be done (the path is a mount point, or its parent is not writable), it is
made in ``<path>/.git-reconcile-clone`` and its entries are moved up, the one that
makes it a repository (``.git``, or a bare repository's ``HEAD``) last; until
then the path is not a repository, and the next attempt recognises its own
leftovers by that folder, removes them and starts again.
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tenacity

from ._control import CancelToken
from ._errors import (
    CancelledError,
    InvalidSpecError,
    NetworkError,
    NotARepositoryError,
    PathInUseError,
    UnknownRemoteError,
)
from ._git import Cloned, GitRepo, clone_into, set_remote_url
from ._redact import redact_url
from ._spec import RepoSpec
from ._target import _net_options

__all__ = ["Provision", "Provisioned", "ensure_clone"]

logger = logging.getLogger("reconcile")

INSIDE = ".git-reconcile-clone"


class Provision(enum.Enum):
    """What ``ensure_clone`` did."""

    CLONED = "cloned"
    URL_UPDATED = "url-updated"
    REMOTE_ADDED = "remote-added"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Provisioned:
    """What ``ensure_clone`` did at ``path``; URLs are redacted."""

    action: Provision
    path: Path
    url: str
    previous_url: str | None = None
    branch: str | None = None
    commit: str | None = None

    def describe(self) -> str:
        """One line for a person."""
        if self.action is Provision.CLONED:
            what = f"{self.branch} at {self.commit[:10]}" if self.branch and self.commit else None
            return f"cloned {self.url} into {self.path}" + (f" ({what})" if what else "")
        if self.action is Provision.URL_UPDATED:
            return f"{self.path}: remote URL changed from {self.previous_url} to {self.url}"
        if self.action is Provision.REMOTE_ADDED:
            return f"{self.path}: remote added for {self.url}"
        return f"{self.path}: already a clone of {self.url}"


def ensure_clone(
    spec: RepoSpec, url: str, *, bare: bool = False, cancel: CancelToken | None = None
) -> Provisioned:
    """Make ``spec.resolved_path`` a clone of ``url`` (see the module's docstring).

    Raises ``PathInUseError`` for a path that holds something else,
    ``DubiousOwnershipError`` for a repository of another user that the spec does
    not trust, ``InvalidSpecError`` for an empty URL, and ``NetworkError`` (with
    its ``code``) when the remote could not be cloned.
    """
    if not url.strip():
        raise InvalidSpecError("url: give the remote's URL")
    path = spec.resolved_path
    _clear_leftovers(path)
    if _is_missing_or_empty(path):
        cloned = _retrying(spec, cancel, lambda: _clone(path, url, spec, bare, cancel))
        done = Provisioned(Provision.CLONED, path, redact_url(url), None, *_parts(cloned))
        logger.info("%s", done.describe())
        return done
    try:
        repo = GitRepo(path, trusted=spec.trust)
    except NotARepositoryError:
        raise PathInUseError(
            f"{path} exists, is not empty and is not a git repository: nothing was "
            "cloned; empty it, or give another path"
        ) from None
    try:
        current: str | None = repo.remote_url(spec.remote)
    except UnknownRemoteError:
        current = None
    if current == url:
        return Provisioned(Provision.UNCHANGED, path, redact_url(url))
    old = set_remote_url(repo, spec.remote, url)
    action = Provision.REMOTE_ADDED if old is None else Provision.URL_UPDATED
    done = Provisioned(action, path, redact_url(url), None if old is None else redact_url(old))
    logger.warning("%s (remote %s)", done.describe(), spec.remote)
    return done


def _parts(cloned: Cloned) -> tuple[str | None, str | None]:
    return cloned.branch, cloned.commit


def _is_missing_or_empty(path: Path) -> bool:
    if not os.path.lexists(path):
        return True
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{INSIDE}")


def _clear_leftovers(path: Path) -> None:
    """Remove what an interrupted clone left: its sibling, or its folder inside the
    path with whatever it had moved up already (the path was empty when it began)."""
    sibling = _sibling(path)
    if sibling.is_dir() and not sibling.is_symlink():
        logger.warning("removing an unfinished clone at %s", sibling)
        shutil.rmtree(sibling)
    inside = path / INSIDE
    if not path.is_dir() or not inside.is_dir() or inside.is_symlink():
        return
    if not any(inside.iterdir()):  # the last entry had moved: the clone is whole
        inside.rmdir()
        return
    logger.warning("removing an unfinished clone in %s", path)
    for entry in path.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _renamable(path: Path) -> bool:
    """Whether a sibling directory can be renamed onto ``path`` (missing, or an
    empty directory on the parent's file system, in a parent we may write)."""
    parent = path.parent
    if not os.access(parent, os.W_OK):
        return False
    if not path.exists():
        return True
    return not os.path.ismount(path) and path.stat().st_dev == parent.stat().st_dev


def _clone(path: Path, url: str, spec: RepoSpec, bare: bool, cancel: CancelToken | None) -> Cloned:
    net = _net_options(spec, cancel, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    renamable = _renamable(path)
    work = _sibling(path) if renamable else path / INSIDE
    try:
        cloned = clone_into(work, url, remote=spec.remote, branch=spec.branch, bare=bare, net=net)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    if renamable:
        os.rename(work, path)  # one step: before it there is no repository, after it all of it
    else:
        _move_up(work, path, last=".git" if not bare else "HEAD")
    return cloned


def _move_up(work: Path, path: Path, *, last: str) -> None:
    """Move the clone's entries into ``path``, ``last`` (what makes it a repository)
    at the very end, then drop the emptied folder."""
    for entry in sorted(work.iterdir()):
        if entry.name != last:
            os.rename(entry, path / entry.name)
    os.rename(work / last, path / last)
    work.rmdir()


def _retrying(spec: RepoSpec, cancel: CancelToken | None, clone: Callable[[], Cloned]) -> Cloned:
    policy = spec.retry

    def sleep(seconds: float) -> None:
        if cancel is None:
            time.sleep(seconds)
        elif cancel.wait(seconds):
            raise CancelledError("cancelled while waiting to retry the clone")

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=tenacity.wait_random_exponential(
            multiplier=policy.initial, exp_base=policy.multiplier, max=policy.max_delay
        ),
        retry=tenacity.retry_if_exception(
            lambda exc: isinstance(exc, NetworkError) and exc.transient
        ),
        sleep=sleep,
        reraise=True,
    )
    return retrying(clone)
