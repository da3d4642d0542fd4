"""squash_unpushed: this tool's own unpushed commits made one before the push, keeping
every author and trailer, never a commit someone else made."""

from __future__ import annotations

from commitutil import ADA, GRACE, commit, message, status, trailers, write
from gitutil import World, git, rev

from reconcile import CommitPolicy, Outcome

SQUASH = CommitPolicy(squash_unpushed=True)


def test_unpushed_commits_of_this_tool_are_squashed_before_the_push(world: World) -> None:
    """Commits made while pushing was off are squashed into one when the push comes:
    the newest tree, the oldest author, the others as co-authors, every message and
    trailer, and one commit on the remote."""
    app = world.clone("app")
    offline = world.spec(app, commit_policy=SQUASH, push=False)
    write(app, {"a.txt": "a\n"})
    commit(offline, message="First", author=ADA, trailers=(("Ticket", "DATA-1"),))
    write(app, {"b.txt": "b\n"})
    commit(offline, message="Second", author=GRACE)
    assert git(app, "rev-list", "--count", "origin/main..main") == "2"
    write(app, {"c.txt": "c\n"})
    result = commit(world.spec(app, commit_policy=SQUASH), message="Third", author=ADA)
    assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
    info = result.commit
    assert info is not None
    assert info.squashed == 2
    assert info.sha == rev(app, "main") == world.remote_tip()
    assert git(app, "rev-list", "--count", "main") == "2"
    assert git(app, "log", "-1", "--format=%an") == "Ada Lovelace"
    assert message(app).startswith("First\n\nSecond\n\nThird\n\n")
    assert trailers(app) == [
        "Ticket: DATA-1",
        "Auto-committed-by: git-reconcile",
        "Co-authored-by: Grace Hopper <grace@example.invalid>",
    ]
    assert git(app, "ls-tree", "--name-only", "HEAD").split() == [
        "a.txt",
        "b.txt",
        "c.txt",
        "data.txt",
    ]
    assert set(info.paths) == {"a.txt", "b.txt", "c.txt"}
    assert status(app) == ""
    git(app, "fsck", "--strict")


def test_a_commit_someone_else_made_is_never_squashed(path_world: World) -> None:
    """Only this tool's commits in a row at the tip are squashed: a commit made by
    hand stays as it is, and so does everything below it."""
    app = path_world.clone("app")
    seed = rev(app, "main")
    offline = path_world.spec(app, commit_policy=SQUASH, push=False)
    write(app, {"a.txt": "a\n"})
    below = commit(offline).commit
    by_hand = path_world.commit(app, {"hand.txt": "h\n"}, "Made by hand")
    write(app, {"b.txt": "b\n"})
    commit(offline)
    write(app, {"c.txt": "c\n"})
    result = commit(path_world.spec(app, commit_policy=SQUASH))
    assert result.commit is not None
    assert result.commit.squashed == 1
    history = git(app, "log", "--format=%H %s", f"{seed}..main").splitlines()
    assert len(history) == 3
    assert history[1] == f"{by_hand} Made by hand"
    assert below is not None
    assert history[2].startswith(below.sha)


def test_pushed_commits_are_never_squashed(path_world: World) -> None:
    """A commit already on the remote is not rewritten by a later squash."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    pushed = commit(path_world.spec(app, commit_policy=SQUASH)).commit
    assert pushed is not None
    assert path_world.remote_tip() == pushed.sha
    offline = path_world.spec(app, commit_policy=SQUASH, push=False)
    write(app, {"b.txt": "b\n"})
    commit(offline)
    write(app, {"c.txt": "c\n"})
    result = commit(path_world.spec(app, commit_policy=SQUASH))
    assert result.commit is not None
    assert result.commit.squashed == 1
    assert git(app, "rev-parse", "main~1") == pushed.sha


def test_a_run_with_nothing_new_still_squashes_before_its_push(path_world: World) -> None:
    """Commits left unpushed by earlier runs are squashed by the next run that pushes,
    even when it has nothing new to commit."""
    app = path_world.clone("app")
    offline = path_world.spec(app, commit_policy=SQUASH, push=False)
    for name in ("a", "b"):
        write(app, {f"{name}.txt": f"{name}\n"})
        commit(offline)
    result = commit(path_world.spec(app, commit_policy=SQUASH))
    assert result.commit is not None
    assert (result.commit.message_source, result.commit.squashed) == ("squash", 1)
    assert git(app, "rev-list", "--count", "HEAD") == "2"


def test_without_the_setting_nothing_is_squashed_or_marked(path_world: World) -> None:
    """Off by default: commits carry no marker and are pushed one by one."""
    app = path_world.clone("app")
    offline = path_world.spec(app, push=False)
    for name in ("a", "b"):
        write(app, {f"{name}.txt": f"{name}\n"})
        commit(offline)
    result = commit(path_world.spec(app))
    assert result.commit is None
    assert git(app, "rev-list", "--count", "HEAD") == "3"
    assert trailers(app) == []
