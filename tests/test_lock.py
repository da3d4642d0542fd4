"""One reconcile at a time per repository, across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from gitutil import World

from reconcile import Outcome, RepoLock, RepoLockTimeout, reconcile

HOLDER = """
import sys
from pathlib import Path
from reconcile import RepoLock
with RepoLock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _holder(gitdir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(gitdir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=10)
    proc.stdout.close()


def test_a_run_waits_for_another_process_then_gives_up(path_world: World) -> None:
    """While another process holds the repository's lock, a run ends blocked after the timeout."""
    app = path_world.clone("app")
    path_world.remote_commit({"data.txt": "2\n"}, "remote")
    holder = _holder(app / ".git")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "plugin", "run", str(app), "--json", "--lock-timeout", "0.3"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        _release(holder)
    assert done.returncode == 6, done.stderr
    data = json.loads(done.stdout)
    assert data["outcome"] == "blocked"
    assert "another process" in data["reason"]
    assert reconcile(path_world.spec(app)).outcome is Outcome.FAST_FORWARDED


def test_a_run_proceeds_once_the_other_process_lets_go(path_world: World) -> None:
    """A run waiting on the lock proceeds as soon as the holder releases it."""
    app = path_world.clone("app", bare=True)
    new = path_world.remote_commit({"data.txt": "2\n"}, "remote")
    holder = _holder(app)
    results = []
    waiter = threading.Thread(target=lambda: results.append(reconcile(path_world.spec(app))))
    waiter.start()
    _release(holder)
    waiter.join(timeout=30)
    assert results[0].outcome is Outcome.FAST_FORWARDED
    assert results[0].new_commit == new


def test_lock_is_exclusive_within_a_process(path_world: World) -> None:
    """Two RepoLocks on one repository in one process exclude each other."""
    app = path_world.clone("app")
    with RepoLock(app / ".git"):
        other = RepoLock(app / ".git", timeout=0.1)
        with pytest.raises(RepoLockTimeout, match="another reconcile"):
            other.acquire()
    with RepoLock(app / ".git", timeout=0.1):
        pass


WITNESS = """
import sys
from pathlib import Path
from reconcile import RepoLock, RepoSpec, reconcile
repo, witness = Path(sys.argv[1]), Path(sys.argv[2])
for _ in range(15):
    with RepoLock(repo / ".git", timeout=60):
        # Inside the lock: nobody else may be here.
        witness.touch(exist_ok=False)
        result = reconcile(RepoSpec(repo), lock=False)
        witness.unlink()
print("ok")
"""


def test_two_processes_never_reconcile_at_the_same_time(path_world: World) -> None:
    """Two processes reconciling one repository in a loop never overlap inside the lock."""
    world = path_world
    app = world.clone("app")
    witness = world.root / "inside"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WITNESS, str(app), str(witness)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for n in range(10):
        world.remote_commit({"data.txt": f"{n}\n"}, f"remote {n}")
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.strip() == "ok"
    assert not witness.exists()


def test_the_lock_file_names_its_holder(path_world: World) -> None:
    """While held, the lock file holds exactly the holder's pid, whatever it held before."""
    app = path_world.clone("app")
    lock_file = app / ".git" / "git-reconcile.lock"
    lock_file.write_text("123456789012\nleft by an older holder\n")
    for _ in range(2):  # the second time the file holds this pid already
        with RepoLock(app / ".git"):
            assert lock_file.read_text() == f"{os.getpid()}\n"
    holder = _holder(app / ".git")
    try:
        assert lock_file.read_text() == f"{holder.pid}\n"
    finally:
        _release(holder)
