"""The sinks' requests: the exact Block Kit message Slack gets and the pull/merge
requests of GitHub, GitLab and Gitea (respx), and a signed webhook received by a real
server on loopback; which answers are retried and which are final."""

from __future__ import annotations

import hmac
import json
import logging
from pathlib import Path

import httpx
import pytest
import respx
from alertutil import (
    NO_STREAK,
    SLACK_URL,
    TIME,
    escape_event,
    finished,
    make_blocked,
    sending,
    sent,
)
from gitutil import World
from servers.receiver import receiver

from plugin._metrics import Metrics
from plugin.alerts import Alerter, PullRequestSink, SlackSink, WebhookSink, events_for
from webhooks import sign_sha256

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    """The alerter is exercised on asyncio, the loop uvicorn serves on."""
    return "asyncio"


# --- Slack ----------------------------------------------------------------------------


async def test_slack_gets_a_block_kit_message_with_the_branch_link(path_world: World) -> None:
    """The Slack webhook receives exactly the Block Kit message: header, summary, repo
    and branch, the conflict branch linked on GitHub, heads, files and commits."""
    event = escape_event(path_world)
    d = event.details
    name = d.conflict_branch
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
        async with sending(Alerter([SlackSink(SLACK_URL)])) as alerter:
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
    (blocked,) = events_for("data", finished(make_blocked(path_world)), NO_STREAK)
    escape = escape_event(path_world)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(SLACK_URL).mock(return_value=httpx.Response(200, text="ok"))
        async with sending(Alerter([sink])) as alerter:
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
    event = escape_event(path_world)
    d = event.details
    assert d.conflict_branch is not None
    (blocked,) = events_for("data", finished(make_blocked(path_world)), NO_STREAK)
    sink = PullRequestSink(provider, api, project, token_env="PR_TOKEN")
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(201, json={"number": 7}))
        async with sending(Alerter([sink])) as alerter:
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
    event = escape_event(path_world)
    metrics = Metrics()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://api.github.com/repos/org/data/pulls").mock(
            return_value=httpx.Response(401, json={"message": "Bad credentials: new-token"})
        )
        with caplog.at_level(logging.INFO, logger="plugin.alerts"):
            async with sending(Alerter([sink], metrics=metrics)) as alerter:
                alerter.submit(event)
    assert route.call_count == 1
    assert route.calls.last.request.headers["authorization"] == "Bearer new-token"
    assert "new-token" not in caplog.text
    assert "Bad credentials: ***" in caplog.text
    assert sent(metrics, "pull-request", "failed") == 1


async def test_a_pull_request_that_already_exists_counts_as_sent(path_world: World) -> None:
    """GitLab's 409 for an existing merge request is success, not a failure to retry."""
    sink = PullRequestSink("gitlab", None, "org/data", token="t")
    metrics = Metrics()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://gitlab.com/api/v4/projects/org%2Fdata/merge_requests").mock(
            return_value=httpx.Response(409, json={"message": ["already exists"]})
        )
        async with sending(Alerter([sink], metrics=metrics)) as alerter:
            alerter.submit(escape_event(path_world))
    assert route.call_count == 1
    assert sent(metrics, "pull-request", "sent") == 1


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
            async with sending(Alerter([sink], metrics=metrics)) as alerter:
                alerter.submit(escape_event(path_world))
    assert route.call_count == 0
    assert "environment variable NO_SUCH_TOKEN is not set" in caplog.text
    assert sent(metrics, "pull-request", "failed") == 1


# --- the generic webhook, end to end --------------------------------------------------


async def test_the_generic_webhook_is_signed_end_to_end(path_world: World) -> None:
    """A real server on loopback receives the JSON document once, with an X-Alert-Id
    and an X-Signature that is the HMAC-SHA256 of the raw body."""
    secret = "alert-s3cret"
    event = escape_event(path_world)
    metrics = Metrics()
    async with receiver() as hook:
        sink = WebhookSink(hook.url, secret)
        async with sending(Alerter([sink], metrics=metrics)) as alerter:
            alerter.submit(event)
    (got,) = hook.received
    assert got.path == "/hooks/git"
    assert got.headers["content-type"] == "application/json; charset=utf-8"
    assert got.headers["x-alert-id"] == event.id
    assert hmac.compare_digest(got.headers["x-signature"], sign_sha256(secret, got.body))
    assert not hmac.compare_digest(got.headers["x-signature"], sign_sha256("other", got.body))
    assert json.loads(got.body) == event.to_dict()
    assert sent(metrics, "webhook", "sent") == 1
    assert sent(metrics, "webhook", "failed") == 0


async def test_a_5xx_is_retried_with_the_same_alert_id(path_world: World) -> None:
    """A 503 then a 200: delivered once, in two attempts, with the same id and body."""
    event = escape_event(path_world)
    metrics = Metrics()
    async with receiver() as hook:
        hook.statuses = [503]
        sink = WebhookSink(hook.url, "s")
        async with sending(Alerter([sink], metrics=metrics, backoff=0.01)) as alerter:
            alerter.submit(event)
    first, second = hook.received
    assert first.headers["x-alert-id"] == second.headers["x-alert-id"] == event.id
    assert first.body == second.body
    assert sent(metrics, "webhook", "sent") == 1
    assert sent(metrics, "webhook", "failed") == 0


async def test_a_4xx_is_not_retried_and_counts_as_failed(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 is final: one attempt, logged, counted as failed."""
    url = "https://ops.example.com/hooks/git?token=hidden"
    metrics = Metrics()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(url).mock(return_value=httpx.Response(400, text="bad alert"))
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            async with sending(Alerter([WebhookSink(url, None)], metrics=metrics)) as alerter:
                alerter.submit(escape_event(path_world))
    assert route.call_count == 1
    assert "after 1 attempt: HTTP 400: bad alert" in caplog.text
    assert "hidden" not in caplog.text
    assert sent(metrics, "webhook", "failed") == 1
    assert sent(metrics, "webhook", "sent") == 0
