"""Several `git-reconcile serve` processes coordinated by one real PostgreSQL 15, with
a remote over the loopback SSH git server: a webhook to one replica reaches them all;
their commits made at once all land; on one shared working tree their runs take turns,
and a replica killed while it holds the lock lets the other take it."""

from __future__ import annotations

import itertools
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psycopg
from gitutil import World, git, rev
from servers._process import free_port
from servers.pg import postgres_server, postgres_url  # noqa: F401

from plugin.replicas import libpq_url
from webhooks import sign_sha256

SECRET = "hook-s3cret"
ADMIN = "adm1n-t0ken"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
SESSION_TIMEOUT = 4  # seconds: lock_session_timeout, the locks' failure time here
WAIT = 60.0  # the bound of every wait below


class Replica:
    """One `git-reconcile serve` process, its output read as it comes."""

    def __init__(self, name: str, config: Path, changed: threading.Condition) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.lines: list[str] = []
        self._changed = changed
        self._started = threading.Event()
        env = {**os.environ, "RECONCILE_ADMIN_TOKEN": ADMIN, "RECONCILE_WEBHOOK_SECRET": SECRET}
        env.pop("RECONCILE_DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plugin",
                "serve",
                "--config",
                str(config),
                "--port",
                str(self.port),
                "--log-level",
                "INFO",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                if "Application startup complete" in line:
                    self._started.set()
                self._changed.notify_all()
        self._started.set()  # it ended: whoever waits finds out

    def wait_started(self) -> None:
        assert self._started.wait(WAIT), f"{self.name} did not start"
        assert self.proc.poll() is None, f"{self.name} exited:\n{''.join(self.lines)}"

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", headers=AUTH, timeout=WAIT, **kwargs)

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = httpx.get(f"{self.base}/status", timeout=WAIT).json()
        return answer

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class Cluster:
    """The replicas of one test, and a way to await what their runs do."""

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.changed = threading.Condition()
        self.replicas: list[Replica] = []

    def until(self, check: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        """Wait (bounded) until ``check()``; it is asked again whenever a replica
        prints a line (a run's end is logged), and at least every half second (the
        audit rows are written just after the line)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    logs = "".join("".join(r.lines[-30:]) for r in self.replicas)
                    raise AssertionError(f"timed out waiting until {what}\n{logs}")
                self.changed.wait(min(left, 0.5))

    def rows(self, query: str, *args: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq_url(self.db_url), autocommit=True) as conn:
            return conn.execute(query, args).fetchall()


def _config(tmp: Path, replica: str, clone: Path, db_url: str, world: World) -> Path:
    path = tmp / f"{replica}.toml"
    path.write_text(
        f"database_url = {json.dumps(db_url)}\n"
        f"replica_id = {json.dumps(replica)}\n"
        f"lock_session_timeout = {SESSION_TIMEOUT}\n"
        "[[repos]]\n"
        'name = "data"\n'
        f"path = {json.dumps(str(clone))}\n"
        "poll_interval = 0\n"
        f"ssh_key = {json.dumps(str(world.ssh.client_key_path))}\n"
        f"known_hosts = {json.dumps(str(world.ssh.known_hosts_path))}\n"
    )
    return path


@contextmanager
def _cluster(db_url: str, configs: list[Path]) -> Iterator[Cluster]:
    """One replica per configuration, started together; stopped afterwards."""
    cluster = Cluster(db_url)
    with ExitStack() as stack:
        for config in configs:
            replica = Replica(config.stem, config, cluster.changed)
            stack.callback(replica.stop)
            cluster.replicas.append(replica)
        for replica in cluster.replicas:
            replica.wait_started()
        yield cluster


def _webhook(replica: Replica, after: str, delivery: str) -> httpx.Response:
    body = json.dumps({"ref": "refs/heads/main", "after": after}).encode()
    return httpx.post(
        f"{replica.base}/webhooks/generic-hmac/data",
        content=body,
        headers={"X-Signature": sign_sha256(SECRET, body), "X-Delivery-Id": delivery},
        timeout=WAIT,
    )


def _at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Make the calls at the same moment, each in a thread; their answers, in order."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | None] = [None] * len(calls)

    def call(index: int) -> None:
        barrier.wait(timeout=WAIT)
        answers[index] = calls[index]()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert all(a is not None for a in answers), "a call did not finish in time"
    return [a for a in answers if a is not None]


def _assert_no_overlap(cluster: Cluster, pushers: set[str]) -> None:
    """The network operations of different runs (the audit rows' start and duration)
    never overlap, and each of ``pushers`` pushed."""
    query = (
        "SELECT r.replica, r.run_id, o.started_at, o.duration_ms, o.kind"
        " FROM reconcile_git_operation o JOIN reconcile_run r ON r.id = o.run_pk"
        " ORDER BY o.started_at"
    )

    def pushed() -> set[str]:
        return {row[0] for row in cluster.rows(query) if row[4] == "push"}

    cluster.until(lambda: pushers <= pushed(), f"{', '.join(sorted(pushers))} recorded pushes")
    operations = cluster.rows(query)
    for before, after in itertools.pairwise(operations):
        ends = before[2] + timedelta(milliseconds=before[3])
        if before[1] != after[1]:
            assert ends <= after[2], (before, after)


def _files(repo: Path, ref: str) -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", ref).split())


def test_a_webhook_to_one_replica_fast_forwards_all_three_and_their_commits_all_land(
    tmp_path: Path,
    ssh_world: World,
    postgres_url: str,  # noqa: F811
) -> None:
    """Three replicas with their own clones: a webhook to the first fast-forwards all
    three (the others hear it over NOTIFY and record runs of their own, by replica);
    its redelivery to another replica is a duplicate; then each application commits
    at the same moment through the write path, and every commit lands on the remote
    (or on a conflicts/* branch): none is lost, and their pushes never overlap. A
    replica whose listener lost its connection runs once to catch up."""
    world = ssh_world
    clones = [world.clone(f"clone-{i}") for i in (1, 2, 3)]
    record = tmp_path / "record"
    _hooks(world.remote, record)
    configs = [_config(tmp_path, f"r{i}", c, postgres_url, world) for i, c in enumerate(clones, 1)]
    with _cluster(postgres_url, configs) as cluster:
        first, second, third = cluster.replicas
        new = world.remote_commit({"data.txt": "from the webhook\n"}, "pushed elsewhere")
        answer = _webhook(first, new, "delivery-1")
        assert answer.status_code == 202, answer.text
        cluster.until(lambda: all(rev(c, "main") == new for c in clones), "all three have it")
        cluster.until(
            lambda: (
                len(cluster.rows("SELECT 1 FROM reconcile_run WHERE new_commit = %s", new)) == 3
            ),
            "each replica recorded its run",
        )
        runs = cluster.rows(
            "SELECT replica, trigger, outcome FROM reconcile_run WHERE new_commit = %s"
            " AND old_commit <> new_commit ORDER BY replica",
            new,
        )
        assert runs == [
            ("r1", "webhook", "fast-forwarded"),
            ("r2", "replica", "fast-forwarded"),
            ("r3", "replica", "fast-forwarded"),
        ]
        again = _webhook(second, new, "delivery-1")
        assert again.json()["status"] == "duplicate"

        for index, clone in enumerate(clones, 1):
            (clone / f"r{index}.txt").write_text(f"written by replica {index}\n")
        answers = _at_once(
            *(
                partial(
                    r.post, "/commit?repo=data&wait=true", json={"message": f"Save of {r.name}"}
                )
                for r in (first, second, third)
            )
        )
        for name, committed in zip(("r1", "r2", "r3"), answers, strict=True):
            assert committed.status_code == 200, committed.text
            run = committed.json()
            assert run["error"] is None, run
            assert run["replica"] == name
            assert run["result"]["commit"] is not None, run
        landed = _files(world.remote, "main")
        for conflict in git(
            world.remote, "for-each-ref", "--format=%(refname)", "refs/heads/conflicts"
        ):
            landed |= _files(world.remote, conflict)
        assert {"r1.txt", "r2.txt", "r3.txt"} <= landed
        messages = git(world.remote, "log", "--format=%s", "--all")
        for name in ("r1", "r2", "r3"):
            assert f"Save of {name}" in messages
        _assert_no_overlap(cluster, {"r1", "r2", "r3"})
        assert not (record / "overlaps").exists()

        closed = cluster.rows(  # the second replica's listener loses its connection
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'git-reconcile listen r2'"
        )
        assert closed == [(True,)]
        cluster.until(
            lambda: bool(
                cluster.rows(
                    "SELECT 1 FROM reconcile_run WHERE replica = 'r2' AND trigger = 'catch-up'"
                )
            ),
            "the second replica, listening again, ran to catch up",
        )


def _hooks(remote: Path, record: Path) -> None:
    """Server-side hooks that record pushes that overlap (one still between its
    pre-receive and post-receive when another starts), and can hold a push in its
    pre-receive until the test lets it go (and then refuse it)."""
    record.mkdir()
    os.mkfifo(record / "gate")
    pre = f"""#!/bin/sh
d={record}
if ! mkdir "$d/inflight" 2>/dev/null; then echo overlap >> "$d/overlaps"; fi
echo push >> "$d/pushes"
if [ -e "$d/hold" ]; then
  rm -f "$d/hold"; touch "$d/held"
  read line < "$d/gate"
  rmdir "$d/inflight"; exit 1
fi
exit 0
"""
    post = f"""#!/bin/sh
rmdir {record}/inflight 2>/dev/null
exit 0
"""
    for name, text in (("pre-receive", pre), ("post-receive", post)):
        hook = remote / "hooks" / name
        hook.write_text(text)
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def test_two_replicas_on_one_shared_tree_never_overlap(
    tmp_path: Path,
    ssh_world: World,
    postgres_url: str,  # noqa: F811
) -> None:
    """Two replicas serving one working tree, committed to and triggered on both at
    once, over and over: both push, their network operations (the audit rows' start
    and duration) never overlap, nor do their pushes on the server."""
    world = ssh_world
    shared = world.clone("shared")
    record = tmp_path / "record"
    _hooks(world.remote, record)
    configs = [_config(tmp_path, name, shared, postgres_url, world) for name in ("a", "b")]
    with _cluster(postgres_url, configs) as cluster:
        a, b = cluster.replicas
        for round_ in range(6):
            (shared / f"file-{round_}.txt").write_text(f"round {round_}\n")
            one, other = (a, b) if round_ % 2 == 0 else (b, a)
            done = _at_once(
                partial(one.post, "/commit?repo=data&wait=true"),
                partial(other.post, "/trigger?repo=data&wait=true"),
            )
            assert [r.status_code for r in done] == [200, 200], [r.text for r in done]
        assert _files(world.remote, "main") >= {f"file-{i}.txt" for i in range(6)}
        cluster.until(
            lambda: (
                {r[0] for r in cluster.rows("SELECT DISTINCT replica FROM reconcile_run")}
                == {"a", "b"}
            ),
            "both replicas recorded runs",
        )
        _assert_no_overlap(cluster, {"a", "b"})
        assert not (record / "overlaps").exists()
        assert (record / "pushes").read_text().count("push") >= 6


def test_killing_the_holder_lets_the_other_replica_take_the_lock(
    tmp_path: Path,
    ssh_world: World,
    postgres_url: str,  # noqa: F811
) -> None:
    """The holder killed (-9) in the middle of its push: /status showed it holding the
    lock, and the other replica's run takes it well within the failure time, pushes
    the commit the dead one had made, and lets it go."""
    world = ssh_world
    shared = world.clone("shared")
    record = tmp_path / "record"
    _hooks(world.remote, record)
    configs = [_config(tmp_path, name, shared, postgres_url, world) for name in ("a", "b")]
    with _cluster(postgres_url, configs) as cluster:
        a, b = cluster.replicas
        (record / "hold").touch()
        (shared / "saved.txt").write_text("saved just before the crash\n")
        assert a.post("/commit?repo=data").status_code == 202
        cluster.until((record / "held").exists, "a's push is held by the server")
        assert a.status()["repos"]["data"]["holds_lock"] is True
        assert b.status()["repos"]["data"]["holds_lock"] is False
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(timeout=WAIT)
        killed = time.monotonic()
        try:  # the held push is refused (its client is gone anyway)
            gate = os.open(record / "gate", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            pass  # the server already ended it with its connection
        else:
            os.write(gate, b"go\n")
            os.close(gate)
        answer = b.post("/trigger?repo=data&wait=true")
        took = time.monotonic() - killed
        run = answer.json()
        assert run["error"] is None, run
        assert run["lock_wait_seconds"] < SESSION_TIMEOUT, run
        assert took < SESSION_TIMEOUT + 10, took
        assert run["result"]["outcome"] == "pushed-ahead", run
        assert "saved.txt" in _files(world.remote, "main")
        assert b.status()["repos"]["data"]["holds_lock"] is False
