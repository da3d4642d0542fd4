"""Behaviour only a real server shows: hooks that decline, races, host keys, credentials."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from gitutil import World, branches, git, rev
from servers.sshgit import HangingServer, generate_ecdsa, generate_ed25519, write_known_hosts

from plugin.cli import exit_code
from plugin.cli._run import summary
from reconcile import Outcome, PushStatus, RepoSpec, SSHKey, reconcile

DECLINE = "#!/bin/sh\necho 'pushes to this branch are not allowed' >&2\nexit 1\n"

# On its first run the hook plays another writer: it moves main to a new commit
# while our push is being received, so receive-pack's compare-and-swap fails.
RACE = """#!/bin/sh
[ -e "$GIT_DIR/raced" ] && exit 0
touch "$GIT_DIR/raced"
unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES
export GIT_INDEX_FILE="$GIT_DIR/race-index"
parent=$(git rev-parse refs/heads/main)
git read-tree "$parent"
blob=$(echo "from the racing writer" | git hash-object -w --stdin)
git update-index --add --cacheinfo 100644,"$blob",race.txt
tree=$(git write-tree)
commit=$(echo "racing writer" | GIT_AUTHOR_NAME=Racer GIT_AUTHOR_EMAIL=r@x \
  GIT_COMMITTER_NAME=Racer GIT_COMMITTER_EMAIL=r@x git commit-tree "$tree" -p "$parent")
git update-ref refs/heads/main "$commit" "$parent"
exit 0
"""


def _hook(world: World, name: str, text: str) -> None:
    hook = world.remote / "hooks" / name
    hook.write_text(text)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_declining_pre_receive_hook_is_reported_rejected(ssh_world: World) -> None:
    """A pre-receive hook that declines gives push.status rejected, with the remote unchanged."""
    world = ssh_world
    app = world.clone("app")
    before = world.remote_tip()
    world.commit(app, {"a.txt": "a\n"}, "local")
    _hook(world, "pre-receive", DECLINE)
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.push.status is PushStatus.REJECTED
    assert result.push.error is not None
    assert "declined" in result.push.error
    assert world.remote_tip() == before
    assert exit_code(result) == 5


def test_race_between_fetch_and_push_converges(ssh_world: World) -> None:
    """When the remote moves between fetch and push, the run re-fetches, rebases and lands."""
    world = ssh_world
    app = world.clone("app")
    mine = world.commit(app, {"a.txt": "a\n"}, "local")
    _hook(world, "pre-receive", RACE)
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED, result.reason
    assert result.push.status is PushStatus.OK
    assert result.push.attempts == 2
    tip = world.remote_tip()
    assert tip == result.new_commit == rev(app, "main")
    assert rev(world.remote, "main~1") != mine  # replayed on top of the racing commit
    assert (world.remote / "raced").exists()
    log = git(world.remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["local", "racing writer"]


def test_race_without_rounds_left_is_not_landed_and_never_overwrites(ssh_world: World) -> None:
    """With one round allowed, a lost race is a push not landed, and nothing is overwritten."""
    world = ssh_world
    app = world.clone("app")
    mine = world.commit(app, {"a.txt": "a\n"}, "local")
    _hook(world, "pre-receive", RACE)
    result = reconcile(world.spec(app, max_rounds=1))
    assert result.push.status is PushStatus.REJECTED
    assert exit_code(result) == 5
    assert "moved" in (result.push.error or "")
    remote_tip = world.remote_tip()
    assert remote_tip != mine
    assert git(world.remote, "log", "-1", "--format=%s", "main") == "racing writer"
    assert rev(app, "main") == mine


def _spec(world: World, app: Path, **kwargs: Any) -> RepoSpec:
    kwargs.setdefault("credentials", SSHKey(private_key=world.ssh.client_key_path))
    kwargs.setdefault("known_hosts", world.ssh.known_hosts_path)
    return RepoSpec(app, timeout=10.0, **kwargs)


def test_unknown_host_key_fails_the_fetch(ssh_world: World, tmp_path: Path) -> None:
    """A host missing from known_hosts gives fetch-failed naming the file."""
    app = ssh_world.clone("app")
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    result = reconcile(_spec(ssh_world, app, known_hosts=empty))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "unknown" in result.reason
    assert str(empty) in result.reason


def test_changed_host_key_fails_the_fetch(ssh_world: World, tmp_path: Path) -> None:
    """A host whose key differs from known_hosts gives fetch-failed saying it changed."""
    app = ssh_world.clone("app")
    impostor = generate_ed25519(tmp_path / "impostor")
    wrong = write_known_hosts(tmp_path / "known_hosts", ssh_world.ssh.port, impostor)
    result = reconcile(_spec(ssh_world, app, known_hosts=wrong))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "does not match" in result.reason


def test_missing_known_hosts_file_fails_the_fetch(ssh_world: World, tmp_path: Path) -> None:
    """Without a known_hosts file no host is trusted."""
    app = ssh_world.clone("app")
    result = reconcile(_spec(ssh_world, app, known_hosts=tmp_path / "absent"))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "unknown" in result.reason


def test_unauthorized_key_fails_after_bounded_attempts(ssh_world: World, tmp_path: Path) -> None:
    """A key the server refuses ends in fetch-failed, not in an endless retry."""
    app = ssh_world.clone("app")
    stranger = generate_ed25519(tmp_path / "stranger")
    result = reconcile(_spec(ssh_world, app, credentials=SSHKey(private_key=stranger)))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "authentication" in result.reason.lower() or "refused" in result.reason


def test_no_credentials_configured(ssh_world: World) -> None:
    """An SSH remote with no key configured fails with a reason that says what to set."""
    app = ssh_world.clone("app")
    spec = RepoSpec(app, known_hosts=ssh_world.ssh.known_hosts_path, timeout=10.0)
    result = reconcile(spec)
    assert result.outcome is Outcome.FETCH_FAILED
    assert "none is configured" in result.reason


def test_key_from_memory(ssh_world: World) -> None:
    """An SSH key given as text works like one given as a file."""
    world = ssh_world
    app = world.clone("app")
    world.commit(app, {"a.txt": "a\n"}, "local")
    key = SSHKey(private_key_data=Path(world.ssh.client_key_path).read_text())
    assert "PRIVATE" not in repr(key)
    result = reconcile(_spec(world, app, credentials=key))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.push.status is PushStatus.OK


def test_ecdsa_key_file(ssh_world: World, tmp_path: Path) -> None:
    """An ECDSA key file authenticates too."""
    world = ssh_world
    key = generate_ecdsa(tmp_path / "ecdsa")
    world.ssh.authorize(Path(str(key) + ".pub"))
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    result = reconcile(_spec(world, app, credentials=SSHKey(private_key=key)))
    assert result.outcome is Outcome.FAST_FORWARDED


def test_hanging_remote_ends_in_fetch_failed(path_world: World, ssh_server: Any) -> None:
    """A server that accepts and never answers ends the run in fetch-failed within the timeout."""
    app = path_world.clone("app")
    with HangingServer() as hanging:
        git(app, "remote", "set-url", "origin", f"ssh://git@127.0.0.1:{hanging.port}/x.git")
        spec = RepoSpec(
            app,
            timeout=1.0,
            known_hosts=ssh_server.known_hosts_path,
            credentials=SSHKey(private_key=ssh_server.client_key_path),
        )
        result = reconcile(spec)
    assert result.outcome is Outcome.FETCH_FAILED
    assert result.duration_ms < 30_000


def test_escape_over_ssh_keeps_existing_conflict_branches(ssh_world: World) -> None:
    """An escape over SSH creates its branch without touching other conflicts/ branches."""
    world = ssh_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local = world.commit(app, {"data.txt": "local\n"}, "local edit")
    occupant = world.remote_commit({"z": "1"}, "old conflict", branch="conflicts/old")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED
    found = branches(world.remote, "conflicts/")
    assert found["conflicts/old"] == occupant
    assert found[str(result.conflict_branch)] == local


@pytest.mark.parametrize("bare", [False, True])
def test_bare_and_worktree_over_ssh_rebase(ssh_world: World, bare: bool) -> None:
    """Bare and working-tree clones both rebase and push over SSH."""
    world = ssh_world
    app = world.clone("app", bare=bare)
    world.remote_commit({"r.txt": "r\n"}, "remote")
    world.commit(app, {"l.txt": "l\n"}, "local")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED
    assert world.remote_tip() == result.new_commit


def test_missing_repository_on_the_server(ssh_world: World) -> None:
    """A repository path the server does not have gives fetch-failed."""
    world = ssh_world
    app = world.clone("app")
    git(app, "remote", "set-url", "origin", world.ssh.url(world.root / "absent.git"))
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "absent.git" in result.reason, result.reason


def test_refused_conflict_branch_is_reused_not_multiplied(ssh_world: World) -> None:
    """When the server refuses conflict branches, later runs reuse the one local branch."""
    world = ssh_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local = world.commit(app, {"data.txt": "local\n"}, "local edit")
    _hook(
        world,
        "pre-receive",
        "#!/bin/sh\nwhile read old new ref; do case $ref in refs/heads/conflicts/*) "
        "echo 'branch creation is restricted' >&2; exit 1;; esac; done\n",
    )
    results = [reconcile(world.spec(app)) for _ in range(3)]
    assert {r.push.status for r in results} == {PushStatus.REJECTED}
    assert len({r.conflict_branch for r in results}) == 1
    assert len(branches(app, "conflicts/")) == 1
    assert rev(app, "main") == local  # not reset: the escape did not land


def test_a_custom_hooks_refusal_is_hook_declined_with_its_words(ssh_world: World) -> None:
    """A pre-receive hook of the server's own (not a host's branch protection) refusing
    the push gives reason hook-declined with the hook's text, and the summary says the
    push did not land."""
    world = ssh_world
    app = world.clone("app")
    world.commit(app, {"a.txt": "a\n"}, "local")
    _hook(world, "pre-receive", DECLINE)
    result = reconcile(world.spec(app))
    assert result.push.status is PushStatus.REJECTED
    assert result.push.reason == "hook-declined"
    assert "pushes to this branch are not allowed" in (result.push.error or "")
    head = summary(result).splitlines()[0]
    assert head.startswith(f"push not landed: {app} main at ")


def _git_over_ssh(world: World, cwd: Path, *args: str) -> None:
    """The git command line over the test's SSH server, as another writer uses it."""
    command = (
        f"ssh -i {world.ssh.client_key_path} -o IdentitiesOnly=yes "
        f"-o UserKnownHostsFile={world.ssh.known_hosts_path} -o StrictHostKeyChecking=yes"
    )
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, "GIT_SSH_COMMAND": command},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_branch_deleted_on_the_remote_is_not_pushed_back(ssh_world: World) -> None:
    """After another writer deletes the data branch on the remote (a real deletion
    push over SSH), a run ends blocked with a reason that says so and what to do, the
    remote still has no such branch, and the local branch is as it was; once the
    remote-tracking ref is dropped, as the reason says, the next run publishes it."""
    world = ssh_world
    world.remote_commit({"d.txt": "d\n"}, "data seed", branch="data")
    app = world.clone("app")
    git(app, "checkout", "-q", "data")
    mine = world.commit(app, {"a.txt": "a\n"}, "local")
    other = world.clone("other")
    _git_over_ssh(world, other, "push", "-q", "origin", "--delete", "data")
    assert world.remote_tip("data") is None
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert result.branch == "data"
    assert "data was deleted on origin" in result.reason
    assert "git branch -d -r origin/data" in result.reason
    assert result.push.status is PushStatus.SKIPPED
    assert world.remote_tip("data") is None
    assert rev(app, "data") == mine
    assert exit_code(result) == 6
    git(app, "branch", "-q", "-d", "-r", "origin/data")
    again = reconcile(world.spec(app))
    assert again.outcome is Outcome.PUSHED_AHEAD
    assert world.remote_tip("data") == mine


def test_a_branch_the_remote_never_had_is_created(ssh_world: World) -> None:
    """A local branch that was never on the remote (no remote-tracking ref) is pushed,
    creating it there, as before."""
    world = ssh_world
    app = world.clone("app")
    git(app, "checkout", "-q", "-b", "fresh")
    mine = world.commit(app, {"f.txt": "f\n"}, "fresh work")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert "created the branch there" in result.reason
    assert world.remote_tip("fresh") == mine
