"""Operator alerts: what a finished run means for the people who run the service, sent
to Slack, to any JSON webhook, or as a pull/merge request on the git host.

Events
------
``events_for()`` derives the alerts of a finished run (a pure function):

============================  =========  =============================================
kind                          severity   when
============================  =========  =============================================
``conflict-escaped``          critical   local commits were moved to ``conflicts/<UTC>``
``push-protected``            critical   a push was rejected as a protected branch
``blocked``                   warning    the run ended ``blocked`` (nothing changed)
``failing``                   warning    the N-th run in a row that failed (fetch failed,
                                         a push did not land, or the run produced no
                                         result); once per streak
``recovered``                 info       the first successful run after such a streak
============================  =========  =============================================

A ``blocked`` run neither extends nor ends a failure streak. Every string an event
carries is passed through ``reconcile.redact_text``.

Delivery
--------
``Alerter.observe`` is an observer for ``Runner.observers``: it never raises, never
blocks and never awaits the network. It drops an event already alerted for the same
(repo, kind, commit) within ``dedupe_interval`` seconds, then puts it on the bounded
queue of every sink whose ``min_severity`` admits it (a full queue drops it, with a
warning and ``git_reconcile_alerts_total{result="dropped"}``). ``Alerter.run()`` sends
in the background, one sink at a time per queue so a dead sink delays no other: each
attempt is bounded by ``send_timeout``; transport errors, timeouts, 408, 429 and 5xx
are retried with exponential backoff and full jitter (``Retry-After`` honoured, up to
``backoff_max``); other 4xx are not. A send that fails for good is logged (without
URLs, tokens or signatures) and counted as ``failed``.

Generic webhook
---------------
``WebhookSink`` POSTs ``application/json`` (UTF-8) with these headers:

- ``X-Alert-Id``: the event's id, unique per event and the same on every retry (use it
  to drop duplicate deliveries);
- ``X-Signature: sha256=<hex>``: when a secret is set, the HMAC-SHA256 of the raw body
  keyed with the secret (as ``webhooks.sign_sha256``); compare it in constant time.

The body (``AlertEvent.to_dict()``; ``version`` changes only on an incompatible
change, and new keys may appear at any time)::

    {
      "version": 1,
      "id": "4f0c...e1",                      // same as X-Alert-Id
      "kind": "conflict-escaped",             // conflict-escaped | push-protected |
                                              // blocked | failing | recovered
      "severity": "critical",                 // critical | warning | info
      "repo": "data",                         // the configured name of the repository
      "branch": "main",                       // the data branch (null if unknown)
      "time": "2026-11-23T14:40:23Z",         // when the run finished (UTC, RFC 3339)
      "summary": "data: 1 local commit on main conflicted ...",   // one human line
      "details": {
        "run_id": "data-7",                   // null when unknown
        "outcome": "conflict-escaped",        // the run's outcome; null if no result
        "reason": "...",                      // the run's human reason (or null)
        "error": null,                        // why the run produced no result
        "conflict_branch": "conflicts/2026-11-23T14-40-23Z",
        "conflict_branch_url": "https://github.com/org/data/tree/conflicts/...",
        "old_commit": "<40 hex>",             // local head before the run
        "new_commit": "<40 hex>",             // local head after the run
        "remote_commit": "<40 hex>",          // the remote's head as fetched
        "conflict_paths": ["data.txt"],
        "escaped_commits": ["<40 hex>", ...], // full ids, oldest first
        "push": {"status": "ok", "reason": null, "error": null},   // or null
        "consecutive_failures": 0,            // the failure streak after this run
        "failure_threshold": 3                // N
      }
    }

Slack
-----
``SlackSink`` POSTs a Block Kit message to an incoming webhook: a header with the kind
and repository, the summary, the repository, branch, severity and outcome, the
details, and for an escape the conflict branch linked on GitHub, GitLab, Gitea or
Bitbucket Cloud (from the runner's remote URL; ``hosts`` names self-hosted ones).

Pull requests
-------------
``PullRequestSink`` acts on ``conflict-escaped`` only, and only when the conflict
branch was pushed: it opens a pull request (GitHub, Gitea/Forgejo) or merge request
(GitLab) from the conflict branch into the data branch, so the conflict can be
resolved in the host's UI. Its token is read when it sends (from the environment or a
file, so a rotated file needs no restart) and is never logged.
"""

from __future__ import annotations

import abc
import json
import logging
import math
import os
import random
import re
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, Protocol, cast, get_args
from urllib.parse import quote, urlsplit

import anyio
import httpx
from anyio.abc import TaskStatus

from reconcile import Outcome, PushStatus, Result, redact_text
from reconcile import __version__ as _version
from webhooks import sign_sha256

from ._errors import ConfigError, SinkError
from ._metrics import AlertResult, Metrics
from ._record import RunRecord, failure_streak

__all__ = [
    "ALERT_KINDS",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "AlertConfig",
    "AlertDetails",
    "AlertEvent",
    "AlertKind",
    "Alerter",
    "HostKind",
    "PullRequestSink",
    "Severity",
    "Sink",
    "SinkError",
    "SlackSink",
    "WebhookSink",
    "branch_url",
    "events_for",
    "host_kind",
    "sinks_from_mapping",
    "slack_message",
    "web_url",
]

logger = logging.getLogger("plugin.alerts")

SCHEMA_VERSION: Final = 1

AlertKind = Literal["conflict-escaped", "push-protected", "blocked", "failing", "recovered"]
ALERT_KINDS: Final[tuple[str, ...]] = get_args(AlertKind)
Severity = Literal["info", "warning", "critical"]
SEVERITIES: Final[tuple[str, ...]] = get_args(Severity)
HostKind = Literal["github", "gitlab", "gitea", "bitbucket"]
HOST_KINDS: Final[tuple[str, ...]] = get_args(HostKind)
Verdict = Literal["ok", "retry", "fail"]

SEVERITY_OF: Final[Mapping[str, Severity]] = {
    "conflict-escaped": "critical",
    "push-protected": "critical",
    "blocked": "warning",
    "failing": "warning",
    "recovered": "info",
}
_RANK: Final[Mapping[str, int]] = {"info": 0, "warning": 1, "critical": 2}
_SUMMARY_MAX = 300
_LISTED_MAX = 20  # conflict paths / commits listed in a Slack message or PR body


# --- events ---------------------------------------------------------------------------


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
    failure_threshold: int = 3

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _redacted(getattr(self, f.name)))

    def to_dict(self) -> dict[str, Any]:
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
        """The JSON document of the generic webhook (see the module's docstring)."""
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


def _one_line(text: str, limit: int = _SUMMARY_MAX) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _problem(record: RunRecord) -> str:
    result = record.result
    if record.error:
        return record.error
    if result is None:
        return "no result"
    if result.outcome is Outcome.FETCH_FAILED:
        return f"fetch failed: {result.reason}"
    if not result.push.landed:
        why = result.push.reason or result.push.status.value
        return f"push {result.push.status.value} ({why}): {result.push.error or result.reason}"
    return f"{result.outcome.value}: {result.reason}"


def events_for(
    repo: str,
    record: RunRecord,
    consecutive_failures: int,
    failure_threshold: int,
    previous_failures: int,
    *,
    branch: str | None = None,
    remote_url: str | None = None,
    hosts: Mapping[str, HostKind] | None = None,
) -> list[AlertEvent]:
    """The alerts of the finished run ``record`` of ``repo`` (its configured name).

    ``consecutive_failures`` is the failure streak after this run (see
    ``failure_streak``), ``previous_failures`` the one before it; ``failing`` is raised
    when the streak reaches ``failure_threshold`` and ``recovered`` when a run succeeds
    after a streak that had. ``branch`` names the branch when the run has no result;
    ``remote_url`` (already redacted) gives the conflict branch a link on GitHub,
    GitLab, Gitea or Bitbucket (``hosts`` maps other host names to one of those).
    """
    if failure_threshold < 1:
        raise ValueError(f"failure_threshold must be at least 1, not {failure_threshold}")
    result: Result | None = record.result
    when = datetime.fromtimestamp(
        record.finished_at if record.finished_at is not None else time.time(), UTC
    )
    where = result.branch if result is not None else branch
    on = where or "the branch"
    base = AlertDetails(
        run_id=record.run_id,
        outcome=None if result is None else result.outcome.value,
        reason=(result.reason or None) if result is not None else None,
        error=record.error,
        old_commit=None if result is None else result.old_commit,
        new_commit=None if result is None else result.new_commit,
        remote_commit=None if result is None else result.remote_commit,
        push_status=None if result is None else result.push.status.value,
        push_reason=None if result is None else result.push.reason,
        push_error=None if result is None else result.push.error,
        consecutive_failures=consecutive_failures,
        failure_threshold=failure_threshold,
    )

    def event(kind: AlertKind, summary: str, details: AlertDetails = base) -> AlertEvent:
        return AlertEvent(
            kind=kind,
            severity=SEVERITY_OF[kind],
            repo=repo,
            branch=where,
            time=when,
            summary=_one_line(f"{repo}: {summary}"),
            details=details,
        )

    events: list[AlertEvent] = []
    if result is not None and result.outcome is Outcome.CONFLICT_ESCAPED:
        name = result.conflict_branch
        link = None
        if name and remote_url and result.push.status is PushStatus.OK:
            link = branch_url(remote_url, name, hosts)
        count = len(result.escaped_commits)
        summary = (
            f"{_plural(count, 'local commit')} on {on} conflicted with the remote and "
            f"{'was' if count == 1 else 'were'} moved to {name}"
        )
        if result.push.status is not PushStatus.OK:
            summary += f" (kept locally only: push {result.push.status.value}"
            summary += f", {result.push.reason})" if result.push.reason else ")"
        escaped = replace(
            base,
            conflict_branch=name,
            conflict_branch_url=link,
            conflict_paths=result.conflict_paths,
            escaped_commits=result.escaped_commits,
        )
        events.append(event("conflict-escaped", summary, escaped))
    if (
        result is not None
        and result.push.status is PushStatus.REJECTED
        and result.push.reason == "protected-branch"
    ):
        events.append(
            event(
                "push-protected",
                f"the push to {on} was rejected: the branch is protected "
                f"({result.push.error or 'no message'})",
            )
        )
    if result is not None and result.outcome is Outcome.BLOCKED:
        events.append(event("blocked", f"{on} is blocked: {result.reason}"))
    if previous_failures < failure_threshold <= consecutive_failures:
        events.append(
            event(
                "failing",
                f"{_plural(consecutive_failures, 'run')} in a row failed; "
                f"the last: {_problem(record)}",
            )
        )
    elif previous_failures >= failure_threshold and record.succeeded:
        events.append(
            event("recovered", f"{on} recovered after {_plural(previous_failures, 'failed run')}")
        )
    return events


# --- links to the host ----------------------------------------------------------------

_SCP = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]{2,}):(?!//)(?P<path>[^\s]+)$")


def web_url(remote_url: str) -> str | None:
    """The web address of the repository a remote URL names: user-info, ``.git`` and
    the SSH port dropped, SSH and scp-like forms turned into https; None for a local
    path or a URL that is not a host's.

    >>> web_url("git@github.com:org/data.git")
    'https://github.com/org/data'
    >>> web_url("https://***@gitlab.com/group/sub/data.git")
    'https://gitlab.com/group/sub/data'
    """
    url = remote_url.strip()
    scp = _SCP.match(url)
    if scp is not None and "://" not in url:
        scheme, host, path = "https", scp.group("host"), scp.group("path")
    else:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        if not parts.hostname:
            return None
        if parts.scheme in ("http", "https"):
            scheme = parts.scheme
            host = parts.hostname + (f":{port}" if port else "")
        elif parts.scheme in ("ssh", "git", "git+ssh", "ssh+git"):
            scheme, host = "https", parts.hostname
        else:
            return None
        path = parts.path
    path = path.strip("/").removesuffix(".git").strip("/")
    if not path or path.startswith("~"):
        return None
    return f"{scheme}://{host.lower()}/{path}"


def host_kind(url: str, hosts: Mapping[str, HostKind] | None = None) -> HostKind | None:
    """Which host software serves ``url`` (a web or remote URL): ``hosts`` first (host
    name to kind, for self-hosted instances), then the name: github, gitlab, gitea
    (also Forgejo and Codeberg) or bitbucket.org; None when unknown."""
    web = web_url(url) or url
    host = (urlsplit(web).hostname or "").lower()
    if not host:
        return None
    if hosts:
        for name, kind in hosts.items():
            if name.lower() == host:
                return kind
    if "github" in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if host == "bitbucket.org":
        return "bitbucket"
    if "gitea" in host or "forgejo" in host or host == "codeberg.org":
        return "gitea"
    return None


_BRANCH_PATHS: Final[Mapping[str, str]] = {
    "github": "tree/",
    "gitlab": "-/tree/",
    "gitea": "src/branch/",
    "bitbucket": "branch/",
}


def branch_url(
    remote_url: str, branch: str, hosts: Mapping[str, HostKind] | None = None
) -> str | None:
    """The page of ``branch`` on the host of ``remote_url`` (GitHub, GitLab, Gitea or
    Bitbucket Cloud), or None.

    >>> branch_url("git@github.com:org/data.git", "conflicts/2026-01-02T03-04-05Z")
    'https://github.com/org/data/tree/conflicts/2026-01-02T03-04-05Z'
    """
    web = web_url(remote_url)
    kind = None if web is None else host_kind(web, hosts)
    if web is None or kind is None:
        return None
    return f"{web}/{_BRANCH_PATHS[kind]}{quote(branch, safe='/')}"


# --- sinks ----------------------------------------------------------------------------


def _check_severity(value: str) -> Severity:
    if value not in SEVERITIES:
        raise ValueError(f"min_severity must be one of {', '.join(SEVERITIES)}, not {value!r}")
    return cast(Severity, value)


async def _read_secret(path: Path, what: str) -> str:
    try:
        text = await anyio.Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SinkError(f"cannot read the {what} file {path}: {exc.strerror}") from None
    value = text.strip()
    if not value:
        raise SinkError(f"the {what} file {path} is empty")
    return value


def _json_body(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Sink(abc.ABC):
    """Where alerts go. A sink turns an event into one HTTP request (or None when the
    event is not for it) and judges the response; the ``Alerter`` sends, retries and
    counts. ``kind`` labels the metrics and logs; ``describe()`` and the logs never
    show a secret."""

    kind: str = "sink"

    def __init__(self, *, min_severity: str = "info") -> None:
        self.min_severity: Severity = _check_severity(min_severity)

    def accepts(self, event: AlertEvent) -> bool:
        """True when the event is severe enough for this sink."""
        return _RANK[event.severity] >= _RANK[self.min_severity]

    @abc.abstractmethod
    async def request(self, event: AlertEvent) -> httpx.Request | None:
        """The request that delivers ``event`` (the same one on every retry), or None
        when the sink has nothing to do for it. Raises ``SinkError``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The sink for a log line: no token, no secret URL."""

    def secrets(self) -> tuple[str, ...]:
        """Strings to mask in anything logged about this sink."""
        return ()

    def verdict(self, response: httpx.Response) -> Verdict:
        """``ok`` for 2xx; ``retry`` for 408, 429 and 5xx; ``fail`` for anything else."""
        if response.is_success:
            return "ok"
        if response.status_code in (408, 429) or response.status_code >= 500:
            return "retry"
        return "fail"


_EMOJI: Final[Mapping[str, str]] = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":white_check_mark:",
}


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives a meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _listed(items: Sequence[str], code: bool = True) -> str:
    shown = [f"`{_mrkdwn(i)}`" if code else _mrkdwn(i) for i in items[:_LISTED_MAX]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def slack_message(event: AlertEvent) -> dict[str, Any]:
    """The Block Kit message of ``event``: a header, the summary, the repository and
    branch, the details, and for an escape a link to the conflict branch on the host."""
    d = event.details
    fields_: list[dict[str, str]] = [
        {"type": "mrkdwn", "text": f"*Repository*\n{_mrkdwn(event.repo)}"},
        {"type": "mrkdwn", "text": f"*Branch*\n{_mrkdwn(event.branch or 'unknown')}"},
        {"type": "mrkdwn", "text": f"*Severity*\n{event.severity}"},
    ]
    if d.outcome:
        fields_.append({"type": "mrkdwn", "text": f"*Outcome*\n{_mrkdwn(d.outcome)}"})
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _one_line(f"{_EMOJI[event.severity]} {event.kind}: {event.repo}", 150),
                "emoji": True,
            },
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _mrkdwn(event.summary)}},
        {"type": "section", "fields": fields_},
    ]
    if d.conflict_branch:
        name = _mrkdwn(d.conflict_branch)
        shown = f"<{d.conflict_branch_url}|{name}>" if d.conflict_branch_url else f"`{name}`"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Conflict branch*\n{shown}"}}
        )
    lines: list[str] = []
    if d.old_commit:
        lines.append(f"*Old local head:* `{d.old_commit}`")
    if d.remote_commit:
        lines.append(f"*Remote head:* `{d.remote_commit}`")
    if d.conflict_paths:
        lines.append(f"*Files in conflict:* {_listed(d.conflict_paths)}")
    if d.escaped_commits:
        lines.append(f"*Escaped commits:* {_listed(d.escaped_commits)}")
    if d.push_status and (d.push_reason or d.push_error):
        why = ", ".join(_mrkdwn(p) for p in (d.push_reason, d.push_error) if p)
        lines.append(f"*Push:* {d.push_status} ({why})")
    if event.kind in ("failing", "recovered"):
        lines.append(f"*Consecutive failures:* {d.consecutive_failures}")
    if d.error:
        lines.append(f"*Error:* {_mrkdwn(d.error)}")
    elif d.reason and event.kind != "conflict-escaped":
        lines.append(f"*Reason:* {_mrkdwn(d.reason)}")
    if lines:
        text = "\n".join(lines)
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _one_line_max(text, 3000)}}
        )
    context = f"{event.timestamp} · run {_mrkdwn(d.run_id or '?')} · git-reconcile"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": _mrkdwn(event.summary), "blocks": blocks}


def _one_line_max(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SlackSink(Sink):
    """A Slack incoming webhook. Its URL is a secret: give it, or a file holding it
    (read at every send, so a rotated file needs no restart)."""

    kind = "slack"

    def __init__(
        self,
        webhook_url: str | None = None,
        webhook_url_file: Path | None = None,
        *,
        min_severity: str = "info",
    ) -> None:
        super().__init__(min_severity=min_severity)
        if (webhook_url is None) == (webhook_url_file is None):
            raise ValueError("give webhook_url or webhook_url_file (exactly one)")
        self._url = webhook_url
        self._url_file = webhook_url_file
        self._seen: str | None = webhook_url

    def describe(self) -> str:
        return "slack"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._url, self._seen) if s)

    async def request(self, event: AlertEvent) -> httpx.Request:
        url = self._url
        if url is None:
            assert self._url_file is not None
            url = await _read_secret(self._url_file, "Slack webhook URL")
            self._seen = url
        return httpx.Request(
            "POST",
            url,
            content=_json_body(slack_message(event)),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )


class WebhookSink(Sink):
    """A generic JSON webhook (schema in the module's docstring), signed with
    ``X-Signature: sha256=<hex>`` when a secret (or a file holding one) is given."""

    kind = "webhook"

    def __init__(
        self,
        url: str,
        secret: str | None = None,
        *,
        secret_file: Path | None = None,
        min_severity: str = "info",
    ) -> None:
        super().__init__(min_severity=min_severity)
        if secret is not None and secret_file is not None:
            raise ValueError("give secret or secret_file, not both")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url: expected an http(s) URL")
        self.url = url
        self._secret = secret
        self._secret_file = secret_file
        self._seen = secret

    def describe(self) -> str:
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"webhook {parts.scheme}://{parts.hostname}{port}"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.url, self._secret, self._seen) if s)

    async def request(self, event: AlertEvent) -> httpx.Request:
        secret = self._secret
        if self._secret_file is not None:
            secret = self._seen = await _read_secret(self._secret_file, "webhook secret")
        body = _json_body(event.to_dict())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Alert-Id": event.id,
        }
        if secret:
            headers["X-Signature"] = sign_sha256(secret, body)
        return httpx.Request("POST", self.url, content=body, headers=headers)


PullRequestProvider = Literal["github", "gitlab", "gitea"]
_PR_PROVIDERS: Final[tuple[str, ...]] = get_args(PullRequestProvider)
_DEFAULT_API: Final[Mapping[str, str]] = {
    "github": "https://api.github.com",
    "gitlab": "https://gitlab.com/api/v4",
}


def _md_code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def pull_request_text(event: AlertEvent, base: str) -> tuple[str, str]:
    """The title and (Markdown) body of the pull request for an escape."""
    d = event.details
    branch = d.conflict_branch or "?"
    title = _one_line(f"Resolve conflict in {event.repo}: {branch} into {base}", 250)
    lines = [
        f"git-reconcile could not replay local commits of **{event.repo}** onto "
        f"{_md_code(base)}: they conflicted with commits pushed in the meantime. "
        f"They were moved to {_md_code(branch)}, and {_md_code(base)} was reset to "
        "the remote's head. Nothing was lost.",
        "",
    ]
    if d.old_commit:
        lines.append(f"- Old local head: {_md_code(d.old_commit)}")
    if d.remote_commit:
        lines.append(f"- Remote head: {_md_code(d.remote_commit)}")
    if d.conflict_paths:
        lines.append("- Files in conflict:")
        lines += [f"  - {_md_code(p)}" for p in d.conflict_paths[:100]]
        if len(d.conflict_paths) > 100:
            lines.append(f"  - and {len(d.conflict_paths) - 100} more")
    if d.escaped_commits:
        lines.append("- Escaped commits (oldest first):")
        lines += [f"  - {c}" for c in d.escaped_commits[:100]]
        if len(d.escaped_commits) > 100:
            lines.append(f"  - and {len(d.escaped_commits) - 100} more")
    lines += [
        "",
        "Resolve the conflicts here (or locally) and merge; git-reconcile pulls the "
        "result into the application on its next run.",
        "",
        f"<sub>{event.timestamp} · run {d.run_id or '?'} · alert {event.id}</sub>",
    ]
    return title, "\n".join(lines)


class PullRequestSink(Sink):
    """Opens a pull request (GitHub, Gitea/Forgejo) or merge request (GitLab) from a
    pushed conflict branch into the data branch (``base_branch``, else the event's).

    ``project`` is ``owner/repo`` (GitLab: the project's path or numeric id). The token
    is ``token``, or read at send time from ``token_env`` or ``token_file``; it is sent
    as ``Authorization: Bearer`` (GitHub), ``PRIVATE-TOKEN`` (GitLab) or
    ``Authorization: token`` (Gitea), and never logged. A request that already exists
    (409, or GitHub's 422 "already exists") counts as delivered.
    """

    kind = "pull-request"

    def __init__(
        self,
        provider: str,
        api_url: str | None,
        project: str,
        *,
        token: str | None = None,
        token_env: str | None = None,
        token_file: Path | None = None,
        base_branch: str | None = None,
        min_severity: str = "info",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(min_severity=min_severity)
        if provider not in _PR_PROVIDERS:
            raise ValueError(
                f"provider must be one of {', '.join(_PR_PROVIDERS)}, not {provider!r}"
            )
        self.provider = cast(PullRequestProvider, provider)
        api = api_url or _DEFAULT_API.get(provider)
        if not api:
            raise ValueError(f"api_url: required for {provider}")
        parts = urlsplit(api)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("api_url: expected an http(s) URL")
        self.api_url = api.rstrip("/")
        if not project or (provider != "gitlab" and project.count("/") != 1):
            raise ValueError(f"project: expected owner/repo, not {project!r}")
        self.project = project.strip("/")
        if sum(x is not None for x in (token, token_env, token_file)) != 1:
            raise ValueError("give token, token_env or token_file (exactly one)")
        self._token = token
        self.token_env = token_env
        self.token_file = token_file
        self.base_branch = base_branch
        self._environ = environ
        self._seen = token

    def describe(self) -> str:
        return f"{self.provider} pull requests on {urlsplit(self.api_url).hostname} {self.project}"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._token, self._seen) if s)

    async def _token_now(self) -> str:
        if self._token is not None:
            return self._token
        if self.token_env is not None:
            environ = os.environ if self._environ is None else self._environ
            value = environ.get(self.token_env)
            if not value:
                raise SinkError(f"environment variable {self.token_env} is not set")
            self._seen = value
            return value
        assert self.token_file is not None
        self._seen = await _read_secret(self.token_file, "token")
        return self._seen

    async def request(self, event: AlertEvent) -> httpx.Request | None:
        d = event.details
        if event.kind != "conflict-escaped" or not d.conflict_branch or d.push_status != "ok":
            return None  # nothing to open: no escape, or its branch is not on the host
        base = self.base_branch or event.branch
        if not base:
            raise SinkError("the data branch is unknown: set base_branch")
        title, body = pull_request_text(event, base)
        token = await self._token_now()
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
        payload: dict[str, Any]
        if self.provider == "gitlab":
            url = f"{self.api_url}/projects/{quote(self.project, safe='')}/merge_requests"
            headers["PRIVATE-TOKEN"] = token
            payload = {
                "source_branch": d.conflict_branch,
                "target_branch": base,
                "title": title,
                "description": body,
                "remove_source_branch": False,
            }
        else:
            url = f"{self.api_url}/repos/{self.project}/pulls"
            if self.provider == "github":
                headers["Authorization"] = f"Bearer {token}"
                headers["Accept"] = "application/vnd.github+json"
                headers["X-GitHub-Api-Version"] = "2022-11-28"
            else:
                headers["Authorization"] = f"token {token}"
            payload = {"title": title, "head": d.conflict_branch, "base": base, "body": body}
        return httpx.Request("POST", url, content=_json_body(payload), headers=headers)

    def verdict(self, response: httpx.Response) -> Verdict:
        if response.status_code == 409 or (
            response.status_code == 422 and "already exists" in response.text
        ):
            return "ok"
        return super().verdict(response)


# --- the alerter ----------------------------------------------------------------------


class ObservedRunner(Protocol):
    """What ``Alerter.observe`` reads of a runner: ``plugin.Runner`` has it."""

    name: str

    def branch(self) -> str | None: ...

    def remote_url(self) -> str | None: ...


_SENSITIVE_HEADERS: Final = ("authorization", "private-token", "x-signature")


class Alerter:
    """Derives alerts from finished runs and sends them in the background.

    Add ``observe`` to each runner's observers, start ``run()`` in a task group
    (``await group.start(alerter.run)``) for as long as alerts should go out, and
    ``await aclose()`` at shutdown: it lets the queued alerts go out for up to
    ``drain_timeout`` seconds, then cancels the rest. Call ``observe`` and ``submit``
    from the event loop's thread (the runner does).

    The failure streak is counted here, per repository, by ``failure_streak``, the
    same function the runner's ``consecutive_failures`` uses. Deduplication applies to
    every kind: a second ``failing`` streak for the same commit within
    ``dedupe_interval`` is not alerted again.
    """

    def __init__(
        self,
        sinks: Iterable[Sink],
        *,
        failure_threshold: int = 3,
        dedupe_interval: float = 300.0,
        queue_size: int = 100,
        send_timeout: float = 10.0,
        retries: int = 3,
        metrics: Metrics | None = None,
        now: Callable[[], float] = time.monotonic,
        backoff: float = 1.0,
        backoff_max: float = 30.0,
        drain_timeout: float = 5.0,
        hosts: Mapping[str, HostKind] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, not {failure_threshold}")
        if dedupe_interval < 0:
            raise ValueError(f"dedupe_interval must be >= 0 seconds, not {dedupe_interval}")
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        if not 0 < send_timeout <= 600:
            raise ValueError(f"send_timeout must be in (0, 600] seconds, not {send_timeout}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, not {retries}")
        if backoff < 0 or backoff_max < 0 or drain_timeout < 0:
            raise ValueError("backoff, backoff_max and drain_timeout must be >= 0")
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        self.failure_threshold = failure_threshold
        self.dedupe_interval = float(dedupe_interval)
        self.queue_size = queue_size
        self.send_timeout = float(send_timeout)
        self.retries = retries
        self.metrics = metrics
        self.backoff = float(backoff)
        self.backoff_max = float(backoff_max)
        self.drain_timeout = float(drain_timeout)
        self.hosts = dict(hosts or {})
        #: The failure streak of each repository, as this alerter has counted it.
        self.failures: dict[str, int] = {}
        self._now = now
        self._seen: dict[tuple[str, str, str | None], float] = {}
        self._client = client
        self._queues = [_Queue(sink, queue_size) for sink in self.sinks]
        for sink in self.sinks:
            if metrics is not None:
                metrics.register_alert_sink(sink.kind)
        self._closed = False
        self._done: anyio.Event | None = None
        self._scope: anyio.CancelScope | None = None
        self._deadline: float | None = None

    @classmethod
    def from_config(
        cls, config: AlertConfig, *, metrics: Metrics | None = None, drain_timeout: float = 5.0
    ) -> Alerter:
        """An alerter with the sinks and settings of ``config``."""
        return cls(
            config.sinks,
            drain_timeout=drain_timeout,
            failure_threshold=config.failure_threshold,
            dedupe_interval=config.dedupe_interval,
            queue_size=config.queue_size,
            send_timeout=config.send_timeout,
            retries=config.retries,
            hosts=config.hosts,
            metrics=metrics,
        )

    # --- taking events in (synchronous, never raises) ---------------------------------

    def observe(self, runner: ObservedRunner, record: RunRecord) -> None:
        """Observer of a runner's finished runs: derive the alerts and queue them.
        Never raises, never blocks, never touches the network."""
        try:
            repo = runner.name
            previous = self.failures.get(repo, 0)
            current = failure_streak(previous, record)
            self.failures[repo] = current
            result = record.result
            branch = None if result is not None else _safely(runner.branch)
            remote_url = None
            if result is not None and result.outcome is Outcome.CONFLICT_ESCAPED:
                remote_url = _safely(runner.remote_url)
            events = events_for(
                repo,
                record,
                current,
                self.failure_threshold,
                previous,
                branch=branch,
                remote_url=remote_url,
                hosts=self.hosts,
            )
            for event in events:
                self.submit(event)
        except Exception:
            logger.exception("deriving the alerts of a run failed")

    def submit(self, event: AlertEvent) -> bool:
        """Queue ``event`` for every sink that admits it, unless it is a duplicate.
        True when at least one sink queued it. Never blocks."""
        if self._closed:
            logger.info("alert %s for %s not sent: shutting down", event.kind, event.repo)
            return False
        if not self._fresh(event):
            logger.debug("alert %s for %s deduplicated", event.kind, event.repo)
            return False
        queued = False
        for queue in self._queues:
            sink = queue.sink
            if not sink.accepts(event):
                continue
            if queue.put(event):
                queued = True
                continue
            logger.warning(
                "alert queue of %s is full: dropped the %s alert for %s",
                sink.describe(),
                event.kind,
                event.repo,
            )
            self._count(sink, "dropped")
        return queued

    def _fresh(self, event: AlertEvent) -> bool:
        """False when the same (repo, kind, commit) was alerted within the interval."""
        if self.dedupe_interval <= 0:
            return True
        now = self._now()
        interval = self.dedupe_interval
        self._seen = {k: t for k, t in self._seen.items() if now - t < interval}
        key = (event.repo, event.kind, event.commit)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True

    def _count(self, sink: Sink, result: AlertResult) -> None:
        if self.metrics is not None:
            try:
                self.metrics.observe_alert(sink.kind, result)
            except Exception:
                logger.exception("counting an alert failed")

    # --- sending (in the background) --------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Send the queued alerts until ``aclose()`` (which lets the queues drain for up
        to ``drain_timeout`` seconds) or cancellation. Start it with
        ``await group.start(alerter.run)`` to know it runs when that returns."""
        if self._done is not None:
            raise RuntimeError("Alerter.run() is already running or has run")
        done = self._done = anyio.Event()
        client = self._client
        owned = client is None
        if client is None:
            client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.send_timeout),
                follow_redirects=False,
                headers={"User-Agent": f"git-reconcile/{_version}"},
            )
        try:
            with anyio.CancelScope() as scope:
                if self._deadline is not None:  # closed before it started: drain, bounded
                    scope.deadline = self._deadline
                self._scope = scope
                async with anyio.create_task_group() as group:
                    for queue in self._queues:
                        group.start_soon(self._worker, client, queue)
                    task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                for queue in self._queues:
                    left = queue.clear()
                    if left:
                        logger.warning(
                            "%d alert(s) to %s not sent: shut down", left, queue.sink.describe()
                        )
                        for _ in range(left):
                            self._count(queue.sink, "dropped")
                if owned:
                    await client.aclose()
                self._scope = None
                done.set()

    async def aclose(self) -> None:
        """Take no more alerts, let the queued ones go out for up to ``drain_timeout``
        seconds, then cancel the sends still going; returns once ``run()`` has ended.
        Safe to call more than once, before ``run()`` started, and from a cancelled
        scope."""
        self._closed = True
        for queue in self._queues:
            queue.close()
        deadline = anyio.current_time() + self.drain_timeout
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        if self._scope is not None:
            self._scope.deadline = min(self._scope.deadline, self._deadline)
        done = self._done
        if done is not None:
            with anyio.CancelScope(shield=True):
                await done.wait()

    async def _worker(self, client: httpx.AsyncClient, queue: _Queue) -> None:
        while (event := await queue.get()) is not None:
            await self._deliver(client, queue.sink, event)

    async def _deliver(self, client: httpx.AsyncClient, sink: Sink, event: AlertEvent) -> None:
        """Send ``event`` to ``sink`` with retries; log and count the outcome. Raises
        nothing but cancellation."""
        what = f"{event.kind} alert {event.id} for {event.repo}"
        secrets: tuple[str, ...] = sink.secrets()
        attempts = 0
        try:
            try:
                request = await sink.request(event)
            except SinkError as exc:
                self._failed(sink, what, 0, str(exc), sink.secrets())
                return
            if request is None:
                return
            secrets = (
                *sink.secrets(),
                str(request.url),
                *(v for k, v in request.headers.items() if k.lower() in _SENSITIVE_HEADERS),
            )
            problem = ""
            for attempt in range(self.retries + 1):
                attempts = attempt + 1
                response: httpx.Response | None = None
                try:
                    with anyio.fail_after(self.send_timeout):
                        response = await client.send(request)
                except (httpx.TransportError, TimeoutError) as exc:
                    problem = _describe_exception(exc)
                    retry = True
                except httpx.HTTPError as exc:
                    problem = _describe_exception(exc)
                    retry = False
                else:
                    verdict = sink.verdict(response)
                    if verdict == "ok":
                        logger.info(
                            "%s sent to %s (HTTP %d, %s)",
                            what,
                            sink.describe(),
                            response.status_code,
                            _plural(attempts, "attempt"),
                        )
                        self._count(sink, "sent")
                        return
                    problem = f"HTTP {response.status_code}: {_one_line(response.text, 200)}"
                    retry = verdict == "retry"
                if not retry or attempt == self.retries:
                    break
                await anyio.sleep(self._delay(attempt, response))
            self._failed(sink, what, attempts, problem, secrets)
        except anyio.get_cancelled_exc_class():
            if attempts:
                self._failed(sink, what, attempts, "cancelled at shutdown", secrets)
            else:
                self._count(sink, "dropped")
            raise
        except Exception as exc:
            self._failed(sink, what, attempts, _describe_exception(exc), secrets)

    def _failed(
        self, sink: Sink, what: str, attempts: int, problem: str, secrets: tuple[str, ...]
    ) -> None:
        logger.warning(
            "%s could not be sent to %s after %s: %s",
            what,
            sink.describe(),
            _plural(attempts, "attempt"),
            redact_text(problem, tuple(sorted(set(secrets), key=len, reverse=True))),
        )
        self._count(sink, "failed")

    def _delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Full-jitter exponential backoff; a server's ``Retry-After`` (in seconds) is
        waited at least, up to ``backoff_max``."""
        delay = random.uniform(0, min(self.backoff_max, self.backoff * 2**attempt))
        if response is not None:
            try:
                asked = float(response.headers.get("Retry-After", ""))
            except ValueError:
                asked = math.nan
            if math.isfinite(asked) and asked > 0:
                delay = max(delay, min(asked, self.backoff_max))
        return delay


class _Queue:
    """The bounded queue of one sink. Filled from the event loop's thread without
    blocking; emptied by that sink's worker, which ends once it is closed and empty."""

    def __init__(self, sink: Sink, size: int) -> None:
        self.sink = sink
        self.size = size
        self.items: deque[AlertEvent] = deque()
        self.closed = False
        self._wake: anyio.Event | None = None

    def put(self, event: AlertEvent) -> bool:
        if self.closed or len(self.items) >= self.size:
            return False
        self.items.append(event)
        if self._wake is not None:
            self._wake.set()
        return True

    async def get(self) -> AlertEvent | None:
        while not self.items:
            if self.closed:
                return None
            self._wake = anyio.Event()
            await self._wake.wait()
            self._wake = None
        return self.items.popleft()

    def close(self) -> None:
        self.closed = True
        if self._wake is not None:
            self._wake.set()

    def clear(self) -> int:
        left = len(self.items)
        self.items.clear()
        return left


def _safely(call: Callable[[], str | None]) -> str | None:
    try:
        return call()
    except Exception:
        return None


def _describe_exception(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out"  # the attempt's bound, or one of httpx's own timeouts
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- configuration --------------------------------------------------------------------


@dataclass(frozen=True)
class AlertConfig:
    """The ``[alerts]`` table: the sinks and the alerter's settings."""

    sinks: tuple[Sink, ...] = ()
    failure_threshold: int = 3
    dedupe_interval: float = 300.0
    queue_size: int = 100
    send_timeout: float = 10.0
    retries: int = 3
    hosts: Mapping[str, HostKind] = field(default_factory=dict)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], environ: Mapping[str, str], base: Path | None = None
    ) -> AlertConfig:
        """Read the ``[alerts]`` table (``data``); raises ``ConfigError`` naming the key.
        Secrets are named by environment variable or file, never written in the table."""
        where = "alerts."
        _known(data, _TOP_KEYS, where)
        threshold = _int(data, "failure_threshold", where, 3, minimum=1)
        dedupe = _number(data, "dedupe_interval", where, 300.0, minimum=0.0)
        queue_size = _int(data, "queue_size", where, 100, minimum=1)
        send_timeout = _number(data, "send_timeout", where, 10.0, minimum=0.001, maximum=600.0)
        retries = _int(data, "retries", where, 3, minimum=0)
        raw_hosts = _value(data, "hosts", where, dict, {})
        hosts: dict[str, HostKind] = {}
        for host, kind in raw_hosts.items():
            if kind not in HOST_KINDS:
                raise ConfigError(
                    f"{where}hosts.{host}: expected one of {', '.join(HOST_KINDS)}, got {kind!r}"
                )
            hosts[str(host).lower()] = cast(HostKind, kind)
        sinks: list[Sink] = []
        for key, build in (
            ("slack", _slack),
            ("webhook", _webhook),
            ("pull_request", _pull_request),
        ):
            raw = data.get(key, [])
            tables = [raw] if isinstance(raw, dict) else raw
            if not isinstance(tables, list):
                raise ConfigError(f"{where}{key}: expected a list of tables ([[{where}{key}]])")
            for index, table in enumerate(tables):
                at = f"{where}{key}[{index}]"
                if not isinstance(table, dict):
                    raise ConfigError(f"{at}: expected a table")
                try:
                    sinks.append(build(table, environ, f"{at}.", base))
                except ConfigError:
                    raise
                except ValueError as exc:
                    raise ConfigError(f"{at}: {exc}") from None
        return cls(
            sinks=tuple(sinks),
            failure_threshold=threshold,
            dedupe_interval=dedupe,
            queue_size=queue_size,
            send_timeout=send_timeout,
            retries=retries,
            hosts=hosts,
        )


def sinks_from_mapping(
    data: Mapping[str, Any], environ: Mapping[str, str], base: Path | None = None
) -> list[Sink]:
    """The sinks of the ``[alerts]`` table ``data``; raises ``ConfigError`` naming the
    key. ``AlertConfig.from_mapping`` reads the alerter's settings too."""
    return list(AlertConfig.from_mapping(data, environ, base).sinks)


_TOP_KEYS: Final = frozenset(
    {
        "failure_threshold",
        "dedupe_interval",
        "queue_size",
        "send_timeout",
        "retries",
        "hosts",
        "slack",
        "webhook",
        "pull_request",
    }
)
_SLACK_KEYS: Final = frozenset({"webhook_url_env", "webhook_url_file", "min_severity"})
_WEBHOOK_KEYS: Final = frozenset({"url", "url_env", "secret_env", "secret_file", "min_severity"})
_PR_KEYS: Final = frozenset(
    {
        "provider",
        "api_url",
        "project",
        "token_env",
        "token_file",
        "base_branch",
        "min_severity",
    }
)


def _known(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        hint = ""
        if unknown[0] in ("webhook_url", "secret", "token"):
            hint = f"; name the environment variable ({unknown[0]}_env) or a file instead"
        raise ConfigError(
            f"{where}{unknown[0]}: unknown key (known: {', '.join(sorted(known))}){hint}"
        )


def _value(table: Mapping[str, Any], key: str, where: str, kind: type, default: Any) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(
            f"{where}{key}: expected {kind.__name__}, got {type(value).__name__} {value!r}"
        )
    return value


def _int(table: Mapping[str, Any], key: str, where: str, default: int, *, minimum: int) -> int:
    value = _value(table, key, where, int, default)
    if value < minimum:
        raise ConfigError(f"{where}{key}: must be at least {minimum}, not {value}")
    return int(value)


def _number(
    table: Mapping[str, Any],
    key: str,
    where: str,
    default: float,
    *,
    minimum: float,
    maximum: float | None = None,
) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}{key}: expected a number, got {type(value).__name__} {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{where}{key}: must be {bound}, not {value}")
    return float(value)


def _str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _value(table, key, where, str, None)
    if value is not None and not value.strip():
        raise ConfigError(f"{where}{key}: must not be empty")
    return cast("str | None", value)


def _from_env(environ: Mapping[str, str], table: Mapping[str, Any], key: str, where: str) -> str:
    name = _str(table, key, where)
    assert name is not None
    value = environ.get(name)
    if not value:
        raise ConfigError(f"{where}{key}: environment variable {name} is not set")
    return value


def _path(table: Mapping[str, Any], key: str, where: str, base: Path | None) -> Path | None:
    raw = _str(table, key, where)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return path


def _severity(table: Mapping[str, Any], where: str) -> str:
    value = _value(table, "min_severity", where, str, "info")
    if value not in SEVERITIES:
        raise ConfigError(
            f"{where}min_severity: expected one of {', '.join(SEVERITIES)}, got {value!r}"
        )
    return cast(str, value)


def _one_of(table: Mapping[str, Any], keys: tuple[str, str], where: str) -> str:
    given = [k for k in keys if table.get(k) is not None]
    if len(given) != 1:
        raise ConfigError(
            f"{where}{keys[0]}: give {keys[0]} or {keys[1]}" + (" (not both)" if given else "")
        )
    return given[0]


def _slack(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str, base: Path | None
) -> Sink:
    _known(table, _SLACK_KEYS, where)
    severity = _severity(table, where)
    if _one_of(table, ("webhook_url_env", "webhook_url_file"), where) == "webhook_url_env":
        url = _from_env(environ, table, "webhook_url_env", where)
        if urlsplit(url).scheme != "https":
            raise ConfigError(f"{where}webhook_url_env: the Slack webhook URL must be https")
        return SlackSink(url, min_severity=severity)
    return SlackSink(
        webhook_url_file=_path(table, "webhook_url_file", where, base), min_severity=severity
    )


def _webhook(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str, base: Path | None
) -> Sink:
    _known(table, _WEBHOOK_KEYS, where)
    severity = _severity(table, where)
    if _one_of(table, ("url", "url_env"), where) == "url":
        url = _str(table, "url", where)
        key = "url"
    else:
        url = _from_env(environ, table, "url_env", where)
        key = "url_env"
    assert url is not None
    secret = None
    if table.get("secret_env") is not None and table.get("secret_file") is not None:
        raise ConfigError(f"{where}secret_env: give secret_env or secret_file, not both")
    if table.get("secret_env") is not None:
        secret = _from_env(environ, table, "secret_env", where)
    try:
        return WebhookSink(
            url,
            secret,
            secret_file=_path(table, "secret_file", where, base),
            min_severity=severity,
        )
    except ValueError:
        raise ConfigError(f"{where}{key}: expected an http(s) URL") from None


def _pull_request(
    table: Mapping[str, Any], environ: Mapping[str, str], where: str, base: Path | None
) -> Sink:
    _known(table, _PR_KEYS, where)
    provider = _str(table, "provider", where)
    if provider not in _PR_PROVIDERS:
        raise ConfigError(
            f"{where}provider: expected one of {', '.join(_PR_PROVIDERS)}, got {provider!r}"
        )
    api_url = _str(table, "api_url", where)
    if api_url is None and provider not in _DEFAULT_API:
        raise ConfigError(f"{where}api_url: required for {provider}")
    if api_url is not None and urlsplit(api_url).scheme not in ("http", "https"):
        raise ConfigError(f"{where}api_url: expected an http(s) URL, got {redact_text(api_url)!r}")
    project = _str(table, "project", where)
    if project is None:
        raise ConfigError(f"{where}project: required (owner/repo, or GitLab's path or id)")
    if provider != "gitlab" and project.strip("/").count("/") != 1:
        raise ConfigError(f"{where}project: expected owner/repo, got {project!r}")
    token_env: str | None = None
    if _one_of(table, ("token_env", "token_file"), where) == "token_env":
        _from_env(environ, table, "token_env", where)  # fail now when it is not set
        token_env = _str(table, "token_env", where)
    return PullRequestSink(
        provider,
        api_url,
        project,
        token_env=token_env,
        token_file=_path(table, "token_file", where, base),
        base_branch=_str(table, "base_branch", where),
        min_severity=_severity(table, where),
        environ=environ,
    )
