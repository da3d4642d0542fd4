"""The outcome matrix, over path remotes and the SSH server, in working trees and bare repos."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2
import pytest
from gitutil import World, branches, commit_plumbing, git, rev

from reconcile import (
    InvalidSpecError,
    NotARepositoryError,
    Outcome,
    PushStatus,
    RepoSpec,
    UnknownBranchError,
    UnknownRemoteError,
    _git,
    reconcile,
)
from reconcile._git import JOURNAL

LAYOUTS = ["worktree", "bare"]


def _clone(world: World, layout: str, name: str = "app") -> Path:
    return world.clone(name, bare=layout == "bare")


def _log(repo: Path, ref: str = "main") -> list[tuple[str, str, str]]:
    """(author, email, message) of each commit on ``ref``, oldest first."""
    r = pygit2.Repository(str(repo))
    walker = r.walk(
        r.revparse_single(ref).id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
    )
    return [(c.author.name, c.author.email, c.message) for c in walker]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_in_sync_changes_nothing(world: World, layout: str) -> None:
    """Equal tips give in-sync, no push, and the same commit before and after."""
    app = _clone(world, layout)
    before = rev(app, "main")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC
    assert result.old_commit == result.new_commit == result.remote_commit == before
    assert result.push.status is PushStatus.SKIPPED
    assert (result.ahead, result.behind) == (0, 0)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fast_forward(world: World, layout: str) -> None:
    """Remote commits are fast-forwarded into the branch, and into the files of a working tree."""
    app = _clone(world, layout)
    new = world.remote_commit({"data.txt": "2\n", "more.txt": "m\n"}, "remote change")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FAST_FORWARDED
    assert result.new_commit == new == rev(app, "main")
    assert (result.ahead, result.behind) == (0, 1)
    assert result.push.status is PushStatus.SKIPPED
    if layout == "worktree":
        assert (app / "data.txt").read_text() == "2\n"
        assert (app / "more.txt").read_text() == "m\n"
        assert git(app, "status", "--porcelain") == ""
    assert reconcile(world.spec(app)).outcome is Outcome.IN_SYNC


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pushed_ahead(world: World, layout: str) -> None:
    """Local commits on top of the remote are pushed, and the remote ends at the local tip."""
    app = _clone(world, layout)
    world.commit(app, {"a.txt": "a\n"}, "local 1")
    tip = world.commit(app, {"b.txt": "b\n"}, "local 2")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.push.status is PushStatus.OK
    assert result.push.attempts == 1
    assert (result.ahead, result.behind) == (2, 0)
    assert world.remote_tip() == tip == result.new_commit


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rebased_keeps_authors_messages_and_order(world: World, layout: str) -> None:
    """Diverged histories that replay cleanly are rebased in memory, in order, and pushed."""
    app = _clone(world, layout)
    world.remote_commit({"r1.txt": "r1\n"}, "remote 1")
    remote_tip = world.remote_commit({"r2.txt": "r2\n"}, "remote 2")
    world.commit(app, {"l1.txt": "l1\n"}, "local 1\n\nwith a body\n")
    world.commit(app, {"l2.txt": "l2\n"}, "local 2\n")
    world.commit(app, {"l3.txt": "l3\n"}, "local 3\n")
    local_log = _log(app)[-3:]
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED, result.reason
    assert result.push.status is PushStatus.OK
    assert (result.ahead, result.behind) == (3, 2)
    assert world.remote_tip() == result.new_commit == rev(app, "main")
    assert _log(app)[-3:] == local_log
    r = pygit2.Repository(str(app))
    assert result.new_commit is not None
    assert (
        str(r[result.new_commit].peel(pygit2.Commit).parents[0].parents[0].parents[0].id)
        == remote_tip
    )
    if layout == "worktree":
        assert sorted(p.name for p in app.glob("*.txt")) == [
            "data.txt",
            "l1.txt",
            "l2.txt",
            "l3.txt",
            "r1.txt",
            "r2.txt",
        ]
        assert git(app, "status", "--porcelain") == ""


def test_rebase_drops_commits_that_become_empty(path_world: World) -> None:
    """A local commit whose change is already upstream is dropped, not replayed empty."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"same.txt": "x\n"}, "remote adds same.txt")
    world.remote_commit({"r.txt": "r\n"}, "remote more")
    world.commit(app, {"same.txt": "x\n"}, "local adds same.txt too")
    world.commit(app, {"l.txt": "l\n"}, "local other")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED
    assert [m for _a, _e, m in _log(app)][-3:] == [
        "remote adds same.txt",
        "remote more",
        "local other\n",
    ]
    assert "dropped 1" in result.reason


@pytest.mark.parametrize("layout", LAYOUTS)
def test_conflict_escaped(world: World, layout: str) -> None:
    """A conflicting replay escapes local commits to a pushed conflicts/<UTC> branch and resets."""
    app = _clone(world, layout)
    remote_tip = world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local_tip = world.commit(app, {"data.txt": "local\n"}, "local edit")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED, result.reason
    name = result.conflict_branch
    assert name is not None
    assert name.startswith("conflicts/")
    assert name.endswith("Z")
    assert rev(world.remote, f"refs/heads/{name}") == local_tip
    assert rev(app, f"refs/heads/{name}") == local_tip
    assert rev(app, "main") == remote_tip == result.new_commit
    assert result.conflict_paths == ("data.txt",)
    assert result.escaped_commits == (local_tip,)
    assert result.push.status is PushStatus.OK
    if layout == "worktree":
        assert (app / "data.txt").read_text() == "remote\n"
        assert git(app, "status", "--porcelain") == ""
    assert reconcile(world.spec(app)).outcome is Outcome.IN_SYNC


def test_two_escapes_within_one_second_get_distinct_branches(world: World) -> None:
    """Two clones escaping in the same second get two branches; neither overwrites the other."""
    a = world.clone("a")
    b = world.clone("b")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    tip_a = world.commit(a, {"data.txt": "from a\n"}, "a edits")
    tip_b = world.commit(b, {"data.txt": "from b\n"}, "b edits")
    first = reconcile(world.spec(a))
    second = reconcile(world.spec(b))
    assert first.outcome is second.outcome is Outcome.CONFLICT_ESCAPED
    assert first.conflict_branch != second.conflict_branch
    conflicts = branches(world.remote, "conflicts/")
    assert conflicts[str(first.conflict_branch)] == tip_a
    assert conflicts[str(second.conflict_branch)] == tip_b
    if (
        first.conflict_branch
        and second.conflict_branch
        and first.conflict_branch[:29] == second.conflict_branch[:29]
    ):
        assert second.conflict_branch.endswith(tip_b[:7])


def test_escape_never_overwrites_an_existing_branch(path_world: World) -> None:
    """A conflict branch name already taken on the remote is never reused."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local_tip = world.commit(app, {"data.txt": "local\n"}, "local edit")

    now = datetime.now(UTC)
    taken = {}
    for delta in (0, 1, 2):
        name = "conflicts/" + (now + timedelta(seconds=delta)).strftime("%Y-%m-%dT%H-%M-%SZ")
        taken[name] = world.remote_commit({"x": name}, "occupant", branch=name)
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED
    assert result.conflict_branch not in taken
    for name, tip in taken.items():
        assert rev(world.remote, f"refs/heads/{name}") == tip
    assert rev(world.remote, f"refs/heads/{result.conflict_branch}") == local_tip


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unrelated_histories_escape_and_never_reset_blindly(world: World, layout: str) -> None:
    """With no common history the local commits are escaped, not merged or dropped."""
    app = _clone(world, layout)
    new_root = commit_plumbing(world.remote, {"other.txt": "x\n"}, "unrelated root", parents=[])
    local_tip = world.commit(app, {"mine.txt": "mine\n"}, "local")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED
    assert "no history" in result.reason
    assert rev(world.remote, f"refs/heads/{result.conflict_branch}") == local_tip
    assert rev(app, "main") == new_root


@pytest.mark.parametrize("layout", LAYOUTS)
def test_missing_remote_branch_is_created_by_the_push(world: World, layout: str) -> None:
    """A branch the remote lacks is created there by the push."""
    app = _clone(world, layout)
    if layout == "worktree":
        git(app, "checkout", "-q", "-b", "feature")
    else:
        git(app, "branch", "feature", "main")
    tip = world.commit(app, {"f.txt": "f\n"}, "feature work", branch="feature")
    result = reconcile(world.spec(app, branch="feature"))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.remote_commit is None
    assert world.remote_tip("feature") == tip


def test_single_branch_clone(world: World) -> None:
    """A single-branch clone fetches through the explicit refspec."""
    world.remote_commit({"x.txt": "x\n"}, "on other branch", branch="other")
    app = world.clone("app", single_branch=True)
    new = world.remote_commit({"data.txt": "2\n"}, "remote change")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FAST_FORWARDED
    assert rev(app, "main") == new
    assert rev(app, "refs/remotes/origin/main") == new


def test_fetch_never_writes_the_checked_out_branch_before_checkout(path_world: World) -> None:
    """The fetch lands in refs/remotes/origin/main; only the reconcile moves main."""
    world = path_world
    app = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote change")
    before = rev(app, "main")
    (app / "data.txt").write_text("dirty\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert rev(app, "refs/remotes/origin/main") == new
    assert rev(app, "main") == before


def test_blocked_by_a_dirty_file_touches_nothing(world: World) -> None:
    """An uncommitted change the update would overwrite gives blocked, with the file named."""
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    (app / "data.txt").write_text("uncommitted\n")
    before = rev(app, "main")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "uncommitted changes would be overwritten: data.txt" in result.reason
    assert "untracked" not in result.reason
    assert rev(app, "main") == before == result.new_commit
    assert (app / "data.txt").read_text() == "uncommitted\n"


def test_blocked_by_a_staged_change(path_world: World) -> None:
    """A staged change to a file the update touches blocks, even if the worktree matches."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    (app / "data.txt").write_text("staged\n")
    git(app, "add", "data.txt")
    (app / "data.txt").write_text("remote\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert git(app, "show", ":data.txt") == "staged"


def test_blocked_by_an_untracked_file_in_the_way(path_world: World) -> None:
    """An untracked file where the update adds one gives blocked, named as an
    untracked file, and survives."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"new.txt": "remote\n"}, "remote adds new.txt")
    (app / "new.txt").write_text("mine, untracked\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "an untracked file would be overwritten: new.txt" in result.reason
    assert "uncommitted" not in result.reason
    assert (app / "new.txt").read_text() == "mine, untracked\n"


def test_blocked_by_both_kinds_names_each(path_world: World) -> None:
    """A dirty tracked file and untracked files in the way are each named as what they are."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "r\n", "a.txt": "r\n", "b/c.txt": "r\n"}, "remote")
    (app / "data.txt").write_text("dirty\n")
    (app / "a.txt").write_text("mine\n")
    (app / "b").write_text("a file where a directory comes\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "uncommitted changes would be overwritten: data.txt" in result.reason
    assert "untracked files would be overwritten: a.txt, b" in result.reason
    assert "commit, stash or move them away" in result.reason


def test_blocked_escape_keeps_local_commits_and_dirty_files(path_world: World) -> None:
    """When an escape would overwrite a dirty file, nothing is escaped and nothing changes."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n", "other.txt": "o\n"}, "remote edit")
    local = world.commit(app, {"data.txt": "local\n"}, "local edit")
    (app / "other.txt").write_text("untracked in the way\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "an untracked file would be overwritten: other.txt" in result.reason
    assert rev(app, "main") == local
    assert branches(world.remote, "conflicts/") == {}
    assert branches(app, "conflicts/") == {}


def test_unrelated_dirty_and_untracked_files_survive(world: World) -> None:
    """Dirty and untracked files the update does not touch are kept as they are."""
    app = world.clone("app")
    world.commit(app, {"keep.txt": "committed\n"}, "add keep")
    reconcile(world.spec(app))
    remote_change = world.remote_commit({"data.txt": "2\n"}, "remote edit")
    (app / "keep.txt").write_text("dirty\n")
    (app / "scratch.txt").write_text("untracked\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FAST_FORWARDED
    assert rev(app, "main") == remote_change
    assert (app / "keep.txt").read_text() == "dirty\n"
    assert (app / "scratch.txt").read_text() == "untracked\n"
    assert (app / "data.txt").read_text() == "2\n"


@pytest.mark.parametrize("operation", ["merge", "cherry-pick", "rebase"])
def test_operation_in_progress_blocks(path_world: World, operation: str) -> None:
    """A merge, cherry-pick or rebase left in progress by git gives blocked."""
    world = path_world
    app = world.clone("app")
    git(app, "checkout", "-q", "-b", "side")
    side = world.commit(app, {"data.txt": "side\n"}, "side edit")
    git(app, "checkout", "-q", "main")
    world.commit(app, {"data.txt": "main\n"}, "main edit")
    if operation == "merge":
        git(app, "merge", "side", check=False)
    elif operation == "cherry-pick":
        git(app, "cherry-pick", side, check=False)
    else:
        git(app, "rebase", "side", check=False)
        git(app, "checkout", "-q", "main", check=False)
    before = rev(app, "refs/heads/main")
    result = reconcile(world.spec(app, branch="main"))
    assert result.outcome is Outcome.BLOCKED
    assert "in progress" in result.reason
    assert rev(app, "refs/heads/main") == before


def test_detached_head_without_branch_blocks(path_world: World) -> None:
    """A detached HEAD with no branch named gives blocked with a hint."""
    app = path_world.clone("app")
    git(app, "checkout", "-q", "--detach")
    result = reconcile(path_world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "--branch" in result.reason


def test_fetch_failed_on_a_bogus_url(path_world: World) -> None:
    """A remote that cannot be read gives fetch-failed and changes nothing."""
    app = path_world.clone("app")
    git(app, "remote", "set-url", "origin", str(path_world.root / "nowhere.git"))
    before = rev(app, "main")
    result = reconcile(path_world.spec(app))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "nowhere.git" in result.reason
    assert rev(app, "main") == before
    assert result.push.status is PushStatus.SKIPPED


def test_no_push_changes_nothing_remote(path_world: World) -> None:
    """With pushing off, local commits stay local and the push is reported skipped."""
    world = path_world
    app = world.clone("app")
    before_remote = world.remote_tip()
    world.commit(app, {"a.txt": "a\n"}, "local")
    result = reconcile(world.spec(app, push=False))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.push.status is PushStatus.SKIPPED
    assert world.remote_tip() == before_remote


def test_unborn_local_branch_is_fast_forwarded(path_world: World) -> None:
    """A fresh repository whose HEAD names an unborn branch gets the remote's commits."""
    world = path_world
    app = world.root / "fresh"
    git(world.root, "init", "-q", "-b", "main", str(app))
    git(app, "remote", "add", "origin", world.url)
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.FAST_FORWARDED
    assert rev(app, "main") == world.remote_tip()
    assert (app / "data.txt").read_text() == "1\n"


def test_bad_input_raises_before_touching_anything(path_world: World) -> None:
    """Not a repository, an unknown remote, an unknown or malformed branch raise BadInputError."""

    app = path_world.clone("app")
    plain = path_world.root / "plain"
    plain.mkdir()
    with pytest.raises(NotARepositoryError, match="not a git repository"):
        reconcile(RepoSpec(plain))
    with pytest.raises(NotARepositoryError, match="does not exist"):
        reconcile(RepoSpec(path_world.root / "absent"))
    with pytest.raises(UnknownRemoteError, match="upstream"):
        reconcile(RepoSpec(app, remote="upstream"))
    with pytest.raises(UnknownBranchError, match="feature"):
        reconcile(RepoSpec(app, branch="feature"))
    with pytest.raises(InvalidSpecError, match="not a valid branch name"):
        reconcile(RepoSpec(app, branch="bad..name"))
    assert git(app, "status", "--porcelain") == ""


def test_remote_moving_after_fetch_is_fetched_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer landing between our fetch and our push makes the run fetch again and rebase."""

    app = world.clone("app")
    world.commit(app, {"mine.txt": "mine\n"}, "local")
    real_fetch = _git.GitRemote.fetch
    landed: list[str] = []

    def fetch_then_someone_pushes(self: _git.GitRemote, *args: object, **kwargs: object) -> object:
        state = real_fetch(self, *args, **kwargs)  # type: ignore[arg-type]
        if not landed:
            landed.append(world.remote_commit({"theirs.txt": "theirs\n"}, "concurrent writer"))
        return state

    monkeypatch.setattr(_git.GitRemote, "fetch", fetch_then_someone_pushes)
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED, result.reason
    assert result.push.status is PushStatus.OK
    assert result.push.attempts == 2
    log = git(world.remote, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["local", "concurrent writer"]


def test_local_merge_commit_is_escaped_not_flattened(path_world: World) -> None:
    """A local merge carrying its own change is escaped whole: the change is never lost."""
    world = path_world
    app = world.clone("app")
    git(app, "checkout", "-q", "-b", "side")
    world.commit(app, {"side.txt": "side\n"}, "side work")
    git(app, "checkout", "-q", "main")
    world.commit(app, {"main.txt": "main\n"}, "main work")
    git(app, "merge", "-q", "--no-ff", "--no-commit", "side")
    (app / "resolution.txt").write_text("only in the merge\n")
    git(app, "add", "resolution.txt")
    git(app, "commit", "-q", "-m", "merge with a change of its own")
    merge = rev(app, "main")
    world.remote_commit({"remote.txt": "r\n"}, "remote moved on")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED
    assert "merge commit" in result.reason
    assert rev(world.remote, f"refs/heads/{result.conflict_branch}") == merge


def test_commit_empty_from_the_start_is_kept(path_world: World) -> None:
    """A deliberately empty local commit (a marker) survives the rebase."""
    world = path_world
    app = world.clone("app")
    git(app, "commit", "-q", "--allow-empty", "-m", "marker: import finished")
    world.remote_commit({"remote.txt": "r\n"}, "remote moved on")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.REBASED
    assert git(world.remote, "log", "-1", "--format=%s", "main") == "marker: import finished"


def test_no_push_escape_keeps_the_branch_until_the_escape_lands(path_world: World) -> None:
    """With pushing off, an escape only creates the local conflict branch; the next run
    with pushing on publishes that same branch and only then resets."""
    world = path_world
    app = world.clone("app")
    remote_tip = world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local = world.commit(app, {"data.txt": "local\n"}, "local edit")
    first = reconcile(world.spec(app, push=False))
    assert first.outcome is Outcome.CONFLICT_ESCAPED
    assert rev(app, "main") == local
    assert branches(app, "conflicts/") == {str(first.conflict_branch): local}
    assert branches(world.remote, "conflicts/") == {}
    second = reconcile(world.spec(app))
    assert second.outcome is Outcome.CONFLICT_ESCAPED
    assert second.conflict_branch == first.conflict_branch
    assert branches(world.remote, "conflicts/") == {str(first.conflict_branch): local}
    assert rev(app, "main") == remote_tip
    assert len(branches(app, "conflicts/")) == 1


def test_branch_checked_out_in_another_worktree_blocks(path_world: World) -> None:
    """A branch checked out in a linked worktree is not moved from elsewhere: blocked."""
    world = path_world
    app = world.clone("app")
    git(app, "checkout", "-q", "--detach")
    other = world.root / "other-tree"
    git(app, "worktree", "add", "-q", str(other), "main")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    before = rev(app, "refs/heads/main")
    result = reconcile(world.spec(app, branch="main"))
    assert result.outcome is Outcome.BLOCKED
    assert str(other) in result.reason
    assert rev(app, "refs/heads/main") == before
    # From the worktree that has it checked out, it reconciles.
    assert reconcile(world.spec(other)).outcome is Outcome.FAST_FORWARDED
    assert (other / "data.txt").read_text() == "2\n"


def test_a_step_that_git_refuses_ends_blocked(path_world: World) -> None:
    """A local branch named like the conflict prefix makes the escape impossible: blocked."""
    world = path_world
    app = world.clone("app")
    git(app, "branch", "conflicts")  # refs/heads/conflicts blocks refs/heads/conflicts/...
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local = world.commit(app, {"data.txt": "local\n"}, "local edit")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "conflict branch" in result.reason
    assert rev(app, "main") == local


def test_a_move_cut_short_after_the_checkout_is_finished(path_world: World) -> None:
    """Files checked out to the new commit with the ref still old (a crash in between):
    the next run finishes the move instead of blocking forever."""

    world = path_world
    app = world.clone("app")
    old = rev(app, "main")
    new = world.remote_commit({"data.txt": "2\n", "more.txt": "m\n"}, "remote")
    git(app, "fetch", "-q", "origin")
    repo = pygit2.Repository(str(app))
    tree = repo[new].peel(pygit2.Tree)
    repo.checkout_tree(tree, strategy=pygit2.enums.CheckoutStrategy.SAFE)  # type: ignore[no-untyped-call]
    (app / ".git" / JOURNAL).write_text(f"main {old} {new}\n")
    assert rev(app, "main") == old
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.IN_SYNC, result.reason
    assert result.old_commit == old
    assert rev(app, "main") == new
    assert git(app, "status", "--porcelain") == ""
    assert not (app / ".git" / JOURNAL).exists()
