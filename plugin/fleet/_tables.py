"""The ``[fleet]`` and ``[[fleet.overrides]]`` tables of the configuration file."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from reconcile import Identity, SSHKey

from .._commit_tables import RepoCommitTable
from .._table_kit import Default, FilePath, Sets, Table, Text, choices, key
from ._config import DEFAULT_FLEET_EXCLUDE, PUSH_POLICIES, FleetConfig, FleetOverride

__all__ = ["FleetIdentityTable", "FleetOverrideTable", "FleetTable"]

_EXCLUDED = ", ".join(f"`{p}`" for p in DEFAULT_FLEET_EXCLUDE)


class FleetIdentityTable(Table):
    """The committer for the repositories an override matches, instead of the top-level
    `[identity]`."""

    name: Annotated[Text, Sets(Identity, "name")] = Field(description="the committer's name")
    email: Annotated[Text, Sets(Identity, "email")] = Field(
        description="the committer's e-mail address"
    )


class FleetOverrideTable(Table):
    """Settings for the fleet's repositories whose real path matches `path`; later
    tables win, key by key."""

    path: Annotated[Text, Sets(FleetOverride, "path")] = Field(
        description="a glob matched against a repository's real path (`~` expanded; "
        "`*` matches across folders); without a wildcard, one repository"
    )
    remote: Annotated[Text | None, Sets(FleetOverride, "remote")] = key(
        "the remote to push to, instead of the fleet's"
    )
    branch: Annotated[Text | None, Sets(FleetOverride, "branch"), Default("HEAD's")] = key(
        "the branch to commit and push"
    )
    enabled: Annotated[bool | None, Sets(FleetOverride, "enabled"), Default("`true`")] = key(
        "`false` leaves these repositories out of every cycle"
    )
    url: Annotated[Text | None, Sets(FleetOverride, "url")] = key(
        "for a `path` without a wildcard: the URL it is cloned from at start when it is "
        "missing or empty (a clone whose remote names another URL is pointed at this one)"
    )
    identity: FleetIdentityTable | None = key("the committer for these repositories")
    commit: RepoCommitTable | None = key(
        "how these repositories' commits are made: keys over `[commit]`'s"
    )


class FleetTable(Table):
    """Fleet mode (see [Fleet mode](#fleet-mode)): every repository under `base_paths`
    committed, then pushed, every `cycle_interval`. `git-reconcile fleet --config` runs
    it; `git-reconcile serve --config` serves its routes under `/fleet`. `[identity]`
    and `[commit]` apply to its repositories too."""

    base_paths: Annotated[list[FilePath], Sets(FleetConfig, "base_paths")] = Field(
        description="the folders searched for repositories (relative to the file's folder)"
    )
    recursive_depth: Annotated[int | None, Sets(FleetConfig, "recursive_depth")] = key(
        "how many folders below each base path are searched"
    )
    exclude: Annotated[list[Text] | None, Sets(FleetConfig, "exclude"), Default(_EXCLUDED)] = key(
        "folders never searched, nor checked for changes: a glob without `/` matches a "
        "folder's name, one with `/` its path; this list replaces the default one"
    )
    cycle_interval: Annotated[float | None, Sets(FleetConfig, "cycle_interval")] = key(
        "seconds between cycles"
    )
    discovery_interval: Annotated[float | None, Sets(FleetConfig, "discovery_interval")] = key(
        "seconds between searches for repositories (run before a cycle)"
    )
    concurrency: Annotated[int | None, Sets(FleetConfig, "concurrency")] = key(
        "repositories committed (and pushed) at a time"
    )
    per_host_concurrency: Annotated[int | None, Sets(FleetConfig, "per_host_concurrency")] = key(
        "pushes to one remote host at a time"
    )
    push_policy: Annotated[Text | None, Sets(FleetConfig, "push_policy")] = key(
        f"{choices(PUSH_POLICIES)}: push every repository that committed or is ahead, or "
        "none when a commit of the cycle failed"
    )
    remote: Annotated[Text | None, Sets(FleetConfig, "remote")] = key("the remote to push to")
    timeout: Annotated[float | None, Sets(FleetConfig, "timeout")] = key(
        "seconds that bound every network wait"
    )
    ssh_key: Annotated[FilePath | None, Sets(SSHKey, "private_key")] = key(
        "SSH private key file for SSH remotes"
    )
    known_hosts: Annotated[
        FilePath | None, Sets(FleetConfig, "known_hosts"), Default("`~/.ssh/known_hosts`")
    ] = key("the known_hosts file SSH host keys are verified against")
    overrides: list[FleetOverrideTable] | None = key("settings per repository, by path glob")
