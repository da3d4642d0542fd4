"""The ``[fleet]`` section of the configuration file -> ``FleetConfig``.

The committer and commit policy of ``[identity]`` and ``[commit]`` apply to the
fleet's repositories; an override's own ``identity`` and ``commit`` tables replace
them for the repositories it matches (``_load`` reads those, as for ``[[repos]]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, cast

from reconcile import CommitPolicy, Identity, SSHKey

from ._load_kit import Node, Problems, args_of, build, leads
from .fleet._config import FleetConfig, FleetOverride
from .fleet._tables import FleetOverrideTable, FleetTable

__all__ = ["fleet_config"]

#: An override's committer and commit policy, as ``_load`` read them (None: none).
Committing = tuple[Identity | None, CommitPolicy | None]


def fleet_config(
    node: Node,
    problems: Problems,
    committing: Sequence[Committing],
    identity: Identity | None,
    policy: CommitPolicy | None,
) -> FleetConfig | None:
    """The fleet of a ``[fleet]`` table; ``committing`` holds each override's own
    committer and policy, in order."""
    table = cast("FleetTable | None", node.table)
    overrides = []
    for child, (committer, own) in zip(node.children.get("overrides", []), committing, strict=True):
        found = _override(child, problems, committer, own)
        if found is not None:
            overrides.append(found)
    if table is None:
        return None
    args: dict[str, Any] = args_of(table, FleetConfig) | {"overrides": tuple(overrides)}
    if table.ssh_key is not None:
        args["credentials"] = SSHKey(private_key=table.ssh_key)
    if identity is not None:
        args["committer"] = identity
    if policy is not None:
        args["commit_policy"] = policy
    return build(problems, node.loc, leads(FleetTable, FleetConfig), partial(FleetConfig, **args))


def _override(
    node: Node, problems: Problems, committer: Identity | None, policy: CommitPolicy | None
) -> FleetOverride | None:
    table = cast("FleetOverrideTable | None", node.table)
    if table is None:
        return None
    args: dict[str, Any] = args_of(table, FleetOverride)
    if committer is not None:
        args["committer"] = committer
    if policy is not None:
        args["commit_policy"] = policy
    make = partial(FleetOverride, **args)
    return build(problems, node.loc, leads(FleetOverrideTable, FleetOverride), make)
