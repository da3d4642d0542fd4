"""The commit path, over path and SSH remotes: what gets committed, the index after it,
the identities, and the unsafe states refused before anything is written."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest
from commitutil import (
    ADA,
    SYNC,
    commit,
    files_at,
    index_bytes,
    no_global_identity,
    show,
    status,
    write,
)
from gitutil import World, git, rev

from reconcile import CommitRequest, InvalidSpecError, Outcome, PushStatus, reconcile
from reconcile._git import JOURNAL


def test_the_working_tree_is_committed_and_pushed(world: World) -> None:
    """Modified and deleted tracked files and new files are committed and pushed;
    ignored new files are not, tracked files that match .gitignore are, and git then
    sees a clean tree and a sound repository."""
    app = world.clone("app")
    world.commit(app, {"keep.log": "tracked although ignored\n", "gone.txt": "x\n"}, "more")
    write(app, {".gitignore": "*.log\ncache/\n"})
    write(app, {"data.txt": "2\n", "new/deep.txt": "deep\n", "gone.txt": None})
    write(app, {"keep.log": "changed\n", "skip.log": "ignored\n", "cache/x": "ignored\n"})
    result = commit(world.spec(app))
    assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
    assert result.push.status is PushStatus.OK
    info = result.commit
    assert info is not None
    assert info.sha == rev(app, "main") == world.remote_tip() == result.new_commit
    assert set(info.paths) == {".gitignore", "data.txt", "new/deep.txt", "gone.txt", "keep.log"}
    assert files_at(app) == {".gitignore", "data.txt", "new/deep.txt", "keep.log"}
    assert show(app, "HEAD", "keep.log") == "changed"
    assert status(app) == ""
    git(app, "fsck", "--strict")
    assert git(app, "log", "-1", "--format=%an <%ae>") == "Test User <test@example.invalid>"
    assert result.reason.startswith(f"committed 5 file(s) as {info.sha[:10]}; pushed 2")


def test_nothing_to_commit_makes_no_commit(world: World) -> None:
    """A tree equal to HEAD (a file rewritten with the same content included) makes no
    commit: the run goes on and says so."""
    app = world.clone("app")
    before = rev(app, "main")
    write(app, {"data.txt": "1\n"})
    result = commit(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC
    assert result.commit is None
    assert rev(app, "main") == before
    assert result.reason.startswith("nothing to commit; ")
    assert status(app) == ""


def test_a_run_not_asked_to_commit_leaves_changes_alone(world: World) -> None:
    """Without a commit request the run does what it always did: the dirty file stays."""
    app = world.clone("app")
    write(app, {"data.txt": "dirty\n"})
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC
    assert result.commit is None
    assert result.to_dict()["commit"] is None
    assert status(app) == "M data.txt"


def test_the_first_commit_of_an_empty_repository(world: World, tmp_path: Path) -> None:
    """In a new repository whose remote is empty, the first commit is made and pushed,
    creating the branch there."""
    empty = tmp_path / "empty.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(empty))
    app = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", str(app))
    url = world.ssh.url(empty) if world.transport == "ssh" else str(empty)
    git(app, "remote", "add", "origin", url)
    write(app, {"first.txt": "hello\n"})
    result = commit(world.spec(app), message="Start the data")
    assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
    assert result.commit is not None
    assert git(app, "rev-list", "--count", "HEAD") == "1"
    assert rev(empty, "refs/heads/main") == result.commit.sha
    assert status(app) == ""
    assert "commit (initial): Start the data" in git(app, "reflog", "-1", "--format=%gs")


def test_an_unborn_branch_whose_remote_branch_exists_is_blocked(
    world: World, tmp_path: Path
) -> None:
    """A first commit where the remote branch is already known would start an
    unrelated history: blocked, nothing written."""
    app = tmp_path / "fresh"
    git(tmp_path, "init", "-q", "-b", "main", str(app))
    git(app, "remote", "add", "origin", str(world.remote))
    git(app, "fetch", "-q", "origin")
    write(app, {"mine.txt": "mine\n"})
    result = commit(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "no commits yet but origin/main exists" in result.reason
    assert rev(app, "refs/heads/main") is None
    assert not (app / ".git" / "index").exists()
    assert result.operations == ()


def test_committed_paths_are_clean_and_later_writes_stay_dirty(world: World) -> None:
    """After a commit `git status` shows the committed paths clean; a write after it
    shows as a change, and the next commit run commits it."""
    app = world.clone("app")
    write(app, {"a.txt": "a1\n", "b.txt": "b1\n"})
    assert commit(world.spec(app)).commit is not None
    assert status(app) == ""
    write(app, {"a.txt": "a2, same size\n"[:3] + "\n"})
    assert status(app) == "M a.txt"
    second = commit(world.spec(app))
    assert second.commit is not None
    assert second.commit.paths == ("a.txt",)
    assert show(app, "HEAD", "a.txt") == "a2,"
    assert status(app) == ""


def test_a_file_written_during_the_commit_stays_dirty(world: World) -> None:
    """A file the application rewrites while the commit is being made (here: from the
    pre-commit hook) is committed as it was read and stays dirty with the new
    content, for the next commit: never lost, never half committed."""
    app = world.clone("app")
    write(app, {"a.txt": "first version\n"})
    hook_path = app / ".git" / "hooks" / "pre-commit"
    hook_path.write_text("#!/bin/sh\nprintf 'second version\\n' > a.txt\n")
    hook_path.chmod(0o755)
    result = commit(world.spec(app))
    assert result.commit is not None
    assert show(app, "HEAD", "a.txt") == "first version"
    assert (app / "a.txt").read_text() == "second version\n"
    assert status(app) == "M a.txt"
    hook_path.unlink()
    assert commit(world.spec(app)).commit is not None
    assert show(app, "HEAD", "a.txt") == "second version"
    assert status(app) == ""


def test_paths_limit_the_commit(world: World) -> None:
    """With paths, only changes at or under them are committed; other changes stay as
    they were, a change staged by hand included."""
    app = world.clone("app")
    write(app, {"data/a.txt": "a\n", "data/sub/b.txt": "b\n", "other.txt": "o\n"})
    write(app, {"staged.txt": "s\n"})
    git(app, "add", "staged.txt")
    result = commit(world.spec(app), paths=("data",))
    assert result.commit is not None
    assert set(result.commit.paths) == {"data/a.txt", "data/sub/b.txt"}
    assert files_at(app) == {"data.txt", "data/a.txt", "data/sub/b.txt"}
    assert sorted(status(app).splitlines()) == ["?? other.txt", "A  staged.txt"]


def test_changes_staged_by_hand_are_committed_with_the_tree(world: World) -> None:
    """A change staged with git add before the run is part of the commit, as the
    working tree has it."""
    app = world.clone("app")
    write(app, {"staged.txt": "staged\n"})
    git(app, "add", "staged.txt")
    write(app, {"staged.txt": "staged, then edited\n"})
    result = commit(world.spec(app))
    assert result.commit is not None
    assert show(app, "HEAD", "staged.txt") == "staged, then edited"
    assert status(app) == ""


def test_modes_and_symbolic_links_are_committed(path_world: World) -> None:
    """An executable bit and a symbolic link are committed as git records them."""
    app = path_world.clone("app")
    write(app, {"run.sh": "#!/bin/sh\n"})
    (app / "run.sh").chmod(0o755)
    os.symlink("data.txt", app / "link")
    assert commit(path_world.spec(app)).commit is not None
    tree = git(app, "ls-tree", "HEAD")
    assert "100755 blob" in next(line for line in tree.splitlines() if line.endswith("run.sh"))
    assert "120000 blob" in next(line for line in tree.splitlines() if line.endswith("link"))
    assert show(app, "HEAD", "link") == "data.txt"
    assert status(app) == ""


def test_line_ending_attributes_are_applied(path_world: World) -> None:
    """A path with the text attribute is committed with LF line endings, as git adds it."""
    app = path_world.clone("app")
    write(app, {".gitattributes": "*.csv text\n", "table.csv": b"a,b\r\n1,2\r\n"})
    assert commit(path_world.spec(app)).commit is not None
    assert git(app, "cat-file", "blob", "HEAD:table.csv") == "a,b\n1,2"
    assert status(app) == ""


# --- identities ----------------------------------------------------------------------


def test_the_author_is_the_request_s_else_the_configured_user(path_world: World) -> None:
    """The request's author writes the commit, committed by the configured user; the
    spec's committer, when given, commits."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app), author=ADA)
    assert result.commit is not None
    assert result.commit.author == ADA
    log = git(app, "log", "-1", "--format=%an <%ae>|%cn <%ce>")
    assert log == "Ada Lovelace <ada@example.invalid>|Test User <test@example.invalid>"
    write(app, {"b.txt": "b\n"})
    result = commit(path_world.spec(app, committer=SYNC))
    assert git(app, "log", "-1", "--format=%an|%cn") == "Test User|Data Sync"


def test_no_identity_to_commit_as_is_blocked(path_world: World, tmp_path: Path) -> None:
    """With no configured user and no committer in the spec, nothing is made up: the
    run is blocked and says how to set one; the spec's committer is then enough."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    with no_global_identity(tmp_path / "bare-home"):
        result = commit(path_world.spec(app))
        assert result.outcome is Outcome.BLOCKED
        assert "no identity to commit as" in result.reason
        assert "git config user.name" in result.reason
        assert status(app) == "?? a.txt"
        done = commit(path_world.spec(app, committer=SYNC))
    assert done.commit is not None
    assert git(app, "log", "-1", "--format=%an|%cn") == "Data Sync|Data Sync"


# --- refused before anything is written ----------------------------------------------


def _fetch(world: World, app: Path) -> None:
    """What `git fetch origin` does, by path whatever the transport (the git command
    line here has no SSH set-up)."""
    git(app, "fetch", "-q", str(world.remote), "+refs/heads/main:refs/remotes/origin/main")


def _conflicted_merge(world: World, app: Path) -> None:
    world.remote_commit({"data.txt": "theirs\n"}, "theirs")
    _fetch(world, app)
    world.commit(app, {"data.txt": "mine\n"}, "mine")
    git(app, "merge", "-q", "origin/main", check=False)


@pytest.mark.parametrize("state", ["merge", "rebase", "cherry-pick", "bisect", "unmerged"])
def test_unsafe_states_are_blocked_before_anything_is_written(world: World, state: str) -> None:
    """A merge, rebase, cherry-pick or bisect in progress, or unmerged paths, end the
    run blocked: the branch, the index and the remote are as they were."""
    app = world.clone("app")
    if state in ("merge", "unmerged"):
        _conflicted_merge(world, app)
        if state == "unmerged":
            (app / ".git" / "MERGE_HEAD").unlink()
            (app / ".git" / "MERGE_MSG").unlink(missing_ok=True)
            (app / ".git" / "MERGE_MODE").unlink(missing_ok=True)
    elif state == "rebase":
        world.remote_commit({"data.txt": "theirs\n"}, "theirs")
        _fetch(world, app)
        world.commit(app, {"data.txt": "mine\n"}, "mine")
        git(app, "rebase", "origin/main", check=False)
    elif state == "cherry-pick":
        world.remote_commit({"data.txt": "theirs\n"}, "theirs")
        _fetch(world, app)
        world.commit(app, {"data.txt": "mine\n"}, "mine")
        git(app, "cherry-pick", "origin/main", check=False)
    else:
        git(app, "bisect", "start")
    write(app, {"new.txt": "new\n"})
    head, index, remote = rev(app, "HEAD"), index_bytes(app), world.remote_tip()
    result = commit(world.spec(app, branch="main"))
    assert result.outcome is Outcome.BLOCKED, result.reason
    assert result.commit is None
    assert (rev(app, "HEAD"), index_bytes(app), world.remote_tip()) == (head, index, remote)
    assert not (app / ".git" / "index.lock").exists()
    expected = "unmerged paths: data.txt" if state == "unmerged" else "in progress"
    assert expected in result.reason


def test_a_detached_head_is_blocked(path_world: World) -> None:
    """HEAD detached from the branch named: a commit would not land on it; blocked."""
    app = path_world.clone("app")
    git(app, "checkout", "-q", "--detach")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, branch="main"))
    assert result.outcome is Outcome.BLOCKED
    assert "HEAD is detached" in result.reason
    assert status(app) == "?? a.txt"


def test_a_bare_repository_has_nothing_to_commit_from(path_world: World) -> None:
    """A commit run in a bare repository is blocked with a reason that says why."""
    bare = path_world.clone("bare", bare=True)
    result = commit(path_world.spec(bare))
    assert result.outcome is Outcome.BLOCKED
    assert "bare repository has no working tree" in result.reason


def test_an_index_held_by_git_is_left_alone(path_world: World) -> None:
    """While a git process holds index.lock open, the run is blocked and the lock stays."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    lock = app / ".git" / "index.lock"
    lock.write_bytes(b"")
    holder = subprocess.Popen(
        ["sh", "-c", 'exec 3>>"$0"; echo held; sleep 60', str(lock)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        result = commit(path_world.spec(app))
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]
    assert result.outcome is Outcome.BLOCKED
    assert "index.lock" in result.reason
    assert lock.exists()
    assert git(app, "rev-list", "--count", "HEAD") == "1"


def test_malformed_requests_are_bad_input() -> None:
    """A blank message, a path outside the repository or a malformed trailer is
    refused when the request is made."""
    for bad in (
        {"message": "  "},
        {"paths": ("../x",)},
        {"paths": ("/etc/passwd",)},
        {"paths": (".git/config",)},
        {"trailers": (("Bad Key", "v"),)},
        {"trailers": (("Key", "two\nlines"),)},
    ):
        with pytest.raises(InvalidSpecError):
            CommitRequest(**bad)


def _index_size(tree: Path, path: str) -> int:
    debug = git(tree, "ls-files", "--debug", "--", path)
    return int(debug.split("size: ", 1)[1].split()[0])


def test_entries_of_files_written_just_now_are_smudged(path_world: World) -> None:
    """A file written within the last two seconds gets an index entry that makes git
    compare its content next time (size 0, git's racy-git rule): a rewrite with the
    same size and the same timestamp still shows as a change. An older file's entry
    records its size, so status stays fast."""
    app = path_world.clone("app")
    write(app, {"now.txt": "version 1\n", "old.txt": "old\n"})
    an_hour_ago = (app / "old.txt").stat().st_mtime_ns - 3600 * 10**9
    os.utime(app / "old.txt", ns=(an_hour_ago, an_hour_ago))
    assert commit(path_world.spec(app)).commit is not None
    assert (_index_size(app, "now.txt"), _index_size(app, "old.txt")) == (0, 4)
    stamp = (app / "now.txt").stat().st_mtime_ns
    write(app, {"now.txt": "version 2\n"})
    os.utime(app / "now.txt", ns=(stamp, stamp))
    assert status(app) == "M now.txt"


def test_a_commit_after_a_move_cut_short_goes_on_the_finished_move(path_world: World) -> None:
    """When the inspecting step finishes a move a crash cut short, the commit goes on
    top of the moved branch: the half-moved files are not taken for local changes."""
    world = path_world
    app = world.clone("app")
    old = rev(app, "main")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    git(app, "fetch", "-q", "origin")
    repo = pygit2.Repository(str(app))
    repo.checkout_tree(  # type: ignore[no-untyped-call]
        repo[new].peel(pygit2.Tree), strategy=pygit2.enums.CheckoutStrategy.SAFE
    )
    (app / ".git" / JOURNAL).write_text(f"main {old} {new}\n")
    write(app, {"mine.txt": "mine\n"})
    result = commit(world.spec(app))
    assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
    assert result.commit is not None
    assert result.commit.paths == ("mine.txt",)
    assert git(app, "rev-parse", "HEAD~1") == new
    assert status(app) == ""
