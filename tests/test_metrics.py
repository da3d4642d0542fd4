"""Prometheus metrics: exact values from real runs, naming conventions, and several
worker processes writing to one multiprocess directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
from builders import run_record
from gitutil import World, git
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from plugin import Metrics, RunRecord
from plugin._metrics import MULTIPROC_ENV, delivery_result
from reconcile import Outcome, Result, Retry, reconcile
from webhooks import (
    MalformedPayload,
    PayloadTooLarge,
    Provider,
    SignatureMismatch,
    UnknownProvider,
)

ROOT = Path(__file__).resolve().parent.parent

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics: Metrics) -> Samples:
    """Every sample of ``metrics.render()``, parsed back, by name and labels."""
    body, content_type = metrics.render()
    assert content_type == CONTENT_TYPE_LATEST
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    """The sample ``name{labels}``, or None when it is not exposed."""
    return samples.get((name, frozenset(labels.items())))


def record(result: Result | None, started: float = 100.0, finished: float = 100.25) -> RunRecord:
    """A finished run of the repository configured as ``app``."""
    return run_record(
        result,
        repo="app",
        triggers=("manual",),
        finished=finished,
        took=finished - started,
        waited=0.0,
    )


def test_an_in_sync_run_is_counted_exactly(path_world: World) -> None:
    """An in-sync run counts one run, one fetch, a 250 ms duration, and no push."""
    app = path_world.clone("app")
    result = reconcile(path_world.spec(app))
    assert result.outcome is Outcome.IN_SYNC
    metrics = Metrics()
    metrics.observe_run("app", record(result), consecutive_failures=0, last_success=100.25)
    s = scrape(metrics)
    assert value(s, "git_reconcile_runs_total", repo="app", outcome="in-sync") == 1
    for outcome in [*(o.value for o in Outcome if o is not Outcome.IN_SYNC), "error"]:
        assert value(s, "git_reconcile_runs_total", repo="app", outcome=outcome) == 0
    assert value(s, "git_reconcile_run_duration_seconds_count", repo="app") == 1
    assert value(s, "git_reconcile_run_duration_seconds_sum", repo="app") == 0.25
    assert value(s, "git_reconcile_run_duration_seconds_bucket", repo="app", le="0.1") == 0
    assert value(s, "git_reconcile_run_duration_seconds_bucket", repo="app", le="0.25") == 1
    assert value(s, "git_reconcile_consecutive_failures", repo="app") == 0
    assert value(s, "git_reconcile_last_success_timestamp_seconds", repo="app") == 100.25
    assert value(s, "git_reconcile_ahead_commits", repo="app") == 0
    assert value(s, "git_reconcile_behind_commits", repo="app") == 0
    assert value(s, "git_reconcile_push_attempts_total", repo="app") == 0
    for status in ("ok", "failed", "rejected"):
        assert value(s, "git_reconcile_pushes_total", repo="app", status=status) == 0
    assert value(s, "git_reconcile_pushes_total", repo="app", status="skipped") is None
    ops = {k: v for k, v in s.items() if k[0] == "git_reconcile_network_operations_total"}
    assert ops == {
        (
            "git_reconcile_network_operations_total",
            frozenset({"repo": "app", "kind": "fetch", "result": "ok"}.items()),
        ): 1
    }


def test_pushes_fast_forwards_and_conflicts_accumulate(path_world: World) -> None:
    """A push, a fast-forward and a conflict escape add up, and the gauges follow the
    last run."""
    world = path_world
    app = world.clone("app")
    metrics = Metrics()

    world.commit(app, {"local.txt": "1\n"}, "local")
    pushed = reconcile(world.spec(app))
    assert pushed.outcome is Outcome.PUSHED_AHEAD
    metrics.observe_run("app", record(pushed), 0, 100.25)
    s = scrape(metrics)
    assert value(s, "git_reconcile_ahead_commits", repo="app") == 1
    assert value(s, "git_reconcile_behind_commits", repo="app") == 0

    world.remote_commit({"remote.txt": "1\n"}, "remote")
    forwarded = reconcile(world.spec(app))
    assert forwarded.outcome is Outcome.FAST_FORWARDED
    metrics.observe_run("app", record(forwarded, 200.0, 201.0), 0, 201.0)
    s = scrape(metrics)
    assert value(s, "git_reconcile_ahead_commits", repo="app") == 0
    assert value(s, "git_reconcile_behind_commits", repo="app") == 1

    world.remote_commit({"data.txt": "remote\n"}, "r")
    world.commit(app, {"data.txt": "local\n"}, "l")
    escaped = reconcile(world.spec(app))
    assert escaped.outcome is Outcome.CONFLICT_ESCAPED
    metrics.observe_run("app", record(escaped, 300.0, 330.0), 0, 330.0)
    s = scrape(metrics)

    for outcome in ("pushed-ahead", "fast-forwarded", "conflict-escaped"):
        assert value(s, "git_reconcile_runs_total", repo="app", outcome=outcome) == 1
    assert value(s, "git_reconcile_runs_total", repo="app", outcome="in-sync") == 0
    assert value(s, "git_reconcile_push_attempts_total", repo="app") == 2
    assert value(s, "git_reconcile_pushes_total", repo="app", status="ok") == 2
    assert value(s, "git_reconcile_pushes_total", repo="app", status="failed") == 0
    ops = "git_reconcile_network_operations_total"
    assert value(s, ops, repo="app", kind="fetch", result="ok") == 3
    assert value(s, ops, repo="app", kind="push", result="ok") == 2
    assert value(s, "git_reconcile_run_duration_seconds_count", repo="app") == 3
    assert value(s, "git_reconcile_run_duration_seconds_sum", repo="app") == 31.25
    assert value(s, "git_reconcile_run_duration_seconds_bucket", repo="app", le="1.0") == 2
    assert value(s, "git_reconcile_run_duration_seconds_bucket", repo="app", le="30.0") == 3
    assert value(s, "git_reconcile_last_success_timestamp_seconds", repo="app") == 330.0
    assert value(s, "git_reconcile_ahead_commits", repo="app") == 1
    assert value(s, "git_reconcile_behind_commits", repo="app") == 1


def test_failures_count_and_leave_no_url_in_the_labels(path_world: World) -> None:
    """A fetch failure and a run without a result count as failures; the remote's URL
    and its token appear nowhere in the exposition."""
    app = path_world.clone("app")
    metrics = Metrics()
    path_world.commit(app, {"local.txt": "1\n"}, "local")
    pushed = reconcile(path_world.spec(app))
    assert pushed.outcome is Outcome.PUSHED_AHEAD
    metrics.observe_run("app", record(pushed), 0, 100.25)
    git(app, "remote", "set-url", "origin", "https://user:s3cr3t-token@127.0.0.1:9/x.git")
    failed = reconcile(path_world.spec(app, timeout=5, retry=Retry(attempts=1)))
    assert failed.outcome is Outcome.FETCH_FAILED
    metrics.observe_run("app", record(failed, 200.0, 201.0), 1, 100.25)
    metrics.observe_run("app", record(None, 300.0, 300.5), 2, 100.25)

    body, _ = metrics.render()
    assert b"s3cr3t" not in body
    assert b"127.0.0.1" not in body
    s = scrape(metrics)
    assert value(s, "git_reconcile_runs_total", repo="app", outcome="fetch-failed") == 1
    assert value(s, "git_reconcile_runs_total", repo="app", outcome="error") == 1
    assert value(s, "git_reconcile_runs_total", repo="app", outcome="pushed-ahead") == 1
    assert value(s, "git_reconcile_consecutive_failures", repo="app") == 2
    assert value(s, "git_reconcile_last_success_timestamp_seconds", repo="app") == 100.25
    ops = "git_reconcile_network_operations_total"
    assert value(s, ops, repo="app", kind="fetch", result="failed") == 1
    assert value(s, ops, repo="app", kind="fetch", result="ok") == 1
    assert value(s, ops, repo="app", kind="push", result="ok") == 1
    # The failed fetch never compared the branches: the gauges keep the last real counts.
    assert failed.ahead == 0
    assert value(s, "git_reconcile_ahead_commits", repo="app") == 1
    assert value(s, "git_reconcile_behind_commits", repo="app") == 0
    assert value(s, "git_reconcile_run_duration_seconds_count", repo="app") == 3


def test_a_repository_never_succeeded_has_no_last_success() -> None:
    """Until a run succeeds there is no last-success sample, and a duck-typed record
    without times counts the run but not its duration."""
    metrics = Metrics()
    run = SimpleNamespace(started_at=None, finished_at=None, result=None)
    metrics.observe_run("data", run, 1, None)
    s = scrape(metrics)
    assert value(s, "git_reconcile_runs_total", repo="data", outcome="error") == 1
    assert value(s, "git_reconcile_consecutive_failures", repo="data") == 1
    assert value(s, "git_reconcile_last_success_timestamp_seconds", repo="data") is None
    assert value(s, "git_reconcile_run_duration_seconds_count", repo="data") is None


def test_webhook_deliveries_are_counted_by_provider_and_result() -> None:
    """Deliveries count per provider and result; unknown provider names collapse to one
    label, and an unknown result is refused."""
    metrics = Metrics()
    metrics.observe_delivery("github", "queued")
    metrics.observe_delivery("GitHub", "queued")
    metrics.observe_delivery("gitlab", "unauthorized")
    metrics.observe_delivery("../../etc/passwd", "unknown-provider")
    metrics.observe_delivery("nope", "unknown-provider")
    with pytest.raises(ValueError, match="unknown delivery result"):
        metrics.observe_delivery("github", "pong")  # type: ignore[arg-type]
    s = scrape(metrics)
    name = "git_reconcile_webhook_deliveries_total"
    assert value(s, name, provider="github", result="queued") == 2
    assert value(s, name, provider="gitlab", result="unauthorized") == 1
    assert value(s, name, provider="unknown", result="unknown-provider") == 2
    assert {dict(k[1])["provider"] for k in s if k[0] == name} == {"github", "gitlab", "unknown"}


def test_provider_labels_are_the_webhooks_providers() -> None:
    """Every provider of ``webhooks.Provider`` is its own label, in any case; nothing
    else gets one of its own."""
    metrics = Metrics()
    for provider in Provider:
        metrics.observe_delivery(provider.value.upper(), "queued")
    metrics.observe_delivery("githubx", "queued")
    s = scrape(metrics)
    labels = {dict(k[1])["provider"] for k in s if k[0] == "git_reconcile_webhook_deliveries_total"}
    assert labels == {p.value for p in Provider} | {"unknown"}


def test_webhook_errors_map_to_delivery_results() -> None:
    """Each kind of webhook error is counted under its own result."""
    assert delivery_result(UnknownProvider("x")) == "unknown-provider"
    assert delivery_result(PayloadTooLarge("x")) == "too-large"
    assert delivery_result(SignatureMismatch("x")) == "unauthorized"
    assert delivery_result(MalformedPayload("x")) == "malformed"


def test_lock_waits_fill_the_histogram() -> None:
    """Lock waits land in their buckets; a negative clock difference counts as zero."""
    metrics = Metrics()
    metrics.observe_lock_wait("app", 0.002)
    metrics.observe_lock_wait("app", 7.0)
    metrics.observe_lock_wait("app", -0.5)
    s = scrape(metrics)
    name = "git_reconcile_lock_wait_seconds"
    assert value(s, f"{name}_count", repo="app") == 3
    assert value(s, f"{name}_sum", repo="app") == 7.002
    assert value(s, f"{name}_bucket", repo="app", le="0.001") == 1
    assert value(s, f"{name}_bucket", repo="app", le="0.005") == 2
    assert value(s, f"{name}_bucket", repo="app", le="5.0") == 2
    assert value(s, f"{name}_bucket", repo="app", le="10.0") == 3


def test_each_instance_has_its_own_registry() -> None:
    """Two Metrics in one process neither collide nor share counts; a given registry
    is used as is."""
    first, second = Metrics(), Metrics()
    first.observe_delivery("github", "queued")
    assert value(scrape(second), "git_reconcile_webhook_deliveries_total") is None
    registry = CollectorRegistry()
    third = Metrics(registry)
    third.observe_delivery("gitea", "present")
    labels = {"provider": "gitea", "result": "present"}
    assert registry.get_sample_value("git_reconcile_webhook_deliveries_total", labels) == 1


EXPECTED = {
    "git_reconcile_runs": "counter",
    "git_reconcile_run_duration_seconds": "histogram",
    "git_reconcile_push_attempts": "counter",
    "git_reconcile_pushes": "counter",
    "git_reconcile_consecutive_failures": "gauge",
    "git_reconcile_last_success_timestamp_seconds": "gauge",
    "git_reconcile_ahead_commits": "gauge",
    "git_reconcile_behind_commits": "gauge",
    "git_reconcile_webhook_deliveries": "counter",
    "git_reconcile_lock_wait_seconds": "histogram",
    "git_reconcile_network_operations": "counter",
    "git_reconcile_commits": "counter",
}
GAUGE_UNITS = ("_seconds", "_commits", "_failures")
LABELS = {"repo", "outcome", "status", "provider", "result", "kind", "le", "message_source"}


def test_metric_names_follow_the_prometheus_conventions(path_world: World) -> None:
    """Every family is prefixed and snake_case with help text; counter samples end in
    _total and nothing else does; histograms and timestamps are in seconds; gauges
    name their unit; labels are the known, secret-free ones."""
    app = path_world.clone("app")
    metrics = Metrics()
    metrics.observe_run("app", record(reconcile(path_world.spec(app))), 0, 100.25)
    metrics.observe_delivery("github", "queued")
    metrics.observe_lock_wait("app", 0.01)
    body, _ = metrics.render()
    parsed = list(text_string_to_metric_families(body.decode()))
    # prometheus_client adds a `<name>_created` gauge per counter and histogram family.
    created = {f.name.removesuffix("_created") for f in parsed if f.name.endswith("_created")}
    assert created == {name for name, kind in EXPECTED.items() if kind != "gauge"}
    families = [f for f in parsed if not f.name.endswith("_created")]
    assert {f.name: f.type for f in families} == EXPECTED
    for family in families:
        assert re.fullmatch(r"git_reconcile_[a-z]+(_[a-z]+)*", family.name), family.name
        assert family.documentation, family.name
        assert not re.search(r"_(ms|milliseconds|minutes|hours|days)(_|$)", family.name)
        names = {s.name for s in family.samples}
        assert names, family.name
        if family.type == "counter":
            assert names == {f"{family.name}_total"}
        else:
            assert not any(n.endswith("_total") for n in names), family.name
        if family.type == "histogram":
            assert family.name.endswith("_seconds")
        if family.type == "gauge":
            assert family.name.endswith(GAUGE_UNITS), family.name
        if "timestamp" in family.name:
            assert family.name.endswith("_timestamp_seconds")
        for sample in family.samples:
            assert set(sample.labels) <= LABELS, sample


WORKER = textwrap.dedent(
    """
    import sys
    from types import SimpleNamespace

    from plugin import Metrics
    from reconcile import Outcome, Result

    runs, failures, last_success, ahead = (float(a) for a in sys.argv[1:])
    metrics = Metrics()
    assert metrics.multiprocess
    for _ in range(int(runs)):
        result = Result(
            repo="/srv/app", remote="origin", branch="main", outcome=Outcome.IN_SYNC,
            remote_commit="a" * 40, ahead=int(ahead),
        )
        run = SimpleNamespace(started_at=10.0, finished_at=10.5, result=result)
        metrics.observe_run("app", run, int(failures), last_success)
    metrics.observe_delivery("github", "queued")
    metrics.observe_lock_wait("app", 0.5)
    """
)


def test_worker_processes_are_aggregated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes writing to one PROMETHEUS_MULTIPROC_DIR render as one: counters
    and histograms summed, the most recent failure streak, the latest success."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    for args in (["1", "4", "2000.0", "3"], ["2", "0", "1000.0", "5"]):  # run one after another
        done = subprocess.run(
            [sys.executable, "-c", WORKER, *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    assert {p.name.split("_")[0] for p in directory.glob("*.db")} == {
        "counter",
        "gauge",
        "histogram",
    }

    monkeypatch.setenv(MULTIPROC_ENV, str(directory))
    metrics = Metrics()
    assert metrics.multiprocess
    s = scrape(metrics)
    assert value(s, "git_reconcile_runs_total", repo="app", outcome="in-sync") == 3
    assert value(s, "git_reconcile_runs_total", repo="app", outcome="error") == 0
    assert value(s, "git_reconcile_run_duration_seconds_count", repo="app") == 3
    assert value(s, "git_reconcile_run_duration_seconds_sum", repo="app") == 1.5
    assert value(s, "git_reconcile_run_duration_seconds_bucket", repo="app", le="0.5") == 3
    deliveries = "git_reconcile_webhook_deliveries_total"
    assert value(s, deliveries, provider="github", result="queued") == 2
    assert value(s, "git_reconcile_lock_wait_seconds_count", repo="app") == 2
    # mostrecent: the second process wrote last; livemax: the first one's later success.
    assert value(s, "git_reconcile_consecutive_failures", repo="app") == 0
    assert value(s, "git_reconcile_ahead_commits", repo="app") == 5
    assert value(s, "git_reconcile_last_success_timestamp_seconds", repo="app") == 2000.0
