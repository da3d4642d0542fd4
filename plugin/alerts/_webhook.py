"""The generic JSON webhook sink.

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
                                              // blocked | failing | recovered |
                                              // hook-failed
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
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx

from webhooks import sign_sha256

from ._events import AlertEvent
from ._sinks import MIN_SEVERITY, Sink, json_body, read_secret

__all__ = ["WebhookSink"]


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
        min_severity: str = MIN_SEVERITY,
    ) -> None:
        problems = []
        if secret is not None and secret_file is not None:
            problems.append("secret: give secret or secret_file, not both")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append("url: expected an http(s) URL")
        super().__init__(min_severity=min_severity, problems=problems)
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
            secret = self._seen = await read_secret(self._secret_file, "webhook secret")
        body = json_body(event.to_dict())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Alert-Id": event.id,
        }
        if secret:
            headers["X-Signature"] = sign_sha256(secret, body)
        return httpx.Request("POST", self.url, content=body, headers=headers)
