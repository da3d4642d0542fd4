"""Connections per outcome, counted at the SSH server: no more than git's own sequence.

git needs one connection to fetch and one to push: ``git fetch && git merge
--ff-only`` is one, ``git fetch && git push`` (or ``git pull --rebase && git push``,
or the conflict escape's fetch and push of a branch) two. A run lists the remote's
heads and downloads the pack on one connection, and pushes on one more.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from gitutil import World, rev

from reconcile import Outcome, PushStatus, Retry, reconcile

UPLOAD, RECEIVE = "git-upload-pack", "git-receive-pack"


def _in_sync(world: World, app: Path) -> None:
    """Nothing to do."""


def _fast_forward(world: World, app: Path) -> None:
    world.remote_commit({"remote.txt": "theirs\n"}, "remote")


def _push_ahead(world: World, app: Path) -> None:
    world.commit(app, {"local.txt": "mine\n"}, "local")


def _rebase(world: World, app: Path) -> None:
    world.remote_commit({"remote.txt": "theirs\n"}, "remote")
    world.commit(app, {"local.txt": "mine\n"}, "local")


def _conflict(world: World, app: Path) -> None:
    world.remote_commit({"data.txt": "theirs\n"}, "remote")
    world.commit(app, {"data.txt": "mine\n"}, "local")


@pytest.mark.parametrize(
    ("setup", "outcome", "services"),
    [
        (_in_sync, Outcome.IN_SYNC, [UPLOAD]),
        (_fast_forward, Outcome.FAST_FORWARDED, [UPLOAD]),
        (_push_ahead, Outcome.PUSHED_AHEAD, [UPLOAD, RECEIVE]),
        (_rebase, Outcome.REBASED, [UPLOAD, RECEIVE]),
        (_conflict, Outcome.CONFLICT_ESCAPED, [UPLOAD, RECEIVE]),
    ],
    ids=["in-sync", "fast-forwarded", "pushed-ahead", "rebased", "conflict-escaped"],
)
def test_each_outcome_opens_no_more_connections_than_git(
    ssh_world: World,
    setup: Callable[[World, Path], None],
    outcome: Outcome,
    services: list[str],
) -> None:
    """in-sync and fast-forwarded open one connection (upload-pack); pushed-ahead,
    rebased and conflict-escaped two (upload-pack, then receive-pack)."""
    world = ssh_world
    app = world.clone("app")
    setup(world, app)
    connections, commands = world.ssh.connections, len(world.ssh.commands)
    result = reconcile(world.spec(app))
    assert result.outcome is outcome, result.reason
    assert result.push.status in (PushStatus.OK, PushStatus.SKIPPED)
    assert world.ssh.connections - connections == len(services)
    assert [c.split()[0] for c in world.ssh.commands[commands:]] == services


def test_a_retried_push_opens_one_connection_per_try(ssh_world: World) -> None:
    """A push whose first connection is dropped is tried again on one new connection:
    the fetch, the dropped try and the push that lands, and no look-up in between."""
    world = ssh_world
    app = world.clone("app")
    mine = world.commit(app, {"local.txt": "mine\n"}, "local")
    connections, commands = world.ssh.connections, len(world.ssh.commands)
    world.ssh.drop = {connections + 2}  # the push's first connection
    try:
        result = reconcile(world.spec(app, retry=Retry(attempts=3, initial=0.01, max_delay=0.02)))
    finally:
        world.ssh.drop = set()
    assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
    assert (result.push.status, result.push.attempts) == (PushStatus.OK, 2)
    assert world.ssh.connections - connections == 3
    assert [c.split()[0] for c in world.ssh.commands[commands:]] == [UPLOAD, RECEIVE]
    assert rev(world.remote, "main") == mine


def test_a_lost_answer_is_found_on_the_next_try_s_own_connection(ssh_world: World) -> None:
    """A push the server applied but whose answer was lost to the timeout is found
    landed by the next try itself: fetch, the timed-out push, the push that finds the
    remote already at our commit; no separate look-up of the remote's heads."""
    world = ssh_world
    app = world.clone("app")
    mine = world.commit(app, {"local.txt": "mine\n"}, "local")
    flag = world.root / "release"
    hook = world.remote / "hooks" / "post-receive"  # runs after the ref moved
    hook.write_text(f"#!/bin/sh\nwhile [ ! -e {flag} ]; do sleep 0.05; done\n")
    hook.chmod(0o755)
    connections, commands = world.ssh.connections, len(world.ssh.commands)
    spec = world.spec(app, timeout=1.0, retry=Retry(attempts=2, initial=0.01, max_delay=0.02))
    try:
        result = reconcile(spec)
    finally:
        flag.touch()
    assert rev(world.remote, "main") == mine
    assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
    assert (result.push.status, result.push.attempts) == (PushStatus.OK, 2), result.push
    assert world.ssh.connections - connections == 3
    assert [c.split()[0] for c in world.ssh.commands[commands:]] == [UPLOAD, RECEIVE, RECEIVE]
