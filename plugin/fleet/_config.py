"""FleetConfig and FleetOverride: what fleet mode watches and how, defaults written once.

A repository's spec is made here (``FleetConfig.spec_for``): the fleet's settings,
then each override whose glob matches the repository's real path, in order, key by
key. Raises ``ConfigError`` with every problem found.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from reconcile import CommitPolicy, Credentials, Identity, RepoSpec

from .._errors import ConfigError

__all__ = [
    "DEFAULT_FLEET_EXCLUDE",
    "PUSH_POLICIES",
    "FleetConfig",
    "FleetOverride",
    "PushPolicy",
    "expand",
]

PushPolicy = Literal["each", "all-or-none"]
PUSH_POLICIES: tuple[PushPolicy, ...] = ("each", "all-or-none")
#: Folders never searched for repositories, nor for changes.
DEFAULT_FLEET_EXCLUDE: tuple[str, ...] = ("node_modules", ".venv", "dist", "build", "__pycache__")


def expand(path: Path | str) -> Path:
    """``path`` with ``~`` expanded, made absolute and real (symbolic links resolved)."""
    return Path(os.path.realpath(os.path.expanduser(path)))


@dataclass(frozen=True)
class FleetOverride:
    """Settings for the repositories whose real path matches ``path`` (a glob: ``~`` is
    expanded, ``*`` matches across folders, as in ``fnmatch``). A key left None keeps
    the fleet's value (or an earlier override's).

    ``url``, for an override that names one repository (a path without a wildcard):
    when that path is missing or an empty folder, the fleet clones it from ``url``
    before it looks for repositories; a clone whose remote names another URL is
    pointed at this one (``reconcile.ensure_clone``, as ``serve`` does at its first
    boot)."""

    path: str
    remote: str | None = None
    branch: str | None = None
    enabled: bool | None = None
    committer: Identity | None = None
    commit_policy: CommitPolicy | None = None
    url: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.url is not None and self.is_glob:
            raise ConfigError(
                f"url: clones one repository: give its path without a wildcard, not {self.path!r}"
            )
        if self.url is not None and not self.url.strip():
            raise ConfigError("url: give the remote's URL")

    @property
    def is_glob(self) -> bool:
        return any(c in self.path for c in "*?[")

    def matches(self, repo: Path) -> bool:
        """Whether this override applies to ``repo`` (a real path). A pattern without
        a wildcard names one repository, its symbolic links resolved."""
        pattern = os.path.expanduser(self.path)
        if not self.is_glob:
            pattern = str(expand(pattern))
        return fnmatch.fnmatchcase(str(repo), pattern)


@dataclass(frozen=True)
class FleetConfig:
    """Fleet mode: every repository under ``base_paths`` (down to ``recursive_depth``
    folders, never into a folder matching ``exclude``) committed every
    ``cycle_interval`` seconds, then pushed. Discovery repeats every
    ``discovery_interval`` seconds. ``concurrency`` repositories are committed at a
    time; ``per_host_concurrency`` pushes go to one remote host at a time.
    ``push_policy`` ``"each"`` pushes every repository that committed or is ahead;
    ``"all-or-none"`` pushes none when a commit of the cycle failed. ``remote``,
    ``committer``, ``commit_policy``, ``credentials``, ``known_hosts`` and ``timeout``
    apply to every repository; ``overrides`` change them per repository."""

    base_paths: tuple[Path, ...] = ()
    recursive_depth: int = 4
    exclude: tuple[str, ...] = DEFAULT_FLEET_EXCLUDE
    cycle_interval: float = 60.0
    discovery_interval: float = 300.0
    concurrency: int = 4
    per_host_concurrency: int = 2
    push_policy: PushPolicy = "each"
    overrides: tuple[FleetOverride, ...] = ()
    remote: str = "origin"
    committer: Identity | None = None
    commit_policy: CommitPolicy = field(default_factory=CommitPolicy)
    credentials: Credentials | None = field(default=None, repr=False)
    known_hosts: Path | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.recursive_depth <= 64:
            problems.append(f"recursive_depth: must be 0 to 64, not {self.recursive_depth}")
        for name in ("cycle_interval", "discovery_interval"):
            if not 0 < getattr(self, name) <= 7 * 24 * 3600:
                problems.append(f"{name}: must be a positive number of seconds, at most a week")
        for name in ("concurrency", "per_host_concurrency"):
            if not 1 <= getattr(self, name) <= 256:
                problems.append(f"{name}: must be 1 to 256, not {getattr(self, name)}")
        if self.push_policy not in PUSH_POLICIES:
            problems.append(
                f"push_policy: {self.push_policy!r} is not one of {', '.join(PUSH_POLICIES)}"
            )
        if problems:
            raise ConfigError(*problems)

    def matching(self, repo: Path) -> list[FleetOverride]:
        """The overrides that apply to ``repo`` (a real path), in order."""
        return [o for o in self.overrides if o.matches(repo)]

    def enabled_for(self, repo: Path) -> bool:
        """False when an override turns the repository off."""
        enabled = True
        for override in self.matching(repo):
            if override.enabled is not None:
                enabled = override.enabled
        return enabled

    def spec_for(self, repo: Path, name: str) -> RepoSpec:
        """The spec of one repository: the fleet's settings, then its overrides.
        Raises ``InvalidSpecError`` for a bad branch name."""
        spec = RepoSpec(
            repo,
            remote=self.remote,
            credentials=self.credentials,
            known_hosts=self.known_hosts,
            timeout=self.timeout,
            committer=self.committer,
            commit_policy=self.commit_policy,
            lock_timeout=0.0,
        )
        for override in self.matching(repo):
            changes = {
                key: value
                for key, value in (
                    ("remote", override.remote),
                    ("branch", override.branch),
                    ("committer", override.committer),
                    ("commit_policy", override.commit_policy),
                )
                if value is not None
            }
            spec = replace(spec, **changes)  # type: ignore[arg-type]
        policy = spec.commit_policy
        if policy.repo_name is None:
            spec = replace(spec, commit_policy=replace(policy, repo_name=name))
        return spec
