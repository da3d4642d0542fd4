"""Benchmark: a 1,000+ commit fetch over SSH, idle and beside a CPU-busy Python thread.

    python tests/bench/bench_gil.py [--commits 1000] [--runs 5]

Compares git-reconcile's fetch (no per-object callbacks into Python) with
pygit2's default ``Remote.fetch`` (one Python callback per object). The SSH
server runs in a separate process. Writes tests/bench/results/gil.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pygit2

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))

from gitutil import git, isolate_git_config  # noqa: E402

from reconcile import Outcome, RepoSpec, SSHKey, reconcile  # noqa: E402


def _busy(stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1


def _timed(fn: Callable[[], None], busy: bool) -> float:
    stop = threading.Event()
    thread = threading.Thread(target=_busy, args=(stop,), daemon=True)
    if busy:
        thread.start()
    started = time.perf_counter()
    try:
        fn()
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        if busy:
            thread.join()
    return elapsed


def main() -> None:  # noqa: C901  (the measurement steps, in the order they run)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--size",
        type=int,
        default=20_000,
        help="bytes of the file each commit rewrites (default: 20000)",
    )
    parser.add_argument(
        "--pygit2-busy-limit",
        type=float,
        default=120.0,
        help="skip pygit2's busy runs after one takes longer than this",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-gil-") as tmp:
        root = Path(tmp)
        isolate_git_config(root / "home")
        remote = root / "remote.git"
        git(root, "init", "-q", "--bare", "-b", "main", str(remote))
        # fast-import writes the history quickly (commits on one branch chain up);
        # each commit rewrites one file with random text.
        rng = random.Random(1)
        stream = []
        for n in range(args.commits):
            body = rng.randbytes(args.size // 2).hex() + "\n"
            stream.append(
                f"commit refs/heads/main\ncommitter Bench <b@x> {1_700_000_000 + n} +0000\n"
                f"data {len(f'c{n}')}\nc{n}\n"
                f"M 100644 inline data/{n % 50}.txt\ndata {len(body)}\n{body}\n"
            )
        subprocess.run(
            ["git", "fast-import", "--quiet"],
            cwd=remote,
            check=True,
            input="".join(stream).encode(),
        )

        server = subprocess.Popen(
            [sys.executable, str(HERE / "sshd_process.py"), str(root), str(root / "sshd")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        url = f"{info['url_prefix']}{remote}"
        key = Path(info["client_key"])
        known_hosts = Path(info["known_hosts"])
        counter = iter(range(10**6))

        def fresh() -> Path:
            path = root / f"clone{next(counter)}"
            pygit2.init_repository(str(path), bare=True, initial_head="main")
            git(path, "remote", "add", "origin", url)
            return path

        def ours() -> None:
            result = reconcile(
                RepoSpec(
                    fresh(),
                    credentials=SSHKey(private_key=key),
                    known_hosts=known_hosts,
                    timeout=60,
                )
            )
            assert result.outcome is Outcome.FAST_FORWARDED, result.reason

        class Callbacks(pygit2.RemoteCallbacks):
            def credentials(self, url: str, user: str | None, allowed: object) -> pygit2.Keypair:
                return pygit2.Keypair("git", str(key) + ".pub", str(key), "")

            def certificate_check(self, cert: None, valid: bool, host: bytes) -> bool:
                return True  # the benchmark's own loopback server

        def plain() -> None:
            repo = pygit2.Repository(str(fresh()))
            repo.remotes["origin"].fetch(
                ["+refs/heads/main:refs/remotes/origin/main"], callbacks=Callbacks()
            )

        rows: dict[str, dict[str, list[float]]] = {}
        for name, fn in (("git-reconcile", ours), ("pygit2 Remote.fetch", plain)):
            rows[name] = {"idle": [], "busy": []}
            for _ in range(args.runs):
                rows[name]["idle"].append(_timed(fn, busy=False))
                if (
                    name.startswith("pygit2")
                    and rows[name]["busy"]
                    and max(rows[name]["busy"]) > args.pygit2_busy_limit
                ):
                    continue
                rows[name]["busy"].append(_timed(fn, busy=True))
        server.stdin.close()  # type: ignore[union-attr]
        server.wait(timeout=30)

    lines = [
        f"Fetch of {args.commits} commits ({args.size:,} bytes rewritten per commit) over SSH "
        f"(loopback), median of {args.runs} runs; "
        "busy = one CPU-bound Python thread running beside the fetch.",
        "",
        "| fetch | idle | busy | busy / idle |",
        "|---|---|---|---|",
    ]
    for name, times in rows.items():
        idle, busy = statistics.median(times["idle"]), statistics.median(times["busy"])
        lines.append(f"| {name} | {idle:.3f} s | {busy:.3f} s | {busy / idle:.1f}x |")
    text = "\n".join(lines) + "\n"
    out = HERE / "results" / "gil.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
