"""Benchmark: the in-memory rebase over a long upstream, and what agreeing with git costs.

    python tests/bench/bench_replay.py [--upstream 1500] [--local 10] [--files 2000] [--runs 5]

A bare repository with a tree of ``--files`` files in 50 directories, an upstream of
``--upstream`` commits each editing one file (every 20th also adding one), and
``--local`` local commits each editing one file. In the "same paths" history every
local commit edits a file the upstream edited too (the patch-id screen lets those
commits through to a full patch id); in "other paths" none does. Times, medians of
``--runs``: the plain replay (libgit2's three-way merge per commit, as before the
checks), the patch-id pass alone (the walk of the upstream included), and the whole
replay with every check. The objects are packed, as a clone's and a fetch's are.
Writes tests/bench/results/replay.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pygit2
from pygit2.enums import FileMode, SortMode

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))

from reconcile._git import GitRepo, replay  # noqa: E402
from reconcile._git._patch_ids import already_upstream  # noqa: E402

AUTHOR = pygit2.Signature("Bench", "bench@example.invalid", 1_700_000_000, 0)


def _commit(
    repo: pygit2.Repository, parent: pygit2.Commit | None, files: dict[str, bytes]
) -> pygit2.Commit:
    index = pygit2.Index()
    if parent is not None:
        index.read_tree(parent.tree)
    for path, data in files.items():
        index.add(pygit2.IndexEntry(path, repo.create_blob(data), FileMode.BLOB))
    tree = index.write_tree(repo)
    parents = [parent.id] if parent is not None else []
    oid = repo.create_commit(None, AUTHOR, AUTHOR, "bench\n", tree, parents)
    return repo[oid].peel(pygit2.Commit)


def _history(
    root: Path, args: argparse.Namespace, same_paths: bool
) -> tuple[pygit2.Repository, str, str]:
    rng = random.Random(7)
    repo = pygit2.init_repository(str(root), bare=True)
    paths = [f"dir{n % 50}/file{n}.txt" for n in range(args.files)]
    lines = [b"".join(b"line %d of %s\n" % (k, p.encode()) for k in range(30)) for p in paths]
    base = _commit(repo, None, dict(zip(paths, lines, strict=True)))
    upstream, edited = base, []
    for n in range(args.upstream):
        k = rng.randrange(len(paths))
        data = _data(upstream, paths[k]).replace(b"line 3 ", b"line 3 u%d " % n, 1)
        files = {paths[k]: data}
        if n % 20 == 0:
            files[f"dir{n % 50}/added{n}.txt"] = b"added %d\n" % n
        upstream = _commit(repo, upstream, files)
        edited.append(k)
    local = base
    for n in range(args.local):
        k = edited[rng.randrange(len(edited))] if same_paths else len(paths) - 1 - n
        data = _data(local, paths[k]).replace(b"line 25 ", b"line 25 l%d " % n, 1)
        local = _commit(repo, local, {paths[k]: data})
    # A fetched upstream arrives as a pack; pack everything, as a clone's objects are.
    subprocess.run(["git", "-C", str(root), "repack", "-adq"], check=True)
    return pygit2.Repository(str(root)), str(local.id), str(upstream.id)


def _data(commit: pygit2.Commit, path: str) -> bytes:
    blob = commit.tree[path]
    assert isinstance(blob, pygit2.Blob)
    return blob.data


def _plain(repo: pygit2.Repository, local: str, onto: str) -> None:
    """The replay as it was: a three-way merge per commit, nothing else."""
    walker = repo.walk(local, SortMode.TOPOLOGICAL | SortMode.REVERSE)
    walker.hide(onto)
    tip = repo[onto].peel(pygit2.Commit)
    for commit in walker:
        index = repo.merge_trees(commit.parents[0].tree, tip.tree, commit.tree)
        assert index.conflicts is None
        tree = index.write_tree(repo)
        tip = repo[repo.create_commit(None, AUTHOR, AUTHOR, commit.message, tree, [tip.id])].peel(
            pygit2.Commit
        )


def _patch_pass(repo: pygit2.Repository, local: str, onto: str) -> None:
    def walk(tip: str, hidden: str) -> list[pygit2.Commit]:
        walker = repo.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE)
        walker.hide(hidden)
        return list(walker)

    already_upstream(repo, walk(local, onto), walk(onto, local))


def _median(fn: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _row(args: argparse.Namespace, same_paths: bool) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        repo, local, onto = _history(Path(tmp), args, same_paths)
        git_repo = GitRepo(Path(tmp))
        plain = _median(lambda: _plain(repo, local, onto), args.runs)
        patches = _median(lambda: _patch_pass(repo, local, onto), args.runs)
        full = _median(lambda: _check(replay(git_repo, local, onto, None)), args.runs)
    label = "same paths" if same_paths else "other paths"
    times = " | ".join(f"{t * 1000:.1f} ms" for t in (plain, patches, full))
    return f"| {label} | {times} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--upstream", type=int, default=1500)
    parser.add_argument("--local", type=int, default=10)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = [_row(args, same_paths) for same_paths in (True, False)]
    table = "\n".join(
        [
            f"Replay of {args.local} local commits onto {args.upstream:,} upstream commits, "
            f"a tree of {args.files:,} files; medians of {args.runs} runs.",
            "",
            "| local commits edit | plain replay | patch-id pass | replay with every check |",
            "|---|---|---|---|",
            *rows,
        ]
    )
    print(table)
    out = HERE / "results" / "replay.md"
    out.write_text(table + "\n")


def _check(result: object) -> None:
    assert getattr(result, "tip", None) is not None, result


if __name__ == "__main__":
    main()
