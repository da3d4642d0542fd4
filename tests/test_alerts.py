"""Operator alerts: events derived from real runs, the exact requests of Slack and the
hosts' APIs (respx), a signed webhook received by a real server on loopback,
deduplication, retries, and sinks that are down."""

from __future__ import annotations

import hmac
import json
import logging
import socket
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import respx
import uvicorn
from builders import run_record
from gitutil import World, git
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from plugin._alerts import (
    AlertConfig,
    AlertDetails,
    Alerter,
    AlertEvent,
    PullRequestSink,
    SinkError,
    SlackSink,
    WebhookSink,
    branch_url,
    events_for,
    sinks_from_mapping,
    web_url,
)
from plugin._config import ConfigError, RepoConfig
from plugin._metrics import Metrics
from plugin._record import RunRecord, failure_streak
from plugin._runner import Runner
from reconcile import Outcome, PushResult, PushStatus, Result, reconcile
from webhooks import sign_sha256

pytestmark = pytest.mark.anyio

SLACK_URL = "https://hooks.slack.com/services/T000/B000/s3cretpath"
GITHUB_REMOTE = "git@github.com:org/data.git"
FINISHED = 1_800_000_000.0  # 2027-01-15T08:00:00Z
TIME = "2027-01-15T08:00:00Z"


@pytest.fixture
def anyio_backend() -> str:
    """The alerter is exercised on asyncio, the loop uvicorn serves on."""
    return "asyncio"


# --- helpers ------------------------------------------------------------------------


def _record(result: Result | None, error: str | None = None, run_id: str = "data-1") -> RunRecord:
    """A finished run of the repository configured as ``data``."""
    return run_record(result, run_id=run_id, finished=FINISHED, took=1.0, waited=0.0, error=error)


@dataclass
class Escape:
    """A real conflict escape and the commits it involved."""

    app: Path
    result: Result
    local: str
    remote: str


def _escape(world: World, name: str = "app") -> Escape:
    """Make the clone ``name`` conflict with the remote and reconcile it."""
    app = world.clone(name)
    remote = world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    local = world.commit(app, {"data.txt": "local\n"}, "local edit")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED, result.reason
    return Escape(app, result, local, remote)


def _escape_event(world: World, remote_url: str | None = GITHUB_REMOTE) -> AlertEvent:
    """The conflict-escaped event of a real escape, with a GitHub remote for links."""
    escape = _escape(world)
    (event,) = events_for("data", _record(escape.result), 0, 3, 0, remote_url=remote_url)
    return event


def _blocked(world: World) -> Result:
    """A real blocked run: an uncommitted change is in the way of the update."""
    app = world.clone("blocked")
    world.remote_commit({"data.txt": "moved on\n"}, "remote edit")
    (app / "data.txt").write_text("uncommitted\n")
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    return result


class FakeRunner:
    """What ``Alerter.observe`` reads of a runner, without a repository behind it."""

    def __init__(self, name: str = "data", remote: str | None = GITHUB_REMOTE) -> None:
        self.name = name
        self.remote = remote

    def branch(self) -> str | None:
        return "main"

    def remote_url(self) -> str | None:
        return self.remote


def _sent(metrics: Metrics, sink: str, result: str) -> float | None:
    return metrics.registry.get_sample_value(
        "git_reconcile_alerts_total", {"sink": sink, "result": result}
    )


@asynccontextmanager
async def _sending(alerter: Alerter) -> AsyncIterator[Alerter]:
    """Run the alerter's sender loop; on exit, drain the queues and stop it."""
    async with anyio.create_task_group() as group:
        await group.start(alerter.run)
        try:
            yield alerter
        finally:
            await alerter.aclose()


@dataclass
class Received:
    """One request the loopback receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on loopback that records what it is sent."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, then 200


@asynccontextmanager
async def _receiver() -> AsyncIterator[Receiver]:
    """A Starlette app served by uvicorn on a loopback port, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hooks/git")

    async def hook(request: Request) -> Response:
        receiver.received.append(
            Received(request.url.path, dict(request.headers), await request.body())
        )
        status = receiver.statuses.pop(0) if receiver.statuses else 200
        return Response(status_code=status)

    app = Starlette(routes=[Route("/hooks/git", hook, methods=["POST"])])
    config = uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [sock])
            try:
                yield receiver
            finally:
                server.should_exit = True
    finally:
        sock.close()


@contextmanager
def _closed_port() -> Iterator[str]:
    """A loopback URL where nothing listens: connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    yield f"http://127.0.0.1:{port}/hook"


@contextmanager
def _silent_port() -> Iterator[str]:
    """A loopback URL that takes connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # never accepted: the kernel completes the handshake, nobody reads
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()


# --- events ---------------------------------------------------------------------------


def test_a_conflict_escape_gives_one_critical_event_with_every_detail(
    path_world: World,
) -> None:
    """A real escape yields one critical conflict-escaped event naming the branch, both
    heads, the conflicting files, the escaped commits and a link on the host."""
    escape = _escape(path_world)
    result = escape.result
    events = events_for("data", _record(result), 0, 3, 0, remote_url=GITHUB_REMOTE)
    assert [e.kind for e in events] == ["conflict-escaped"]
    event = events[0]
    assert event.severity == "critical"
    assert (event.repo, event.branch, event.timestamp) == ("data", "main", TIME)
    name = result.conflict_branch
    assert name is not None
    assert event.summary == (
        f"data: 1 local commit on main conflicted with the remote and was moved to {name}"
    )
    d = event.details
    assert d.conflict_branch == name
    assert d.conflict_branch_url == f"https://github.com/org/data/tree/{name}"
    assert d.old_commit == escape.local
    assert d.remote_commit == escape.remote == d.new_commit
    assert d.conflict_paths == ("data.txt",)
    assert d.escaped_commits == (escape.local,)
    assert len(escape.local) == 40
    assert (d.push_status, d.push_reason) == ("ok", None)
    assert event.commit == escape.local  # deduplicated by the old local head


def test_the_webhook_document_follows_the_documented_schema(path_world: World) -> None:
    """AlertEvent.to_dict() has exactly the documented keys, JSON-serialisable."""
    event = _escape_event(path_world)
    doc = json.loads(json.dumps(event.to_dict()))
    assert set(doc) == {
        "version",
        "id",
        "kind",
        "severity",
        "repo",
        "branch",
        "time",
        "summary",
        "details",
    }
    assert set(doc["details"]) == {
        "run_id",
        "outcome",
        "reason",
        "error",
        "conflict_branch",
        "conflict_branch_url",
        "old_commit",
        "new_commit",
        "remote_commit",
        "conflict_paths",
        "escaped_commits",
        "push",
        "consecutive_failures",
        "failure_threshold",
    }
    assert doc["version"] == 1
    assert doc["id"] == event.id
    assert doc["time"] == TIME
    assert doc["details"]["push"] == {"status": "ok", "reason": None, "error": None}
    assert doc["details"]["escaped_commits"] == list(event.details.escaped_commits)


def test_blocked_and_protected_pushes_are_alerted(path_world: World) -> None:
    """A blocked run gives a warning; a push rejected as protected gives a critical
    event carrying the server's words."""
    (blocked,) = events_for("data", _record(_blocked(path_world)), 0, 3, 0)
    assert (blocked.kind, blocked.severity) == ("blocked", "warning")
    assert blocked.summary.startswith("data: main is blocked: ")
    assert blocked.details.reason
    assert blocked.details.reason in blocked.summary

    app = path_world.clone("pusher")
    path_world.commit(app, {"new.txt": "n\n"}, "local")
    ahead = reconcile(path_world.spec(app))
    assert ahead.outcome is Outcome.PUSHED_AHEAD
    message = "GH006: Protected branch update failed for refs/heads/main."
    rejected = replace(
        ahead,
        push=PushResult(PushStatus.REJECTED, 1, message, "protected-branch"),
    )
    (protected,) = events_for("data", _record(rejected), 1, 3, 0)
    assert (protected.kind, protected.severity) == ("push-protected", "critical")
    assert message in protected.summary
    assert protected.details.push_reason == "protected-branch"
    assert protected.commit == ahead.new_commit


def test_every_string_is_redacted() -> None:
    """Credentials in an error or a reason never reach an event."""
    error = "fetch of https://bob:hunter2@git.example.com/data.git?access_token=abc failed"
    (event,) = events_for("data", _record(None, error=error), 1, 1, 0)
    assert event.kind == "failing"
    text = json.dumps(event.to_dict())
    assert "hunter2" not in text
    assert "abc" not in text
    assert "https://***@git.example.com/data.git" in (event.details.error or "")


@pytest.mark.parametrize("threshold", [1, 3])
def test_failing_at_the_nth_failure_only_and_recovered_after(
    path_world: World, threshold: int
) -> None:
    """`failing` comes once, when the streak reaches N; a blocked run extends the
    streak as the runner's does; the first success after it gives `recovered`, the next
    nothing."""
    world = path_world
    app = world.clone("app")
    git(app, "remote", "set-url", "origin", str(world.root / "nowhere.git"))
    failed = reconcile(world.spec(app))
    assert failed.outcome is Outcome.FETCH_FAILED
    git(app, "remote", "set-url", "origin", str(world.remote))
    ok = reconcile(world.spec(app))
    assert ok.outcome is Outcome.IN_SYNC
    blocked = _blocked(world)
    runs = [
        _record(failed),
        _record(None, error="repository lock timed out"),
        _record(blocked),
        _record(failed),
        _record(failed),
        _record(ok),
        _record(ok),
    ]
    streak, seen = 0, []
    for record in runs:
        previous, streak = streak, failure_streak(streak, record)
        kinds = [e.kind for e in events_for("data", record, streak, threshold, previous)]
        seen.append((streak, [k for k in kinds if k in ("failing", "recovered")]))
    streaks = [s for s, _ in seen]
    assert streaks == [1, 2, 3, 4, 5, 0, 0]
    failing_at = [i for i, (_, kinds) in enumerate(seen) if kinds == ["failing"]]
    assert failing_at == [streaks.index(threshold)]
    assert seen[5][1] == ["recovered"]
    assert seen[6][1] == []
    (recovered,) = [
        e for e in events_for("data", runs[5], 0, threshold, 5) if e.kind == "recovered"
    ]
    assert (recovered.severity, recovered.summary) == (
        "info",
        "data: main recovered after 5 failed runs",
    )


def test_a_failure_streak_below_the_threshold_does_not_recover() -> None:
    """A success after fewer than N failures is not news."""
    ok = Result(repo="/srv/data", remote="origin", branch="main", outcome=Outcome.IN_SYNC)
    assert events_for("data", _record(ok), 0, 3, 2) == []


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("git@github.com:org/data.git", "https://github.com/org/data/tree/{b}"),
        ("https://***@github.com/org/data.git", "https://github.com/org/data/tree/{b}"),
        ("ssh://git@gitlab.com:22/grp/sub/data.git", "https://gitlab.com/grp/sub/data/-/tree/{b}"),
        ("https://gitea.example.com/org/data", "https://gitea.example.com/org/data/src/branch/{b}"),
        ("git@bitbucket.org:org/data.git", "https://bitbucket.org/org/data/branch/{b}"),
        ("/srv/git/data.git", None),
        ("https://git.example.com/org/data.git", None),
    ],
)
def test_branch_links_on_each_host(remote: str, expected: str | None) -> None:
    """Conflict branches link to the branch page of GitHub, GitLab, Gitea and Bitbucket,
    whatever the form of the remote URL; unknown hosts and local paths get no link."""
    name = "conflicts/2027-01-15T08-00-00Z"
    assert branch_url(remote, name) == (None if expected is None else expected.format(b=name))


def test_self_hosted_instances_are_named_by_the_hosts_table() -> None:
    """A host name configured as gitea gets Gitea's branch path."""
    url = branch_url("git@git.example.com:org/data.git", "x", {"git.example.com": "gitea"})
    assert url == "https://git.example.com/org/data/src/branch/x"
    assert web_url("file:///srv/data.git") is None


# --- Slack ----------------------------------------------------------------------------


async def test_slack_gets_a_block_kit_message_with_the_branch_link(path_world: World) -> None:
    """The Slack webhook receives exactly the Block Kit message: header, summary, repo
    and branch, the conflict branch linked on GitHub, heads, files and commits."""
    event = _escape_event(path_world)
    d = event.details
    name = d.conflict_branch
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
        async with _sending(Alerter([SlackSink(SLACK_URL)])) as alerter:
            assert alerter.submit(event)
    assert route.call_count == 1
    request = route.calls.last.request
    assert str(request.url) == SLACK_URL
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(request.content) == {
        "text": event.summary,
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": ":rotating_light: conflict-escaped: data",
                    "emoji": True,
                },
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": event.summary}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Repository*\ndata"},
                    {"type": "mrkdwn", "text": "*Branch*\nmain"},
                    {"type": "mrkdwn", "text": "*Severity*\ncritical"},
                    {"type": "mrkdwn", "text": "*Outcome*\nconflict-escaped"},
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Conflict branch*\n<https://github.com/org/data/tree/{name}|{name}>",
                },
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Old local head:* `{d.old_commit}`\n"
                    f"*Remote head:* `{d.remote_commit}`\n"
                    "*Files in conflict:* `data.txt`\n"
                    f"*Escaped commits:* `{d.escaped_commits[0]}`",
                },
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"{TIME} · run data-1 · git-reconcile"},
                ],
            },
        ],
    }


async def test_slack_severity_filter_and_url_file(path_world: World, tmp_path: Path) -> None:
    """A sink with min_severity critical gets the escape but not the blocked warning;
    its URL is read from a file."""
    url_file = tmp_path / "slack-url"
    url_file.write_text(SLACK_URL + "\n")
    sink = SlackSink(webhook_url_file=url_file, min_severity="critical")
    (blocked,) = events_for("data", _record(_blocked(path_world)), 0, 3, 0)
    escape = _escape_event(path_world)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
        async with _sending(Alerter([sink])) as alerter:
            assert not alerter.submit(blocked)
            assert alerter.submit(escape)
    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content)["text"] == escape.summary


# --- pull requests --------------------------------------------------------------------


#: provider: (api_url, project, the request's URL, its auth header and value)
HOSTS = {
    "github": (
        "https://api.github.com",
        "org/data",
        "https://api.github.com/repos/org/data/pulls",
        ("authorization", "Bearer tok-123"),
    ),
    "gitlab": (
        "https://gitlab.example.com/api/v4",
        "grp/sub/data",
        "https://gitlab.example.com/api/v4/projects/grp%2Fsub%2Fdata/merge_requests",
        ("private-token", "tok-123"),
    ),
    "gitea": (
        "https://gitea.example.com/api/v1",
        "org/data",
        "https://gitea.example.com/api/v1/repos/org/data/pulls",
        ("authorization", "token tok-123"),
    ),
}


@pytest.mark.parametrize("provider", sorted(HOSTS))
async def test_a_pull_request_is_opened_from_the_conflict_branch(
    path_world: World, monkeypatch: pytest.MonkeyPatch, provider: str
) -> None:
    """An escape opens exactly one pull/merge request from the conflict branch into the
    data branch, with the host's auth header and the token read from the environment;
    other events open none."""
    api, project, url, (header, value) = HOSTS[provider]
    monkeypatch.setenv("PR_TOKEN", "tok-123")
    event = _escape_event(path_world)
    d = event.details
    assert d.conflict_branch is not None
    (blocked,) = events_for("data", _record(_blocked(path_world)), 0, 3, 0)
    sink = PullRequestSink(provider, api, project, token_env="PR_TOKEN")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(201, json={"number": 7}))
        async with _sending(Alerter([sink])) as alerter:
            assert alerter.submit(blocked)
            assert alerter.submit(event)
    assert route.call_count == 1
    request = route.calls.last.request
    assert str(request.url) == url
    assert request.headers[header] == value
    if provider == "github":
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
    payload = json.loads(request.content)
    title = f"Resolve conflict in data: {d.conflict_branch} into main"
    if provider == "gitlab":
        assert {k: v for k, v in payload.items() if k != "description"} == {
            "source_branch": d.conflict_branch,
            "target_branch": "main",
            "title": title,
            "remove_source_branch": False,
        }
        body = payload["description"]
    else:
        assert {k: v for k, v in payload.items() if k != "body"} == {
            "title": title,
            "head": d.conflict_branch,
            "base": "main",
        }
        body = payload["body"]
    assert "`data.txt`" in body
    assert f"- Old local head: `{d.old_commit}`" in body
    assert f"  - {d.escaped_commits[0]}" in body


async def test_the_token_comes_from_a_file_at_send_time_and_is_never_logged(
    path_world: World, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The token file is read when sending (a rotated token is used at once); a host
    that echoes the token in a 401 gets it masked in the log, and the send fails
    without a retry."""
    token_file = tmp_path / "token"
    token_file.write_text("old-token\n")
    sink = PullRequestSink("github", "https://api.github.com", "org/data", token_file=token_file)
    token_file.write_text("new-token\n")
    event = _escape_event(path_world)
    metrics = Metrics()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://api.github.com/repos/org/data/pulls").mock(
            return_value=httpx.Response(401, json={"message": "Bad credentials: new-token"})
        )
        with caplog.at_level(logging.INFO, logger="plugin.alerts"):
            async with _sending(Alerter([sink], metrics=metrics)) as alerter:
                alerter.submit(event)
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == "Bearer new-token"
    assert "new-token" not in caplog.text
    assert "Bad credentials: ***" in caplog.text
    assert _sent(metrics, "pull-request", "failed") == 1


async def test_a_pull_request_that_already_exists_counts_as_sent(path_world: World) -> None:
    """GitLab's 409 for an existing merge request is success, not a failure to retry."""
    sink = PullRequestSink("gitlab", None, "org/data", token="t")
    metrics = Metrics()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://gitlab.com/api/v4/projects/org%2Fdata/merge_requests").mock(
            return_value=httpx.Response(409, json={"message": ["already exists"]})
        )
        async with _sending(Alerter([sink], metrics=metrics)) as alerter:
            alerter.submit(_escape_event(path_world))
    assert route.call_count == 1
    assert _sent(metrics, "pull-request", "sent") == 1


async def test_a_missing_token_fails_the_send_at_once(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """An unset token variable fails the send (logged, counted) without any request."""
    sink = PullRequestSink(
        "github", "https://api.github.com", "org/data", token_env="NO_SUCH_TOKEN", environ={}
    )
    metrics = Metrics()
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(url__regex=".*").mock(return_value=httpx.Response(201))
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            async with _sending(Alerter([sink], metrics=metrics)) as alerter:
                alerter.submit(_escape_event(path_world))
    assert route.call_count == 0
    assert "environment variable NO_SUCH_TOKEN is not set" in caplog.text
    assert _sent(metrics, "pull-request", "failed") == 1


# --- the generic webhook, end to end --------------------------------------------------


async def test_the_generic_webhook_is_signed_end_to_end(path_world: World) -> None:
    """A real server on loopback receives the JSON document once, with an X-Alert-Id
    and an X-Signature that is the HMAC-SHA256 of the raw body."""
    secret = "alert-s3cret"
    event = _escape_event(path_world)
    metrics = Metrics()
    async with _receiver() as receiver:
        sink = WebhookSink(receiver.url, secret)
        async with _sending(Alerter([sink], metrics=metrics)) as alerter:
            alerter.submit(event)
    (got,) = receiver.received
    assert got.path == "/hooks/git"
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    assert got.headers["x-alert-id"] == event.id
    assert hmac.compare_digest(got.headers["x-signature"], sign_sha256(secret, got.body))
    assert not hmac.compare_digest(got.headers["x-signature"], sign_sha256("other", got.body))
    assert json.loads(got.body) == event.to_dict()
    assert _sent(metrics, "webhook", "sent") == 1
    assert _sent(metrics, "webhook", "failed") == 0


async def test_a_5xx_is_retried_with_the_same_alert_id(path_world: World) -> None:
    """A 503 then a 200: delivered once, in two attempts, with the same id and body."""
    event = _escape_event(path_world)
    metrics = Metrics()
    async with _receiver() as receiver:
        receiver.statuses = [503]
        sink = WebhookSink(receiver.url, "s")
        async with _sending(Alerter([sink], metrics=metrics, backoff=0.01)) as alerter:
            alerter.submit(event)
    first, second = receiver.received
    assert first.headers["x-alert-id"] == second.headers["x-alert-id"] == event.id
    assert first.body == second.body
    assert _sent(metrics, "webhook", "sent") == 1
    assert _sent(metrics, "webhook", "failed") == 0


async def test_a_4xx_is_not_retried_and_counts_as_failed(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 is final: one attempt, logged, counted as failed."""
    url = "https://ops.example.com/hooks/git?token=hidden"
    metrics = Metrics()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(400, text="bad alert"))
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            async with _sending(Alerter([WebhookSink(url, None)], metrics=metrics)) as alerter:
                alerter.submit(_escape_event(path_world))
    assert route.call_count == 1
    assert "after 1 attempt: HTTP 400: bad alert" in caplog.text
    assert "hidden" not in caplog.text
    assert _sent(metrics, "webhook", "failed") == 1
    assert _sent(metrics, "webhook", "sent") == 0


# --- deduplication and the queue ------------------------------------------------------


async def test_the_same_escape_is_alerted_once_per_interval(path_world: World) -> None:
    """The same escape observed twice within the interval sends one alert; once the
    interval has passed, it sends again."""
    record = _record(_escape(path_world).result)
    clock = [1000.0]
    url = "https://ops.example.com/hooks/git"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(204))
        alerter = Alerter([WebhookSink(url, None)], dedupe_interval=300, now=lambda: clock[0])
        async with _sending(alerter):
            runner = FakeRunner()
            alerter.observe(runner, record)
            clock[0] += 299.0
            alerter.observe(runner, record)
            clock[0] += 1.0
            alerter.observe(runner, record)
    assert route.call_count == 2
    ids = {json.loads(c.request.content)["id"] for c in route.calls}
    assert len(ids) == 2
    assert {json.loads(c.request.content)["kind"] for c in route.calls} == {"conflict-escaped"}


async def test_the_link_comes_from_the_runners_remote(path_world: World) -> None:
    """observe() takes the remote URL from the runner to link the conflict branch."""
    record = _record(_escape(path_world).result)
    url = "https://ops.example.com/hooks/git"
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(200))
        async with _sending(Alerter([WebhookSink(url, None)])) as alerter:
            alerter.observe(FakeRunner(remote="https://***@gitlab.com/grp/data.git"), record)
    details = json.loads(route.calls.last.request.content)["details"]
    branch = details["conflict_branch"]
    assert details["conflict_branch_url"] == f"https://gitlab.com/grp/data/-/tree/{branch}"


def test_a_full_queue_drops_the_alert_with_a_warning_and_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the queue full, observe() drops the new alert at once, logs and counts it."""
    metrics = Metrics()
    alerter = Alerter(
        [WebhookSink("https://ops.example.com/h", None)], queue_size=1, metrics=metrics
    )

    def event(commit: str) -> AlertEvent:
        details = AlertDetails(new_commit=commit)
        return AlertEvent("blocked", "warning", "data", "main", _now(), "blocked", details)

    with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
        assert alerter.submit(event("a" * 40))
        assert not alerter.submit(event("b" * 40))
    assert "queue of webhook https://ops.example.com is full" in caplog.text
    assert _sent(metrics, "webhook", "dropped") == 1


def _now() -> datetime:
    return datetime.fromtimestamp(FINISHED, UTC)


def test_observe_never_raises() -> None:
    """A runner that cannot say its remote, or a malformed record, is logged, not raised."""

    class Broken(FakeRunner):
        def remote_url(self) -> str | None:
            raise RuntimeError("boom")

    alerter = Alerter([])
    escaped = Result(
        repo="/srv/data",
        remote="origin",
        branch="main",
        outcome=Outcome.CONFLICT_ESCAPED,
        conflict_branch="conflicts/x",
    )
    alerter.observe(Broken(), _record(escaped))
    alerter.observe(Broken(), object())  # type: ignore[arg-type]


# --- sinks that are down --------------------------------------------------------------


async def test_unreachable_sinks_never_delay_the_reconcile(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """With one sink refusing connections and one never answering, a real run finishes
    at once and observe() returns immediately; both sends fail, logged and counted."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    world.commit(app, {"data.txt": "local\n"}, "local edit")
    metrics = Metrics()
    send_timeout = 1.0
    with _closed_port() as refused, _silent_port() as silent:
        alerter = Alerter(
            [WebhookSink(refused, None), WebhookSink(silent, None)],
            send_timeout=send_timeout,
            retries=1,
            backoff=0.01,
            metrics=metrics,
        )
        runner = Runner(RepoConfig("data", app, poll_interval=0))
        runner.observers.append(alerter.observe)
        with caplog.at_level(logging.INFO, logger="plugin.alerts"):
            async with _sending(alerter), anyio.create_task_group() as group:
                group.start_soon(runner.serve)
                started = time.monotonic()
                record = await runner.trigger("manual").wait()
                elapsed = time.monotonic() - started
                assert record.result is not None
                assert record.result.outcome is Outcome.CONFLICT_ESCAPED
                assert elapsed < send_timeout  # a send to the silent sink takes longer

                again = time.perf_counter()
                alerter.observe(runner, replace(record, run_id="data-x"))
                assert time.perf_counter() - again < 0.05
                runner.close()
                group.cancel_scope.cancel()
    assert _sent(metrics, "webhook", "failed") == 2  # the escape (the repeat is a duplicate)
    assert _sent(metrics, "webhook", "sent") == 0
    failures = [r.getMessage() for r in caplog.records if "could not be sent" in r.getMessage()]
    assert len(failures) == 2
    assert any("after 2 attempts: ConnectError" in f for f in failures)
    assert any("after 2 attempts: timed out" in f for f in failures)


async def test_shutdown_gives_up_on_a_send_that_hangs(caplog: pytest.LogCaptureFixture) -> None:
    """aclose() waits at most drain_timeout for a hung send, then cancels it and counts
    it as failed."""
    metrics = Metrics()
    event = AlertEvent("failing", "warning", "data", "main", _now(), "data: failing")
    with _silent_port() as silent:
        alerter = Alerter(
            [WebhookSink(silent, None)], send_timeout=60, drain_timeout=0.2, metrics=metrics
        )
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            started = time.monotonic()
            async with _sending(alerter):
                alerter.submit(event)
            assert time.monotonic() - started < 5
    assert _sent(metrics, "webhook", "failed") == 1
    assert "cancelled at shutdown" in caplog.text


async def test_a_sink_that_raises_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    """A sink whose request() raises is logged and counted; the others still send."""

    class Broken(WebhookSink):
        async def request(self, event: AlertEvent) -> httpx.Request:
            raise SinkError("cannot build")

    url = "https://ops.example.com/hooks/git"
    metrics = Metrics()
    event = AlertEvent("failing", "warning", "data", "main", _now(), "data: failing")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(200))
        sinks = [Broken(url, None), WebhookSink(url, None)]
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            async with _sending(Alerter(sinks, metrics=metrics)) as alerter:
                alerter.submit(event)
    assert route.call_count == 1
    assert _sent(metrics, "webhook", "failed") == 1
    assert _sent(metrics, "webhook", "sent") == 1
    assert "cannot build" in caplog.text


# --- configuration --------------------------------------------------------------------

CONFIG = """
[alerts]
failure_threshold = 2
dedupe_interval = 60
[[alerts.slack]]
webhook_url_env = "SLACK_WEBHOOK_URL"
min_severity = "warning"
[[alerts.webhook]]
url = "https://ops.example.com/hooks/git"
secret_env = "ALERT_WEBHOOK_SECRET"
[[alerts.pull_request]]
provider = "github"
api_url = "https://api.github.com"
project = "org/data"
token_env = "GITHUB_TOKEN"
"""
ENV = {
    "SLACK_WEBHOOK_URL": SLACK_URL,
    "ALERT_WEBHOOK_SECRET": "whs",
    "GITHUB_TOKEN": "ght",
}


def test_the_alerts_table_builds_the_sinks() -> None:
    """The README's [alerts] example gives a Slack, a webhook and a pull-request sink."""
    table = tomllib.loads(CONFIG)["alerts"]
    slack, webhook, pull = sinks_from_mapping(table, ENV)
    assert isinstance(slack, SlackSink)
    assert slack.min_severity == "warning"
    assert isinstance(webhook, WebhookSink)
    assert webhook.url == "https://ops.example.com/hooks/git"
    assert isinstance(pull, PullRequestSink)
    assert (pull.provider, pull.project, pull.token_env) == ("github", "org/data", "GITHUB_TOKEN")
    config = AlertConfig.from_mapping(table, ENV)
    assert (config.failure_threshold, config.dedupe_interval) == (2, 60.0)
    alerter = Alerter.from_config(config)
    assert alerter.failure_threshold == 2
    assert "ght" not in repr(config) + slack.describe() + webhook.describe() + pull.describe()
    assert "s3cretpath" not in slack.describe()


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        ({"failure_threshold": 0}, "alerts.failure_threshold"),
        ({"dedupe_interval": "5m"}, "alerts.dedupe_interval"),
        ({"colour": "red"}, "alerts.colour"),
        ({"slack": [{"webhook_url": SLACK_URL}]}, "alerts.slack[0].webhook_url"),
        ({"slack": [{"webhook_url_env": "UNSET"}]}, "alerts.slack[0].webhook_url_env"),
        (
            {"slack": [{"webhook_url_env": "SLACK_WEBHOOK_URL", "min_severity": "loud"}]},
            "alerts.slack[0].min_severity",
        ),
        ({"webhook": [{"url": "ftp://x"}]}, "alerts.webhook[0].url"),
        ({"webhook": [{}]}, "alerts.webhook[0].url"),
        (
            {"pull_request": [{"provider": "svn", "project": "o/r", "token_env": "GITHUB_TOKEN"}]},
            "alerts.pull_request[0].provider",
        ),
        (
            {
                "pull_request": [
                    {"provider": "gitea", "project": "o/r", "token_env": "GITHUB_TOKEN"}
                ]
            },
            "alerts.pull_request[0].api_url",
        ),
        (
            {
                "pull_request": [
                    {"provider": "github", "project": "data", "token_env": "GITHUB_TOKEN"}
                ]
            },
            "alerts.pull_request[0].project",
        ),
        (
            {"pull_request": [{"provider": "github", "project": "o/r"}]},
            "alerts.pull_request[0].token_env",
        ),
        ({"hosts": {"git.example.com": "svn"}}, "alerts.hosts.git.example.com"),
    ],
)
def test_bad_alert_configuration_names_the_key(edit: dict[str, Any], key: str) -> None:
    """Each malformed entry raises ConfigError naming the offending key."""
    with pytest.raises(ConfigError) as caught:
        sinks_from_mapping(edit, ENV)
    assert str(caught.value).startswith(f"{key}:"), str(caught.value)


def test_plugin_sends_an_alert_for_an_escape_at_boot(path_world: World) -> None:
    """Configured through PluginConfig, an escape during the boot run reaches the sink."""
    import respx as respx_module
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from plugin import AlertConfig, PluginConfig, ReconcilePlugin, RepoConfig, WebhookSink

    world = path_world
    app_repo = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    world.commit(app_repo, {"data.txt": "local\n"}, "local edit")
    config = PluginConfig(
        repos=(RepoConfig("data", app_repo, poll_interval=0),),
        alerts=AlertConfig(sinks=(WebhookSink("https://ops.example.invalid/hook", "k3y"),)),
    )
    plugin = ReconcilePlugin(config)
    app = Starlette(routes=[plugin.mount("/r")], lifespan=plugin.lifespan())
    with respx_module.mock(assert_all_called=True) as mock:
        route = mock.post("https://ops.example.invalid/hook").respond(204)
        with TestClient(app):
            pass  # shutdown drains the alert queue
    [call] = route.calls
    sent = json.loads(call.request.content)
    assert (sent["kind"], sent["repo"]) == ("conflict-escaped", "data")
    assert sent["details"]["conflict_branch"].startswith("conflicts/")
    assert call.request.headers["X-Signature"] == sign_sha256("k3y", call.request.content)
