"""Benchmark: webhooks of `git-reconcile serve` (a real uvicorn process), alone and under load.

    python tests/bench/bench_webhooks.py [--requests 2000] [--seconds 10] [--rounds 3]

Latency, over loopback with a keep-alive client, one request at a time:
- the already-present path: a signed push for a commit the repository already has
  (answered without locking or fetching);
- a burst: signed pushes of a new commit sent while a reconcile is queued, each
  answered at once (they coalesce into one follow-up run).

Throughput under load (wrk, from Debian's packages: ``apt-get install -y wrk``):
64 connections send signed deliveries, each with its own delivery id, for
``--seconds`` seconds (wrk stops by itself; the run is bounded in time) to
- a bare Starlette endpoint that reads the body and answers the same JSON, under
  the same uvicorn with the same options and logging (``bare_app.py``): the floor;
- ``git-reconcile serve``, deliveries of a commit already present (200);
- ``git-reconcile serve``, deliveries of a commit it does not have (202, each queued
  and coalesced into the runs that follow one another meanwhile).
The three are interleaved, the order rotating, ``--rounds`` times; medians. Every
delivery must be answered with its expected status and recorded once in the audit
store (checked after each load). Without wrk, the load rows are skipped.

Writes tests/bench/results/webhooks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parent))

from gitutil import commit_plumbing, git, isolate_git_config  # noqa: E402

from reconcile import RepoLock  # noqa: E402
from webhooks import sign_sha256  # noqa: E402

SECRET = "bench-secret"
CONNECTIONS = 64
THREADS = 2
ABSENT = "c0ffee" * 6 + "c0ff"  # a commit nobody has: every delivery of it queues a run

LUA = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Signature"] = "%(signature)s"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  wrk.headers["X-Delivery-Id"] = "%(prefix)s-" .. tid .. "-" .. n
  return wrk.format()
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"connect\\": %%d, " ..
    "\\"read\\": %%d, \\"write\\": %%d, \\"status\\": %%d, \\"timeout\\": %%d, " ..
    "\\"p50_us\\": %%d, \\"p99_us\\": %%d}\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def _post(client: httpx.Client, url: str, after: str) -> tuple[float, int]:
    body = _body(after)
    headers = {"X-Signature": sign_sha256(SECRET, body), "X-Delivery-Id": uuid.uuid4().hex}
    started = time.perf_counter()
    answer = client.post(url, content=body, headers=headers)
    return time.perf_counter() - started, answer.status_code


def _body(after: str) -> bytes:
    return json.dumps({"ref": "refs/heads/main", "after": after}).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server process, once it says it is up. Its log goes to a file, as a real
    deployment's goes to journald or a container runtime, which read it at once: a
    pipe read by this process would hold the server up whenever the reader fell behind."""
    with log.open("wb") as out:
        server = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while b"Application startup complete" not in log.read_bytes():
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[:4]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass
class Load:
    """What wrk measured in one load."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def _wrk(url: str, after: str, seconds: float, prefix: str, root: Path) -> Load:
    body = _body(after).decode()
    script = root / f"{prefix}.lua"
    script.write_text(
        LUA % {"body": body, "signature": sign_sha256(SECRET, body.encode()), "prefix": prefix}
    )
    done = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{CONNECTIONS}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    found = re.search(r"^RESULT (\{.*\})$", done.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no result: {done.stdout}{done.stderr}")
    out = json.loads(found.group(1))
    errors = sum(out[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Load(
        out["requests"], out["duration_us"] / 1e6, errors, out["p50_us"] / 1e3, out["p99_us"] / 1e3
    )


def _recorded(database: Path, prefix: str) -> dict[str, int]:
    """Deliveries of one load in the audit store, by result."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute(
            "SELECT result, COUNT(*) FROM reconcile_webhook_delivery WHERE delivery_id LIKE ? "
            "GROUP BY result",
            (f"{prefix}-%",),
        ).fetchall()
    return {str(result): int(count) for result, count in rows}


def _check_recorded(database: Path, prefix: str, cell: str, answered: int) -> None:
    """Each delivery of a load recorded once, with its result: those wrk counted, and at
    most one more per connection (sent when wrk stopped counting). The server finishes
    those in-flight deliveries after wrk has gone, so wait until the count settles."""
    expected = "present" if cell == "present" else "queued"
    recorded, deadline = _recorded(database, prefix), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        again = _recorded(database, prefix)
        if again == recorded and set(again) == {expected}:
            break
        recorded = again
    assert set(recorded) == {expected}, (cell, recorded)
    assert answered <= recorded[expected] <= answered + CONNECTIONS, (cell, recorded, answered)


def _runs(port: int) -> int:
    """Runs the server finished so far, from its metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("git_reconcile_runs_total{")
        )
    )


@dataclass
class World:
    root: Path
    remote: Path
    app: Path
    tip: str
    env: dict[str, str]

    @property
    def database(self) -> Path:
        return self.root / "data" / "audit.sqlite3"

    def serve(self, port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
        argv = [sys.executable, "-m", "plugin", "serve", "--repo", str(self.app)]
        argv += ["--poll-interval", "0", "--port", str(port), "--data-dir", str(self.root / "data")]
        return _server(argv, self.env, self.root / f"serve-{port}.log")


def _world(root: Path) -> World:
    isolate_git_config(root / "home")
    remote = root / "remote.git"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    tip = commit_plumbing(remote, {"data.txt": "1\n"}, "seed")
    app = root / "app"
    git(root, "clone", "-q", str(remote), str(app))
    return World(root, remote, app, tip, {**os.environ, "RECONCILE_WEBHOOK_SECRET": SECRET})


def latency(world: World, requests: int) -> list[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/webhooks/generic-hmac"
    rows = []
    with world.serve(port), httpx.Client() as client:
        for _ in range(50):  # warm up
            _post(client, url, world.tip)
        present = [_post(client, url, world.tip) for _ in range(requests)]
        assert {code for _t, code in present} == {200}
        rows.append(("already-present commit (200)", [t for t, _c in present]))
        new = commit_plumbing(world.remote, {"data.txt": "2\n"}, "new")
        # Hold the repository's lock, so the first run waits and every delivery
        # of the burst is queued behind it (202) instead of finding the commit.
        with RepoLock(world.app / ".git"):
            burst = [_post(client, url, new) for _ in range(requests)]
        assert {code for _t, code in burst} == {202}
        rows.append(("burst of a new commit (202, coalesced)", [t for t, _c in burst]))
    lines = [
        f"Response latency, `git-reconcile serve` on loopback, {requests} sequential signed "
        "requests per row (keep-alive client).",
        "",
        "| path | p50 | p99 |",
        "|---|---|---|",
    ]
    for name, samples in rows:
        p50, p99 = _percentiles(samples)
        lines.append(f"| {name} | {p50:.2f} ms | {p99:.2f} ms |")
    return lines


def load(world: World, seconds: float, rounds: int) -> list[str]:
    """The three load rows, interleaved; every delivery checked in the audit store."""
    serve_port, bare_port = _free_port(), _free_port()
    bare = [sys.executable, str(HERE / "bare_app.py"), str(bare_port), world.tip]
    results: dict[str, list[Load]] = {"bare": [], "present": [], "new": []}
    runs: list[int] = []
    with world.serve(serve_port), _server(bare, world.env, world.root / "bare.log"):
        hook = f"http://127.0.0.1:{serve_port}/webhooks/generic-hmac"
        floor = f"http://127.0.0.1:{bare_port}/webhooks/generic-hmac"
        _wrk(floor, world.tip, 1, "warm-bare", world.root)
        _wrk(hook, world.tip, 1, "warm-present", world.root)
        cells = list(results)
        for round_no in range(rounds):
            shift = round_no % len(cells)
            for cell in [*cells[shift:], *cells[:shift]]:
                prefix = f"{cell}{round_no}"
                url = floor if cell == "bare" else hook
                after = ABSENT if cell == "new" else world.tip
                before = _runs(serve_port)
                measured = _wrk(url, after, seconds, prefix, world.root)
                assert measured.errors == 0, (cell, measured)
                if cell != "bare":
                    _check_recorded(world.database, prefix, cell, measured.requests)
                if cell == "new":
                    runs.append(_runs(serve_port) - before)
                results[cell].append(measured)
    floor_rate = statistics.median(m.rate for m in results["bare"])
    names = {
        "bare": "bare Starlette endpoint: read the body, answer the JSON (the floor)",
        "present": "`git-reconcile serve`, a commit already present (200)",
        "new": "`git-reconcile serve`, a commit it does not have (202, queued, coalesced)",
    }
    lines = [
        f"Throughput under load: wrk, {CONNECTIONS} connections ({THREADS} threads) on "
        f"loopback for {seconds:g} s, each request a signed delivery with its own id; "
        f"median of {rounds} interleaved rounds. Every delivery was answered with its "
        "expected status (no error), and recorded once in the audit store (SQLite).",
        "",
        "| endpoint | requests/s | p50 | p99 | errors | vs the floor |",
        "|---|---|---|---|---|---|",
    ]
    for cell, loads in results.items():
        rate = statistics.median(m.rate for m in loads)
        lines.append(
            f"| {names[cell]} | {rate:,.0f} | {statistics.median(m.p50_ms for m in loads):.1f} ms"
            f" | {statistics.median(m.p99_ms for m in loads):.1f} ms | "
            f"{sum(m.errors for m in loads)} | {rate / floor_rate:.2f}x |"
        )
    lines += [
        "",
        f"While the new-commit deliveries came in, the server finished "
        f"{statistics.median(runs):.0f} runs per {seconds:g} s (median), each taking in "
        "every delivery queued while the one before ran.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000, help="per latency row")
    parser.add_argument("--seconds", type=float, default=10.0, help="per load (wrk -d)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved load rounds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-hooks-") as tmp:
        world = _world(Path(tmp))
        lines = latency(world, args.requests)
        lines.append("")
        if shutil.which("wrk") is None:
            lines.append("(Throughput under load not measured: wrk is not installed.)")
        else:
            lines += load(world, args.seconds, args.rounds)
        lines.append("")
        lines.append(f"Load average at the end (1, 5, 15 min): {_load()}.")
    text = "\n".join(lines) + "\n"
    out = HERE / "results" / "webhooks.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    print(text)


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
