"""Structured log lines, and credentials kept out of logs, errors and results."""

from __future__ import annotations

import json
import logging

import pytest
from gitutil import World, git

from reconcile import Outcome, reconcile, redact_text, redact_url


def test_conflict_escape_logs_an_error_naming_the_branch(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A conflict escape logs at error level, with the branch in the message and the fields."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "r")
    world.commit(app, {"data.txt": "local\n"}, "l")
    with caplog.at_level(logging.INFO, logger="reconcile"):
        result = reconcile(world.spec(app))
    records = [r for r in caplog.records if r.name == "reconcile"]
    assert len(records) == 1
    record = records[0]
    assert record.levelno == logging.ERROR
    assert str(result.conflict_branch) in record.getMessage()
    fields = record.reconcile  # type: ignore[attr-defined]
    assert fields["outcome"] == "conflict-escaped"
    assert fields["conflict_branch"] == result.conflict_branch
    assert fields["repo"] == str(app)
    assert fields["old_commit"] == result.old_commit


def test_one_info_line_per_successful_run(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A run that reconciled logs one info line with its outcome and commits."""
    app = path_world.clone("app")
    with caplog.at_level(logging.INFO, logger="reconcile"):
        result = reconcile(path_world.spec(app))
    [record] = [r for r in caplog.records if r.name == "reconcile"]
    assert record.levelno == logging.INFO
    assert "outcome=in-sync" in record.getMessage()
    assert f"new_commit={result.new_commit}" in record.getMessage()


@pytest.mark.parametrize(
    "url",
    [
        "https://deploy:s3cr3t-t0ken@127.0.0.1:9/data.git",
        "http://s3cr3t-t0ken@127.0.0.1:9/data.git",
    ],
)
def test_token_in_url_never_appears(
    path_world: World, caplog: pytest.LogCaptureFixture, url: str
) -> None:
    """A token in the remote URL appears in no log line, reason or JSON result."""
    app = path_world.clone("app")
    git(app, "remote", "set-url", "origin", url)
    with caplog.at_level(logging.DEBUG):
        result = reconcile(path_world.spec(app, timeout=5))
    assert result.outcome is Outcome.FETCH_FAILED
    assert "127.0.0.1" in result.reason
    blob = json.dumps(result.to_dict()) + caplog.text + repr(result)
    assert "s3cr3t" not in blob


def test_redact_url_forms() -> None:
    """http(s) user-info is masked whole; ssh keeps the user and masks a password."""
    assert redact_url("https://user:tok@host/x.git") == "https://***@host/x.git"
    assert redact_url("https://tok@host/x.git") == "https://***@host/x.git"
    assert redact_url("ssh://git@host:22/x.git") == "ssh://git@host:22/x.git"
    assert redact_url("ssh://git:pw@host/x.git") == "ssh://git:***@host/x.git"
    assert redact_url("git@github.com:org/repo.git") == "git@github.com:org/repo.git"
    assert redact_url("/srv/data.git") == "/srv/data.git"


def test_redact_text_masks_urls_inside_messages() -> None:
    """URLs with credentials inside free text are masked, and named secrets too."""
    text = "failed to fetch https://me:p%40ss@example.com/r.git: 401 (token abc123)"
    out = redact_text(text, ("abc123",))
    assert "p%40ss" not in out
    assert "abc123" not in out
    assert "https://***@example.com/r.git" in out


def test_machine_binds_without_warnings(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """No trigger of the table collides with a fact of the run (transitions would warn)."""
    app = path_world.clone("app")
    with caplog.at_level(logging.WARNING, logger="transitions"):
        reconcile(path_world.spec(app))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("transitions")] == []


def test_tokens_in_query_parameters_are_masked() -> None:
    """Query parameters named like tokens are masked in URLs and in text."""
    assert redact_url("https://gitlab.example/r.git?private_token=abc&x=1") == (
        "https://gitlab.example/r.git?private_token=***&x=1"
    )
    assert "zzz" not in redact_text("GET https://h/r.git?access_token=zzz failed")
