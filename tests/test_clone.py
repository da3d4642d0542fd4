"""First boot and rotation: ensure_clone makes a path a clone of a URL, whatever it
finds there, never leaving half a repository; and another user's repository is
refused clearly unless that one path is trusted."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
from pathlib import Path

import pytest
from gitutil import World, branches, git, rev
from servers.sshgit import generate_ed25519, write_known_hosts

import reconcile._clone
from reconcile import (
    DubiousOwnershipError,
    HostKeyError,
    NetworkError,
    NotARepositoryError,
    Outcome,
    PathInUseError,
    Provision,
    RepoSpec,
    ensure_clone,
    inspect_repo,
)
from reconcile import reconcile as run


def _tags(world: World) -> None:
    git(world.remote, "tag", "v1", "main")
    git(world.remote, "branch", "other", "main")


@pytest.mark.parametrize("bare", [False, True], ids=["worktree", "bare"])
def test_a_missing_path_becomes_a_full_clone(path_world: World, tmp_path: Path, bare: bool) -> None:
    """A missing path is cloned with every branch and tag, the branch checked out (or
    bare), and a reconcile right after finds it in sync."""
    world = path_world
    _tags(world)
    path = tmp_path / "volume" / "data"
    done = ensure_clone(RepoSpec(path), world.url, bare=bare)
    assert (done.action, done.branch, done.commit) == (Provision.CLONED, "main", world.remote_tip())
    assert rev(path, "refs/remotes/origin/other") == world.remote_tip()
    assert rev(path, "refs/tags/v1") == world.remote_tip()
    if bare:
        assert not (path / ".git").exists()
        assert (path / "HEAD").is_file()
    else:
        assert (path / "data.txt").read_text() == "1\n"
        assert git(path, "status", "--porcelain") == ""
        assert git(path, "rev-parse", "--abbrev-ref", "main@{upstream}") == "origin/main"
    assert list(path.parent.iterdir()) == [path]  # no sibling left behind
    assert run(RepoSpec(path)).outcome is Outcome.IN_SYNC


def test_an_empty_directory_is_cloned_into(path_world: World, tmp_path: Path) -> None:
    """An empty directory (a fresh volume) is cloned into, as the configured branch."""
    world = path_world
    git(world.remote, "branch", "live", "main")
    path = tmp_path / "data"
    path.mkdir()
    done = ensure_clone(RepoSpec(path, branch="live"), world.url)
    assert (done.action, done.branch) == (Provision.CLONED, "live")
    assert git(path, "rev-parse", "--abbrev-ref", "HEAD") == "live"


def test_a_clone_into_a_mount_point_moves_its_repository_marker_last(
    path_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the directory cannot be renamed onto (a mount point, a parent that is not
    writable), the clone is made inside it and becomes a repository in one last move."""
    world = path_world
    monkeypatch.setattr(reconcile._clone, "_renamable", lambda path: False)
    moved: list[str] = []
    real_rename = os.rename

    def rename(src: str | Path, dst: str | Path) -> None:
        moved.append(Path(src).name)
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    for bare, last in ((False, ".git"), (True, "HEAD")):
        path = tmp_path / f"mounted-{bare}"
        path.mkdir()
        moved.clear()
        assert ensure_clone(RepoSpec(path), world.url, bare=bare).action is Provision.CLONED
        assert moved[-1] == last
        assert not (path / reconcile._clone.INSIDE).exists()
        assert inspect_repo(RepoSpec(path)).branch == "main"


def test_leftovers_of_an_interrupted_clone_are_never_a_repository(
    path_world: World, tmp_path: Path
) -> None:
    """An interrupted clone leaves a path that does not open as a repository; the next
    ensure_clone removes what it left (a sibling, or its folder inside with entries
    already moved up) and clones again."""
    world = path_world
    sibling_case = tmp_path / "a"
    sibling = tmp_path / ".a.git-reconcile-clone"
    (sibling / ".git").mkdir(parents=True)
    (sibling / "data.txt").write_text("half\n")
    with pytest.raises(NotARepositoryError):
        inspect_repo(RepoSpec(sibling_case))
    assert ensure_clone(RepoSpec(sibling_case), world.url).action is Provision.CLONED
    assert not sibling.exists()

    inside_case = tmp_path / "b"
    inside = inside_case / ".git-reconcile-clone"
    (inside / ".git").mkdir(parents=True)
    (inside_case / "data.txt").write_text("moved up already\n")
    with pytest.raises(NotARepositoryError):
        inspect_repo(RepoSpec(inside_case))
    assert ensure_clone(RepoSpec(inside_case), world.url).action is Provision.CLONED
    assert (inside_case / "data.txt").read_text() == "1\n"
    assert not inside.exists()


def test_a_failed_clone_leaves_nothing(tmp_path: Path) -> None:
    """A clone of a remote that does not exist raises and leaves the path as it was."""
    path = tmp_path / "data"
    with pytest.raises(NetworkError):
        ensure_clone(RepoSpec(path), str(tmp_path / "no-such.git"))
    assert list(tmp_path.iterdir()) == []


def test_a_non_empty_directory_that_is_no_repository_is_refused(
    path_world: World, tmp_path: Path
) -> None:
    """A directory holding other files is refused in one line, and left untouched."""
    path = tmp_path / "data"
    path.mkdir()
    (path / "notes.txt").write_text("mine\n")
    with pytest.raises(PathInUseError) as raised:
        ensure_clone(RepoSpec(path), path_world.url)
    assert "exists, is not empty and is not a git repository" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert [p.name for p in path.iterdir()] == ["notes.txt"]


def test_a_rotated_url_rewrites_the_remote_and_says_so(
    path_world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A clone whose remote names another URL gets the new one, without cloning again;
    the log line says so with credentials masked; the same URL again changes nothing."""
    world = path_world
    clone = world.clone("app")
    git(clone, "remote", "set-url", "origin", "https://old:s3cret-old@git.example/data.git")
    moved = tmp_path / "moved.git"
    shutil.copytree(world.remote, moved)
    new_url = str(moved)
    with caplog.at_level(logging.INFO, logger="reconcile"):
        done = ensure_clone(RepoSpec(clone), new_url)
    assert done.action is Provision.URL_UPDATED
    assert done.previous_url == "https://***@git.example/data.git"
    assert git(clone, "remote", "get-url", "origin") == new_url
    [line] = [r.getMessage() for r in caplog.records if "remote URL changed" in r.getMessage()]
    assert "s3cret-old" not in line
    assert new_url in line
    assert ensure_clone(RepoSpec(clone), new_url).action is Provision.UNCHANGED
    git(clone, "remote", "remove", "origin")
    assert ensure_clone(RepoSpec(clone), new_url).action is Provision.REMOTE_ADDED
    assert run(RepoSpec(clone)).outcome is Outcome.IN_SYNC


def test_an_ssh_clone_verifies_the_host_key(ssh_world: World, tmp_path: Path) -> None:
    """Over SSH the clone uses the configured key and checks the host key: an unknown
    key refuses the clone and leaves nothing; the right one clones."""
    world = ssh_world
    path = tmp_path / "volume" / "data"
    wrong = write_known_hosts(
        tmp_path / "wrong_known_hosts", world.ssh.port, generate_ed25519(tmp_path / "other")
    )
    with pytest.raises(HostKeyError):
        ensure_clone(world.spec(path, known_hosts=wrong), world.url)
    assert not path.exists()
    assert list(path.parent.iterdir()) == []
    done = ensure_clone(world.spec(path), world.url)
    assert (done.action, done.commit) == (Provision.CLONED, world.remote_tip())
    assert run(world.spec(path)).outcome is Outcome.IN_SYNC


def test_an_empty_remote_clones_to_an_unborn_branch(tmp_path: Path) -> None:
    """A remote with no commits yet gives a clone whose HEAD names the branch, unborn;
    its first commit is then pushed by a reconcile."""
    world = World(tmp_path)
    path = tmp_path / "data"
    done = ensure_clone(RepoSpec(path, branch="main"), world.url)
    assert (done.branch, done.commit) == ("main", None)
    world.commit(path, {"first.txt": "1\n"}, "first")
    assert run(RepoSpec(path)).outcome is Outcome.PUSHED_AHEAD
    assert branches(world.remote) == {"main": rev(path, "main")}


# --- ownership --------------------------------------------------------------------------


@pytest.fixture
def foreign_clone(path_world: World) -> Path:
    """A clone owned by another account (postgres), as a volume prepared by another uid."""
    if os.geteuid() != 0:
        pytest.skip("only root can give a repository to another account")
    clone = path_world.clone("foreign")
    other = pwd.getpwnam("postgres")
    for path in [clone, *clone.rglob("*")]:
        os.lchown(path, other.pw_uid, other.pw_gid)
    return clone


def test_another_users_repository_is_refused_clearly(foreign_clone: Path) -> None:
    """libgit2 refuses a repository of another uid; the error names the owner and the
    three ways out, in one line, and ensure_clone refuses it the same way."""
    with pytest.raises(DubiousOwnershipError) as raised:
        run(RepoSpec(foreign_clone))
    text = str(raised.value)
    uid = pwd.getpwnam("postgres").pw_uid
    assert f"uid {uid}" in text
    assert "dubious ownership" in text
    assert "trust = true" in text
    assert "chown" in text
    assert "\n" not in text
    with pytest.raises(DubiousOwnershipError):
        ensure_clone(RepoSpec(foreign_clone), "/elsewhere.git")


def test_trusting_one_path_opens_that_repository_only(
    foreign_clone: Path, path_world: World
) -> None:
    """trust=True opens that one repository of another user; a second one of the same
    user, not trusted, is still refused."""
    world = path_world
    world.remote_commit({"data.txt": "2\n"}, "remote moved")
    result = run(RepoSpec(foreign_clone, trust=True))
    assert result.outcome is Outcome.FAST_FORWARDED
    second = world.clone("foreign-too")
    other = pwd.getpwnam("postgres")
    for path in [second, *second.rglob("*")]:
        os.lchown(path, other.pw_uid, other.pw_gid)
    with pytest.raises(DubiousOwnershipError):
        inspect_repo(RepoSpec(second))
