"""Operator alerts: what a finished run means for the people who run the service, sent
to Slack, to any JSON webhook, or as a pull/merge request on the git host.

- ``events_for()`` derives the alerts of a finished run (``_derive``: the table of
  kinds and severities); ``AlertEvent`` and ``AlertDetails`` are the alert
  (``_events``), redacted throughout.
- Sinks (``Sink``, ``_sinks``) turn an event into one request: ``SlackSink``
  (``_slack``), ``WebhookSink`` (``_webhook``: the JSON document's schema and its
  signature) and ``PullRequestSink`` (``_pull_requests``). Links to the conflict
  branch come from ``branch_url`` (``_hosts``).
- ``Alerter`` (``_alerter``) deduplicates, queues per sink and sends in the
  background; each send is retried by ``RetryPolicy`` (``_delivery``), honouring
  ``Retry-After``. ``AlertConfig`` (``_config``) holds the settings, defaults and
  bounds written once.
- The ``[alerts]`` table of the configuration file is read by the plugin's one
  loader (``plugin._load``), which builds these value objects.

Alerts never get in the way of a reconcile: ``Alerter.observe`` never raises, never
blocks and never awaits the network.
"""

from __future__ import annotations

from .._errors import SinkError
from ._alerter import DRAIN_TIMEOUT, Alerter, ObservedRunner
from ._config import AlertConfig
from ._delivery import RETRIED_ERRORS, RetryPolicy, retry_after
from ._derive import Streak, events_for
from ._events import (
    ALERT_KINDS,
    FAILURE_THRESHOLD,
    SCHEMA_VERSION,
    SEVERITIES,
    SEVERITY_OF,
    AlertDetails,
    AlertEvent,
    AlertKind,
    Severity,
)
from ._hosts import HOST_KINDS, HostKind, branch_url, host_kind, web_url
from ._pull_requests import PR_PROVIDERS, PullRequestProvider, PullRequestSink, pull_request_text
from ._sinks import MIN_SEVERITY, SendVerdict, Sink
from ._slack import SlackSink, slack_message
from ._webhook import WebhookSink

__all__ = [
    "ALERT_KINDS",
    "DRAIN_TIMEOUT",
    "FAILURE_THRESHOLD",
    "HOST_KINDS",
    "MIN_SEVERITY",
    "PR_PROVIDERS",
    "RETRIED_ERRORS",
    "SCHEMA_VERSION",
    "SEVERITIES",
    "SEVERITY_OF",
    "AlertConfig",
    "AlertDetails",
    "AlertEvent",
    "AlertKind",
    "Alerter",
    "HostKind",
    "ObservedRunner",
    "PullRequestProvider",
    "PullRequestSink",
    "RetryPolicy",
    "SendVerdict",
    "Severity",
    "Sink",
    "SinkError",
    "SlackSink",
    "Streak",
    "WebhookSink",
    "branch_url",
    "events_for",
    "host_kind",
    "pull_request_text",
    "retry_after",
    "slack_message",
    "web_url",
]
