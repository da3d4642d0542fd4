"""Self-test of the loopback smart-HTTP git server in ``httpgit``."""

from __future__ import annotations

import base64
import http.client
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2
import pytest
from servers.httpgit import (
    BasicAuthCallbacks,
    BearerCallbacks,
    HTTPGitServer,
    http_server_fixture,  # noqa: F401  (fixture "http_server")
)

TOKEN = "s3cret-token-0123456789"
USER, PASSWORD = "alice", "correct horse"
MAIN = "refs/heads/main:refs/heads/main"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


def git(*args: str, cwd: Path | None = None) -> str:
    """Run the git CLI and return its stdout (stripped)."""
    result = subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, check=True)
    return result.stdout.decode().strip()


def commit_file(work: Path, name: str, content: str) -> str:
    """Write a file in a work tree, commit it with the CLI, return the commit id."""
    (work / name).write_text(content)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"write {name}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def pygit2_commit(repo: pygit2.Repository, name: str, data: bytes) -> pygit2.Oid:
    """Commit a file on top of HEAD with pygit2, advancing refs/heads/main."""
    parent = repo.head.peel(pygit2.Commit)
    builder = repo.TreeBuilder(parent.tree)
    builder.insert(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    sig = pygit2.Signature("Test", "test@example.invalid")
    return repo.create_commit(
        "refs/heads/main", sig, sig, f"add {name}", builder.write(), [parent.id]
    )


def header(headers: dict[str, str], name: str) -> str | None:
    """A request header by case-insensitive name."""
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A bare repo under ``tmp_path`` with three commits on main, made by the git CLI."""
    bare = tmp_path / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    work = tmp_path / "seed"
    git("init", "-q", "-b", "main", str(work))
    for i in range(3):
        commit_file(work, f"f{i}.txt", f"content {i}\n")
    git("push", "-q", str(bare), "main", cwd=work)
    return bare


@pytest.fixture
def timeouts_1500ms() -> Iterator[None]:
    """libgit2's server_timeout and server_connect_timeout at 1500 ms, restored after."""
    old = (pygit2.settings.server_timeout, pygit2.settings.server_connect_timeout)
    pygit2.settings.server_timeout = 1500
    pygit2.settings.server_connect_timeout = 1500
    try:
        yield
    finally:
        pygit2.settings.server_timeout, pygit2.settings.server_connect_timeout = old


def test_clone_fetch_push_without_auth(
    http_server: HTTPGitServer, origin: Path, tmp_path: Path
) -> None:
    """pygit2 clones, fetches and pushes over plain HTTP when no auth is configured."""
    repo = pygit2.clone_repository(http_server.url(origin), str(tmp_path / "clone"))
    assert str(repo.head.target) == git("-C", str(origin), "rev-parse", "main")

    upstream = commit_file(tmp_path / "seed", "upstream.txt", "new\n")
    git("push", "-q", str(origin), "main", cwd=tmp_path / "seed")
    repo.remotes["origin"].fetch()
    assert str(repo.references["refs/remotes/origin/main"].target) == upstream

    repo.reset(pygit2.Oid(hex=upstream), pygit2.enums.ResetMode.HARD)
    local = pygit2_commit(repo, "local.txt", b"pushed over http\n")
    callbacks = BearerCallbacks(None)
    repo.remotes["origin"].push([MAIN], callbacks=callbacks)
    assert callbacks.push_updates == [("refs/heads/main", None)]
    assert git("-C", str(origin), "rev-parse", "main") == str(local)
    assert ("POST", "/origin.git/git-receive-pack") in {(m, p) for m, p, _ in http_server.requests}
    assert http_server.errors == []


def test_git_cli_clone_gzip_fetch_and_chunked_push(
    http_server: HTTPGitServer, origin: Path, tmp_path: Path
) -> None:
    """The git CLI clones (protocol v2), fetches with a gzip body (v0) and pushes chunked."""
    clone = tmp_path / "cli"
    git("clone", "-q", http_server.url(origin), str(clone))
    assert header(http_server.requests[0][2], "Git-Protocol") == "version=2"

    seed = tmp_path / "seed"
    tips = [commit_file(seed, "n.txt", f"{i}\n") for i in range(40)]
    # 40 new tips: the v0 want list exceeds git's 1 KiB threshold for gzipping the body
    git("push", "-q", str(origin), *(f"{t}:refs/heads/b{i}" for i, t in enumerate(tips)), cwd=seed)
    start = len(http_server.requests)
    git("-c", "protocol.version=0", "fetch", "-q", "origin", cwd=clone)
    fetched = http_server.requests[start:]
    assert any(header(h, "Content-Encoding") == "gzip" for _, _, h in fetched)
    assert git("rev-parse", "origin/b39", cwd=clone) == tips[-1]

    (clone / "big.bin").write_bytes(random.Random(7).randbytes(3_000_000))
    git("add", "big.bin", cwd=clone)
    git("commit", "-q", "-m", "big", cwd=clone)
    start = len(http_server.requests)
    git("push", "-q", "origin", "main", cwd=clone)
    assert any(
        header(h, "Transfer-Encoding") == "chunked" for _, _, h in http_server.requests[start:]
    )
    assert git("-C", str(origin), "rev-parse", "main") == git("rev-parse", "HEAD", cwd=clone)
    assert http_server.errors == []


@pytest.mark.parametrize(
    ("token", "username", "password", "challenge"),
    [
        (TOKEN, None, None, 'Bearer realm="git"'),
        (None, USER, PASSWORD, 'Basic realm="git"'),
    ],
)
@pytest.mark.usefixtures("origin")
def test_unauthenticated_request_is_challenged(
    tmp_path: Path,
    token: str | None,
    username: str | None,
    password: str | None,
    challenge: str,
) -> None:
    """Without credentials the server answers 401 with the configured WWW-Authenticate."""
    with HTTPGitServer(tmp_path, token=token, username=username, password=password) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        try:
            conn.request("GET", "/origin.git/info/refs?service=git-upload-pack")
            response = conn.getresponse()
            response.read()
        finally:
            conn.close()
    assert response.status == 401
    assert response.getheader("WWW-Authenticate") == challenge


def test_bearer_token_in_custom_header(origin: Path, tmp_path: Path) -> None:
    """A Bearer token sent via custom_headers clones, fetches and pushes; it never is in a URL."""
    with HTTPGitServer(tmp_path, token=TOKEN) as server:
        callbacks = BearerCallbacks(TOKEN)
        repo = pygit2.clone_repository(
            server.url(origin), str(tmp_path / "clone"), callbacks=callbacks
        )
        repo.remotes["origin"].fetch(callbacks=callbacks)
        pushed = pygit2_commit(repo, "x.txt", b"x\n")
        repo.remotes["origin"].push([MAIN], callbacks=callbacks)
    assert callbacks.rejected == {}
    assert git("-C", str(origin), "rev-parse", "main") == str(pushed)
    assert {(m, p.split("?")[0]) for m, p, _ in server.requests} == {
        ("GET", "/origin.git/info/refs"),
        ("POST", "/origin.git/git-upload-pack"),
        ("POST", "/origin.git/git-receive-pack"),
    }
    for _, target, headers in server.requests:
        assert header(headers, "Authorization") == f"Bearer {TOKEN}"
        assert TOKEN not in target
    assert server.errors == []


@pytest.mark.parametrize("token", [None, "wrong-token"])
def test_bearer_token_wrong_or_missing_fails(
    origin: Path, tmp_path: Path, token: str | None
) -> None:
    """A wrong or missing token gets 401 once, which libgit2 reports as an AuthError."""
    with HTTPGitServer(tmp_path, token=TOKEN) as server:
        repo = pygit2.init_repository(str(tmp_path / "local"))
        remote = repo.remotes.create("origin", server.url(origin))
        with pytest.raises(
            pygit2.AuthError, match=r"^server requires authentication that we do not support$"
        ):
            remote.fetch(callbacks=BearerCallbacks(token))
    assert len(server.requests) == 1


def test_basic_auth_right_password(origin: Path, tmp_path: Path) -> None:
    """UserPass from the credentials callback answers the Basic challenge once, then pushes."""
    with HTTPGitServer(tmp_path, username=USER, password=PASSWORD) as server:
        callbacks = BasicAuthCallbacks(USER, PASSWORD)
        repo = pygit2.clone_repository(
            server.url(origin), str(tmp_path / "clone"), callbacks=callbacks
        )
        assert callbacks.attempts == 1
        assert callbacks.allowed == [pygit2.enums.CredentialType.USERPASS_PLAINTEXT]
        pushed = pygit2_commit(repo, "x.txt", b"x\n")
        repo.remotes["origin"].push([MAIN], callbacks=callbacks)
    assert callbacks.rejected == {}
    assert git("-C", str(origin), "rev-parse", "main") == str(pushed)
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    authorizations = [header(h, "Authorization") for _, _, h in server.requests]
    assert authorizations[0] is None  # libgit2 asks only after the first 401
    assert expected in authorizations


def test_basic_auth_wrong_password_is_bounded(origin: Path, tmp_path: Path) -> None:
    """A wrong password fails after the callback's own limit, or after libgit2's 15 replays."""
    with HTTPGitServer(tmp_path, username=USER, password=PASSWORD) as server:
        repo = pygit2.init_repository(str(tmp_path / "local"))
        remote = repo.remotes.create("origin", server.url(origin))

        limited = BasicAuthCallbacks(USER, "wrong", max_attempts=3)
        with pytest.raises(pygit2.GitError, match=r"^http authentication failed after 3 attempts$"):
            remote.fetch(callbacks=limited)
        assert limited.attempts == 4  # three UserPass answers, then the raise

        unlimited = BasicAuthCallbacks(USER, "wrong", max_attempts=1000)
        with pytest.raises(
            pygit2.GitError, match=r"^too many redirects or authentication replays$"
        ):
            remote.fetch(callbacks=unlimited)
        assert unlimited.attempts == 15

        with pytest.raises(
            pygit2.AuthError, match=r"^remote authentication required but no callback set$"
        ):
            remote.fetch()


@pytest.mark.parametrize("status", [503, 500, 502, 429])
def test_fail_next_then_success(
    http_server: HTTPGitServer, origin: Path, tmp_path: Path, status: int
) -> None:
    """fail_next=2 fails the next two fetches with the status; the third succeeds."""
    repo = pygit2.init_repository(str(tmp_path / "local"))
    remote = repo.remotes.create("origin", http_server.url(origin))
    http_server.fail_status = status
    http_server.fail_next = 2
    for _ in range(2):
        with pytest.raises(pygit2.GitError, match=rf"^unexpected http status code: {status}$"):
            remote.fetch()
    remote.fetch()
    assert http_server.fail_next == 0
    assert len(http_server.requests) == 4  # two failed GETs, then GET + POST
    assert str(repo.references["refs/remotes/origin/main"].target) == git(
        "-C", str(origin), "rev-parse", "main"
    )


def test_pre_receive_hook_rejects_push(
    http_server: HTTPGitServer, origin: Path, tmp_path: Path
) -> None:
    """A pre-receive hook exiting 1 makes push return with the ref reported as rejected."""
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'denied by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = git("-C", str(origin), "rev-parse", "main")
    repo = pygit2.clone_repository(http_server.url(origin), str(tmp_path / "clone"))
    pygit2_commit(repo, "x.txt", b"x\n")
    callbacks = BearerCallbacks(None)

    repo.remotes["origin"].push([MAIN], callbacks=callbacks)

    assert callbacks.rejected == {"refs/heads/main": "pre-receive hook declined"}
    assert git("-C", str(origin), "rev-parse", "main") == before


def _run_bounded(action: str, work: Callable[[], object], server: HTTPGitServer) -> list[object]:
    """Run ``work`` in a thread; return ``[exception, seconds]`` or ``[None, seconds]``.

    If it is still running after 15 s the server is stopped (which releases
    hung requests) and the test fails instead of hanging.
    """
    outcome: list[object] = []

    def run() -> None:
        start = time.monotonic()
        try:
            work()
        except pygit2.GitError as exc:  # asserted by the caller
            outcome[:] = [exc, time.monotonic() - start]
        else:
            outcome[:] = [None, time.monotonic() - start]

    thread = threading.Thread(target=run, name=action, daemon=True)
    thread.start()
    thread.join(15)
    if thread.is_alive():
        server.stop()
        thread.join(15)
        pytest.fail(f"{action} did not time out")
    return outcome


@pytest.mark.usefixtures("timeouts_1500ms")
def test_hung_request_times_out(http_server: HTTPGitServer, origin: Path, tmp_path: Path) -> None:
    """A request the server never answers makes the fetch fail after server_timeout."""
    repo = pygit2.init_repository(str(tmp_path / "local"))
    remote = repo.remotes.create("origin", http_server.url(origin))
    http_server.hang_next = 1

    exc, seconds = _run_bounded("fetch", remote.fetch, http_server)

    assert isinstance(exc, pygit2.GitError)
    assert str(exc) == "could not read from socket: timed out"
    assert isinstance(seconds, float)
    assert 1.4 < seconds < 10
    assert http_server.hung.is_set()
    remote.fetch()  # the server itself is fine


@pytest.mark.usefixtures("timeouts_1500ms")
def test_hung_receive_pack_post_times_out_push(
    http_server: HTTPGitServer, origin: Path, tmp_path: Path
) -> None:
    """With fault_filter the hang hits only the receive-pack POST: the push times out, lands not."""
    before = git("-C", str(origin), "rev-parse", "main")
    repo = pygit2.clone_repository(http_server.url(origin), str(tmp_path / "clone"))
    pygit2_commit(repo, "x.txt", b"x\n")
    http_server.fault_filter = lambda method, path: method == "POST" and "receive-pack" in path
    http_server.hang_next = 1

    exc, _ = _run_bounded(
        "push",
        lambda: repo.remotes["origin"].push([MAIN], callbacks=BearerCallbacks(None)),
        http_server,
    )

    assert isinstance(exc, pygit2.GitError)
    assert str(exc) == "could not read from socket: timed out"
    assert [m for m, _, _ in http_server.requests[-2:]] == ["GET", "POST"]
    assert git("-C", str(origin), "rev-parse", "main") == before


def test_large_push_is_chunked(http_server: HTTPGitServer, origin: Path, tmp_path: Path) -> None:
    """200 commits of 20 KB incompressible data push completely through a chunked POST."""
    repo = pygit2.clone_repository(http_server.url(origin), str(tmp_path / "clone"))
    rng = random.Random(1234)
    tip = None
    for i in range(200):
        tip = pygit2_commit(repo, f"blob{i % 7}.bin", rng.randbytes(20_000))
    start = len(http_server.requests)
    callbacks = BearerCallbacks(None)

    repo.remotes["origin"].push([MAIN], callbacks=callbacks)

    assert callbacks.push_updates == [("refs/heads/main", None)]
    assert git("-C", str(origin), "rev-parse", "main") == str(tip)
    post = [h for m, _, h in http_server.requests[start:] if m == "POST"]
    assert [header(h, "Transfer-Encoding") for h in post] == ["chunked"]
    git("-C", str(origin), "fsck", "--strict")
    assert http_server.errors == []
    assert http_server.wait_idle()
