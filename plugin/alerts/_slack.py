"""The Slack sink: a Block Kit message to an incoming webhook.

The message has a header with the kind and repository, the summary, the repository,
branch, severity and outcome, the details, and for an escape the conflict branch
linked on GitHub, GitLab, Gitea or Bitbucket (from the runner's remote URL; the
``hosts`` setting names self-hosted ones).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import httpx

from ._events import AlertDetails, AlertEvent
from ._sinks import MIN_SEVERITY, Sink, json_body, read_secret
from ._text import clip, one_line

__all__ = ["SlackSink", "slack_message"]

_LISTED_MAX = 20  # conflict paths / commits listed in a message
_HEADER_MAX = 150  # Slack's limit on a header's text
_SECTION_MAX = 3000  # Slack's limit on a section's text
_EMOJI: Final[Mapping[str, str]] = {
    "critical": ":rotating_light:",
    "warning": ":warning:",
    "info": ":white_check_mark:",
}

Block = dict[str, Any]


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn gives a meaning to."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _listed(items: Sequence[str]) -> str:
    shown = [f"`{_mrkdwn(i)}`" for i in items[:_LISTED_MAX]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _header(event: AlertEvent) -> Block:
    text = one_line(f"{_EMOJI[event.severity]} {event.kind}: {event.repo}", _HEADER_MAX)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _fields(event: AlertEvent) -> Block:
    shown = [
        ("Repository", _mrkdwn(event.repo)),
        ("Branch", _mrkdwn(event.branch or "unknown")),
        ("Severity", event.severity),
    ]
    if event.details.outcome:
        shown.append(("Outcome", _mrkdwn(event.details.outcome)))
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in shown],
    }


def _conflict_branch(d: AlertDetails) -> Block | None:
    if not d.conflict_branch:
        return None
    name = _mrkdwn(d.conflict_branch)
    shown = f"<{d.conflict_branch_url}|{name}>" if d.conflict_branch_url else f"`{name}`"
    return _section(f"*Conflict branch*\n{shown}")


def _commit_lines(d: AlertDetails) -> list[str]:
    lines: list[str] = []
    if d.old_commit:
        lines.append(f"*Old local head:* `{d.old_commit}`")
    if d.remote_commit:
        lines.append(f"*Remote head:* `{d.remote_commit}`")
    if d.conflict_paths:
        lines.append(f"*Files in conflict:* {_listed(d.conflict_paths)}")
    if d.escaped_commits:
        lines.append(f"*Escaped commits:* {_listed(d.escaped_commits)}")
    return lines


def _status_lines(event: AlertEvent) -> list[str]:
    d = event.details
    lines: list[str] = []
    if d.push_status and (d.push_reason or d.push_error):
        why = ", ".join(_mrkdwn(p) for p in (d.push_reason, d.push_error) if p)
        lines.append(f"*Push:* {d.push_status} ({why})")
    if event.kind in ("failing", "recovered"):
        lines.append(f"*Consecutive failures:* {d.consecutive_failures}")
    if d.error:
        lines.append(f"*Error:* {_mrkdwn(d.error)}")
    elif d.reason and event.kind != "conflict-escaped":
        lines.append(f"*Reason:* {_mrkdwn(d.reason)}")
    return lines


def _details(event: AlertEvent) -> Block | None:
    lines = _commit_lines(event.details) + _status_lines(event)
    return _section(clip("\n".join(lines), _SECTION_MAX)) if lines else None


def _context(event: AlertEvent) -> Block:
    text = f"{event.timestamp} · run {_mrkdwn(event.details.run_id or '?')} · git-reconcile"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def slack_message(event: AlertEvent) -> dict[str, Any]:
    """The Block Kit message of ``event``: a header, the summary, the repository and
    branch, the details, and for an escape a link to the conflict branch on the host."""
    blocks = [
        _header(event),
        _section(_mrkdwn(event.summary)),
        _fields(event),
        _conflict_branch(event.details),
        _details(event),
        _context(event),
    ]
    return {"text": _mrkdwn(event.summary), "blocks": [b for b in blocks if b is not None]}


class SlackSink(Sink):
    """A Slack incoming webhook. Its URL is a secret: give it, or a file holding it
    (read at every send, so a rotated file needs no restart)."""

    kind = "slack"

    def __init__(
        self,
        webhook_url: str | None = None,
        webhook_url_file: Path | None = None,
        *,
        min_severity: str = MIN_SEVERITY,
    ) -> None:
        problems = []
        if (webhook_url is None) == (webhook_url_file is None):
            problems.append("webhook_url: give webhook_url or webhook_url_file (exactly one)")
        super().__init__(min_severity=min_severity, problems=problems)
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
            url = self._seen = await read_secret(self._url_file, "Slack webhook URL")
        return httpx.Request(
            "POST",
            url,
            content=json_body(slack_message(event)),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
