"""Benchmark: the write path against git, side by side.

    python tests/bench/bench_commit.py [--runs 15]

A 10,000-file working tree (one commit on its remote) has 10 of its files changed;
then the change is committed and pushed by:

- git-reconcile in-process: ``reconcile(spec, commit=CommitRequest(message=...))``;
- git-reconcile's command line: ``git-reconcile commit PATH --json -m ...``;
- the git command line: ``git add -A && git commit -q -m ... && git push -q origin main``;

over a path remote and over the tests' SSH git server (in its own process). Each run
gets a fresh copy of the tree whose index is refreshed first (untimed), as a live
application's would be, and the remote branch is put back at the first commit
(untimed). Contenders are interleaved as in bench_vs_git.py; times are medians.
Writes tests/bench/results/commit.md and prints it.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))
sys.path.append(str(HERE))

from bench_vs_git import (  # noqa: E402
    Contender,
    Transport,
    bare,
    cli_command,
    interleave,
    log,
    machine,
    ms,
    ratio,
    sh,
    ssh_server,
)
from gitutil import git, isolate_git_config  # noqa: E402

from reconcile import CommitRequest, Outcome, reconcile  # noqa: E402

RESULTS = HERE / "results" / "commit.md"
FILES = 10_000  # files in the tree
CHANGED = 10  # files each run changes
MESSAGE = "Update the readings"


def build_tree(root: Path) -> tuple[Path, str]:
    """A bare remote whose main has one commit of FILES files, in 100 folders."""
    remote = bare(root / "remote.git")
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=remote, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"commit refs/heads/main\ncommitter Bench <b@x> 1700000000 +0000\n")
    proc.stdin.write(b"data 4\nseed\n")
    for n in range(FILES):
        body = f"record {n}: {n * 7919 % 104729}\n".encode()
        proc.stdin.write(f"M 100644 inline data/{n // 100:03d}/{n:05d}.txt\n".encode())
        proc.stdin.write(f"data {len(body)}\n".encode() + body + b"\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    return remote, git(remote, "rev-parse", "main")


def template(root: Path, remote: Path) -> Path:
    """A working-tree clone of the remote, with its index up to date."""
    clone = root / "template"
    git(root, "clone", "-q", str(remote), str(clone))
    git(clone, "config", "user.name", "Bench")
    git(clone, "config", "user.email", "bench@example.invalid")
    return clone


class Rounds:
    """Fresh copies of the template, each with CHANGED files changed, and the remote
    branch put back at the seed commit."""

    def __init__(self, root: Path, base: Path, remote: Path, seed: str, url: str) -> None:
        self.root, self.base, self.remote, self.seed, self.url = root, base, remote, seed, url
        self.counter = itertools.count()

    def prepare(self, _round: int) -> Path:
        git(self.remote, "update-ref", "refs/heads/main", self.seed)
        tree = self.root / f"run-{next(self.counter)}"
        shutil.copytree(self.base, tree, symlinks=True)
        git(tree, "remote", "set-url", "origin", self.url)
        git(tree, "update-index", "-q", "--refresh")
        n = next(self.counter)
        for i in range(CHANGED):
            path = tree / "data" / f"{i * 7:03d}" / f"{i * 700:05d}.txt"
            path.write_text(f"record {i * 700}: changed in round {n}\n")
        return tree

    def check(self, tree: Path, _out: object) -> None:
        head = git(tree, "rev-parse", "HEAD")
        assert head != self.seed, "nothing was committed"
        assert git(self.remote, "rev-parse", "main") == head, "the commit was not pushed"
        changed = git(tree, "diff", "--name-only", f"{self.seed}..{head}").splitlines()
        assert len(changed) == CHANGED, changed
        assert git(tree, "status", "--porcelain") == "", "the tree is not clean"

    @staticmethod
    def cleanup(tree: Path) -> None:
        shutil.rmtree(tree)


def contenders(rounds: Rounds, transport: Transport) -> list[Contender]:
    def in_process(tree: Path) -> object:
        result = reconcile(transport.spec(tree), commit=CommitRequest(message=MESSAGE))
        assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
        return result

    def cli(tree: Path) -> object:
        return sh(
            tree,
            [*cli_command(), "commit", str(tree), "--json", "-m", MESSAGE, *transport.cli_args()],
            transport.env,
        )

    def shell(tree: Path) -> object:
        command = f"git add -A && git commit -q -m '{MESSAGE}' && git push -q origin main"
        return sh(tree, ["sh", "-c", command], transport.env)

    made: list[Contender] = []
    runs: list[tuple[str, Callable[[Path], object]]] = [
        ("inproc", in_process),
        ("cli", cli),
        ("git", shell),
    ]
    for name, run in runs:
        made.append(Contender(name, run, rounds.prepare, rounds.check, rounds.cleanup))
    return made


def measure(  # noqa: PLR0917  (the tree, its remote and the transport of one section)
    root: Path, base: Path, remote: Path, seed: str, transport: Transport, runs: int
) -> dict[str, float]:
    rounds = Rounds(root / f"rounds-{transport.name}", base, remote, seed, transport.url(remote))
    rounds.root.mkdir()
    found = contenders(rounds, transport)
    log(f"{transport.name}: {runs} rounds of {', '.join(c.name for c in found)}")
    interleave(found, runs)
    return {c.name: c.median_ms for c in found}


def render(medians: dict[str, dict[str, float]], runs: int, elapsed: float, commit: str) -> str:
    lines = [
        "# The write path against git",
        "",
        f"Produced by `python tests/bench/bench_commit.py --runs {runs}` on "
        f"{time.strftime('%Y-%m-%d')} at commit {commit}, in {elapsed / 60:.1f} minutes. "
        + machine(),
        "",
        f"A {FILES:,}-file working tree has {CHANGED} of its files changed; the change is "
        "committed and pushed (one new commit on the remote). Each run gets a fresh copy "
        "of the tree with its index refreshed (untimed). Median of "
        f"{runs} interleaved rounds; ratio = git-reconcile / git, below 1 is faster. The "
        "CLI rows include starting Python.",
        "",
        "| transport | git-reconcile | median | git command line | median | ratio |",
        "|---|---|---|---|---|---|",
    ]
    shell = "`git add -A && git commit -m ... && git push`"
    for transport, m in medians.items():
        lines.append(
            f"| {transport} | in-process `reconcile(spec, commit=...)` | {ms(m['inproc'])} "
            f"| {shell} | {ms(m['git'])} | {ratio(m['inproc'], m['git'])} |"
        )
        lines.append(
            f"| {transport} | CLI `git-reconcile commit` | {ms(m['cli'])} "
            f"| {shell} | {ms(m['git'])} | {ratio(m['cli'], m['git'])} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="interleaved rounds (default: 15)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    began = time.perf_counter()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=HERE,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-commit-") as tmp:
        root = Path(tmp)
        isolate_git_config(root / "home")
        log(f"building a {FILES:,}-file tree")
        remote, seed = build_tree(root)
        base = template(root, remote)
        medians: dict[str, dict[str, float]] = {}
        with ssh_server(root) as ssh:
            for transport in (Transport("path"), ssh):
                medians[transport.name] = measure(root, base, remote, seed, transport, args.runs)
    text = render(medians, args.runs, time.perf_counter() - began, commit)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
