"""The alerts of finished runs: events derived from real runs (escapes, blocked runs,
protected pushes, failure streaks), their JSON document, redaction, and the links to
the conflict branch on each host."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from alertutil import (
    GITHUB_REMOTE,
    NO_STREAK,
    TIME,
    escape_event,
    finished,
    make_blocked,
    make_escape,
)
from gitutil import World, git

import plugin
import plugin.alerts
from plugin.alerts import Streak, branch_url, events_for, web_url
from reconcile import Outcome, PushResult, PushStatus, Result, reconcile


def test_the_package_exports_what_it_names() -> None:
    """Every name in plugin.alerts.__all__ exists, and plugin's alert names are the same
    objects."""
    missing = [n for n in plugin.alerts.__all__ if not hasattr(plugin.alerts, n)]
    assert missing == []
    for name in ("AlertConfig", "AlertEvent", "Alerter", "PullRequestSink", "Sink"):
        assert getattr(plugin, name) is getattr(plugin.alerts, name)
    assert plugin.SlackSink is plugin.alerts.SlackSink
    assert plugin.WebhookSink is plugin.alerts.WebhookSink


def test_a_conflict_escape_gives_one_critical_event_with_every_detail(
    path_world: World,
) -> None:
    """A real escape yields one critical conflict-escaped event naming the branch, both
    heads, the conflicting files, the escaped commits and a link on the host."""
    escape = make_escape(path_world)
    result = escape.result
    events = events_for("data", finished(result), NO_STREAK, remote_url=GITHUB_REMOTE)
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
    event = escape_event(path_world)
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
    (blocked,) = events_for("data", finished(make_blocked(path_world)), NO_STREAK)
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
    (protected,) = events_for("data", finished(rejected), Streak(0, 1, 3))
    assert (protected.kind, protected.severity) == ("push-protected", "critical")
    assert message in protected.summary
    assert protected.details.push_reason == "protected-branch"
    assert protected.commit == ahead.new_commit


def test_every_string_is_redacted() -> None:
    """Credentials in an error or a reason never reach an event."""
    error = (
        "fetch of https://bob:hunter2@git.example.com/data.git?access_token=tok-5ecret-zq9 failed"
    )
    (event,) = events_for("data", finished(None, error=error), Streak(0, 1, 1))
    assert event.kind == "failing"
    text = json.dumps(event.to_dict())
    assert "hunter2" not in text
    assert "tok-5ecret-zq9" not in text
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
    blocked = make_blocked(world)
    runs = [
        finished(failed),
        finished(None, error="repository lock timed out"),
        finished(blocked),
        finished(failed),
        finished(failed),
        finished(ok),
        finished(ok),
    ]
    streak, seen = Streak(0, 0, threshold), []
    for record in runs:
        streak = Streak.after_run(streak.after, record, threshold)
        kinds = [e.kind for e in events_for("data", record, streak)]
        seen.append((streak.after, [k for k in kinds if k in ("failing", "recovered")]))
    streaks = [s for s, _ in seen]
    assert streaks == [1, 2, 3, 4, 5, 0, 0]
    failing_at = [i for i, (_, kinds) in enumerate(seen) if kinds == ["failing"]]
    assert failing_at == [streaks.index(threshold)]
    assert seen[5][1] == ["recovered"]
    assert seen[6][1] == []
    (recovered,) = [
        e for e in events_for("data", runs[5], Streak(5, 0, threshold)) if e.kind == "recovered"
    ]
    assert (recovered.severity, recovered.summary) == (
        "info",
        "data: main recovered after 5 failed runs",
    )


def test_a_failure_streak_below_the_threshold_does_not_recover() -> None:
    """A success after fewer than N failures is not news."""
    ok = Result(repo="/srv/data", remote="origin", branch="main", outcome=Outcome.IN_SYNC)
    assert events_for("data", finished(ok), Streak(2, 0, 3)) == []


def test_a_threshold_below_one_is_refused() -> None:
    """A failure streak cannot be alerted at zero runs: Streak says which field is wrong."""
    with pytest.raises(ValueError, match=r"^threshold: must be at least 1, not 0$"):
        Streak(0, 1, 0)


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
