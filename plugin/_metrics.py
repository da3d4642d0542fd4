"""Prometheus metrics of the plugin: runs, pushes, commits, webhook deliveries, lock
waits and network operations, per configured repository.

Each ``Metrics`` owns a ``CollectorRegistry`` of its own unless given one, so several
plugins (or tests) in one process never collide. Labels are bounded and carry no
secrets: ``repo`` is the configured name (never a path or URL), ``outcome``,
``status``, ``kind`` and ``result`` come from fixed sets, and a webhook ``provider``
that is not one of ``webhooks.Provider`` is counted as ``unknown``.

Several worker processes
------------------------
With one process the metrics live in memory and ``render()`` reads them. When
``PROMETHEUS_MULTIPROC_DIR`` names a directory in the environment *before
prometheus_client is imported* (set it for the whole server, and empty the directory
before the workers start), every process writes its values to files there, and
``render()`` (in whichever worker answers the scrape) merges every process's files
with ``prometheus_client.multiprocess.MultiProcessCollector``:

- counters and histograms are summed over the processes: ``runs_total`` counts the
  runs of every worker, the duration and lock-wait histograms hold every run;
- ``consecutive_failures``, ``ahead_commits`` and ``behind_commits`` use the
  ``mostrecent`` mode: the value set last, by whichever process ran last (each
  worker has its own runner, so this is the failure streak of the most recent run's
  worker);
- ``last_success_timestamp_seconds`` uses ``livemax``: the latest success seen by a
  live process. Call ``prometheus_client.multiprocess.mark_process_dead(pid)`` when
  a worker exits (gunicorn's ``child_exit`` hook) so a dead worker's files stop
  counting for it.

In multiprocess mode ``render()`` shows only what the files hold (no ``_created``
samples, nothing registered with the registry given here by other code), and a
process should create one ``Metrics``: two in one process would write the same
file entries.
"""

from __future__ import annotations

import os
from typing import Final, Literal, Protocol, get_args

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from reconcile import Outcome, PushStatus, Result, redact_text
from webhooks import (
    AuthenticationFailed,
    PayloadTooLarge,
    Provider,
    UnknownProvider,
    WebhookError,
)

__all__ = [
    "ALERT_RESULTS",
    "DELIVERY_RESULTS",
    "HOOK_RESULTS",
    "LOCK_WAIT_BUCKETS",
    "MULTIPROC_ENV",
    "RUN_DURATION_BUCKETS",
    "AlertResult",
    "DeliveryResult",
    "Metrics",
    "ObservedRun",
    "delivery_result",
]

MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"

#: What became of a webhook delivery, as counted by ``observe_delivery``.
DeliveryResult = Literal[
    "queued",
    "ignored",
    "present",
    "duplicate",
    "unauthorized",
    "too-large",
    "malformed",
    "unknown-provider",
    "shutting-down",
]
DELIVERY_RESULTS: Final[frozenset[str]] = frozenset(get_args(DeliveryResult))

#: What became of an alert at one sink, as counted by ``observe_alert``: delivered,
#: given up on (after its retries, or at once on a 4xx), or dropped unsent (the sink's
#: queue was full, or the alerter shut down first).
AlertResult = Literal["sent", "failed", "dropped"]
ALERT_RESULTS: Final[frozenset[str]] = frozenset(get_args(AlertResult))
#: What an ``exec_hook`` came to (``HookRun.status``).
HOOK_RESULTS: Final = ("ok", "failed", "timed-out")

#: Run durations from a no-op local run (milliseconds) to a slow clone (minutes).
RUN_DURATION_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)
#: Lock waits from none at all up to the default ``lock_timeout`` (300 s).
LOCK_WAIT_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)

_ERROR_OUTCOME: Final = "error"
_COUNTED_PUSHES: Final = (PushStatus.OK, PushStatus.FAILED, PushStatus.REJECTED)
_COMMIT_SOURCES: Final = ("explicit", "template")  # a generator's and "squash" appear when used
_UNKNOWN_PROVIDER: Final = "unknown"


class ObservedRun(Protocol):
    """What ``observe_run`` reads of a run: ``plugin.RunRecord`` has it."""

    @property
    def started_at(self) -> float | None: ...

    @property
    def finished_at(self) -> float | None: ...

    @property
    def result(self) -> Result | None: ...


class Metrics:
    """The plugin's Prometheus metrics, in a registry of their own by default."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        #: True when PROMETHEUS_MULTIPROC_DIR was set at construction: ``render()``
        #: then merges the files of every worker process.
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        self._repos: set[str] = set()
        r = self.registry
        self.runs = Counter(
            "git_reconcile_runs_total",
            "Reconcile runs by outcome; 'error' when the run produced no result.",
            ["repo", "outcome"],
            registry=r,
        )
        self.run_duration = Histogram(
            "git_reconcile_run_duration_seconds",
            "Wall-clock time of a run, lock wait and host callback included.",
            ["repo"],
            buckets=RUN_DURATION_BUCKETS,
            registry=r,
        )
        self.push_attempts = Counter(
            "git_reconcile_push_attempts_total",
            "Push attempts, retries included.",
            ["repo"],
            registry=r,
        )
        self.pushes = Counter(
            "git_reconcile_pushes_total",
            "Pushes by status (ok, failed, rejected); runs with nothing to push are not counted.",
            ["repo", "status"],
            registry=r,
        )
        self.consecutive_failures = Gauge(
            "git_reconcile_consecutive_failures",
            "Runs in a row that did not succeed, as counted by the runner.",
            ["repo"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.last_success = Gauge(
            "git_reconcile_last_success_timestamp_seconds",
            "Unix time at which the last successful run finished.",
            ["repo"],
            multiprocess_mode="livemax",
            registry=r,
        )
        self.ahead = Gauge(
            "git_reconcile_ahead_commits",
            "Local commits the remote lacked, as found by the last run that read it.",
            ["repo"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.behind = Gauge(
            "git_reconcile_behind_commits",
            "Remote commits the local branch lacked, as found by the last run that read it.",
            ["repo"],
            multiprocess_mode="mostrecent",
            registry=r,
        )
        self.deliveries = Counter(
            "git_reconcile_webhook_deliveries_total",
            "Webhook deliveries by provider and what became of them.",
            ["provider", "result"],
            registry=r,
        )
        self.lock_wait = Histogram(
            "git_reconcile_lock_wait_seconds",
            "Time a run waited for the repository's lock.",
            ["repo"],
            buckets=LOCK_WAIT_BUCKETS,
            registry=r,
        )
        self.network_operations = Counter(
            "git_reconcile_network_operations_total",
            "Fetches and pushes (retries included in one operation) by result.",
            ["repo", "kind", "result"],
            registry=r,
        )
        self.commits = Counter(
            "git_reconcile_commits_total",
            "Commits made by runs, by where their message came from (explicit, template, "
            "squash, or a generator's name).",
            ["repo", "message_source"],
            registry=r,
        )
        # Registered on first use (by plugin.alerts, the hooks and notify_url), so that
        # an app without them exposes exactly the families above.
        self._alerts: Counter | None = None
        self._hooks: Counter | None = None
        self._notifications: Counter | None = None

    # --- observations -----------------------------------------------------------------

    def observe_run(
        self,
        repo: str,
        record: ObservedRun,
        consecutive_failures: int,
        last_success: float | None,
    ) -> None:
        """Count a finished run of ``repo`` (its configured name), with the runner's
        failure streak and last success after accounting for it."""
        repo = self._repo(repo)
        result = record.result
        outcome = _ERROR_OUTCOME if result is None else result.outcome.value
        self.runs.labels(repo=repo, outcome=outcome).inc()
        if record.started_at is not None and record.finished_at is not None:
            elapsed = max(0.0, record.finished_at - record.started_at)
            self.run_duration.labels(repo=repo).observe(elapsed)
        self.consecutive_failures.labels(repo=repo).set(consecutive_failures)
        if last_success is not None:
            self.last_success.labels(repo=repo).set(last_success)
        if result is None:
            return
        if result.remote_commit is not None:  # the run read the remote: the counts are real
            self.ahead.labels(repo=repo).set(result.ahead)
            self.behind.labels(repo=repo).set(result.behind)
        self.push_attempts.labels(repo=repo).inc(max(0, result.push.attempts))
        if result.push.status in _COUNTED_PUSHES:
            self.pushes.labels(repo=repo, status=result.push.status.value).inc()
        for operation in result.operations:
            self.network_operations.labels(
                repo=repo, kind=operation.kind, result=operation.result
            ).inc()
        if result.commit is not None:
            source = redact_text(result.commit.message_source)
            self.commits.labels(repo=repo, message_source=source).inc()

    def observe_delivery(self, provider: str, result: DeliveryResult) -> None:
        """Count a webhook delivery; ``provider`` is the name from the URL (anything
        that is not a known provider is counted as ``unknown``)."""
        if result not in DELIVERY_RESULTS:
            raise ValueError(f"unknown delivery result {result!r}")
        self.deliveries.labels(provider=_provider_label(provider), result=result).inc()

    def observe_lock_wait(self, repo: str, seconds: float) -> None:
        """Record how long a run of ``repo`` waited for the repository's lock."""
        self.lock_wait.labels(repo=self._repo(repo)).observe(max(0.0, seconds))

    # --- alerts -----------------------------------------------------------------------

    @property
    def alerts(self) -> Counter:
        """``git_reconcile_alerts_total{sink, result}``, registered on first use."""
        if self._alerts is None:
            self._alerts = Counter(
                "git_reconcile_alerts_total",
                "Operator alerts by sink (slack, webhook, pull-request, ...) and what became "
                "of them: sent, failed (after retries, or a 4xx) or dropped unsent.",
                ["sink", "result"],
                registry=self.registry,
            )
        return self._alerts

    def register_alert_sink(self, sink: str) -> None:
        """Start the series of the alert sink ``sink`` (its kind, a fixed name) at zero,
        so that rates and alerts on failed sends see the first increment."""
        for result in sorted(ALERT_RESULTS):
            self.alerts.labels(sink=sink, result=result)

    def observe_alert(self, sink: str, result: AlertResult) -> None:
        """Count an alert that ``sink`` (its kind) sent, failed to send, or dropped."""
        if result not in ALERT_RESULTS:
            raise ValueError(f"unknown alert result {result!r}")
        self.alerts.labels(sink=sink, result=result).inc()

    # --- callouts: exec_hook and notify_url ---------------------------------------------

    def observe_hook(self, repo: str, result: str) -> None:
        """Count an ``exec_hook`` of ``repo`` by what it came to (``HOOK_RESULTS``)."""
        if result not in HOOK_RESULTS:
            raise ValueError(f"unknown hook result {result!r}")
        if self._hooks is None:
            self._hooks = Counter(
                "git_reconcile_exec_hooks_total",
                "exec_hook runs after a run that moved the branch, by result: ok, "
                "failed (a non-zero exit, or it could not start), timed-out.",
                ["repo", "result"],
                registry=self.registry,
            )
        label = self._repo(repo)
        for each in HOOK_RESULTS:
            self._hooks.labels(repo=label, result=each)
        self._hooks.labels(repo=label, result=result).inc()

    def observe_notification(self, repo: str, result: AlertResult) -> None:
        """Count a ``notify_url`` POST of ``repo``: sent, failed (after its retries) or
        dropped (its queue was full, or shutdown came first)."""
        if result not in ALERT_RESULTS:
            raise ValueError(f"unknown notification result {result!r}")
        if self._notifications is None:
            self._notifications = Counter(
                "git_reconcile_notifications_total",
                "notify_url POSTs of runs that moved the branch, by result: sent, failed "
                "(after retries, or a 4xx) or dropped unsent.",
                ["repo", "result"],
                registry=self.registry,
            )
        label = self._repo(repo)
        for each in sorted(ALERT_RESULTS):
            self._notifications.labels(repo=label, result=each)
        self._notifications.labels(repo=label, result=result).inc()

    # --- exposition -------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type; merged over every worker process's
        files when PROMETHEUS_MULTIPROC_DIR is set."""
        if self.multiprocess:
            merged = CollectorRegistry()
            MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # --- helpers ----------------------------------------------------------------------

    def _repo(self, repo: str) -> str:
        """The label of ``repo``; the first time, its per-outcome and per-status series
        start at zero so that rates and alerts see the first increment."""
        label = redact_text(repo)
        if label not in self._repos:
            self._repos.add(label)
            for outcome in [*(o.value for o in Outcome), _ERROR_OUTCOME]:
                self.runs.labels(repo=label, outcome=outcome)
            for status in _COUNTED_PUSHES:
                self.pushes.labels(repo=label, status=status.value)
            for source in _COMMIT_SOURCES:
                self.commits.labels(repo=label, message_source=source)
            self.push_attempts.labels(repo=label)
        return label


def delivery_result(error: WebhookError) -> DeliveryResult:
    """The delivery result to count for an error of ``verify_and_parse`` (or of reading
    the body)."""
    if isinstance(error, UnknownProvider):
        return "unknown-provider"
    if isinstance(error, PayloadTooLarge):
        return "too-large"
    if isinstance(error, AuthenticationFailed):
        return "unauthorized"
    return "malformed"


def _provider_label(name: str) -> str:
    try:
        return Provider.parse(name).value
    except UnknownProvider:
        return _UNKNOWN_PROVIDER
