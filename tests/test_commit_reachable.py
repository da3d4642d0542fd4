"""commit_reachable(): a cheap check that stays right when the repository changes."""

from __future__ import annotations

from gitutil import World, git, rev

from reconcile import commit_reachable


def test_a_commit_fetched_after_a_check_is_found(path_world: World) -> None:
    """A check right after another one of the same repository sees the commits a fetch
    brought in and the branch moved to meanwhile."""
    world = path_world
    app = world.clone("app")
    seed = rev(app, "main")
    assert seed is not None
    first = world.remote_commit({"data.txt": "2\n"}, "remote")
    world.remote_commit({"data.txt": "3\n"}, "remote again")
    assert commit_reachable(app, "main", seed)
    assert not commit_reachable(app, "main", first)
    git(app, "pull", "-q", "--ff-only", "origin", "main")
    assert commit_reachable(app, "main", first)  # an ancestor of the new tip: objects read


def test_a_branch_moved_back_after_a_check_is_read_again(path_world: World) -> None:
    """A commit the branch no longer holds (reset away since the last check) is not
    reported present, and a malformed or unknown id never is."""
    world = path_world
    app = world.clone("app")
    seed = rev(app, "main")
    mine = world.commit(app, {"mine.txt": "x\n"}, "local")
    assert commit_reachable(app, "main", mine)
    git(app, "reset", "-q", "--hard", str(seed))
    assert not commit_reachable(app, "main", mine)
    assert not commit_reachable(app, "main", "not-a-commit")
    assert not commit_reachable(app, "main", "0" * 40)
    assert not commit_reachable(app, "no-such-branch", str(seed))
