"""The write path loses nothing, on generated sequences of application writes.

The application creates, modifies, deletes and renames files; commit runs and other
writers' pushes come in between, in any order. Every version of a file that was in
the working tree when a commit run began is afterwards in a commit on the local
branch, on the remote branch, on a conflicts/* branch of the remote, or still in
the working tree; and the repository stays sound.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pygit2
from commitutil import status
from gitutil import World, git
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile import CommitRequest, Outcome, reconcile

NAMES = ["a.txt", "b.txt", "dir/c.txt", "dir/sub/d.txt"]

operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("commit")),
    st.tuples(st.just("remote"), st.sampled_from([*NAMES, "remote.txt"])),
)


@dataclass
class App:
    """The application and the repository it writes to."""

    world: World
    tree: Path
    counter: itertools.count[int] = field(default_factory=itertools.count)
    offered: set[bytes] = field(default_factory=set)  # versions a commit run began with

    def content(self, who: str) -> bytes:
        return f"{who} version {next(self.counter)}\n".encode()

    def apply(self, op: tuple[str, ...]) -> None:
        kind = op[0]
        if kind == "write":
            path = self.tree / op[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.content("app"))
        elif kind == "delete":
            (self.tree / op[1]).unlink(missing_ok=True)
        elif kind == "rename":
            source, target = self.tree / op[1], self.tree / op[2]
            if source.exists() and source != target:
                target.parent.mkdir(parents=True, exist_ok=True)
                source.rename(target)
        elif kind == "remote":
            self.world.remote_commit({op[1]: self.content("remote").decode()}, "other writer")
        else:
            self.commit()

    def versions_in_tree(self) -> set[bytes]:
        found: set[bytes] = set()
        for top, folders, files in os.walk(self.tree):
            folders[:] = [f for f in folders if f != ".git"]
            found.update(Path(top, name).read_bytes() for name in files)
        return found

    def commit(self) -> None:
        self.offered |= self.versions_in_tree()
        result = reconcile(self.world.spec(self.tree), commit=CommitRequest(trigger="property"))
        assert result.outcome in {
            Outcome.IN_SYNC,
            Outcome.FAST_FORWARDED,
            Outcome.PUSHED_AHEAD,
            Outcome.REBASED,
            Outcome.CONFLICT_ESCAPED,
        }, result.reason
        assert status(self.tree) == "", result.reason


def _blobs(repo: Path, tips: list[str]) -> set[bytes]:
    r = pygit2.Repository(str(repo))
    found: set[bytes] = set()
    for tip in tips:
        for commit in r.walk(tip):
            stack = [commit.tree]
            while stack:
                for entry in stack.pop():
                    obj = r[entry.id]
                    if isinstance(obj, pygit2.Tree):
                        stack.append(obj)
                    elif isinstance(obj, pygit2.Blob):
                        found.add(obj.data)
    return found


def _kept(app: App) -> set[bytes]:
    """Every version on the local branch, the remote's branches, or in the tree."""
    remote = app.world.remote
    tips = git(remote, "for-each-ref", "--format=%(objectname)", "refs/heads/").split()
    local = _blobs(app.tree, [git(app.tree, "rev-parse", "main")])
    return local | _blobs(remote, tips) | app.versions_in_tree()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(operation, min_size=1, max_size=14))
def test_application_writes_are_never_lost(ops: list[tuple[str, ...]]) -> None:
    """Whatever the application writes, deletes or renames between commit runs and
    other writers' pushes, every version a commit run saw is kept somewhere, and a
    last commit run leaves the tree clean and the repository sound."""
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        world.seed({"a.txt": "seed\n"})
        app = App(world, world.clone("app"))
        for op in ops:
            app.apply(op)
            missing = app.offered - _kept(app)
            assert not missing, (op, sorted(missing))
        app.commit()
        assert not app.offered - _kept(app)
        git(app.tree, "fsck", "--strict")
