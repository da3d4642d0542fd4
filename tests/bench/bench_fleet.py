"""Benchmark: fleet mode against the shell loop it replaces.

    python tests/bench/bench_fleet.py [--quick] [--sizes 68,1000]

N repositories (68, the set-up the issue names, and 1,000), each a small clone (20
files in 4 folders, path remote, one commit pushed), 10 % of them dirty (one file
changed, one added), committed and pushed in one cycle by:

- ``fleet --once``: ``git-reconcile fleet BASE --once --json``, a fresh process (no
  watermark yet: every repository gets a full status);
- a fleet service's cycle: ``Fleet.cycle()`` in a process whose fleet ran one cycle
  before the repositories were dirtied (the watermark set, as in a running service);
- the shell loop: ``for d; do git -C $d status --porcelain``, then ``git add -A`` and
  ``git commit`` where it printed something; then a second loop of ``git push`` over
  every repository (such loops do not know which ones are ahead).

And an idle cycle over 1,000 clean repositories (the fleet service's second cycle,
and the same shell loop). Each contender runs in its own process, measured with
``wait4``: wall time, time per repository, and peak RSS (the largest process of the
tree: for the shell loop, its largest git). Every run gets fresh copies (untimed).
Writes tests/bench/results/fleet.md and prints it. ``--quick`` runs 68 and 200.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.append(str(HERE.parent))
sys.path.append(str(HERE))

from bench_vs_git import machine, ms  # noqa: E402
from gitutil import git, isolate_git_config  # noqa: E402

from plugin.fleet import Fleet, FleetConfig  # noqa: E402

RESULTS = HERE / "results" / "fleet.md"
FILES = 20

SHELL_LOOP = r"""
for d in "$@"; do
  if [ -n "$(git -C "$d" status --porcelain)" ]; then
    git -C "$d" add -A && git -C "$d" commit -q -m "auto-commit"
  fi
done
for d in "$@"; do
  git -C "$d" push -q origin main 2>/dev/null
done
"""


def log(message: str) -> None:
    print(f"[bench_fleet] {message}", file=sys.stderr, flush=True)


@dataclass
class Measured:
    """A process's wall time and peak RSS, and the cycle's own time inside it (the whole
    process for the shell loop)."""

    seconds: float
    peak_kib: int
    repos: int
    cycle: float | None = None

    @property
    def cycle_seconds(self) -> float:
        return self.seconds if self.cycle is None else self.cycle

    @property
    def per_repo_ms(self) -> float:
        return self.cycle_seconds * 1000.0 / self.repos


def template(root: Path) -> tuple[Path, Path]:
    """One bare remote and one clone of it, with FILES files, to copy."""
    remote = root / "template.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    clone = root / "template"
    git(root, "init", "-q", "-b", "main", str(clone))
    for n in range(FILES):
        path = clone / f"d{n % 4}" / f"f{n:02d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"record {n}\n")
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", "seed")
    git(clone, "remote", "add", "origin", str(remote))
    git(clone, "push", "-q", "origin", "main")
    return remote, clone


def fleet_tree(root: Path, count: int, tpl: tuple[Path, Path]) -> list[Path]:
    """``count`` clones under root/base (in 10 folders), each with its own remote."""
    remote, clone = tpl
    repos = []
    for n in range(count):
        bare = root / "remotes" / f"r{n:04d}.git"
        shutil.copytree(remote, bare, symlinks=True)
        path = root / "base" / f"group{n % 10}" / f"repo{n:04d}"
        shutil.copytree(clone, path, symlinks=True)
        config = path / ".git" / "config"
        config.write_text(config.read_text().replace(str(remote), str(bare)))
        repos.append(path)
    return repos


def dirty(repos: list[Path]) -> int:
    """Change one file and add one in every tenth repository."""
    touched = repos[::10]
    for path in touched:
        (path / "d0" / "f00.txt").write_text("changed\n")
        (path / "new.txt").write_text("new\n")
    return len(touched)


def backdate(root: Path) -> None:
    """Make the fresh copies look written a while ago (the change check counts a time
    just before its watermark as a change)."""
    then = time.time() - 120
    for folder, _dirs, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(folder, name), (then, then), follow_symlinks=False)
        os.utime(folder, (then, then))


def measure(command: list[str], repos: int, env: dict[str, str]) -> tuple[Measured, str]:
    """Run ``command`` in its own process: wall time, peak RSS (of its whole tree), output."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out.seek(0)
        err.seek(0)
        text, problem = out.read().decode(), err.read().decode()
    if code != 0:
        raise RuntimeError(f"{command[:3]} exited {code}: {problem[-2000:]}")
    return Measured(seconds, int(usage.ru_maxrss), repos), text


def worker(base: Path, mode: str, data: Path) -> None:
    """In its own process: a fleet that ran one cycle, then (timed) its next one, after
    dirtying 10 % of the repositories when ``mode`` is ``dirty``."""
    fleet = Fleet(FleetConfig(base_paths=(base,)))
    fleet.discover()
    fleet.cycle()
    repos = sorted(r.path for r in fleet.repos.values())
    if mode == "dirty":
        dirty(repos)
    started = time.perf_counter()
    report = fleet.cycle()
    seconds = time.perf_counter() - started
    assert report is not None
    print(json.dumps({"seconds": seconds, "committed": report.committed, "failed": report.failed}))


def env_for(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", XDG_CONFIG_HOME=str(home / ".config"))
    return env


def run_size(
    root: Path, count: int, tpl: tuple[Path, Path], env: dict[str, str]
) -> dict[str, Measured]:
    """The three contenders of one size, each on fresh copies."""
    found: dict[str, Measured] = {}
    python = sys.executable
    for name in ("fleet --once", "fleet service cycle", "shell loop"):
        place = Path(tempfile.mkdtemp(dir=root))
        repos = fleet_tree(place, count, tpl)
        backdate(place)
        log(f"{count} repositories: {name}")
        if name == "fleet --once":
            want = dirty(repos)
            command = [python, "-m", "plugin", "fleet", str(place / "base"), "--once", "--json"]
            measured, out = measure([*command, "--data-dir", str(place / "data")], count, env)
            summary = json.loads(out)
            assert (summary["committed"], summary["failed"]) == (want, 0), summary
            measured.cycle = summary["duration_ms"] / 1000.0
        elif name == "fleet service cycle":
            command = [python, __file__, "--worker", "dirty", str(place / "base"), str(place)]
            measured, out = measure(command, count, env)
            inner = json.loads(out)
            assert inner["committed"] == len(repos[::10])
            assert not inner["failed"]
            measured.cycle = inner["seconds"]
        else:
            dirty(repos)
            measured, _ = measure(["bash", "-c", SHELL_LOOP, "loop", *map(str, repos)], count, env)
        found[name] = measured
        shutil.rmtree(place, ignore_errors=True)
    return found


def run_idle(
    root: Path, count: int, tpl: tuple[Path, Path], env: dict[str, str]
) -> dict[str, Measured]:
    found: dict[str, Measured] = {}
    for name in ("fleet service cycle", "shell loop"):
        place = Path(tempfile.mkdtemp(dir=root))
        repos = fleet_tree(place, count, tpl)
        backdate(place)
        log(f"idle, {count} repositories: {name}")
        if name == "shell loop":
            measured, _ = measure(["bash", "-c", SHELL_LOOP, "loop", *map(str, repos)], count, env)
        else:
            command = [
                sys.executable,
                __file__,
                "--worker",
                "idle",
                str(place / "base"),
                str(place),
            ]
            measured, out = measure(command, count, env)
            measured.cycle = json.loads(out)["seconds"]
        found[name] = measured
        shutil.rmtree(place, ignore_errors=True)
    return found


def table(title: str, rows: dict[str, Measured]) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| contender | the cycle | per repository | the whole process | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for name, m in rows.items():
        lines.append(
            f"| {name} | {ms(m.cycle_seconds * 1000)} | {m.per_repo_ms:.2f} ms "
            f"| {ms(m.seconds * 1000)} | {m.peak_kib / 1024:.0f} MiB |"
        )
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="68 and 200 repositories")
    parser.add_argument("--sizes", help="comma-separated sizes (default: 68,1000)")
    parser.add_argument(
        "--worker", nargs=3, metavar=("MODE", "BASE", "DATA"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        mode, base, data = args.worker
        worker(Path(base), mode, Path(data))
        return 0
    sizes = [int(s) for s in (args.sizes or ("68,200" if args.quick else "68,1000")).split(",")]
    root = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        home = root / "home"
        isolate_git_config(home)
        env = env_for(home)
        tpl = template(root)
        lines = [
            "# Fleet mode against a shell loop",
            "",
            f"Generated by `python tests/bench/bench_fleet.py{' --quick' if args.quick else ''}`. "
            f"{machine()}",
            "",
            "One run of each contender on fresh copies; path remotes; 10 % of the "
            "repositories dirty; the fleet's defaults (4 at a time, 2 pushes per host). "
            "*The cycle* is the cycle's own time (`duration_ms` of `fleet --once`, "
            "`Fleet.cycle()` timed in its process) and the whole of the shell loop; *the "
            "whole process* adds the interpreter's start-up, imports, discovery, and for "
            "`fleet --once` the audit store's migrations and record, for the service "
            "the cycle run before (the service's state). Peak RSS is the largest "
            "process of each run's tree (`wait4`).",
            "",
        ]
        for count in sizes:
            lines += table(
                f"{count} repositories, 10 % dirty: one cycle", run_size(root, count, tpl, env)
            )
        idle = max(sizes)
        lines += table(f"{idle} clean repositories: an idle cycle", run_idle(root, idle, tpl, env))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = "\n".join(lines)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
