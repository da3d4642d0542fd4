"""Concurrent writers converge, and none loses a commit."""

from __future__ import annotations

import threading
from pathlib import Path

import pygit2
from gitutil import World, commit_plumbing

from reconcile import Outcome, PushStatus, Retry, reconcile

WRITERS = 10
ROUNDS = 10


def _messages(repo: Path, tips: list[str]) -> set[str]:
    r = pygit2.Repository(str(repo))
    seen: set[str] = set()
    for tip in tips:
        seen.update(c.message for c in r.walk(tip))
    return seen


def test_ten_writers_ten_rounds_converge_without_loss(ssh_world: World) -> None:
    """10 writers x 10 rounds against one SSH remote: every commit ends on main or conflicts/*."""
    world = ssh_world
    clones = [world.clone(f"w{n}", bare=True) for n in range(WRITERS)]
    retry = Retry(attempts=3, initial=0.01, max_delay=0.05)
    written: list[str] = []
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for round_ in range(ROUNDS):
                # Round 5 edits a shared file, so some writers conflict and escape.
                name = "shared.txt" if round_ == 5 else f"w{n}.txt"
                message = f"writer {n} round {round_}"
                commit_plumbing(clones[n], {name: f"{message}\n"}, message)
                with lock:
                    written.append(message)
                result = reconcile(world.spec(clones[n], retry=retry, max_rounds=3))
                assert result.outcome is not Outcome.BLOCKED, result.reason
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []

    # Quiet now: each writer reconciles once more, so commits a lost race left local land.
    for clone in clones:
        result = reconcile(world.spec(clone, retry=retry, max_rounds=5))
        assert result.push.status in (PushStatus.OK, PushStatus.SKIPPED), result.reason

    remote = pygit2.Repository(str(world.remote))
    tips = [
        str(remote.branches.local[b].target)
        for b in remote.branches.local
        if b == "main" or b.startswith("conflicts/")
    ]
    on_remote = _messages(world.remote, tips)
    missing = [m for m in written if m not in on_remote]
    assert missing == []
    assert len(written) == WRITERS * ROUNDS
    # Writers that finished early catch up by fast-forward; then all agree.
    for clone in clones:
        assert reconcile(world.spec(clone)).outcome in (Outcome.IN_SYNC, Outcome.FAST_FORWARDED)
    mains = {str(pygit2.Repository(str(c)).branches.local["main"].target) for c in clones}
    assert mains == {str(remote.branches.local["main"].target)}
