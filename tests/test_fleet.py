"""Fleet mode: discovery over real trees, and the two-phase cycle against real remotes."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from fleetutil import Tree, backdate, hook
from gitutil import git, rev

import reconcile
from plugin.fleet import Fleet, discover, host_of
from plugin.fleet import _cycle as cycle_module


@pytest.fixture
def tree(tmp_path: Path, ssh_server: object) -> Tree:
    return Tree(tmp_path, ssh_server)


def test_discovery_finds_nested_repositories_and_skips_the_rest(tree: Tree) -> None:
    """Nested repositories are found; excluded folders, submodules, linked worktrees,
    bare repositories and repositories below the depth are not, and a repository found
    through two base paths (one a symbolic link) is one."""
    base = tree.root / "base"
    a = tree.repo("base/a")
    b = tree.repo("base/group/b")
    nested = tree.repo("base/group/b/vendor/c")
    tree.repo("base/node_modules/d")
    tree.repo("base/1/2/3/4/too-deep")
    git(a, "worktree", "add", "-q", str(base / "a-worktree"), "-b", "side")
    git(
        b, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(tree.remotes[a]), "sub"
    )
    git(tree.root, "init", "-q", "--bare", str(base / "bare.git"))
    (tree.root / "link").symlink_to(base / "group")
    found = discover([base, tree.root / "link"], 4, ("node_modules",))
    assert [r.path for r in found.repos] == [a.resolve(), b.resolve(), nested.resolve()]
    assert [r.name for r in found.repos] == ["base/a", "base/group/b", "base/group/b/vendor/c"]
    assert not found.problems
    assert discover([tree.root / "missing"], 4, ()).problems == (
        (str(tree.root / "missing"), "does not exist"),
    )


def test_exclude_globs_are_pruned_while_walking(tree: Tree) -> None:
    """An excluded folder is never opened: an unreadable one below it is no problem, and
    a glob with a slash matches the whole path."""
    tree.repo("base/keep")
    tree.repo("base/skip/me")
    found = discover([tree.root / "base"], 4, (str(tree.root / "base" / "skip"),))
    assert [r.name for r in found.repos] == ["base/keep"]


def test_a_cycle_commits_then_pushes_over_path_and_ssh(tree: Tree) -> None:
    """Dirty repositories are committed and pushed, by path and over SSH; clean ones are
    neither; and no push starts before the last commit of the cycle finished."""
    a = tree.repo("base/a")
    b = tree.repo("base/b", ssh=True)
    clean = tree.repo("base/clean")
    (a / "data.txt").write_text("2\n")
    (b / "new.txt").write_text("new\n")
    fleet = Fleet(tree.config(concurrency=2))
    fleet.discover()
    report = fleet.cycle(trigger="test")
    assert report is not None
    by_name = {r.name: r for r in report.results}
    assert by_name["base/a"].status == by_name["base/b"].status == "pushed"
    assert by_name["base/clean"].status == "clean"
    assert (report.committed, report.pushed, report.failed) == (2, 2, 0)
    assert tree.remote_tip(a) == rev(a, "HEAD")
    assert tree.remote_tip(b) == rev(b, "HEAD")
    assert tree.remote_tip(clean) == rev(clean, "HEAD")
    assert git(b, "status", "--porcelain") == ""
    made = by_name["base/b"].to_dict()["commit"]
    assert made["paths"] == ["new.txt"]
    assert made["message_source"] == "template"
    last_commit = max(r.commit_finished_at or 0 for r in report.results)
    first_push = min(r.push_started_at or float("inf") for r in report.results)
    assert last_commit <= first_push


def test_no_push_reaches_a_remote_before_every_commit_is_made(tree: Tree) -> None:
    """The SSH remote's pre-receive hook sees every other repository of the cycle
    committed already: phase 2 starts after phase 1 has finished everywhere."""
    first = tree.repo("base/a-first", ssh=True)
    others = [tree.repo(f"base/z{n}") for n in range(3)]
    seen = tree.root / "seen.txt"
    lines = "".join(f'git -C "{o}" status --porcelain >> "{seen}"\n' for o in others)
    hook(
        tree.remotes[first] / "hooks",
        "pre-receive",
        "#!/bin/sh\nunset GIT_DIR GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY "
        f'GIT_ALTERNATE_OBJECT_DIRECTORIES\necho pushed >> "{seen}"\n{lines}exit 0\n',
    )
    for repo in (first, *others):
        (repo / "data.txt").write_text("changed\n")
    fleet = Fleet(tree.config(concurrency=1, per_host_concurrency=1))
    fleet.discover()
    report = fleet.cycle()
    assert report is not None
    assert report.ok
    assert seen.read_text() == "pushed\n"  # and no uncommitted change in the others


def test_an_idle_cycle_looks_no_further_than_the_stat_data(tree: Tree) -> None:
    """A second cycle over unchanged repositories checks nothing and fetches nothing; a
    file written since is committed by the next one."""
    a = tree.repo("base/a")
    b = tree.repo("base/b")
    backdate(a, b)
    fleet = Fleet(tree.config())
    fleet.discover()
    fleet.cycle()
    report = fleet.cycle()
    assert report is not None
    assert [r.status for r in report.results] == ["unchanged", "unchanged"]
    assert all(r.run is None and r.commit is None for r in report.results)
    (b / "later.txt").write_text("later\n")
    report = fleet.cycle()
    assert report is not None
    assert [r.status for r in report.results] == ["unchanged", "pushed"]
    assert tree.remote_tip(b) == rev(b, "HEAD") != tree.remote_tip(a)


def test_a_repository_ahead_of_its_remote_is_pushed_without_a_change(tree: Tree) -> None:
    """A commit made by hand is pushed, though nothing in the tree is dirty."""
    a = tree.repo("base/a")
    (a / "hand.txt").write_text("by hand\n")
    git(a, "add", "hand.txt")
    git(a, "commit", "-q", "-m", "by hand")
    fleet = Fleet(tree.config())
    fleet.discover()
    report = fleet.cycle()
    assert report is not None
    assert report.results[0].status == "pushed"
    assert report.results[0].commit is not None
    assert report.results[0].commit.commit is None
    assert tree.remote_tip(a) == rev(a, "HEAD")


SECRET = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def test_all_or_none_pushes_nothing_when_a_commit_failed(tree: Tree) -> None:
    """Under all-or-none a refused commit holds every push back; once it is fixed, the
    next cycle pushes what was held."""
    good = tree.repo("base/good")
    bad = tree.repo("base/bad")
    (good / "data.txt").write_text("2\n")
    (bad / "notes.txt").write_text(SECRET)
    before = tree.remote_tip(good)
    fleet = Fleet(tree.config(push_policy="all-or-none"))
    fleet.discover()
    report = fleet.cycle()
    assert report is not None
    assert report.held
    by_name = {r.name: r for r in report.results}
    assert by_name["base/bad"].status == "refused"
    assert "Private Key" in (by_name["base/bad"].reason or "")
    assert by_name["base/good"].status == "held"
    assert by_name["base/good"].committed
    assert tree.remote_tip(good) == before
    (bad / "notes.txt").unlink()
    report = fleet.cycle()
    assert report is not None
    assert report.ok
    assert tree.remote_tip(good) == rev(good, "HEAD")


def test_each_pushes_the_others_when_a_commit_failed(tree: Tree) -> None:
    """Under each, a refused commit is reported, and the other repository is pushed."""
    good = tree.repo("base/good")
    bad = tree.repo("base/bad")
    (good / "data.txt").write_text("2\n")
    (bad / "notes.txt").write_text(SECRET)
    fleet = Fleet(tree.config())
    fleet.discover()
    report = fleet.cycle()
    assert report is not None
    assert not report.ok
    assert not report.held
    assert [r.status for r in report.results] == ["refused", "pushed"]
    assert tree.remote_tip(good) == rev(good, "HEAD")


def test_a_repository_that_breaks_mid_cycle_does_not_stop_it(tree: Tree) -> None:
    """A repository whose pre-commit hook removes its remote is skipped in phase 2 with
    the reason; one without a remote at all is skipped in phase 1; the others are pushed."""
    breaks = tree.repo("base/breaks")
    hook(breaks / ".git" / "hooks", "pre-commit", "#!/bin/sh\ngit remote remove origin\n")
    lonely = tree.root / "base" / "lonely"
    git(tree.root, "init", "-q", str(lonely))
    fine = tree.repo("base/fine")
    for repo in (breaks, lonely, fine):
        (repo / "x.txt").write_text("x\n")
    fleet = Fleet(tree.config())
    fleet.discover()
    report = fleet.cycle()
    assert report is not None
    by_name = {r.name: r for r in report.results}
    assert by_name["base/breaks"].status == "skipped"
    assert by_name["base/breaks"].committed
    assert "origin" in (by_name["base/breaks"].reason or "")
    assert by_name["base/lonely"].status == "skipped"
    assert by_name["base/fine"].status == "pushed"
    assert tree.remote_tip(fine) == rev(fine, "HEAD")


def test_a_conflicting_change_is_escaped_not_lost(tree: Tree) -> None:
    """A change that conflicts with a commit another writer pushed is committed, then
    escaped to a pushed conflicts/ branch: the repository is `escaped` (not ended
    well, for an operator to merge), the branch matches the remote, nothing is lost."""
    mine = tree.repo("base/mine")
    remote = tree.remotes[mine]
    other = tree.root / "other"
    git(tree.root, "clone", "-q", str(remote), str(other))
    (other / "data.txt").write_text("theirs\n")
    git(other, "commit", "-q", "-am", "theirs")
    git(other, "push", "-q", "origin", "main")
    (mine / "data.txt").write_text("mine\n")
    fleet = Fleet(tree.config())
    fleet.discover()
    report = fleet.cycle(trigger="test")
    assert report is not None
    [result] = report.results
    assert result.status == "escaped"
    assert not report.ok
    assert result.run is not None
    branch = result.run.conflict_branch
    assert branch is not None
    assert branch.startswith("conflicts/")
    escaped = rev(remote, f"refs/heads/{branch}")
    assert escaped is not None
    assert git(remote, "show", f"{escaped}:data.txt") == "mine"
    assert rev(mine, "HEAD") == rev(remote, "refs/heads/main")
    assert (mine / "data.txt").read_text() == "theirs\n"


def test_discovery_again_adds_new_repositories_and_drops_removed_ones(tree: Tree) -> None:
    """Rediscovery sees a new clone and forgets a removed one."""
    a = tree.repo("base/a")
    fleet = Fleet(tree.config())
    fleet.discover()
    tree.repo("base/b")
    os.rename(a, tree.root / "gone")
    fleet.discover()
    assert [r.name for r in fleet.repos.values()] == ["base/b"]


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("ssh://git@example.com:22/x.git", "example.com"),
        ("git@github.com:org/x.git", "github.com"),
        ("https://gitlab.example/x.git", "gitlab.example"),
        ("/srv/remote.git", "local"),
        ("file:///srv/remote.git", "local"),
    ],
)
def test_pushes_are_bounded_per_host(url: str, host: str) -> None:
    """Each remote URL is counted against its host, a path against 'local'."""
    assert host_of(url) == host


def test_pushes_to_one_host_are_bounded(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    """With per_host_concurrency 1, no two reconciles of repositories on one host overlap,
    though four may commit at a time."""
    real = reconcile.reconcile
    lock = threading.Lock()
    running, most = 0, 0

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(cycle_module, "reconcile", counted)
    repos = [tree.repo(f"base/r{n}", ssh=True) for n in range(4)]
    for repo in repos:
        (repo / "data.txt").write_text("2\n")
    fleet = Fleet(tree.config(concurrency=4, per_host_concurrency=1))
    fleet.discover()
    report = fleet.cycle()
    assert report is not None
    assert report.pushed == 4
    assert most == 1
