"""Benchmark: webhook response latency of `git-reconcile serve` (a real uvicorn process).

    python tests/bench/bench_webhooks.py [--requests 2000]

Measures, over loopback with a keep-alive client:
- the already-present path: a signed push for a commit the repository already has
  (answered without locking or fetching);
- a burst: signed pushes of a new commit sent while a reconcile is queued, each
  answered at once (they coalesce into one follow-up run).
Writes tests/bench/results/webhooks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))

from gitutil import commit_plumbing, git, isolate_git_config  # noqa: E402

from reconcile import RepoLock  # noqa: E402
from webhooks import sign_sha256  # noqa: E402

SECRET = "bench-secret"


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def _post(client: httpx.Client, url: str, after: str) -> tuple[float, int]:
    body = json.dumps({"ref": "refs/heads/main", "after": after}).encode()
    headers = {"X-Signature": sign_sha256(SECRET, body), "X-Delivery-Id": uuid.uuid4().hex}
    started = time.perf_counter()
    answer = client.post(url, content=body, headers=headers)
    return time.perf_counter() - started, answer.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as tmp:
        root = Path(tmp)
        isolate_git_config(root / "home")
        remote = root / "remote.git"
        git(root, "init", "-q", "--bare", "-b", "main", str(remote))
        tip = commit_plumbing(remote, {"data.txt": "1\n"}, "seed")
        app = root / "app"
        git(root, "clone", "-q", str(remote), str(app))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {**os.environ, "RECONCILE_WEBHOOK_SECRET": SECRET}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plugin",
                "serve",
                "--repo",
                str(app),
                "--poll-interval",
                "0",
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert server.stdout is not None
        for line in server.stdout:
            if "Application startup complete" in line:
                break
        # Keep reading the access log, or the server blocks once the pipe is full.
        threading.Thread(target=server.stdout.read, daemon=True).start()
        url = f"http://127.0.0.1:{port}/webhooks/generic-hmac"
        rows = []
        with httpx.Client() as client:
            for _ in range(50):  # warm up
                _post(client, url, tip)
            present = [_post(client, url, tip) for _ in range(args.requests)]
            assert {code for _t, code in present} == {200}
            rows.append(("already-present commit (200)", [t for t, _c in present]))
            new = commit_plumbing(remote, {"data.txt": "2\n"}, "new")
            # Hold the repository's lock, so the first run waits and every delivery
            # of the burst is queued behind it (202) instead of finding the commit.
            with RepoLock(app / ".git"):
                burst = [_post(client, url, new) for _ in range(args.requests)]
            assert {code for _t, code in burst} == {202}
            rows.append(("burst of a new commit (202, coalesced)", [t for t, _c in burst]))
        server.terminate()
        server.wait(timeout=15)
    lines = [
        f"Webhook response latency, `git-reconcile serve` on loopback, {args.requests} "
        "sequential signed requests per row (keep-alive client).",
        "",
        "| path | p50 | p99 |",
        "|---|---|---|",
    ]
    for name, samples in rows:
        p50, p99 = _percentiles(samples)
        lines.append(f"| {name} | {p50:.2f} ms | {p99:.2f} ms |")
    text = "\n".join(lines) + "\n"
    out = HERE / "results" / "webhooks.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
