"""git as the oracle: one divergent history, rebased by ``git rebase`` and by reconcile().

A history is a base tree, the remote's commits and the local commits, each commit a
change (path -> content and mode, or None to delete; an empty change is an empty
commit). ``compare()`` builds a bare remote holding the remote's commits on ``main``
and the local ones under ``refs/oracle/local``, then two clones of the local branch:
a working tree where the git command line runs ``git rebase`` with every choice
spelled out, and a bare one that reconcile() runs in. It returns both sides' answers.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from reconcile import Outcome, RepoSpec, Result, reconcile

__all__ = [
    "BLOB",
    "EXEC",
    "GIT_REBASE",
    "LINK",
    "Answer",
    "Change",
    "History",
    "State",
    "compare",
]

BLOB, EXEC, LINK = int(FileMode.BLOB), int(FileMode.BLOB_EXECUTABLE), int(FileMode.LINK)

Entry = tuple[bytes, int]  # content and mode
State = dict[str, Entry]  # a tree, path by path
Change = dict[str, Entry | None]  # None deletes; {} is an empty commit

# git rebase with its choices explicit: the merge backend, directory renames reported
# as conflicts, patches already upstream skipped, commits that become empty dropped
# and those empty from the start kept, no fork point, no autosquash, no ref updates.
GIT_REBASE = (
    "-c",
    "merge.directoryRenames=conflict",
    "-c",
    "merge.renames=true",
    "-c",
    "rebase.backend=merge",
    "-c",
    "core.autocrlf=false",
    "-c",
    "commit.gpgSign=false",
    "rebase",
    "--no-reapply-cherry-picks",
    "--empty=drop",
    "--keep-empty",
    "--no-autosquash",
    "--no-fork-point",
    "--no-update-refs",
    "refs/remotes/origin/main",
)


@dataclass(frozen=True)
class History:
    """A base tree, then the remote's commits and the local commits on top of it."""

    base: State
    upstream: list[Change]
    local: list[Change]


Identity = tuple[str, str, int, int, str]  # author name, email, time, offset; message


@dataclass
class Answer:
    """What git and reconcile() made of one history."""

    git_clean: bool
    git_output: str
    git_tree: str | None  # the tree git's rebase ended with, when it was clean
    git_paths: frozenset[str]  # the files in it
    git_commits: list[Identity]  # git's rebased commits on top of the remote's, oldest first
    result: Result
    tree: str | None  # the tree of reconcile()'s local branch afterwards
    commits: list[Identity]  # its commits on top of the remote's, oldest first
    upstream_tip: str
    local_tip: str
    local_commits: list[str] = field(default_factory=list)  # the history's local commits
    remote: Path = Path()

    @property
    def agrees(self) -> bool:
        """reconcile() rebased to git's tree and commits."""
        return (
            self.git_clean
            and self.result.outcome is Outcome.REBASED
            and self.tree == self.git_tree
            and self.commits == self.git_commits
        )


def compare(history: History, root: Path) -> Answer:
    """Rebase ``history`` both ways under ``root`` and report both answers."""
    remote_path = root / "remote.git"
    remote = pygit2.init_repository(str(remote_path), bare=True, initial_head="main")
    when = _Clock()
    base = _commit(remote, {}, _as_change(history.base), [], message="base\n", when=when)
    up = base
    for n, change in enumerate(history.upstream):
        state = _tree_state(remote, up)
        up = _commit(remote, state, change, [up], message=f"remote {n}\n", when=when)
    local = base
    local_commits = []
    for n, change in enumerate(history.local):
        state = _tree_state(remote, local)
        message = f"local {n}\n\nbody ü\n"
        local = _commit(remote, state, change, [local], message=message, when=when)
        local_commits.append(str(local))
    remote.references.create("refs/heads/main", up, force=True)
    remote.references.create("refs/oracle/local", local, force=True)

    theirs = _clone(remote_path, root / "git", bare=False)
    done = subprocess.run(
        ["git", *GIT_REBASE], cwd=theirs, capture_output=True, text=True, check=False
    )
    git_repo = pygit2.Repository(str(theirs))
    git_clean = done.returncode == 0
    git_head = git_repo.head.peel(pygit2.Commit) if git_clean else None

    mine = _clone(remote_path, root / "mine", bare=True)
    result = reconcile(RepoSpec(mine))
    mine_repo = pygit2.Repository(str(mine))
    tip = mine_repo.branches.local["main"].peel(pygit2.Commit)
    return Answer(
        git_clean=git_clean,
        git_output=done.stdout + done.stderr,
        git_tree=str(git_head.tree_id) if git_head is not None else None,
        git_paths=_paths(git_head.tree) if git_head is not None else frozenset(),
        git_commits=_on_top(git_repo, git_head, str(up)) if git_head is not None else [],
        result=result,
        tree=str(tip.tree_id),
        commits=_on_top(mine_repo, tip, str(up)),
        upstream_tip=str(up),
        local_tip=str(local),
        local_commits=local_commits,
        remote=remote_path,
    )


class _Clock:
    """Author times one second apart, so every commit is told apart by its author."""

    def __init__(self) -> None:
        self.now = 1_700_000_000

    def signature(self) -> pygit2.Signature:
        self.now += 1
        name = "Écrivain Ω" if self.now % 2 else "writer"
        return pygit2.Signature(name, "writer@example.invalid", self.now, 60)


def _as_change(state: State) -> Change:
    return dict(state.items())


def _tree_state(repo: pygit2.Repository, commit: pygit2.Oid) -> State:
    state: State = {}
    index = pygit2.Index()
    index.read_tree(repo[commit].peel(pygit2.Commit).tree)
    for entry in index:
        blob = repo[entry.id]
        assert isinstance(blob, pygit2.Blob)
        state[entry.path] = (blob.data, entry.mode)
    return state


def _commit(
    repo: pygit2.Repository,
    state: State,
    change: Change,
    parents: list[pygit2.Oid],
    *,
    message: str,
    when: _Clock,
) -> pygit2.Oid:
    index = pygit2.Index()
    for path, entry in {**state, **change}.items():
        if entry is not None:
            content, mode = entry
            index.add(pygit2.IndexEntry(path, repo.create_blob(content), FileMode(mode)))
    tree = index.write_tree(repo)
    author = when.signature()
    return repo.create_commit(None, author, author, message, tree, parents)


def _clone(remote: Path, path: Path, *, bare: bool) -> Path:
    """The local branch of the history, with the remote as ``origin``."""
    repo = pygit2.init_repository(str(path), bare=bare, initial_head="main")
    repo.remotes.create("origin", str(remote))
    refspecs = ["+refs/oracle/local:refs/heads/main"]
    if not bare:
        refspecs.append("+refs/heads/main:refs/remotes/origin/main")
    repo.remotes["origin"].fetch(refspecs)
    if not bare:
        repo.checkout_head(strategy=pygit2.enums.CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
    return path


def _paths(tree: pygit2.Tree) -> frozenset[str]:
    index = pygit2.Index()
    index.read_tree(tree)
    return frozenset(entry.path for entry in index)


def _on_top(repo: pygit2.Repository, tip: pygit2.Commit, upstream: str) -> list[Identity]:
    """The commits from ``tip`` back to ``upstream`` (exclusive), oldest first."""
    walker = repo.walk(tip.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
    walker.hide(upstream)
    return [
        (c.author.name, c.author.email, c.author.time, c.author.offset, c.message) for c in walker
    ]
