"""Reliable network operations over the SSH server: retries, classification, leases,
cancellation, locks, progress, host-key pins and operation records."""

from __future__ import annotations

import base64
import os
import random
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from gitutil import World, commit_plumbing, git, rev
from servers.sshgit import HangingServer, generate_ed25519, write_known_hosts

from plugin.cli import main
from reconcile import (
    CancelToken,
    HostKey,
    Outcome,
    Progress,
    PushStatus,
    RepoSpec,
    Retry,
    SSHKey,
    push_with_lease,
    reconcile,
)

FAST = Retry(attempts=4, initial=0.01, multiplier=2, max_delay=0.05)


def _hook(world: World, name: str, text: str) -> None:
    hook = world.remote / "hooks" / name
    hook.write_text(text)
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def test_transient_failure_then_success_is_retried(ssh_world: World) -> None:
    """Connections dropped by the server are retried with backoff until one succeeds."""
    world = ssh_world
    app = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    world.ssh.fail_next = 2
    result = reconcile(world.spec(app, retry=FAST))
    assert result.outcome is Outcome.FAST_FORWARDED, result.reason
    assert rev(app, "main") == new
    [fetch] = result.operations
    assert (fetch.kind, fetch.attempts, fetch.result) == ("fetch", 3, "ok")


def test_transient_failures_beyond_the_attempts_fail(ssh_world: World) -> None:
    """When every attempt fails, the run ends in fetch-failed after exactly `attempts` tries."""
    world = ssh_world
    app = world.clone("app")
    world.ssh.fail_next = 10
    try:
        result = reconcile(world.spec(app, retry=Retry(attempts=3, initial=0.01, max_delay=0.02)))
    finally:
        world.ssh.fail_next = 0
    assert result.outcome is Outcome.FETCH_FAILED
    [fetch] = result.operations
    assert fetch.attempts == 3
    assert fetch.result == "failed"
    assert fetch.code == "connection"  # the server drops each connection as it opens


def test_permanent_auth_failure_is_not_retried(ssh_world: World, tmp_path: Path) -> None:
    """A refused key fails at once: one attempt, classified auth."""

    world = ssh_world
    app = world.clone("app")
    stranger = generate_ed25519(tmp_path / "stranger")
    before = world.ssh.connections
    result = reconcile(world.spec(app, credentials=SSHKey(private_key=stranger), retry=FAST))
    assert result.outcome is Outcome.FETCH_FAILED
    [fetch] = result.operations
    assert (fetch.attempts, fetch.code) == (1, "auth")
    assert world.ssh.connections - before == 1


@pytest.mark.parametrize(
    "message",
    [
        "GH006: Protected branch update failed for refs/heads/main.",
        "GH013: Repository rule violations found for refs/heads/main.",
        "GitLab: You are not allowed to push code to protected branches on this project.",
        "GitLab: You are not allowed to force push code to a protected branch on this project.",
        "Gitea: Not allowed to push to protected branch main",
        "Forgejo: branch main is protected from force push",
        "Branch refs/heads/main can only be modified through pull requests.",
        "Permission denied to update branch main.",
        "TF402455: Pushes to this branch are not permitted; you must use a pull request "
        "to update this branch.",
    ],
    ids=[
        "github",
        "github-rulesets",
        "gitlab",
        "gitlab-force",
        "gitea",
        "forgejo",
        "bitbucket-dc",
        "bitbucket-cloud",
        "azure",
    ],
)
def test_protected_branch_rejection_is_reported_as_such(ssh_world: World, message: str) -> None:
    """A host's protected-branch refusal gives push rejected with reason protected-branch."""
    world = ssh_world
    app = world.clone("app")
    world.commit(app, {"a.txt": "a\n"}, "local")
    _hook(world, "pre-receive", f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    before = world.remote_tip()
    result = reconcile(world.spec(app, retry=FAST))
    assert result.push.status is PushStatus.REJECTED
    assert result.push.reason == "protected-branch"
    assert result.push.attempts == 1
    assert message in (result.push.error or "")
    assert world.remote_tip() == before


@pytest.mark.parametrize(
    "message",
    [
        "this is a protected branch, ask the data team",
        "commit messages must reference a ticket",
        "not allowed to push on Fridays",
    ],
)
def test_a_custom_hooks_refusal_is_not_protected_branch(ssh_world: World, message: str) -> None:
    """A server's own pre-receive hook refusing, whatever its words, is hook-declined
    (not protected-branch), and its words are in the error."""
    world = ssh_world
    app = world.clone("app")
    world.commit(app, {"a.txt": "a\n"}, "local")
    _hook(world, "pre-receive", f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    result = reconcile(world.spec(app, retry=FAST))
    assert result.push.status is PushStatus.REJECTED
    assert result.push.reason == "hook-declined"
    assert message in (result.push.error or "")


def test_timed_out_push_that_landed_is_found_landed(ssh_world: World) -> None:
    """A push whose answer is lost to the timeout, but which the server applied, reports ok."""
    world = ssh_world
    app = world.clone("app")
    mine = world.commit(app, {"a.txt": "a\n"}, "local")
    # The post-receive hook runs after the ref moved; it outlasts the client's timeout.
    flag = world.root / "release"
    _hook(world, "post-receive", f"#!/bin/sh\nwhile [ ! -e {flag} ]; do sleep 0.05; done\n")
    spec = world.spec(app, timeout=1.0, retry=Retry(attempts=2, initial=0.01, max_delay=0.02))
    done = threading.Timer(4.0, flag.touch)
    done.start()
    try:
        result = reconcile(spec)
    finally:
        done.cancel()
        flag.touch()
    assert world.remote_tip() == mine
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.push.status is PushStatus.OK, result.push


def test_lease_held_forces_a_rewritten_history(ssh_world: World) -> None:
    """With the remote where the lease expects it, a non-fast-forward push lands."""
    world = ssh_world
    app = world.clone("app")
    expected = world.remote_tip()
    git(app, "commit", "-q", "--amend", "-m", "rewritten seed")
    rewritten = rev(app, "main")
    result = push_with_lease(world.spec(app), expected)
    assert result.status is PushStatus.OK
    assert world.remote_tip() == rewritten


def test_lost_lease_leaves_the_remote_untouched(ssh_world: World) -> None:
    """When the remote moved away from the expected commit, nothing is sent."""
    world = ssh_world
    app = world.clone("app")
    expected = world.remote_tip()
    moved = world.remote_commit({"x": "y"}, "someone else")
    git(app, "commit", "-q", "--amend", "-m", "rewritten seed")
    result = push_with_lease(world.spec(app), expected)
    assert result.status is PushStatus.REJECTED
    assert result.reason == "non-fast-forward"
    assert world.remote_tip() == moved


def test_create_only_lease(ssh_world: World) -> None:
    """A create-only lease creates a missing branch and refuses an existing one."""
    world = ssh_world
    app = world.clone("app")
    git(app, "branch", "fresh")
    created = push_with_lease(world.spec(app), None, branch="fresh")
    assert created.status is PushStatus.OK
    assert world.remote_tip("fresh") == rev(app, "fresh")
    refused = push_with_lease(world.spec(app), None, branch="main")
    assert refused.status is PushStatus.REJECTED
    assert refused.reason == "non-fast-forward"


def _big_remote(world: World, commits: int = 200, size: int = 100_000) -> None:

    rng = random.Random(7)

    for n in range(commits):
        commit_plumbing(world.remote, {f"blob{n % 10}.bin": rng.randbytes(size).hex()}, f"big {n}")


def _leftovers(repo: Path) -> list[str]:
    gitdir = repo / ".git" if (repo / ".git").is_dir() else repo
    # git-reconcile.lock stays by design: it is held with flock, not by existing.
    found = [str(p) for p in gitdir.rglob("*.lock") if p.name != "git-reconcile.lock"]
    found += [str(p) for p in (gitdir / "objects" / "pack").glob("tmp_*")]
    return found


def test_cancel_during_a_fetch_stops_it_and_leaves_nothing(ssh_world: World) -> None:
    """Cancelling mid-transfer ends in fetch-failed (cancelled), with no locks or partial packs."""
    world = ssh_world
    app = world.clone("app", bare=True)
    _big_remote(world)
    token = CancelToken()
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.objects > 0 and not p.done:
            token.cancel()

    before = rev(app, "main")
    result = reconcile(world.spec(app), cancel=token, progress=on_progress)
    assert result.outcome is Outcome.FETCH_FAILED, result.reason
    assert "cancelled" in result.reason
    assert result.operations[0].result == "cancelled"
    assert rev(app, "main") == before
    assert _leftovers(app) == []
    assert world.ssh.wait_idle()


def test_cancelled_before_start_does_nothing(path_world: World) -> None:
    """A token cancelled beforehand stops the run at its first network step."""
    token = CancelToken()
    token.cancel()
    app = path_world.clone("app")
    result = reconcile(path_world.spec(app), cancel=token)
    assert result.outcome is Outcome.FETCH_FAILED
    assert "cancelled" in result.reason


def test_progress_is_reported_coarsely(ssh_world: World) -> None:
    """A large fetch reports progress a few times, ending with a final report."""
    world = ssh_world
    app = world.clone("app", bare=True)
    _big_remote(world, commits=150)
    seen: list[Progress] = []
    result = reconcile(world.spec(app), progress=seen.append)
    assert result.outcome is Outcome.FAST_FORWARDED
    assert seen[-1].done
    assert seen[-1].objects == seen[-1].total_objects > 150
    assert len(seen) < 100  # coarse: not one call per object
    assert result.operations[0].bytes > 1_000_000


def test_timeout_against_a_server_that_never_answers(path_world: World, ssh_server: Any) -> None:
    """A server that accepts and never answers ends the fetch within the timeout and retries."""
    app = path_world.clone("app")
    with HangingServer() as hanging:
        git(app, "remote", "set-url", "origin", hanging.url())
        spec = RepoSpec(
            app,
            timeout=0.5,
            known_hosts=ssh_server.known_hosts_path,
            credentials=SSHKey(private_key=ssh_server.client_key_path),
            retry=Retry(attempts=2, initial=0.01, max_delay=0.02),
        )
        started = time.monotonic()
        result = reconcile(spec)
        elapsed = time.monotonic() - started
    assert result.outcome is Outcome.FETCH_FAILED
    assert result.operations[0].code == "timeout"
    assert result.operations[0].attempts == 2
    assert elapsed < 10
    assert _leftovers(app) == []


def test_stale_lock_is_cleared(path_world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A lock file nobody holds, left by a crashed writer, is removed and the run proceeds."""
    world = path_world
    app = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    lock = app / ".git" / "refs" / "heads" / "main.lock"
    lock.write_text("garbage\n")
    old = time.time() - 3600
    os.utime(lock, (old, old))
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FAST_FORWARDED
    assert rev(app, "main") == new
    assert not lock.exists()
    assert "stale lock" in caplog.text


def test_lock_held_by_a_live_process_blocks(path_world: World) -> None:
    """A lock file some live process holds open gives blocked, and is left in place."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    lock = app / ".git" / "index.lock"
    with lock.open("w"):
        old = time.time() - 3600
        os.utime(lock, (old, old))
        result = reconcile(world.spec(app))
        assert lock.exists()
    assert result.outcome is Outcome.BLOCKED
    assert "index.lock" in result.reason


def test_pinned_fingerprint(ssh_world: World, tmp_path: Path) -> None:
    """A pinned host-key fingerprint replaces known_hosts; a wrong pin refuses the host."""

    world = ssh_world
    app = world.clone("app")
    blob = base64.b64decode(world.ssh.host_public_key_line.split()[1])
    empty = tmp_path / "empty"
    empty.write_text("")
    good = reconcile(
        world.spec(app, known_hosts=empty, host_key_fingerprints=(HostKey(blob).fingerprint,))
    )
    assert good.outcome is Outcome.IN_SYNC, good.reason
    bad = reconcile(world.spec(app, host_key_fingerprints=("SHA256:" + "A" * 43,)))
    assert bad.outcome is Outcome.FETCH_FAILED
    assert "pinned" in bad.reason


def test_operation_records(ssh_world: World) -> None:
    """Every network operation of a run is recorded with kind, attempts, bytes and result."""
    world = ssh_world
    app = world.clone("app")
    world.remote_commit({"r.txt": "r\n"}, "remote")
    world.commit(app, {"l.txt": "l\n"}, "local")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED
    kinds = [(op.kind, op.result, op.attempts) for op in result.operations]
    assert kinds == [("fetch", "ok", 1), ("push", "ok", 1)]
    fetch, push = result.operations
    assert fetch.bytes > 0
    assert push.bytes > 0
    assert all(op.duration_ms > 0 for op in result.operations)
    assert fetch.url.startswith("ssh://git@127.0.0.1:")


def test_known_hosts_add_records_only_a_verified_key(
    ssh_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`known-hosts add` records a key whose fingerprint matches, and refuses otherwise."""

    world = ssh_world
    target = f"ssh://git@127.0.0.1:{world.ssh.port}/x.git"
    known = tmp_path / "ssh" / "known_hosts"
    blob = base64.b64decode(world.ssh.host_public_key_line.split()[1])
    right = HostKey(blob).fingerprint

    assert main(["known-hosts", "add", target, "--known-hosts", str(known)]) == 1
    assert right in capsys.readouterr().err
    assert not known.exists()
    wrong = "SHA256:" + "B" * 43
    assert (
        main(["known-hosts", "add", target, "--known-hosts", str(known), "--fingerprint", wrong])
        == 1
    )
    assert not known.exists()
    assert (
        main(["known-hosts", "add", target, "--known-hosts", str(known), "--fingerprint", right])
        == 0
    )
    assert world.ssh.host_public_key_line.split()[1] in known.read_text()
    assert main(["known-hosts", "add", target, "--known-hosts", str(known)]) == 0
    assert "already recorded" in capsys.readouterr().out

    app = world.clone("app")
    assert reconcile(world.spec(app, known_hosts=known)).outcome is Outcome.IN_SYNC


def test_known_hosts_trust_on_first_use_only_when_asked(ssh_world: World, tmp_path: Path) -> None:
    """--trust-on-first-use records an unknown key; a changed key is never overwritten."""

    world = ssh_world
    target = f"127.0.0.1:{world.ssh.port}"
    known = tmp_path / "known_hosts"
    assert (
        main(["known-hosts", "add", target, "--known-hosts", str(known), "--trust-on-first-use"])
        == 0
    )
    assert known.read_text().startswith(f"[127.0.0.1]:{world.ssh.port} ssh-ed25519 ")
    impostor = write_known_hosts(
        tmp_path / "other", world.ssh.port, generate_ed25519(tmp_path / "impostor")
    )
    before = impostor.read_text()
    assert (
        main(["known-hosts", "add", target, "--known-hosts", str(impostor), "--trust-on-first-use"])
        == 1
    )
    assert impostor.read_text() == before


def test_lock_of_a_git_process_at_work_is_left_alone(path_world: World, tmp_path: Path) -> None:
    """`git commit` waiting on its editor owns index.lock without holding it open: blocked."""

    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    (app / "data.txt").write_text("edited\n")
    ready, go = tmp_path / "ready", tmp_path / "go"
    os.mkfifo(ready)
    os.mkfifo(go)
    editor = tmp_path / "editor"
    editor.write_text(f'#!/bin/sh\necho "local edit" > "$1"\necho ready > {ready}\nread x < {go}\n')
    editor.chmod(0o755)
    commit = subprocess.Popen(
        ["git", "commit", "-a", "-q"], cwd=app, env={**os.environ, "GIT_EDITOR": str(editor)}
    )
    try:
        with ready.open() as signal:
            assert signal.read().strip() == "ready"
        lock = app / ".git" / "index.lock"
        assert lock.exists()
        old = time.time() - 3600
        os.utime(lock, (old, old))
        result = reconcile(world.spec(app))
        assert result.outcome is Outcome.BLOCKED
        assert lock.exists()
    finally:
        with go.open("w") as release:
            release.write("go\n")
        commit.wait(timeout=30)
    assert commit.returncode == 0
