"""A real ``git-reconcile run`` SIGKILLed at points of fetch, replay, checkout, ref move,
push and escape, over path and SSH remotes; the runs after it must converge.

Each point is reached by an observable event, never by sleeping: a file appearing
(the pack of a fetch, the loose objects of a replay, the move note, the ref lock,
the n-th file a checkout writes, the conflict branch's ref), or a server-side hook
that says through a FIFO that the push is under way and waits. Where a run would
pass a point too fast, it is held there: the SSH server sends part of a pack and
no more, or a reflog made a FIFO blocks it just before a ref moves (see
``crashing``).
After the kill, reconcile runs until it succeeds, and every invariant is checked
(``crashing.converge``). The states between two steps of libgit2 that no kill can
be timed to hit are built exactly in ``test_crash_recovery.py``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
import pytest
from crashing import (
    FETCH_HOOK,
    PUSH_HOOK,
    Changes,
    Fired,
    added,
    converge,
    files_written,
    hold_reflog,
    kill_on_hook,
    kill_on_watch,
    run_argv,
    snapshot,
)
from gitutil import World, git, rev
from servers.sshgit import SSHGitServer

from reconcile import Outcome
from reconcile._git import JOURNAL

FILES = 2000  # a tree of a few thousand files: a checkout of it lasts long enough to cut
BIG = {f"d{i % 30}/f{i}.txt": f"seed {i}\n" * 20 for i in range(FILES)}
REWRITTEN = "refs/crash/rewritten"  # in the big remote: a commit rewriting every file
REWRITTEN_AND_CONFLICTING = "refs/crash/conflicting"  # the same, and data.txt too


def _payload(n: int = 1) -> str:
    """About 2 MB of text git cannot compress much: a transfer that lasts a moment."""
    return "\n".join(os.urandom(48).hex() for _ in range(20_000 * n)) + "\n"


def _rewrite_all(world: World, ref: str = REWRITTEN) -> None:
    """Move the big remote's main to its commit that rewrites every file."""
    git(world.remote, "update-ref", "refs/heads/main", ref)


# --- where the histories stand before the killed run --------------------------------


def behind_by_every_file(world: World, app: Path) -> None:
    _rewrite_all(world)


def behind_by_a_payload(world: World, app: Path) -> None:
    world.remote_commit({"payload.txt": _payload()}, "remote payload")


def ahead_by_a_payload(world: World, app: Path) -> None:
    world.commit(app, {"payload.txt": _payload()}, "local payload")
    world.commit(app, {"after.txt": "after\n"}, "local after")


def diverged_by_many_commits(world: World, app: Path) -> None:
    world.remote_commit({"remote.txt": "remote\n"}, "remote")
    for i in range(30):
        world.commit(app, {f"local{i}.txt": f"{i}\n"}, f"local {i}")


def diverged_by_every_file(world: World, app: Path) -> None:
    _rewrite_all(world)
    world.commit(app, {"local.txt": "local\n"}, "local")


def conflicting(world: World, app: Path) -> None:
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    world.commit(app, {"data.txt": "local\n"}, "local edit")


def conflicting_by_every_file(world: World, app: Path) -> None:
    _rewrite_all(world, REWRITTEN_AND_CONFLICTING)
    world.commit(app, {"data.txt": "local\n"}, "local edit")


# --- how the run is killed ---------------------------------------------------------------


def _gitdir(app: Path) -> Path:
    return app / ".git"


def when_the_fetch_writes_its_pack(world: World, app: Path) -> Fired:
    return kill_on_watch(
        run_argv(world, app), _gitdir(app) / "objects" / "pack", added("pack_git2_")
    )


def when_the_fetch_is_half_sent(world: World, app: Path) -> Fired:
    (world.remote / "crash-fetch").write_text("")  # the server sends a part, then holds
    return when_the_fetch_writes_its_pack(world, app)


def when_the_replay_writes_an_object(world: World, app: Path) -> Fired:
    return kill_on_watch(run_argv(world, app), _gitdir(app) / "objects", added("tmp_object_git2_"))


def when_the_ref_is_locked(world: World, app: Path) -> Fired:
    return kill_on_watch(run_argv(world, app), _gitdir(app) / "refs" / "heads", added("main.lock"))


def when_the_note_appears(world: World, app: Path) -> Fired:
    return kill_on_watch(run_argv(world, app), _gitdir(app), added(JOURNAL))


def when_500_files_are_written(world: World, app: Path) -> Fired:
    return kill_on_watch(run_argv(world, app), app, files_written(app, 500), recursive=True)


def when_the_checkout_wrote_the_index(world: World, app: Path) -> Fired:
    def index_written(changes: Changes) -> bool:
        return any(Path(path).name == "index" for _change, path in changes)

    with hold_reflog(_gitdir(app), "refs/heads/main"):
        return kill_on_watch(run_argv(world, app), _gitdir(app), index_written)


def when_the_remote_ref_is_locked(world: World, app: Path) -> Fired:
    with hold_reflog(world.remote, "refs/heads/main"):
        return kill_on_watch(
            run_argv(world, app), world.remote / "refs" / "heads", added("main.lock")
        )


def when_the_conflict_branch_is_made(world: World, app: Path) -> Fired:
    return kill_on_watch(run_argv(world, app), _gitdir(app) / "refs" / "heads", added("conflicts"))


def _when_pushed(prefix: str, verdict: str) -> Callable[[World, Path], Fired]:
    def kill(world: World, app: Path) -> Fired:
        fifo = _fifo(world, "push")
        os.mkfifo(f"{fifo}.verdict")
        (world.remote / "crash-push").write_text(f"{fifo} {prefix}\n")
        fired = kill_on_hook(run_argv(world, app), fifo)
        with open(f"{fifo}.verdict", "w") as answer:  # the hook waits for it
            answer.write(verdict + "\n")
        assert world.ssh.wait_idle(30)
        return fired

    kill.__name__ = f"when_pushing_{prefix.strip('/').replace('/', '_')}_then_{verdict}"
    return kill


def _fifo(world: World, name: str) -> Path:
    fifo = world.root / f"crash-{name}.fifo"
    os.mkfifo(fifo)
    return fifo


# --- what the kill must have left (where the point is exact) ------------------------------


def the_ref_locked(world: World, app: Path) -> None:
    assert (_gitdir(app) / "refs" / "heads" / "main.lock").exists()
    assert rev(app, "refs/heads/main") != world.remote_tip()


def a_move_cut_short(world: World, app: Path) -> None:
    assert (_gitdir(app) / JOURNAL).exists()
    assert rev(app, "refs/heads/main") != world.remote_tip()


def a_checkout_done_and_the_ref_old(world: World, app: Path) -> None:
    a_move_cut_short(world, app)
    tip = world.remote_tip()
    assert tip is not None
    tree = pygit2.Repository(str(world.remote))[tip].peel(pygit2.Tree)
    assert git(app, "write-tree") == str(tree.id)


def a_pack_cut_short(world: World, app: Path) -> None:
    assert list((_gitdir(app) / "objects" / "pack").glob("pack_git2_*"))


def the_remote_ref_locked(world: World, app: Path) -> None:
    assert (world.remote / "refs" / "heads" / "main.lock").exists()
    assert world.remote_tip() != rev(app, "refs/heads/main")


def the_push_landed(world: World, app: Path) -> None:
    assert world.remote_tip() == rev(app, "refs/heads/main")


def nothing(world: World, app: Path) -> None:
    """The point is reached, but the kill may land a little after it."""


@dataclass(frozen=True)
class Point:
    """One place to kill a run: the histories before it, the event, what it leaves."""

    name: str
    setup: Callable[[World, Path], None]
    kill: Callable[[World, Path], Fired]
    left: Callable[[World, Path], None]
    transports: tuple[str, ...]
    big: bool = False

    def __str__(self) -> str:
        return self.name


PATH, SSH, BOTH = ("path",), ("ssh",), ("path", "ssh")
POINTS = [
    Point(
        "fetch-pack",
        setup=behind_by_a_payload,
        kill=when_the_fetch_writes_its_pack,
        left=nothing,
        transports=PATH,
    ),
    Point(
        "fetch-half-sent",
        setup=behind_by_a_payload,
        kill=when_the_fetch_is_half_sent,
        left=a_pack_cut_short,
        transports=SSH,
    ),
    Point(
        "replay",
        setup=diverged_by_many_commits,
        kill=when_the_replay_writes_an_object,
        left=nothing,
        transports=BOTH,
    ),
    Point(
        "ref-locked",
        setup=behind_by_every_file,
        kill=when_the_ref_is_locked,
        left=the_ref_locked,
        transports=PATH,
        big=True,
    ),
    Point(
        "checkout-start",
        setup=behind_by_every_file,
        kill=when_the_note_appears,
        left=a_move_cut_short,
        transports=PATH,
        big=True,
    ),
    Point(
        "checkout-middle",
        setup=behind_by_every_file,
        kill=when_500_files_are_written,
        left=a_move_cut_short,
        transports=BOTH,
        big=True,
    ),
    Point(
        "checkout-end",
        setup=behind_by_every_file,
        kill=when_the_checkout_wrote_the_index,
        left=a_checkout_done_and_the_ref_old,
        transports=PATH,
        big=True,
    ),
    Point(
        "rebase-checkout",
        setup=diverged_by_every_file,
        kill=when_500_files_are_written,
        left=a_move_cut_short,
        transports=PATH,
        big=True,
    ),
    Point(
        "push-ref-update",
        setup=ahead_by_a_payload,
        kill=when_the_remote_ref_is_locked,
        left=the_remote_ref_locked,
        transports=PATH,
    ),
    Point(
        "push-landed-answer-lost",
        setup=ahead_by_a_payload,
        kill=_when_pushed("refs/heads/main", "accept"),
        left=the_push_landed,
        transports=SSH,
    ),
    Point(
        "push-refused-after-kill",
        setup=ahead_by_a_payload,
        kill=_when_pushed("refs/heads/main", "reject"),
        left=nothing,
        transports=SSH,
    ),
    Point(
        "escape-branch-made",
        setup=conflicting,
        kill=when_the_conflict_branch_is_made,
        left=nothing,
        transports=PATH,
    ),
    Point(
        "escape-push",
        setup=conflicting,
        kill=_when_pushed("refs/heads/conflicts/", "accept"),
        left=nothing,
        transports=SSH,
    ),
    Point(
        "escape-reset-checkout",
        setup=conflicting_by_every_file,
        kill=when_500_files_are_written,
        left=a_move_cut_short,
        transports=PATH,
        big=True,
    ),
]
CASES = [pytest.param(p, t, id=f"{p}-{t}") for p in POINTS for t in p.transports]


@pytest.fixture(scope="module")
def crash_ssh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHGitServer]:
    """An SSH git server whose upload-pack runs FETCH_HOOK as its pack-objects hook."""
    workdir = tmp_path_factory.mktemp("crash-sshd")
    hook = workdir / "pack-objects-hook"
    hook.write_text(FETCH_HOOK)
    hook.chmod(0o755)
    env = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "uploadpack.packObjectsHook",
        "GIT_CONFIG_VALUE_0": str(hook),
    }
    with SSHGitServer(tmp_path_factory.getbasetemp(), workdir, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def big_remote(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A remote of FILES files at main, with commits that rewrite them all under
    refs/crash/, written once by git fast-import: each test takes a copy."""
    remote = tmp_path_factory.mktemp("crash-big") / "remote.git"
    git(remote.parent, "init", "-q", "--bare", "-b", "main", str(remote))
    seed = {**BIG, "data.txt": "1\n"}
    rewritten = {p: t + "remote\n" for p, t in BIG.items()}
    stream = [
        _fast_commit("refs/heads/main", seed, "seed", mark=1),
        _fast_commit(REWRITTEN, rewritten, "remote rewrites every file", parent=1),
        _fast_commit(
            REWRITTEN_AND_CONFLICTING,
            rewritten | {"data.txt": "remote\n"},
            "remote rewrites every file",
            parent=1,
        ),
    ]
    subprocess.run(
        ["git", "fast-import", "--quiet"], cwd=remote, input=b"".join(stream), check=True
    )
    return remote


def _fast_commit(
    ref: str, files: dict[str, str], message: str, *, mark: int = 0, parent: int = 0
) -> bytes:
    """One commit of a git fast-import stream, its files inline."""
    out = [f"commit {ref}\n".encode()]
    if mark:
        out.append(f"mark :{mark}\n".encode())
    out.append(b"committer Remote Writer <remote@example.invalid> 1700000000 +0000\n")
    out.append(f"data {len(message)}\n{message}\n".encode())
    if parent:
        out.append(f"from :{parent}\n".encode())
    for path, text in files.items():
        data = text.encode()
        out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
    return b"".join(out) + b"\n"


@pytest.mark.parametrize(("point", "transport"), CASES)
def test_a_run_killed_at_a_point_converges(
    point: Point, transport: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGKILLed at this point, the next runs succeed with nothing lost: local equal to
    remote, fsck clean, no lock, note or temporary left, a clean tree, and at most
    one conflict branch."""
    ssh = request.getfixturevalue("crash_ssh") if transport == "ssh" else None
    world = World(tmp_path, transport=transport, ssh=ssh)
    if point.big:
        shutil.rmtree(world.remote)
        shutil.copytree(request.getfixturevalue("big_remote"), world.remote)
    else:
        world.seed()
    pre_receive = world.remote / "hooks" / "pre-receive"
    pre_receive.write_text(PUSH_HOOK)
    pre_receive.chmod(pre_receive.stat().st_mode | stat.S_IXUSR)
    app = world.clone("app")
    point.setup(world, app)
    before = snapshot(world, app)
    fired = point.kill(world, app)
    assert fired.killed, f"the run ended before the point ({fired.returncode}):\n{fired.output}"
    point.left(world, app)
    results = converge(world, app, before)
    assert results[-1].outcome is not Outcome.BLOCKED
