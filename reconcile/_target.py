"""A run's spec resolved against its repository, before anything is touched.

Every ``BadInputError`` of a run is raised here, in this order: the path is not a
repository, the remote does not exist, the branch name is malformed, the branch
does not exist. After this, problems end in an outcome.
"""

from __future__ import annotations

import difflib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ._control import CancelToken, Deadline, ProgressCallback
from ._errors import InvalidSpecError, UnknownBranchError
from ._git import GitRemote, GitRepo, NetOptions
from ._hostkeys import default_known_hosts
from ._spec import RepoSpec

__all__ = ["Target", "open_target"]


@dataclass(frozen=True)
class Target:
    """The repository, remote and branch one run works on."""

    spec: RepoSpec
    repo: GitRepo
    remote: GitRemote
    branch: str  # "" when HEAD is detached and the spec names no branch
    original: str | None  # the branch's tip when the run began (None: unborn)

    @property
    def path(self) -> Path:
        return self.repo.path

    @property
    def refname(self) -> str:
        return f"refs/heads/{self.branch}"


def open_target(
    spec: RepoSpec, cancel: CancelToken | None = None, progress: ProgressCallback | None = None
) -> Target:
    """Open the spec's repository and check its remote and branch; raises
    ``BadInputError`` (NotARepositoryError, UnknownRemoteError, InvalidSpecError,
    UnknownBranchError)."""
    path = spec.resolved_path
    repo = GitRepo(path, trusted=spec.trust)
    url = repo.remote_url(spec.remote)  # UnknownRemoteError before anything else
    head = repo.head_branch()
    branch = spec.branch or head or ""
    if branch and not GitRepo.valid_branch_name(branch):
        raise InvalidSpecError(f"{branch!r} is not a valid branch name")
    original = repo.branch_tip(branch) if branch else None
    if branch and original is None and head != branch:
        raise UnknownBranchError(_no_branch(repo, spec.remote, branch))
    remote = GitRemote(repo, spec.remote, url, _net_options(spec, cancel, progress))
    return Target(spec, repo, remote, branch, original)


def _no_branch(repo: GitRepo, remote: str, branch: str) -> str:
    """Why ``branch`` is unknown, and the fix: the command that creates it from the
    remote's, or the closest name there is."""
    local = repo.branches()
    git = f"git -C {shlex.quote(str(repo.path))}"
    text = f"{repo.path} has no branch {branch!r} (branches: {', '.join(local) or 'none'}); "
    if repo.ref_exists(f"refs/remotes/{remote}/{branch}"):
        return text + f"create it from {remote}'s with: {git} branch {branch} {remote}/{branch}"
    names = sorted(set(local) | set(repo.tracking_branches(remote)))
    close = difflib.get_close_matches(branch, names, n=1)
    if close:
        return text + f"did you mean {close[0]!r}?"
    return text + f"if {remote} has it, create it with: {git} fetch {remote} {branch}:{branch}"


def _net_options(
    spec: RepoSpec, cancel: CancelToken | None, progress: ProgressCallback | None
) -> NetOptions:
    known_hosts = (
        Path(os.path.expanduser(spec.known_hosts)).absolute()
        if spec.known_hosts is not None
        else default_known_hosts()
    )
    return NetOptions(
        credentials=spec.credentials,
        known_hosts=known_hosts,
        pins=spec.host_key_fingerprints,
        timeout=spec.timeout,
        cancel=cancel,
        progress=progress,
        deadline=Deadline(spec.deadline),
    )
