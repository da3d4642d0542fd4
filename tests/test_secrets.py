"""No secret leaks: a token in the remote URL, a webhook secret and an admin token
appear in no log line, database row, metric, API answer or error message."""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import World, git
from servers.httpgit import HTTPGitServer
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugin import PluginConfig, ReconcilePlugin, RepoConfig
from reconcile import configure_logging
from webhooks import sign_sha256

TOKEN = "ghp_t0kenInTheUrl0000"
HOOK_SECRET = "whk_s3cretValue1111"
ADMIN = "adm_t0kenValue2222"


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """The test leaves the reconcile and plugin loggers as it found them."""
    loggers = [logging.getLogger(name) for name in ("reconcile", "plugin")]
    saved = [(list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for lg, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


def test_secrets_never_leak(path_world: World, tmp_path: Path) -> None:
    """Every scenario runs with secrets set; none of them shows up anywhere we write."""
    world = path_world
    logs = io.StringIO()
    configure_logging("json", level="DEBUG", stream=logs, loggers=("reconcile", "plugin"))
    database = tmp_path / "audit.sqlite3"
    answers: list[str] = []
    with HTTPGitServer(world.root, username="x-access-token", password=TOKEN) as server:
        app_repo = world.clone("app")
        tokened = server.url(world.remote).replace("http://", f"http://x-access-token:{TOKEN}@")
        git(app_repo, "remote", "set-url", "origin", tokened)
        world.commit(app_repo, {"mine.txt": "local\n"}, "local writer")  # pushed at boot
        plugin = ReconcilePlugin(
            PluginConfig(
                repos=(RepoConfig("data", app_repo, poll_interval=0),),
                admin_token=ADMIN,
                webhook_secrets={"generic-hmac": (HOOK_SECRET,)},
                database_url=f"sqlite:///{database}",
            )
        )
        app = Starlette(routes=[plugin.mount("/r")], lifespan=plugin.lifespan())
        admin = {"Authorization": f"Bearer {ADMIN}"}
        with TestClient(app) as client:
            world.remote_commit({"r.txt": "r\n"}, "remote writer")
            body = json.dumps({"ref": "refs/heads/main", "after": "b" * 40}).encode()
            for signature in (sign_sha256(HOOK_SECRET, body), sign_sha256("forged", body)):
                answers.append(
                    client.post(
                        "/r/webhooks/generic-hmac", content=body, headers={"X-Signature": signature}
                    ).text
                )
            answers.append(client.post("/r/trigger?wait=true", headers=admin).text)
            # A wrong token: the fetch fails, and the error names the URL.
            git(app_repo, "remote", "set-url", "origin", tokened.replace(TOKEN, TOKEN + "x"))
            answers.append(client.post("/r/trigger?wait=true", headers=admin).text)
            answers.append(client.post("/r/trigger", headers={"Authorization": "Bearer nope"}).text)
            for route in ("/r/status", "/r/history", "/r/repos", "/r/metrics", "/r/ready"):
                answers.append(client.get(route).text)
    assert json.loads(answers[0])["status"] == "queued"
    assert json.loads(answers[2])["result"]["outcome"] in ("in-sync", "fast-forwarded")
    assert json.loads(answers[3])["result"]["outcome"] == "fetch-failed"
    assert "***@" in answers[3]

    rows: list[str] = []
    with sqlite3.connect(database) as connection:
        for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                rows.append(" ".join(str(value) for value in row))
    assert len(rows) > 5
    everything = "\n".join([logs.getvalue(), *answers, *rows])
    assert "fetch-failed" in logs.getvalue()
    for secret in (TOKEN, HOOK_SECRET, ADMIN):
        assert secret not in everything
