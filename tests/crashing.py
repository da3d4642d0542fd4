"""Killing a real ``git-reconcile run`` at a chosen point, and checking what follows.

A run is a ``python -m plugin run`` subprocess. It is SIGKILLed when an observable
event says it reached the point: a file appearing in the git directory or the
working tree (watched with watchfiles, so the kill follows the event within a few
milliseconds, no sleeping), or a server-side hook that says through a FIFO that
the push is in progress and then waits for the test's verdict. Where the run
would pass a point too fast for a kill to land in it, it is held there: the SSH
server's pack-objects hook sends a part of the pack and then nothing more; the
reflog libgit2 appends to just before it renames a ref's lock into place (after
the checkout wrote the index, or in a path remote being pushed to) is made a FIFO
nobody reads, so ``open()`` blocks. The kill then finds the run exactly there.

``converge`` then runs reconcile until it succeeds and checks the invariants: local
equal to remote, no commit lost, ``git fsck --strict`` clean, no lock or move note
left, a clean working tree, at most one conflict branch, and no temporary left
once old.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
import watchfiles
from gitutil import World, git, rev

from reconcile import Outcome, Result, reconcile

__all__ = [
    "FETCH_HOOK",
    "PUSH_HOOK",
    "Changes",
    "Fired",
    "added",
    "converge",
    "files_written",
    "hold_reflog",
    "identities",
    "kill_on_hook",
    "kill_on_watch",
    "run_argv",
    "snapshot",
]

ROOT = Path(__file__).resolve().parent.parent
KILL_TIMEOUT = 60.0  # seconds a killed run may take to reach its point: a bound, not a wait
SUCCESS = {Outcome.IN_SYNC, Outcome.FAST_FORWARDED, Outcome.PUSHED_AHEAD, Outcome.REBASED}
Key = tuple[str, int, str]  # a commit's author email, author time and message

# uploadpack.packObjectsHook: pack-objects as asked, unless the repository holds a
# file crash-fetch: then only the first 64 KiB of the pack go out, and the hook waits
# to be killed (the server kills it when its client is gone).
FETCH_HOOK = """#!/bin/sh
control="$PWD/crash-fetch"
[ -f "$control" ] || exec "$@"
rm -f "$control"
"$@" | head -c 65536
exec sleep 30
"""
# pre-receive: when crash-push holds "FIFO PREFIX" and the push updates a ref under
# PREFIX, the FIFO hears "holding" and the hook waits for the verdict on FIFO.verdict:
# "accept" lets the push land, anything else refuses it.
PUSH_HOOK = """#!/bin/sh
control="$PWD/crash-push"
[ -f "$control" ] || exit 0
read fifo prefix < "$control"
hold=no
while read old new ref; do
    case "$ref" in "$prefix"*) hold=yes ;; esac
done
[ "$hold" = yes ] || exit 0
rm -f "$control"
echo holding > "$fifo"
read verdict < "$fifo.verdict"
[ "$verdict" = accept ]
"""


def run_argv(world: World, app: Path) -> list[str]:
    """The command line of ``git-reconcile run`` on ``app``."""
    argv = [sys.executable, "-m", "plugin", "run", str(app), "--json", "--timeout", "10"]
    if world.transport == "ssh":
        argv += ["--ssh-key", str(world.ssh.client_key_path)]
        argv += ["--known-hosts", str(world.ssh.known_hosts_path)]
    return argv


@dataclass
class Fired:
    """What became of a run started to be killed."""

    killed: bool = False
    returncode: int | None = None
    output: str = ""


@dataclass
class _Target:
    proc: subprocess.Popen[str] | None = None
    fired: threading.Event = field(default_factory=threading.Event)

    def kill(self) -> None:
        if self.proc is not None and not self.fired.is_set():
            self.fired.set()
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGKILL)


def _start(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen[str], target: _Target) -> Fired:
    output, _ = proc.communicate(timeout=KILL_TIMEOUT)
    return Fired(target.fired.is_set(), proc.returncode, output)


Changes = set[tuple[watchfiles.Change, str]]


def kill_on_watch(
    argv: list[str], folder: Path, fire: Callable[[Changes], bool], *, recursive: bool = False
) -> Fired:
    """Run ``argv`` and SIGKILL it as soon as ``fire`` says yes to changes seen in
    ``folder`` (every change, the git directory's too)."""
    target = _Target()
    ready, stop = threading.Event(), threading.Event()

    def watch() -> None:
        for changes in watchfiles.watch(
            folder,
            watch_filter=None,
            recursive=recursive,
            debounce=5,
            step=1,
            rust_timeout=20,
            yield_on_timeout=True,
            stop_event=stop,
            raise_interrupt=False,
        ):
            ready.set()
            if changes and target.proc is not None and fire(changes):
                target.kill()
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert ready.wait(10), "the watcher did not start"
    target.proc = _start(argv)
    try:
        return _finish(target.proc, target)
    finally:
        stop.set()
        watcher.join(10)


def kill_on_hook(argv: list[str], fifo: Path) -> Fired:
    """Run ``argv`` and SIGKILL it once a server-side hook writes to ``fifo``."""
    target = _Target()

    def listen() -> None:
        with fifo.open() as heard:  # opens when the hook opens it to write
            if heard.readline():
                target.kill()

    listener = threading.Thread(target=listen, daemon=True)
    target.proc = _start(argv)
    listener.start()
    try:
        return _finish(target.proc, target)
    finally:
        if listener.is_alive():  # the run ended without reaching the hook: unblock
            with contextlib.suppress(OSError), fifo.open("w"):
                pass
        listener.join(10)


def added(name: str) -> Callable[[Changes], bool]:
    """Fire when a file whose name starts with ``name`` appears."""

    def fire(changes: Changes) -> bool:
        return any(
            change is watchfiles.Change.added and Path(path).name.startswith(name)
            for change, path in changes
        )

    return fire


def files_written(app: Path, count: int) -> Callable[[Changes], bool]:
    """Fire once ``count`` files of the working tree (outside .git) were written."""
    seen: set[str] = set()
    gitdir = str(app / ".git")

    def fire(changes: Changes) -> bool:
        seen.update(path for _change, path in changes if not path.startswith(gitdir))
        return len(seen) >= count

    return fire


@contextlib.contextmanager
def hold_reflog(gitdir: Path, refname: str) -> Iterator[Path]:
    """Make the reflog of ``refname`` a FIFO, so a process updating the ref blocks
    in libgit2's reflog append, just before it renames the ref's lock into place;
    the reflog is a plain file again afterwards."""
    git(gitdir, "config", "core.logAllRefUpdates", "true")
    log = gitdir / "logs" / refname
    log.parent.mkdir(parents=True, exist_ok=True)
    kept = log.read_bytes() if log.exists() else b""
    log.unlink(missing_ok=True)
    os.mkfifo(log)
    try:
        yield log
    finally:
        log.unlink()
        log.write_bytes(kept)


# --- what must hold afterwards ---------------------------------------------------------


def identities(repo: Path, *, conflicts: bool = True) -> set[Key]:
    """(author email, time, message) of every commit reachable from main (and from
    the conflicts/* branches) of ``repo``: a replayed commit keeps them."""
    r = pygit2.Repository(str(repo))
    keys: set[Key] = set()
    for name in r.branches.local:
        if name == "main" or (conflicts and name.startswith("conflicts/")):
            for commit in r.walk(r.branches.local[name].target):
                keys.add((commit.author.email, commit.author.time, commit.message))
    return keys


def snapshot(world: World, app: Path) -> set[Key]:
    """The commits no run may lose: those of the local branches and the remote's."""
    return identities(app) | identities(world.remote)


def _leftovers(gitdir: Path) -> list[str]:
    """Locks, move notes and temporaries still in a git directory."""
    found = [
        str(p.relative_to(gitdir))
        for p in gitdir.rglob("*")
        if (p.name.endswith(".lock") and p.name != "git-reconcile.lock")
        or p.name == "git-reconcile-move"
    ]
    return sorted(found)


def _temporaries(gitdir: Path) -> list[Path]:
    objects = gitdir / "objects"
    return [
        *objects.glob("pack/pack_git2_*"),
        *objects.glob("pack/tmp_*"),
        *objects.glob("tmp_object_git2_*"),
    ]


def _fsck(repo: Path) -> None:
    done = subprocess.run(
        ["git", "-C", str(repo), "fsck", "--strict", "--no-dangling"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def converge(world: World, app: Path, before: set[Key]) -> list[Result]:
    """Run reconcile until it succeeds (three runs at most), and check every
    invariant; the results, in order."""
    results: list[Result] = []
    for _ in range(3):
        result = reconcile(world.spec(app))
        results.append(result)
        assert result.outcome in SUCCESS | {Outcome.CONFLICT_ESCAPED}, result.reason
        if result.ok and rev(app, "refs/heads/main") == world.remote_tip():
            break
    else:
        raise AssertionError(f"no convergence: {[r.outcome.value for r in results]}")
    repo = pygit2.Repository(str(app))
    gitdirs = [Path(repo.path)] + ([world.remote] if world.transport == "path" else [])
    # Temporaries nobody holds go once an hour old: age what is left, and run again.
    for temporary in (t for gitdir in gitdirs for t in _temporaries(gitdir)):
        then = time.time() - 7200
        os.utime(temporary, (then, then))
    assert reconcile(world.spec(app)).outcome is Outcome.IN_SYNC
    for gitdir in gitdirs:
        assert _temporaries(gitdir) == [], gitdir
        assert _leftovers(gitdir) == [], gitdir
    kept = identities(world.remote) | identities(app, conflicts=False)
    assert before <= kept, f"lost commits: {sorted(before - kept)}"
    for where in (world.remote, app):
        branches = pygit2.Repository(str(where)).branches.local
        assert len([b for b in branches if b.startswith("conflicts/")]) <= 1, list(branches)
        _fsck(where)
    if not repo.is_bare:
        assert git(app, "status", "--porcelain", "--untracked-files=all") == ""
    return results
