"""HTTP(S) remotes against a real smart-HTTP server (git http-backend) on loopback."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import World, git, rev
from servers.httpgit import HTTPGitServer

from reconcile import HTTPAuth, Outcome, PushStatus, RepoSpec, Retry, reconcile

FAST = Retry(attempts=4, initial=0.01, multiplier=2, max_delay=0.05)
TOKEN = "glpat-s3cret-token-value"


@pytest.fixture
def http_world(tmp_path: Path) -> Iterator[tuple[World, HTTPGitServer]]:
    """A bare remote served over HTTP with a bearer token and a user/password."""
    world = World(tmp_path)
    world.seed()
    with HTTPGitServer(tmp_path, token=TOKEN, username="deploy", password=TOKEN) as server:
        world.transport = "http"
        yield world, server


def _clone(world: World, server: HTTPGitServer, name: str = "app") -> Path:
    app = world.clone(name)
    git(app, "remote", "set-url", "origin", server.url(world.remote))
    return app


def _token_file(tmp_path: Path, value: str = TOKEN) -> Path:
    path = tmp_path / "token"
    path.write_text(value + "\n")
    return path


def test_fetch_and_push_with_a_bearer_token(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path
) -> None:
    """A token read from a file and sent as a bearer header fetches and pushes."""
    world, server = http_world
    app = _clone(world, server)
    world.remote_commit({"r.txt": "r\n"}, "remote")
    world.commit(app, {"l.txt": "l\n"}, "local")
    auth = HTTPAuth(password_file=_token_file(tmp_path), bearer=True)
    result = reconcile(RepoSpec(app, credentials=auth, timeout=10))
    assert result.outcome is Outcome.REBASED, result.reason
    assert result.push.status is PushStatus.OK
    assert world.remote_tip() == rev(app, "main")
    assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _m, _p, h in server.requests)
    assert all(TOKEN not in path for _m, path, _h in server.requests)
    assert TOKEN not in (app / ".git" / "config").read_text()


def test_fetch_and_push_with_basic_auth(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path
) -> None:
    """A user name and token answer the server's Basic challenge."""
    world, server = http_world
    app = _clone(world, server)
    world.commit(app, {"l.txt": "l\n"}, "local")
    auth = HTTPAuth(username="deploy", password_file=_token_file(tmp_path))
    result = reconcile(RepoSpec(app, credentials=auth, timeout=10))
    assert result.outcome is Outcome.PUSHED_AHEAD, result.reason
    assert result.push.status is PushStatus.OK
    assert TOKEN not in repr(result)
    assert TOKEN not in repr(auth)


@pytest.mark.parametrize("bearer", [True, False])
def test_wrong_token_is_a_permanent_auth_failure(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path, bearer: bool
) -> None:
    """A refused token fails the fetch once, classified auth, without the token in the reason."""
    world, server = http_world
    app = _clone(world, server)
    auth = HTTPAuth(username="deploy", password_file=_token_file(tmp_path, "wrong"), bearer=bearer)
    result = reconcile(RepoSpec(app, credentials=auth, timeout=10, retry=FAST))
    assert result.outcome is Outcome.FETCH_FAILED
    [fetch] = result.operations
    assert (fetch.attempts, fetch.code) == (1, "auth")
    assert "wrong" not in result.reason


def test_rotated_token_file_is_read_at_each_run(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path
) -> None:
    """Replacing the token file takes effect at the next run, with the same spec."""
    world, server = http_world
    app = _clone(world, server)
    token_file = _token_file(tmp_path)
    spec = RepoSpec(app, credentials=HTTPAuth(password_file=token_file, bearer=True), timeout=10)
    assert reconcile(spec).outcome is Outcome.IN_SYNC
    server.token = "rotated-token"
    assert reconcile(spec).outcome is Outcome.FETCH_FAILED
    token_file.write_text("rotated-token\n")
    assert reconcile(spec).outcome is Outcome.IN_SYNC


@pytest.mark.parametrize("status", [503, 502, 500, 429])
def test_server_errors_then_success_are_retried(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path, status: int
) -> None:
    """5xx and 429 answers are transient: the fetch is retried until it succeeds."""
    world, server = http_world
    app = _clone(world, server)
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    server.fail_status = status
    server.fail_next = 2
    auth = HTTPAuth(password_file=_token_file(tmp_path), bearer=True)
    result = reconcile(RepoSpec(app, credentials=auth, timeout=10, retry=FAST))
    assert result.outcome is Outcome.FAST_FORWARDED, result.reason
    assert rev(app, "main") == new
    assert result.operations[0].attempts == 3


def test_missing_repository_is_not_retried(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path
) -> None:
    """A 404 is permanent: one attempt, classified not-found."""
    world, server = http_world
    app = _clone(world, server)
    git(app, "remote", "set-url", "origin", f"http://127.0.0.1:{server.port}/absent.git")
    auth = HTTPAuth(password_file=_token_file(tmp_path), bearer=True)
    result = reconcile(RepoSpec(app, credentials=auth, timeout=10, retry=FAST))
    assert result.outcome is Outcome.FETCH_FAILED
    assert (result.operations[0].attempts, result.operations[0].code) == (1, "not-found")


def test_hanging_http_server_times_out(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path
) -> None:
    """A request the server never answers ends in fetch-failed after the timeout."""
    world, server = http_world
    app = _clone(world, server)
    server.hang_next = 5
    auth = HTTPAuth(password_file=_token_file(tmp_path), bearer=True)
    result = reconcile(
        RepoSpec(app, credentials=auth, timeout=0.5, retry=Retry(attempts=2, initial=0.01))
    )
    assert result.outcome is Outcome.FETCH_FAILED
    assert result.operations[0].code == "timeout"


def test_protected_branch_over_http(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path
) -> None:
    """A declining pre-receive hook over HTTP gives push rejected, reason protected-branch."""
    world, server = http_world
    app = _clone(world, server)
    world.commit(app, {"l.txt": "l\n"}, "local")
    hook = world.remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\necho 'GitLab: You are not allowed to push code to protected "
        "branches on this project.' >&2\nexit 1\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    before = world.remote_tip()
    auth = HTTPAuth(password_file=_token_file(tmp_path), bearer=True)
    result = reconcile(RepoSpec(app, credentials=auth, timeout=10, retry=FAST))
    assert result.push.status is PushStatus.REJECTED
    assert result.push.reason == "protected-branch"
    assert world.remote_tip() == before


def test_token_file_gone_is_an_auth_failure(
    http_world: tuple[World, HTTPGitServer], tmp_path: Path
) -> None:
    """A token file that cannot be read fails the fetch as auth, naming the file."""
    world, server = http_world
    app = _clone(world, server)
    missing = tmp_path / "no-such-token"
    result = reconcile(RepoSpec(app, credentials=HTTPAuth(password_file=missing), timeout=10))
    assert result.outcome is Outcome.FETCH_FAILED
    assert str(missing) in result.reason
    assert result.operations[0].code == "auth"
