"""The fleet's Prometheus metrics, per cycle and per repository (the fleet's name of a
repository as ``repo``: its base path's folder name and the path below it)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ._report import CycleReport

__all__ = ["FleetMetrics"]

_SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class FleetMetrics:
    """The fleet's metrics, in a registry of their own unless given one."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.cycles = Counter(
            "git_reconcile_fleet_cycles_total", "fleet cycles run", ["trigger"], registry=r
        )
        self.cycle_duration = Histogram(
            "git_reconcile_fleet_cycle_duration_seconds",
            "wall-clock time of a fleet cycle, both phases",
            buckets=_SECONDS,
            registry=r,
        )
        self.last = Gauge(
            "git_reconcile_fleet_last_cycle_repos",
            "repositories of the last cycle, by what became of them: all, committed, "
            "pushed, failed",
            ["kind"],
            registry=r,
        )
        self.last_finished = Gauge(
            "git_reconcile_fleet_last_cycle_timestamp_seconds",
            "Unix time the last cycle finished",
            registry=r,
        )
        self.repo_results = Counter(
            "git_reconcile_fleet_repo_results_total",
            "a repository's results in cycles, by status",
            ["repo", "status"],
            registry=r,
        )
        self.repo_duration = Histogram(
            "git_reconcile_fleet_repo_duration_seconds",
            "time a phase took for one repository: commit (phase 1), push (phase 2)",
            ["repo", "phase"],
            buckets=_SECONDS,
            registry=r,
        )

    def observe(self, report: CycleReport) -> None:
        """Count a finished cycle."""
        self.cycles.labels(report.trigger).inc()
        self.cycle_duration.observe(report.duration_ms / 1000.0)
        for kind, value in (
            ("all", len(report.results)),
            ("committed", report.committed),
            ("pushed", report.pushed),
            ("failed", report.failed),
        ):
            self.last.labels(kind).set(value)
        if report.finished_at is not None:
            self.last_finished.set(report.finished_at)
        for result in report.results:
            self.repo_results.labels(result.name, result.status).inc()
            for phase, start, end in (
                ("commit", result.commit_started_at, result.commit_finished_at),
                ("push", result.push_started_at, result.push_finished_at),
            ):
                if start is not None and end is not None:
                    self.repo_duration.labels(result.name, phase).observe(end - start)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
