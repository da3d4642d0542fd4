"""The alert model: what happened to which repository, how bad it is, and what an
operator needs to act on it. Every string an event carries is redacted.

The JSON form (``AlertEvent.to_dict()``) is the generic webhook's body; its schema
is in ``plugin.alerts._webhook``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final, Literal, get_args

from reconcile import redact_text

__all__ = [
    "ALERT_KINDS",
    "FAILURE_THRESHOLD",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "SEVERITY_OF",
    "AlertDetails",
    "AlertEvent",
    "AlertKind",
    "Severity",
]

#: The ``version`` of the JSON document; it changes only on an incompatible change.
SCHEMA_VERSION: Final = 1

AlertKind = Literal[
    "conflict-escaped", "push-protected", "blocked", "failing", "recovered", "hook-failed"
]
ALERT_KINDS: Final[tuple[str, ...]] = get_args(AlertKind)
Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)

#: The severity of each kind of alert.
SEVERITY_OF: Final[Mapping[str, Severity]] = {
    "conflict-escaped": "critical",
    "push-protected": "critical",
    "blocked": "warning",
    "failing": "warning",
    "recovered": "info",
    "hook-failed": "warning",
}

#: How many failed runs in a row raise ``failing``, unless configured otherwise.
FAILURE_THRESHOLD: Final = 3


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, tuple):
        return tuple(redact_text(v) if isinstance(v, str) else v for v in value)
    return value


@dataclass(frozen=True)
class AlertDetails:
    """What an operator needs to act on an alert; every string is redacted."""

    run_id: str | None = None
    outcome: str | None = None
    reason: str | None = None
    error: str | None = None
    conflict_branch: str | None = None
    conflict_branch_url: str | None = None
    old_commit: str | None = None
    new_commit: str | None = None
    remote_commit: str | None = None
    conflict_paths: tuple[str, ...] = ()
    escaped_commits: tuple[str, ...] = ()
    push_status: str | None = None
    push_reason: str | None = None
    push_error: str | None = None
    consecutive_failures: int = 0
    failure_threshold: int = FAILURE_THRESHOLD

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _redacted(getattr(self, f.name)))

    def to_dict(self) -> dict[str, Any]:
        """The ``details`` object of the JSON document."""
        return {
            "run_id": self.run_id,
            "outcome": self.outcome,
            "reason": self.reason,
            "error": self.error,
            "conflict_branch": self.conflict_branch,
            "conflict_branch_url": self.conflict_branch_url,
            "old_commit": self.old_commit,
            "new_commit": self.new_commit,
            "remote_commit": self.remote_commit,
            "conflict_paths": list(self.conflict_paths),
            "escaped_commits": list(self.escaped_commits),
            "push": None
            if self.push_status is None
            else {"status": self.push_status, "reason": self.push_reason, "error": self.push_error},
            "consecutive_failures": self.consecutive_failures,
            "failure_threshold": self.failure_threshold,
        }


def _new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class AlertEvent:
    """One alert: what happened to which repository, how bad it is, and the details.

    ``id`` is unique per event (it is not part of equality); sinks send it on every
    attempt so a receiver can drop duplicates. Every string is redacted.
    """

    kind: AlertKind
    severity: Severity
    repo: str
    branch: str | None
    time: datetime
    summary: str
    details: AlertDetails = field(default_factory=AlertDetails)
    id: str = field(default_factory=_new_id, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        for name in ("repo", "branch", "summary"):
            object.__setattr__(self, name, _redacted(getattr(self, name)))

    @property
    def commit(self) -> str | None:
        """The commit the alert is about, for deduplication: the old local head for an
        escape, else the new local head (or the remote's, or None)."""
        d = self.details
        if self.kind == "conflict-escaped":
            return d.old_commit
        return d.new_commit or d.remote_commit

    @property
    def timestamp(self) -> str:
        """``time`` in RFC 3339, UTC, to the second: ``2026-11-23T14:40:23Z``."""
        return self.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the generic webhook (its schema: ``_webhook``)."""
        return {
            "version": SCHEMA_VERSION,
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "repo": self.repo,
            "branch": self.branch,
            "time": self.timestamp,
            "summary": self.summary,
            "details": self.details.to_dict(),
        }
