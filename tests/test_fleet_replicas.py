"""Fleets on several replicas over one shared tree, against a real PostgreSQL 15: a
cycle runs on one replica at a time (``plugin.fleet.ReplicaGate``)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fleetutil import Tree
from gitutil import rev
from servers.pg import postgres_server, postgres_url  # noqa: F401  (fixtures)

from plugin.fleet import Fleet, ReplicaGate
from plugin.replicas import ReplicaLockError, Replicas


def test_a_cycle_runs_on_one_replica_at_a_time(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    """While one replica's fleet holds the cycle's lock, the other's cycle over the
    same tree is skipped and touches nothing; once it is let go, the other runs it,
    committing and pushing what changed."""
    tree = Tree(tmp_path)
    repo = tree.repo("base/a")
    (repo / "data.txt").write_text("2\n")
    before = rev(repo, "HEAD")
    one = Replicas(postgres_url, replica_id="r1", session_timeout=5)
    two = Replicas(postgres_url, replica_id="r2", session_timeout=5)
    try:
        first = Fleet(tree.config(), gate=ReplicaGate(one))
        second = Fleet(tree.config(), gate=ReplicaGate(two))
        first.discover()
        second.discover()
        entered, leave = threading.Event(), threading.Event()

        def hold() -> None:
            with first.gate.once("cycle-held") as mine:
                assert mine
                entered.set()
                leave.wait(30)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert entered.wait(30)
            assert second.cycle(trigger="test") is None
            assert rev(repo, "HEAD") == before
            assert tree.remote_tip(repo) == before
        finally:
            leave.set()
            holder.join(30)
        report = second.cycle(trigger="test")
        assert report is not None
        assert [r.status for r in report.results] == ["pushed"]
        assert tree.remote_tip(repo) == rev(repo, "HEAD") != before
    finally:
        one.close()
        two.close()


def test_without_the_database_no_cycle_runs(tmp_path: Path) -> None:
    """A gate whose PostgreSQL cannot be reached raises, and nothing is committed."""
    tree = Tree(tmp_path)
    repo = tree.repo("base/a")
    (repo / "data.txt").write_text("2\n")
    before = rev(repo, "HEAD")
    gone = Replicas("postgresql://nobody@127.0.0.1:9/none", replica_id="r1", session_timeout=2)
    try:
        fleet = Fleet(tree.config(), gate=ReplicaGate(gone))
        fleet.discover()
        with pytest.raises(ReplicaLockError):
            fleet.cycle(trigger="test")
        assert rev(repo, "HEAD") == before
        assert (repo / "data.txt").read_text() == "2\n"
    finally:
        gone.close()
