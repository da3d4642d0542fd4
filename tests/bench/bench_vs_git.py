"""Benchmark: git-reconcile against the git command line, side by side.

    python tests/bench/bench_vs_git.py [--runs 20] [--quick] [--no-wheel]

Everything runs on loopback against the test fixtures: remotes by path, and the
SSH git server of the tests (tests/bench/sshd_process.py, in its own process, which
also counts the connections it accepts). Contenders are interleaved (A B A B ...)
and the tables give medians (and p95 where the tail matters), with the ratio
git-reconcile / comparison next to the absolute times. Sections:

0. the command line's start-up: ``--help`` and ``--version``;
1. a no-op (in-sync) reconcile of one repository with a 1,000-commit history, in
   process and through the command line, with connections per run over ssh;
2. a fast-forward, a rebase-and-push and a conflict escape, each on fresh copies,
   with connections per run over ssh;
3. 100 and 1,000 in-sync repositories, with bounded concurrency, against a
   sequential shell loop (wall time and peak RSS);
4. a 5,000-commit (about 50 MiB) fetch over SSH, against git clone and git fetch;
5. webhooks, latency and under load (measured by bench_webhooks.py; quoted).

The command line is measured twice: the development install's console script, and
(unless ``--no-wheel``) that of a wheel of this tree installed with its dependencies
in a fresh virtual environment, the installed product the targets are for.

Writes tests/bench/results/vs_git.md and prints it. ``--quick`` keeps sections 0 to
2 as they are and runs fewer rounds of 3 and 4 (and section 3 at 100 only).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import math
import os
import platform
import pstats
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pygit2

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))

from gitutil import commit_worktree, git, isolate_git_config  # noqa: E402

from reconcile import Outcome, PushStatus, RepoSpec, Result, SSHKey, reconcile  # noqa: E402
from reconcile._git import _nodelay  # noqa: E402  (its status, reported with the tail)

RESULTS = HERE / "results" / "vs_git.md"
WEBHOOKS = HERE / "results" / "webhooks.md"

HISTORY = 1_000  # commits of the repository of sections 1 and 2
HISTORY_SIZE = 1_000  # bytes of hex each of its commits writes
REMOTE_NEW = 100  # commits the remote gains in section 2
LOCAL_NEW = 10  # local commits in section 2's rebase and conflict escape
SCALE_HISTORY = 10  # commits of each repository of section 3
BIG_COMMITS = 5_000  # section 4
BIG_SIZE = 20_000  # bytes of hex per commit in section 4 (10,000 random bytes)
FILES = 50  # each commit rewrites data/<n % FILES>.txt

SETTLE = 0.005  # seconds between timed runs (see interleave)
STALL = 0.030  # a run this much slower than the contender's fastest waited on a stall
# The targets of issue 12 (medians; ratios from one run).
TARGET_STARTUP_MS = 80.0  # `git-reconcile --help` and `--version`, installed from a wheel
TARGET_CLI_PATH_MS = 130.0  # `git-reconcile run --json` in-sync over a path (wheel)
TARGET_CLI_SSH = 1.5  # ... over ssh, at most this times the shell git command
TARGET_LIST_HEADS = {"path": 2.0, "ssh": 1.1}  # in-process in-sync / pygit2 list_heads
TARGET_TAIL = 1.3  # over ssh, p95 at most this times the median
TARGET_BIGGER_SSH = {"rebase": 0.5, "conflict": 0.6}  # over ssh, at most this times git's
TARGET_SCALE = 0.15  # in-sync repos (the largest count), at most this times the shell loop
TARGET_LINEAR = 1.25  # per-repo wall time at 1,000 repos at most this times at 100
TARGET_RSS_PER_REPO_KIB = 64.0  # peak RSS growth per repository, 100 -> 1,000

SHELL_FETCH = "git fetch origin main && git rev-parse HEAD origin/main"
SHELL_LOOP = (
    'for d in $(cat "$1"); do '
    'git -C "$d" fetch -q origin main && git -C "$d" rev-parse HEAD origin/main >/dev/null '
    "|| exit 1; done"
)


def log(message: str) -> None:
    print(f"[bench_vs_git] {message}", file=sys.stderr, flush=True)


# --- measuring -----------------------------------------------------------------------


@dataclass
class Contender:
    """One side of a comparison: prepare (untimed), run (timed), check (untimed)."""

    name: str
    run: Callable[[Path], object]
    prepare: Callable[[int], Path]
    check: Callable[[Path, object], None] = lambda _path, _out: None
    cleanup: Callable[[Path], None] = lambda _path: None
    times: list[float] = field(default_factory=list)

    connections: list[int] = field(default_factory=list)
    services: list[str] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times) * 1000

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] * 1000

    @property
    def stalls(self) -> int:
        """Runs slower than the fastest by more than STALL seconds."""
        return sum(t > min(self.times) + STALL for t in self.times)


Counter = Callable[[], tuple[int, list[str]]]  # the SSH server's connections and services


def interleave(
    contenders: Sequence[Contender], runs: int, warmup: int = 1, counter: Counter | None = None
) -> None:
    """Run every contender once per round (the order rotating each round), timing
    only ``run``; the first ``warmup`` rounds are not recorded. With ``counter``, the
    connections each run opened at the SSH server (and the git services it ran, those
    of the last run) are recorded too, untimed.

    Before each run the harness waits SETTLE seconds, untimed. Without TCP_NODELAY on
    libgit2's sockets (GIT_RECONCILE_NODELAY=0), back-to-back SSH connections wait out
    a 40 ms delayed ACK far more often than with a pause; the pause keeps the git
    command line's figures comparable with earlier runs."""
    for round_no in range(warmup + runs):
        shift = round_no % len(contenders)
        for contender in [*contenders[shift:], *contenders[:shift]]:
            workdir = contender.prepare(round_no)
            before = counter() if counter is not None else (0, [])
            time.sleep(SETTLE)
            started = time.perf_counter()
            out = contender.run(workdir)
            elapsed = time.perf_counter() - started
            after = counter() if counter is not None else (0, [])
            contender.check(workdir, out)
            contender.cleanup(workdir)
            if round_no >= warmup:
                contender.times.append(elapsed)
                if counter is not None:
                    contender.connections.append(after[0] - before[0])
                    contender.services = after[1][len(before[1]) :]


def sh(cwd: Path, command: Sequence[str], env: dict[str, str]) -> str:
    """Run a command, fail loudly, return its stdout."""
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}) in {cwd}: {done.stderr.strip()}"
        )
    return done.stdout


def ms(value: float) -> str:
    return f"{value:,.1f} ms" if value < 10_000 else f"{value / 1000:,.2f} s"


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x"


# --- the machine ---------------------------------------------------------------------


def machine() -> str:
    cpus = len(os.sched_getaffinity(0))
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    git_version = subprocess.run(
        ["git", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    ssh_version = subprocess.run(
        ["ssh", "-V"], capture_output=True, text=True, check=False
    ).stderr.strip()
    return (
        f"Machine: `nproc` = {cpus}, {model}, {memory} of memory, Linux "
        f"{platform.release()} ({platform.machine()}); Python {platform.python_version()}, "
        f"pygit2 {metadata.version('pygit2')} (libgit2 {pygit2.LIBGIT2_VERSION}), {git_version}, "
        f"{ssh_version.split(',')[0]} (for the git command line over ssh)."
    )


# --- building repositories -----------------------------------------------------------


def fast_import(
    repo: Path, commits: int, size: int, *, seed: int, start: int = 0, on_top: bool = False
) -> None:
    """Append ``commits`` commits to main with ``git fast-import``; commit n rewrites
    data/<n % FILES>.txt with ``size`` bytes of random hex (incompressible to half)."""
    rng = random.Random(seed)
    proc = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for n in range(start, start + commits):
        body = rng.randbytes(size // 2).hex() + "\n"
        message = f"c{n}"
        parent = "from refs/heads/main^0\n" if on_top and n == start else ""
        proc.stdin.write(
            (
                f"commit refs/heads/main\ncommitter Bench <b@x> {1_700_000_000 + n} +0000\n"
                f"data {len(message)}\n{message}\n{parent}"
                f"M 100644 inline data/{n % FILES}.txt\ndata {len(body)}\n{body}\n"
            ).encode()
        )
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"git fast-import failed in {repo}")


def bare(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    git(path.parent, "init", "-q", "--bare", "-b", "main", str(path))
    shutil.rmtree(path / "hooks", ignore_errors=True)
    return path


def pack_mib(repo: Path) -> float:
    return sum(p.stat().st_size for p in (repo / "objects" / "pack").glob("*.pack")) / 2**20


def set_origin(clone: Path, url: str) -> None:
    pygit2.Repository(str(clone)).remotes.set_url("origin", url)


@dataclass(frozen=True)
class Transport:
    """How a clone reaches its remote: by path, or over the SSH fixture."""

    name: str
    url_prefix: str = ""
    key: Path | None = None
    known_hosts: Path | None = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    counter: Counter | None = None  # the server's connection count (ssh)

    def url(self, remote: Path) -> str:
        return f"{self.url_prefix}{remote}"

    def spec(self, path: Path, **kwargs: Any) -> RepoSpec:
        if self.key is not None:
            kwargs.setdefault("credentials", SSHKey(private_key=self.key))
            kwargs.setdefault("known_hosts", self.known_hosts)
        return RepoSpec(path, **kwargs)

    def cli_args(self) -> list[str]:
        if self.key is None:
            return []
        return ["--ssh-key", str(self.key), "--known-hosts", str(self.known_hosts)]


class _Floor(pygit2.RemoteCallbacks):
    """pygit2's plain callbacks: the key, and no host key check (the floor)."""

    def __init__(self, key: Path | None) -> None:
        super().__init__()
        self.key = key

    def credentials(self, url: str, user: str | None, allowed: object) -> pygit2.Keypair:
        assert self.key is not None
        return pygit2.Keypair("git", str(self.key) + ".pub", str(self.key), "")

    def certificate_check(self, cert: None, valid: bool, host: bytes) -> bool:
        return True


def cli_command() -> list[str]:
    """The installed ``git-reconcile`` console script (not a pyenv shim in front of it)."""
    script = Path(sysconfig.get_path("scripts")) / "git-reconcile"
    if script.exists():
        return [str(script)]
    found = shutil.which("git-reconcile")
    if found is None:
        raise SystemExit("git-reconcile is not installed: pip install -e '.[test]'")
    return [found]


# --- section 1: in sync ----------------------------------------------------------------


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


@dataclass
class Targets:
    rows: list[tuple[str, str, bool | None]] = field(default_factory=list)

    def add(self, target: str, figure: str, met: bool | None) -> None:
        self.rows.append((target, figure, met))


def in_sync(  # noqa: C901  (one row of the table per contender, in order)
    root: Path,
    remote: Path,
    transports: Sequence[Transport],
    runs: int,
    targets: Targets,
    *,
    clis: dict[str, list[str]],
) -> tuple[Section, dict[str, dict[str, float]]]:
    medians: dict[str, dict[str, float]] = {}
    rows: list[str] = []
    notes: list[str] = []
    for transport in transports:
        clone = root / f"insync-{transport.name}"
        git(root, "clone", "-q", str(remote), str(clone))
        set_origin(clone, transport.url(remote))
        env = transport.env

        def fixed(_round: int, clone: Path = clone) -> Path:
            return clone

        def ours(path: Path, transport: Transport = transport) -> Result:
            return reconcile(transport.spec(path))

        def ours_ok(_path: Path, out: object) -> None:
            assert isinstance(out, Result)
            assert out.outcome is Outcome.IN_SYNC, out.reason

        def command(argv: list[str], env: dict[str, str] = env) -> Callable[[Path], object]:
            return lambda path: sh(path, argv, env)

        def cli_ok(_path: Path, out: object) -> None:
            assert isinstance(out, str)
            assert json.loads(out)["outcome"] == "in-sync", out

        floor_callbacks = _Floor(transport.key)

        def list_heads(path: Path, callbacks: _Floor = floor_callbacks) -> object:
            heads = pygit2.Repository(str(path)).remotes["origin"].list_heads(callbacks=callbacks)
            assert any(head.name == "refs/heads/main" for head in heads)
            return heads

        run = ["run", str(clone), "--json", *transport.cli_args()]
        contenders = {
            "inproc": Contender("in-process `reconcile()`", ours, fixed, ours_ok),
            **{
                f"cli_{kind}": Contender(
                    f"CLI `git-reconcile run --json` ({CLI_KINDS[kind]})",
                    command([*argv, *run]),
                    fixed,
                    cli_ok,
                )
                for kind, argv in clis.items()
            },
            "shell": Contender(
                f"`sh -c '{SHELL_FETCH}'`", command(["sh", "-c", SHELL_FETCH]), fixed
            ),
            "lsremote": Contender(
                "`git ls-remote origin main`",
                command(["git", "ls-remote", "origin", "main"]),
                fixed,
            ),
            "listheads": Contender("pygit2 `Remote.list_heads` (connect + ls)", list_heads, fixed),
        }
        log(f"1. in sync over {transport.name}: {runs} rounds")
        interleave(list(contenders.values()), runs, warmup=2, counter=transport.counter)
        medians[transport.name] = {key: c.median_ms for key, c in contenders.items()}
        m = medians[transport.name]
        for key in ("inproc", "listheads"):
            m[f"{key}_min"] = min(contenders[key].times) * 1000
            m[f"{key}_p95"] = contenders[key].p95_ms
            m[f"{key}_stalls"] = contenders[key].stalls
        m["runs"] = runs
        pairs = [("inproc", "listheads"), ("inproc", "lsremote"), ("inproc", "shell")]
        pairs += [(f"cli_{kind}", "shell") for kind in clis]
        for ours_key, theirs_key in pairs:
            a, b = contenders[ours_key], contenders[theirs_key]
            rows.append(
                f"| {transport.name} | {a.name} | {ms(a.median_ms)} ({ms(a.p95_ms)}) | {b.name} | "
                f"{ms(b.median_ms)} ({ms(b.p95_ms)}) | {ratio(a.median_ms, b.median_ms)} |"
            )
        limit = TARGET_LIST_HEADS[transport.name]
        targets.add(
            f"3. in-process in-sync over {transport.name} at most {limit}x pygit2 `list_heads`",
            f"{ratio(m['inproc'], m['listheads'])} ({ms(m['inproc'])} vs {ms(m['listheads'])})",
            m["inproc"] <= limit * m["listheads"],
        )
        if transport.counter is not None:
            _tail_targets(contenders, transport, targets, notes, runs)
        _cli_targets(transport.name, m, clis, targets)
    section = Section(
        f"1. No-op (in-sync) reconcile of one repository ({HISTORY:,}-commit history)",
        [
            f"Median of {runs} interleaved rounds, p95 in brackets (after 2 warm-up rounds, "
            f"with {SETTLE * 1000:.0f} ms untimed between runs); ratio = git-reconcile / "
            "comparison (medians), below 1 is faster. The CLI rows include starting Python: "
            "the console script of the development install (editable, whose import finder "
            "costs every start) and, when built, that of a wheel installed in a fresh "
            "virtual environment (the installed product), each run directly rather than "
            "through a pyenv shim; `list_heads` opens the repository, connects and lists the "
            "heads, without checking the host key. Over a path, libgit2 reads the remote "
            "in-process, while git starts `git-upload-pack`.",
            "",
            "| transport | git-reconcile | median (p95) | comparison | median (p95) | ratio |",
            "|---|---|---|---|---|---|",
            *rows,
            *(["", *notes] if notes else []),
        ],
    )
    return section, medians


CLI_KINDS = {"dev": "editable install", "wheel": "wheel install"}


def _tail_targets(
    contenders: dict[str, Contender],
    transport: Transport,
    targets: Targets,
    notes: list[str],
    runs: int,
) -> None:
    """The tail over ssh (p95 against the median), and connections per in-sync run."""
    hook = _nodelay.status()
    notes.append(
        "TCP_NODELAY on libgit2's sockets: "
        + (
            f"on ({hook['sockets']} sockets so far in this process)"
            if hook["active"]
            else f"off ({hook['reason']})"
        )
        + f". Runs over {STALL * 1000:.0f} ms slower than the contender's fastest (a "
        "delayed-ACK stall is 40 ms): "
        + ", ".join(f"{contenders[k].name} {contenders[k].stalls}/{runs}" for k in CONNECTED)
        + ". Connections per run at the SSH server (median): "
        + ", ".join(
            f"{contenders[k].name} {statistics.median(contenders[k].connections):.0f}"
            for k in ("inproc", "shell", "lsremote", "listheads")
        )
        + "."
    )
    for key in CONNECTED:
        c = contenders[key]
        targets.add(
            f"4. tail over {transport.name}: {c.name} p95 at most {TARGET_TAIL}x its median",
            f"{c.p95_ms / c.median_ms:.2f}x ({ms(c.p95_ms)} vs {ms(c.median_ms)}; "
            f"{c.stalls}/{runs} stalls)",
            c.p95_ms <= TARGET_TAIL * c.median_ms,
        )
    ours, git_count = contenders["inproc"], contenders["shell"]
    targets.add(
        "5. connections of an in-sync run over ssh at most git's",
        f"{statistics.median(ours.connections):.0f} vs "
        f"{statistics.median(git_count.connections):.0f} (`{SHELL_FETCH}`)",
        max(ours.connections) <= min(git_count.connections),
    )


CONNECTED = ("inproc", "listheads")


def _cli_targets(
    name: str, m: dict[str, float], clis: dict[str, list[str]], targets: Targets
) -> None:
    kind = "wheel" if "wheel" in clis else "dev"
    cli = m[f"cli_{kind}"]
    installed = CLI_KINDS[kind]
    if name == "path":
        targets.add(
            f"2. CLI in-sync over a path at most {TARGET_CLI_PATH_MS:.0f} ms ({installed})",
            ms(cli),
            cli <= TARGET_CLI_PATH_MS,
        )
    else:
        targets.add(
            f"2. CLI in-sync over ssh at most {TARGET_CLI_SSH}x the shell git command "
            f"({installed})",
            f"{ratio(cli, m['shell'])} ({ms(cli)} vs {ms(m['shell'])})",
            cli <= TARGET_CLI_SSH * m["shell"],
        )


def startup(clis: dict[str, list[str]], runs: int, targets: Targets) -> Section:
    """``git-reconcile --help`` and ``--version``, against starting Python alone."""
    contenders = {
        "python": Contender("`python -c pass`", _runner([sys.executable, "-c", "pass"]), _here)
    }
    for kind, argv in clis.items():
        for flag in ("--help", "--version"):
            contenders[f"{kind}{flag}"] = Contender(
                f"`git-reconcile {flag}` ({CLI_KINDS[kind]})", _runner([*argv, flag]), _here
            )
    log(f"0. start-up: {runs} rounds")
    interleave(list(contenders.values()), runs, warmup=2)
    kind = "wheel" if "wheel" in clis else "dev"
    for flag in ("--help", "--version"):
        c = contenders[f"{kind}{flag}"]
        targets.add(
            f"1. `git-reconcile {flag}` at most {TARGET_STARTUP_MS:.0f} ms ({CLI_KINDS[kind]})",
            ms(c.median_ms),
            c.median_ms <= TARGET_STARTUP_MS,
        )
    rows = [f"| {c.name} | {ms(c.median_ms)} | {ms(c.p95_ms)} |" for c in contenders.values()]
    return Section(
        "0. Start-up of the command line",
        [
            f"Median and p95 of {runs} interleaved rounds (after 2 warm-up rounds). "
            "`python -c pass` is the interpreter of the harness, for scale.",
            "",
            "| command | median | p95 |",
            "|---|---|---|",
            *rows,
        ],
    )


def _runner(argv: list[str]) -> Callable[[Path], object]:
    return lambda _path: subprocess.run(argv, capture_output=True, check=True)


def _here(_round: int) -> Path:
    return HERE


def wheel_cli(root: Path) -> list[str] | None:
    """The console script of this project built as a wheel and installed, with its
    dependencies, in a fresh virtual environment (None when that cannot be done)."""
    top, dist, venv = HERE.parent.parent, root / "wheel", root / "wheel-venv"
    scratch = not (top / "build").exists()  # setuptools builds in the tree
    log("building a wheel of the project and installing it in a fresh virtual environment")
    steps = [
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(top)],
        [sys.executable, "-m", "venv", str(venv)],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True, cwd=root, timeout=600)
        wheels = sorted(dist.glob("git_reconcile-*.whl"))
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheels[-1])]
        subprocess.run(pip, check=True, capture_output=True, timeout=900)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, IndexError) as exc:
        log(f"no wheel install ({exc}); the CLI rows use the development install only")
        return None
    finally:
        if scratch:
            shutil.rmtree(top / "build", ignore_errors=True)
    return [str(venv / "bin" / "git-reconcile")]


# --- section 2: bigger operations --------------------------------------------------------


def bigger_operations(  # noqa: C901  (one row per operation and transport, in order)
    root: Path, base: Path, transports: Sequence[Transport], runs: int, targets: Targets
) -> Section:
    templates: dict[str, Path] = {}
    for op in ("ff", "rebase", "conflict"):
        template = root / f"tpl-{op}"
        remote = template / "remote.git"
        shutil.copytree(base, remote)
        local = template / "local"
        git(template, "clone", "-q", str(remote), str(local))
        shutil.rmtree(local / ".git" / "hooks", ignore_errors=True)
        fast_import(remote, REMOTE_NEW, HISTORY_SIZE, seed=7, start=HISTORY, on_top=True)
        for n in range(LOCAL_NEW if op != "ff" else 0):
            if op == "rebase":
                commit_worktree(local, {f"local/{n}.txt": f"local {n}\n"}, f"local {n}")
            else:  # the first local commit rewrites a file the remote rewrote too
                commit_worktree(local, {f"data/{n % FILES}.txt": f"mine {n}\n"}, f"mine {n}")
        templates[op] = template
    counter = iter(range(10**9))

    def prepare(op: str, transport: Transport) -> Callable[[int], Path]:
        def copy(_round: int) -> Path:
            work = root / f"run{next(counter)}"
            shutil.copytree(templates[op], work, symlinks=True)
            set_origin(work / "local", transport.url(work / "remote.git"))
            return work

        return copy

    def remove(work: Path) -> None:
        shutil.rmtree(work)

    def ours(transport: Transport) -> Callable[[Path], object]:
        return lambda work: reconcile(transport.spec(work / "local"))

    def expect(outcome: Outcome) -> Callable[[Path, object], None]:
        def check(work: Path, out: object) -> None:
            assert isinstance(out, Result)
            assert out.outcome is outcome, out.reason
            assert out.push.status in (PushStatus.OK, PushStatus.SKIPPED), out.push
            _in_step(work)

        return check

    def theirs(script: str, env: dict[str, str]) -> Callable[[Path], object]:
        return lambda work: sh(work / "local", ["sh", "-c", script], env)

    def git_ok(op: str) -> Callable[[Path, object], None]:
        def check(work: Path, _out: object) -> None:
            _in_step(work)
            if op == "conflict":
                remote = pygit2.Repository(str(work / "remote.git"))
                assert any(b.startswith("conflicts/") for b in remote.branches.local)

        return check

    escape = (
        "git fetch origin && git branch conflicts/X && git push origin conflicts/X "
        "&& git reset --hard origin/main"
    )
    scripts = {
        "ff": (
            f"fast-forward of {REMOTE_NEW} commits",
            Outcome.FAST_FORWARDED,
            "git fetch origin && git merge --ff-only origin/main",
        ),
        "rebase": (
            f"rebase of {LOCAL_NEW} local commits over {REMOTE_NEW} remote ones, then push",
            Outcome.REBASED,
            "git pull --rebase origin main && git push origin main",
        ),
        "conflict": (
            f"conflict escape ({LOCAL_NEW} local commits, the first conflicting, "
            f"{REMOTE_NEW} remote)",
            Outcome.CONFLICT_ESCAPED,
            escape,
        ),
    }
    rows = []
    for op, (title, outcome, script) in scripts.items():
        for transport in transports:
            log(f"2. {op} over {transport.name}: {runs} rounds")
            a = Contender(
                "reconcile()", ours(transport), prepare(op, transport), expect(outcome), remove
            )
            b = Contender(
                script, theirs(script, transport.env), prepare(op, transport), git_ok(op), remove
            )
            interleave([a, b], runs, counter=transport.counter)
            shown = script.replace("conflicts/X", "conflicts/<UTC>")
            connections = "—"
            if transport.counter is not None:
                ours_n, git_n = max(a.connections), min(b.connections)
                connections = f"{ours_n} / {git_n}"
                targets.add(
                    f"5. connections of a {outcome.value} run over ssh at most git's",
                    f"{ours_n} ({', '.join(a.services)}) vs {git_n}",
                    ours_n <= git_n,
                )
            _bigger_target(targets, transport, op, f"{outcome.value} over ssh", (a, b, shown))
            rows.append(
                f"| {title} | {transport.name} | {ms(a.median_ms)} | `{shown}` | "
                f"{ms(b.median_ms)} | {ratio(a.median_ms, b.median_ms)} | {connections} |"
            )
    return Section(
        "2. Bigger operations, against the equivalent git command line",
        [
            f"Each run works on a fresh copy of the remote and of a working-tree clone "
            f"(a {HISTORY:,}-commit history; the copies are made before the clock starts). "
            f"git-reconcile is the in-process `reconcile()`; the git sequence runs in one "
            f"`sh -c`. Median of {runs} interleaved rounds, after 1 warm-up round. "
            "Connections: the most one git-reconcile run opened at the SSH server / the "
            "fewest git's sequence did.",
            "",
            "| operation | transport | git-reconcile | git command line | median | ratio | "
            "connections |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ],
    )


def _bigger_target(
    targets: Targets,
    transport: Transport,
    op: str,
    what: str,
    pair: tuple[Contender, Contender, str],
) -> None:
    """Target 6: over ssh, a rebase or a conflict escape at most its limit times git's
    sequence (``pair``: git-reconcile, git, and the sequence as shown)."""
    if transport.counter is None or op not in TARGET_BIGGER_SSH:
        return
    a, b, shown = pair
    limit = TARGET_BIGGER_SSH[op]
    targets.add(
        f"6. {what} at most {limit}x git's `{shown}`",
        f"{ratio(a.median_ms, b.median_ms)} ({ms(a.median_ms)} vs {ms(b.median_ms)})",
        a.median_ms <= limit * b.median_ms,
    )


def _in_step(work: Path) -> None:
    """The local branch ends where the remote's main is."""
    local = pygit2.Repository(str(work / "local"))
    remote = pygit2.Repository(str(work / "remote.git"))
    assert local.head.target == remote.branches.local["main"].target


# --- section 3: scale ----------------------------------------------------------------------


def build_fleet(root: Path, count: int) -> list[Path]:
    """``count`` working-tree clones, each in sync with its own bare remote (by path)."""
    template = root / "fleet-template"
    remote = bare(template / "remote.git")
    fast_import(remote, SCALE_HISTORY, 200, seed=3)
    clone = template / "clone"
    git(template, "clone", "-q", str(remote), str(clone))
    shutil.rmtree(clone / ".git" / "hooks", ignore_errors=True)
    clones = []
    for n in range(count):
        home = root / "fleet" / f"{n:04d}"
        shutil.copytree(template, home)
        set_origin(home / "clone", str(home / "remote.git"))
        clones.append(home / "clone")
    return clones


GNU_TIME = Path("/usr/bin/time")


def peak_rss_kib() -> int:
    """This process's peak RSS in KiB: VmHWM. (``ru_maxrss`` of a process also counts,
    from its exec, the peak of the process that started it: here the harness.)"""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def scale_child(mode: str, listing: Path, workers: int, home: Path) -> None:
    """Run in a fresh process, so peak RSS belongs to this measurement only."""
    isolate_git_config(home)
    paths = listing.read_text().split()
    base = peak_rss_kib()
    rss: int | None
    if mode == "reconcile":
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda p: reconcile(RepoSpec(p)), paths))
        wall = time.perf_counter() - started
        bad = [r.reason for r in results if r.outcome is not Outcome.IN_SYNC]
        assert not bad, bad[:3]
        rss = peak_rss_kib()
    else:
        # RUSAGE_CHILDREN, read by GNU time (a 1 MiB process) from wait4: read here, it
        # would count this Python process's image, which the shell inherits at exec.
        loop = ["sh", "-c", SHELL_LOOP, "sh", str(listing)]
        with tempfile.NamedTemporaryFile("r") as out:
            timed = [str(GNU_TIME), "-f", "%M", "-o", out.name, *loop]
            started = time.perf_counter()
            subprocess.run(timed if GNU_TIME.exists() else loop, check=True)
            wall = time.perf_counter() - started
            reported = out.read().split()
        rss = int(reported[-1]) if reported else None
    print(json.dumps({"wall": wall, "rss_kib": rss, "base_kib": base}))


def scale(root: Path, counts: Sequence[int], runs: int, workers: int, targets: Targets) -> Section:
    log(f"3. building {max(counts)} in-sync repositories")
    clones = build_fleet(root, max(counts))
    measured: dict[tuple[int, str], list[dict[str, float | None]]] = {}
    for round_no in range(runs):
        for count in counts:
            listing = root / f"fleet-{count}.txt"
            listing.write_text("\n".join(str(c) for c in clones[:count]) + "\n")
            modes = ["reconcile", "shell"] if round_no % 2 == 0 else ["shell", "reconcile"]
            for mode in modes:
                log(f"3. {count} repositories, {mode}, round {round_no + 1}/{runs}")
                out = subprocess.run(
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--scale-child",
                        mode,
                        str(listing),
                        "--workers",
                        str(workers),
                        "--home",
                        os.environ["HOME"],
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                measured.setdefault((count, mode), []).append(json.loads(out))

    def med(count: int, mode: str, key: str) -> float:
        values = [m[key] for m in measured[(count, mode)]]
        if any(v is None for v in values):
            return -1.0
        return statistics.median(v for v in values if v is not None)

    base = med(counts[0], "reconcile", "base_kib")
    rows = []
    for count in counts:
        ours, theirs = med(count, "reconcile", "wall"), med(count, "shell", "wall")
        peak, shell_peak = med(count, "reconcile", "rss_kib"), med(count, "shell", "rss_kib")
        rows.append(
            f"| {count:,} | {ms(ours * 1000)} ({ours / count * 1000:.2f} ms/repo) | "
            f"{peak / 1024:.1f} MiB (+{(peak - base) / 1024:.1f}) | "
            f"{ms(theirs * 1000)} ({theirs / count * 1000:.2f} ms/repo) | "
            + (f"{shell_peak / 1024:.1f} MiB" if shell_peak >= 0 else "n/a (no GNU time)")
            + f" | {ratio(ours, theirs)} |"
        )
    lines = [
        f"In-sync working-tree clones ({SCALE_HISTORY}-commit histories), each with its own "
        f"remote by path. git-reconcile: one process, a `ThreadPoolExecutor` of {workers} "
        "workers calling `reconcile()`; git: a sequential "
        f"`for d in ...; do git -C $d fetch -q origin main && git -C $d rev-parse HEAD "
        "origin/main; done` in one `sh -c`. Each measurement runs in a fresh process; "
        f"median of {runs} interleaved rounds (this section is expensive, so only {runs}). "
        "Peak RSS of git-reconcile: the whole process, Python and its imports included "
        f"({base / 1024:.1f} MiB after the imports, before the first run; the growth over "
        "that in brackets), read as VmHWM, because `ru_maxrss` of a process also counts, "
        "from its exec, the peak of the process that started it (here the harness). Peak "
        "RSS of the shell loop: its largest single process, `RUSAGE_CHILDREN`'s `ru_maxrss` "
        "as `/usr/bin/time` (GNU time, a 1 MiB process) reads it from `wait4`; read from "
        "Python, it would count the Python image the shell inherits at exec.",
        "",
        "| repositories | git-reconcile wall | peak RSS | shell loop wall | peak RSS (largest "
        "process) | ratio (wall) |",
        "|---|---|---|---|---|---|",
        *rows,
    ]
    most = counts[-1]
    ours_most, theirs_most = med(most, "reconcile", "wall"), med(most, "shell", "wall")
    targets.add(
        f"7. {most:,} in-sync repositories at most {TARGET_SCALE}x the sequential shell loop",
        f"{ratio(ours_most, theirs_most)} ({ms(ours_most * 1000)} vs {ms(theirs_most * 1000)})",
        ours_most <= TARGET_SCALE * theirs_most,
    )
    if len(counts) > 1:
        small, large = counts[0], counts[-1]
        per_small = med(small, "reconcile", "wall") / small
        per_large = med(large, "reconcile", "wall") / large
        growth = (med(large, "reconcile", "rss_kib") - med(small, "reconcile", "rss_kib")) / (
            large - small
        )
        lines += [
            "",
            f"Per repository: {per_small * 1000:.2f} ms at {small:,} and "
            f"{per_large * 1000:.2f} ms at {large:,} ({per_large / per_small:.2f}x); peak "
            f"RSS grows by {growth:.1f} KiB per repository from {small:,} to {large:,}.",
        ]
        targets.add(
            f"cost grows linearly: per-repo time at {large:,} at most {TARGET_LINEAR}x "
            f"that at {small:,}",
            f"{per_large / per_small:.2f}x ({per_small * 1000:.2f} vs "
            f"{per_large * 1000:.2f} ms/repo)",
            per_large <= TARGET_LINEAR * per_small,
        )
        targets.add(
            f"memory grows by a small per-repo constant (at most "
            f"{TARGET_RSS_PER_REPO_KIB:.0f} KiB/repo)",
            f"{growth:.1f} KiB/repo",
            growth <= TARGET_RSS_PER_REPO_KIB,
        )
    return Section(
        f"3. Scale: {' and '.join(f'{c:,}' for c in counts)} in-sync repositories", lines
    )


# --- section 4: a large repository ---------------------------------------------------------


def large(root: Path, ssh: Transport, runs: int) -> Section:
    log(f"4. building a {BIG_COMMITS:,}-commit repository")
    remote = bare(root / "big.git")
    fast_import(remote, BIG_COMMITS, BIG_SIZE, seed=11)
    size = pack_mib(remote)
    tip = str(pygit2.Repository(str(remote)).branches.local["main"].target)
    url = ssh.url(remote)
    counter = iter(range(10**9))

    def empty(with_remote: bool) -> Callable[[int], Path]:
        def make(_round: int) -> Path:
            path = root / f"big{next(counter)}"
            if with_remote:
                repo = pygit2.init_repository(str(path), bare=True, initial_head="main")
                repo.remotes.create("origin", url)
            return path

        return make

    def ours(path: Path) -> object:
        return reconcile(ssh.spec(path, timeout=120))

    def ours_ok(path: Path, out: object) -> None:
        assert isinstance(out, Result)
        assert out.outcome is Outcome.FAST_FORWARDED, out.reason
        assert out.new_commit == tip

    def fetched(ref: str) -> Callable[[Path, object], None]:
        def check(path: Path, _out: object) -> None:
            repo = pygit2.Repository(str(path))
            assert str(repo.references[ref].target) == tip

        return check

    def remove(path: Path) -> None:
        shutil.rmtree(path)

    a = Contender("reconcile()", ours, empty(True), ours_ok, remove)
    b = Contender(
        "`git clone --bare`",
        lambda path: sh(root, ["git", "clone", "-q", "--bare", url, str(path)], ssh.env),
        empty(False),
        fetched("refs/heads/main"),
        remove,
    )
    c = Contender(
        "`git fetch origin` (into an empty bare repository with origin added)",
        lambda path: sh(path, ["git", "fetch", "-q", "origin"], ssh.env),
        empty(True),
        fetched("refs/remotes/origin/main"),
        remove,
    )
    log(f"4. large fetch over ssh: {runs} rounds")
    interleave([a, b, c], runs, warmup=0)
    rows = [
        f"| {a.name} | {ms(a.median_ms)} | {other.name} | {ms(other.median_ms)} | "
        f"{ratio(a.median_ms, other.median_ms)} |"
        for other in (b, c)
    ]
    return Section(
        f"4. A large repository: {BIG_COMMITS:,} commits over ssh",
        [
            f"A {BIG_COMMITS:,}-commit history written with `git fast-import`, each commit "
            f"rewriting one of {FILES} files with {BIG_SIZE:,} bytes of random hex: "
            f"{BIG_COMMITS * BIG_SIZE / 2**20:.0f} MiB of content, a {size:.1f} MiB pack. "
            "git-reconcile reconciles a fresh empty bare repository with the remote added "
            "(fast-forwarded: the whole history is fetched). Median of "
            f"{runs} interleaved rounds (each moves the whole pack, so only {runs}).",
            "",
            "| git-reconcile | median | git command line | median | ratio |",
            "|---|---|---|---|---|",
            *rows,
        ],
    )


# --- section 5: webhooks -------------------------------------------------------------------


def webhooks() -> Section:
    lines = [
        "Measured by `python tests/bench/bench_webhooks.py` (a real `git-reconcile serve` "
        "process) and not repeated here; from "
        "[tests/bench/results/webhooks.md](webhooks.md):",
        "",
    ]
    if WEBHOOKS.exists():
        lines += [f"> {line}".rstrip() for line in WEBHOOKS.read_text().strip().splitlines()]
    else:
        lines.append("> (not measured yet: run bench_webhooks.py)")
    return Section("5. Webhook latency", lines)


# --- profiles of missed targets ----------------------------------------------------------

# Steps of a run, found in the profile by (file, function); the largest match counts.
PHASES = (
    ("_engine.py", "reconcile", "the whole run"),
    ("_engine.py", "_drive", "driving the table: binding the run's model, the steps"),
    ("_steps.py", "fetch", "fetching step"),
    ("_libgit2.py", "connect", "… its connect: SSH handshake, auth, ref advertisement (libgit2)"),
    (
        "_session.py",
        "ssh_host_key_ok",
        "… … within it, the host key check against known_hosts (Python)",
    ),
    (
        "_steps.py",
        "inspect",
        "inspecting step (in-progress operations, worktrees, locks)",
    ),
    (
        "_stale_locks.py",
        "clear_stale_locks",
        "… its scan of the git directory for stale lock files",
    ),
    ("_target.py", "open_target", "opening the repository, reading branch and remote"),
    ("_lock.py", "acquire", "taking the repository lock"),
    ("_lock.py", "release", "releasing it"),
    ("_engine.py", "_result", "building the result"),
)


def profile_in_process(
    transport: Transport, clone: Path, medians: dict[str, dict[str, float]], rounds: int = 40
) -> list[str]:
    """cProfile of in-process in-sync reconciles: where the time beyond list_heads goes."""
    profiler = cProfile.Profile()
    for _ in range(rounds):
        time.sleep(SETTLE)
        profiler.enable()
        reconcile(transport.spec(clone))
        profiler.disable()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = []
    local: list[tuple[float, str]] = []
    for suffix, function, label in PHASES:
        cumulative = [
            value[3]
            for (filename, _line, name), value in stats.items()
            if name == function and filename.endswith(suffix) and "reconcile" in filename
        ]
        if cumulative:
            per_run = max(cumulative) / rounds * 1000
            rows.append(f"| {label} | {per_run:.2f} ms |")
            if function not in ("reconcile", "on_enter_fetching", "connect"):
                local.append((per_run, label.lstrip("… ")))
    largest = "; ".join(f"{label} ({value:.2f} ms)" for value, label in sorted(local)[::-1][:3])
    own = sorted(
        (
            (value[2], filename, line, name)
            for (filename, line, name), value in stats.items()
            if "git_remote_connect" not in name
        ),
        reverse=True,
    )[:6]
    top = ", ".join(
        f"`{name if filename == '~' else f'{Path(filename).name}:{line}({name})'}` "
        f"{tottime / rounds * 1000:.2f} ms"
        for tottime, filename, line, name in own
    )
    ssh, path = medians[transport.name], medians["path"]
    path_gap = path["inproc"] - path["listheads"]
    ssh_gap = ssh["inproc"] - ssh["listheads"]
    fast_gap = ssh["inproc_min"] - ssh["listheads_min"]
    intro = (
        f"**In-process in-sync over {transport.name}: {ratio(ssh['inproc'], ssh['listheads'])} "
        f"`list_heads` ({ms(ssh['inproc'])} vs {ms(ssh['listheads'])}), target "
        f"{TARGET_LIST_HEADS[transport.name]}x.** Both make one connection and download no "
        "pack. Over a "
        f"path, where connecting costs almost nothing, `reconcile()` takes {path_gap:.1f} ms "
        "more than `list_heads`: that much is local work around the connection. Over "
        f"{transport.name} it takes {ssh_gap:.1f} ms more at the median, and "
        f"{fast_gap:.1f} ms more in the fastest runs ({ms(ssh['inproc_min'])} vs "
        f"{ms(ssh['listheads_min'])}, {ratio(ssh['inproc_min'], ssh['listheads_min'])})."
    )
    if ssh_gap > path_gap + 1.0 and ssh["inproc_stalls"] + ssh["listheads_stalls"]:
        intro += (
            " The rest of the median gap is the 40 ms stalls of section 1, which hit "
            f"{ssh['inproc_stalls']:.0f} of {ssh['runs']:.0f} `reconcile()` runs and "
            f"{ssh['listheads_stalls']:.0f} of `list_heads`' there."
        )
    elif ssh_gap > path_gap + 1.0:
        intro += (
            " No run stalled on a delayed ACK there; the rest of the median gap is time "
            "the machine's other work took from these runs (compare the fastest runs)."
        )
    return [
        intro,
        "",
        f"cProfile of {rounds} runs over {transport.name} (the profiler slows Python code "
        "down, so read the shares more than the absolute figures), cumulative time per run:",
        "",
        "| step | per run (profiled) |",
        "|---|---|",
        *rows,
        "",
        f"The largest steps besides the connection: {largest}. Largest own "
        f"times besides the connect: {top}.",
    ]


def _interleaved_commands(
    commands: dict[str, list[str]], env: dict[str, str], rounds: int = 20
) -> dict[str, float]:
    def runner(argv: list[str]) -> Callable[[Path], object]:
        return lambda _path: subprocess.run(argv, env=env, capture_output=True, check=True)

    contenders = {
        name: Contender(name, runner(argv), lambda _round: HERE) for name, argv in commands.items()
    }
    interleave(list(contenders.values()), rounds)
    return {name: c.median_ms for name, c in contenders.items()}


def _import_times(
    python: str, statement: str, rounds: int = 7
) -> tuple[dict[str, float], dict[str, float]]:
    """Own import time (ms) by top-level package and by module, from -X importtime: the
    least of ``rounds`` runs for each module, so one slow moment of the machine does not
    land on one module."""
    modules: dict[str, float] = {}
    for _ in range(rounds):
        done = subprocess.run(
            [python, "-X", "importtime", "-c", statement],
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
            if match:
                module, own = match.group(2), int(match.group(1)) / 1000
                modules[module] = min(modules.get(module, own), own)
    packages: dict[str, float] = {}
    for module, own in modules.items():
        packages[module.split(".")[0]] = packages.get(module.split(".")[0], 0.0) + own
    return packages, modules


def _top(times: dict[str, float], count: int) -> str:
    ordered = sorted(times.items(), key=lambda item: item[1], reverse=True)[:count]
    return ", ".join(f"`{name}` {value:.0f} ms" for name, value in ordered)


# What `git-reconcile run` loads before it reconciles: the command line (standard
# library only), the run command's parser (whose defaults come from the value
# objects), and the engine.
CLI_IMPORTS = (
    "import plugin.cli; plugin.cli.build_parser().parse_args(['run', '.']); "
    "from reconcile import reconcile"
)


def profile_cli(
    medians: dict[str, dict[str, float]], clone: Path, clis: dict[str, list[str]]
) -> list[str]:
    """Split the CLI's time into starting Python, imports and the run itself (with the
    interpreter of the wheel install, when there is one: the installed product)."""
    kind = "wheel" if "wheel" in clis else "dev"
    cli = clis[kind]
    python = str(Path(cli[0]).parent / "python") if kind == "wheel" else sys.executable
    parts = _interleaved_commands(
        {
            "cli": [*cli, "run", str(clone), "--json"],
            "start": [python, "-c", "pass"],
            "plugin": [python, "-c", CLI_IMPORTS],
            "library": [python, "-c", "from reconcile import reconcile"],
        },
        dict(os.environ),
    )
    packages, modules = _import_times(python, CLI_IMPORTS)
    lines = []
    for name, m in medians.items():
        lines.append(
            f"**CLI over {name} ({CLI_KINDS[kind]}): {ms(m[f'cli_{kind}'])} against "
            f"{ms(m['shell'])} for the shell git command "
            f"({ratio(m[f'cli_{kind}'], m['shell'])}).**"
        )
    lines += [
        "",
        f"Measured apart ({CLI_KINDS[kind]}), interleaved, median of 20 rounds: the CLI "
        f"over a path takes {ms(parts['cli'])} here; starting Python (`python -c pass`) "
        f"{ms(parts['start'])}; starting it, building the run command's parser and "
        f"importing the engine, which `git-reconcile run` does before it reconciles, "
        f"{ms(parts['plugin'])}; starting it and importing only the engine "
        f"(`from reconcile import reconcile`), {ms(parts['library'])}. The reconcile "
        f"itself is the in-process row ({ms(medians['path']['inproc'])} over a path, "
        f"{ms(medians['ssh']['inproc'])} over ssh). So starting Python and importing make "
        f"{min(parts['plugin'] / parts['cli'], 1.0):.0%} of the CLI's time "
        f"({parts['start'] / parts['cli']:.0%} starting, "
        f"{(parts['plugin'] - parts['start']) / parts['cli']:.0%} importing), while the "
        "shell git command starts two or three small C processes. "
        f'`python -X importtime -c "{CLI_IMPORTS}"` (the least of 7 runs for each module), '
        "own time by top-level package: "
        f"{_top(packages, 8)}; by module: {_top(modules, 6)}.",
    ]
    return lines


# --- main -------------------------------------------------------------------------------------


@contextlib.contextmanager
def ssh_server(root: Path) -> Iterator[Transport]:
    server = subprocess.Popen(
        [sys.executable, str(HERE / "sshd_process.py"), str(root), str(root / "sshd")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    try:
        info = json.loads(server.stdout.readline())
        key, known = Path(info["client_key"]), Path(info["known_hosts"])
        env = {
            **os.environ,
            "GIT_SSH_COMMAND": (
                f"ssh -F /dev/null -i {key} -o UserKnownHostsFile={known} "
                "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes"
            ),
        }
        stdin, stdout = server.stdin, server.stdout

        def count() -> tuple[int, list[str]]:
            stdin.write("count\n")
            stdin.flush()
            answer = json.loads(stdout.readline())
            return int(answer["connections"]), list(answer["services"])

        yield Transport("ssh", info["url_prefix"], key, known, env, count)
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _commit() -> str:
    """The project's commit (short), with a mark when the working tree differs from it."""
    top = HERE.parent.parent
    head = git(top, "rev-parse", "--short", "HEAD", check=False) or "unknown"
    dirty = git(  # the results, written by the benchmarks themselves, do not count
        top, "status", "--porcelain", "--untracked-files=no", "--", ".", ":!tests/bench/results"
    )
    return f"{head}{'+changes' if dirty else ''}"


def _loads(loads: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in loads)


def render(
    sections: Sequence[Section], targets: Targets, profiles: Sequence[str], args: argparse.Namespace
) -> str:
    command = "python tests/bench/bench_vs_git.py" + (" --quick" if args.quick else "")
    if args.runs != 20:
        command += f" --runs {args.runs}"
    lines = [
        "# git-reconcile against git",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} at commit "
        f"{args.commit}, in "
        f"{args.elapsed / 60:.1f} minutes, with a load average (1, 5, 15 min) of "
        f"{_loads(args.load_before)} at the start and {_loads(os.getloadavg())} at the end "
        "(the machine's other work moves the figures). "
        + machine()
        + " Everything runs on loopback: "
        "remotes by path, and the SSH git server of the tests (asyncssh running "
        "`git-upload-pack`/`git-receive-pack`) in its own process. Times are medians; "
        "ratio = git-reconcile / comparison (below 1: git-reconcile is faster).",
        "",
        "## Targets",
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
    ]
    for target, figure, met in targets.rows:
        verdict = "—" if met is None else ("met" if met else "**missed**")
        lines.append(f"| {target} | {figure} | {verdict} |")
    for section in sections:
        lines += ["", f"## {section.title}", "", *section.lines]
    if profiles:
        lines += ["", "## Where the time goes", "", *profiles]
    return "\n".join(lines) + "\n"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", type=int, default=20, help="rounds of sections 1 and 2 (default: 20)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer rounds of sections 3 and 4, and section 3 at 100 repositories only",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="threads reconciling in section 3 (default: 4)"
    )
    parser.add_argument(
        "--no-wheel",
        action="store_true",
        help="measure the CLI of the development install only (no wheel built and installed)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    parser.add_argument("--scale-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    if args.scale_child:
        mode, listing = args.scale_child
        scale_child(mode, Path(listing), args.workers, args.home)
        return
    if shutil.which("ssh") is None:
        raise SystemExit("the ssh client is missing: apt-get install -y openssh-client")

    began = time.perf_counter()
    args.load_before = os.getloadavg()
    args.commit = _commit()
    scale_runs, scale_counts = (2, [100]) if args.quick else (3, [100, 1000])
    big_runs = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="bench-vs-git-") as tmp:
        root = Path(tmp)
        isolate_git_config(root / "home")
        base = bare(root / "remote.git")
        log(f"building a {HISTORY:,}-commit repository")
        fast_import(base, HISTORY, HISTORY_SIZE, seed=1)
        targets = Targets()
        profiles: list[str] = []
        clis = {"dev": cli_command()}
        wheel = None if args.no_wheel else wheel_cli(root)
        if wheel is not None:
            clis["wheel"] = wheel
        zero = startup(clis, args.runs, targets)
        with ssh_server(root) as ssh:
            transports = [Transport("path"), ssh]
            one, medians = in_sync(root, base, transports, args.runs, targets, clis=clis)
            m = medians["ssh"]
            if m["inproc"] > TARGET_LIST_HEADS["ssh"] * m["listheads"]:
                log("profiling the in-process in-sync reconcile over ssh")
                profiles += [*profile_in_process(ssh, root / "insync-ssh", medians), ""]
            if any(not met for target, _f, met in targets.rows if target.startswith(("1.", "2."))):
                log("profiling the CLI")
                profiles += [*profile_cli(medians, root / "insync-path", clis), ""]
            two = bigger_operations(root, base, transports, args.runs, targets)
            three = scale(root, scale_counts, scale_runs, args.workers, targets)
            four = large(root, ssh, big_runs)
        args.elapsed = time.perf_counter() - began
        if _commit() != args.commit:
            args.commit += f" (then {_commit()}: the code changed during the run; run again)"
            log(f"the code changed during the run: {args.commit}")
        text = render([zero, one, two, three, four, webhooks()], targets, profiles, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
