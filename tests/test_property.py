"""The no-loss invariant, on generated histories.

Every commit reachable from the local branch before a run is reachable afterwards
from the local branch, the remote branch or a conflicts/* branch on the remote
(replayed commits count by author, date and message, since a rebase gives them new
ids), and a second run is in-sync.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pygit2
from gitutil import World, commit_plumbing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile import Outcome, PushStatus, reconcile

FILES = ["a.txt", "b.txt", "c.txt"]
# A history is a list of commits; each commit writes some of the files.
history = st.lists(
    st.lists(st.sampled_from(FILES), min_size=1, max_size=2, unique=True), max_size=5
)

_counter = iter(range(10**9))


def _commit(world: World, repo: Path, files: list[str], side: str, on_remote: bool) -> None:
    n = next(_counter)
    # Unique content per commit, so no replayed commit can become empty.
    contents: dict[str, str | None] = dict.fromkeys(files, f"{side} {n}\n")
    when = 1_700_000_000 + n
    author = pygit2.Signature(f"{side} writer", f"{side}@example.invalid", when, 0)
    if on_remote:
        commit_plumbing(world.remote, contents, f"{side} commit {n}", author=author)
    elif pygit2.Repository(str(repo)).is_bare:
        commit_plumbing(repo, contents, f"{side} commit {n}", author=author)
    else:
        for name, text in contents.items():
            (repo / name).write_text(text or "")
        r = pygit2.Repository(str(repo))
        r.index.add_all(files)
        r.index.write()
        tree = r.index.write_tree()
        r.create_commit("HEAD", author, author, f"{side} commit {n}", tree, [r.head.target])


def _identities(repo: Path, tips: list[str]) -> tuple[set[str], set[tuple[str, int, str]]]:
    r = pygit2.Repository(str(repo))
    ids: set[str] = set()
    same: set[tuple[str, int, str]] = set()
    for tip in tips:
        for c in r.walk(tip):
            ids.add(str(c.id))
            same.add((c.author.email, c.author.time, c.message))
    return ids, same


def _check(local_side: list[list[str]], remote_side: list[list[str]], bare: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        world.seed({"a.txt": "seed\n"})
        app = world.clone("app", bare=bare)
        for files in remote_side:
            _commit(world, app, files, "remote", on_remote=True)
        for files in local_side:
            _commit(world, app, files, "local", on_remote=False)
        repo = pygit2.Repository(str(app))
        before = list(repo.walk(repo.branches.local["main"].target))

        result = reconcile(world.spec(app))
        assert result.outcome in {
            Outcome.IN_SYNC,
            Outcome.FAST_FORWARDED,
            Outcome.PUSHED_AHEAD,
            Outcome.REBASED,
            Outcome.CONFLICT_ESCAPED,
        }, result.reason
        assert result.push.status in (PushStatus.OK, PushStatus.SKIPPED)

        remote = pygit2.Repository(str(world.remote))
        tips = [
            str(remote.branches.local[b].target)
            for b in remote.branches.local
            if b == "main" or b.startswith("conflicts/")
        ]
        ids, same = _identities(world.remote, tips)
        local_ids, local_same = _identities(
            app, [str(pygit2.Repository(str(app)).branches.local["main"].target)]
        )
        for commit in before:
            key = (commit.author.email, commit.author.time, commit.message)
            assert str(commit.id) in ids | local_ids or key in same | local_same, (
                f"lost {commit.id} {commit.message!r} in {result.outcome}"
            )

        again = reconcile(world.spec(app))
        assert again.outcome is Outcome.IN_SYNC, again.reason


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_side=history, remote_side=history)
def test_no_commit_is_lost_in_a_working_tree(
    local_side: list[list[str]], remote_side: list[list[str]]
) -> None:
    """Reconciling a working-tree clone never loses a local commit and converges."""
    _check(local_side, remote_side, bare=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(local_side=history, remote_side=history)
def test_no_commit_is_lost_in_a_bare_repo(
    local_side: list[list[str]], remote_side: list[list[str]]
) -> None:
    """Reconciling a bare clone written with plumbing never loses a local commit and converges."""
    _check(local_side, remote_side, bare=True)
