"""GitHub App credentials: an RS256 JWT from the app's key, exchanged for an
installation token at a real local token endpoint, which the HTTP git server then
accepts; cached, minted again near its expiry, the key file read anew each time;
GitHub's refusals (mocked with respx) become the right errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from gitutil import git
from servers.github_app import TokenEndpoint, rsa_key
from servers.httpgit import HTTPGitServer

from reconcile import (
    AuthenticationError,
    GitHubApp,
    InvalidSpecError,
    NetworkError,
    Outcome,
    PushStatus,
    RepoSpec,
    reconcile,
)

INSTALLATION = 4242
APP_ID = "123456"


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, bytes]:
    """An app's private key file and its public key."""
    path = tmp_path / "app.pem"
    return path, rsa_key(path)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[HTTPGitServer]:
    """The HTTP git server, accepting only x-access-token with the issued token."""
    root = tmp_path / "served"
    root.mkdir()
    git(root, "init", "-q", "--bare", "-b", "main", "data.git")
    with HTTPGitServer(root, username="x-access-token", password="not-issued-yet") as server:
        yield server


def _endpoint(public: bytes, server: HTTPGitServer, **kwargs: object) -> TokenEndpoint:
    def issue(token: str) -> None:
        server.password = token  # the git host accepts the token it just issued

    return TokenEndpoint(public, APP_ID, INSTALLATION, on_issue=issue, **kwargs)  # type: ignore[arg-type]


def _clone(tmp_path: Path, server: HTTPGitServer) -> Path:
    remote = server.root / "data.git"
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(remote), str(seed))
    (seed / "data.txt").write_text("1\n")
    git(seed, "add", "data.txt")
    git(seed, "commit", "-q", "-m", "seed")
    git(seed, "push", "-q", "origin", "main")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(remote), str(clone))
    git(clone, "remote", "set-url", "origin", server.url(remote))
    return clone


def test_an_installation_token_reads_and_pushes_and_is_cached(
    tmp_path: Path, key: tuple[Path, bytes], served: HTTPGitServer
) -> None:
    """The app's JWT (RS256, its issuer, iat in the past, exp within ten minutes) buys
    a token that the git server accepts for a fetch and a push; a second run reuses the
    cached token; the token appears nowhere in the result."""
    path, public = key
    clone = _clone(tmp_path, served)
    (clone / "mine.txt").write_text("local\n")
    git(clone, "add", "mine.txt")
    git(clone, "commit", "-q", "-m", "local")
    with _endpoint(public, served) as endpoint:
        app = GitHubApp(INSTALLATION, path, app_id=APP_ID, api_url=endpoint.url)
        spec = RepoSpec(clone, credentials=app, timeout=10)
        first = reconcile(spec)
        assert (first.outcome, first.push.status) == (Outcome.PUSHED_AHEAD, PushStatus.OK)
        assert reconcile(spec).outcome is Outcome.IN_SYNC
    [issued] = endpoint.issued
    assert issued.status == 201
    assert issued.claims is not None
    assert issued.claims["iss"] == APP_ID
    assert app.token_requests == 1
    assert issued.token is not None
    assert issued.token not in str(first.to_dict())


def test_a_token_near_its_expiry_is_minted_again(
    tmp_path: Path, key: tuple[Path, bytes], served: HTTPGitServer
) -> None:
    """A token with less than refresh_margin left is replaced before the connection,
    so the server, which accepts only the newest token, keeps answering."""
    path, public = key
    clone = _clone(tmp_path, served)
    with _endpoint(public, served, lifetime=120.0) as endpoint:
        app = GitHubApp(INSTALLATION, path, app_id=APP_ID, api_url=endpoint.url)
        for _ in range(2):
            assert reconcile(RepoSpec(clone, credentials=app, timeout=10)).ok
    assert [i.token for i in endpoint.issued] == ["ghs_test0001token", "ghs_test0002token"]


def test_a_rotated_key_file_is_read_for_the_next_token(
    tmp_path: Path, key: tuple[Path, bytes], served: HTTPGitServer
) -> None:
    """The key file is read whenever a token is minted: after the operator rotates the
    key (GitHub now knows only the new one), the next token is signed with it, no
    restart needed; a stale key file is refused as an auth failure naming the fix."""
    path, public = key
    clone = _clone(tmp_path, served)
    with _endpoint(public, served, lifetime=120.0) as endpoint:
        app = GitHubApp(INSTALLATION, path, app_id=APP_ID, api_url=endpoint.url)
        assert reconcile(RepoSpec(clone, credentials=app, timeout=10)).ok
        endpoint.public_key = rsa_key(tmp_path / "new.pem")  # GitHub has the new key only
        stale = reconcile(RepoSpec(clone, credentials=app, timeout=10))
        assert stale.outcome is Outcome.FETCH_FAILED
        assert [op.code for op in stale.operations] == ["auth"]
        assert "HTTP 401" in stale.reason
        assert "private key" in stale.reason
        (tmp_path / "new.pem").replace(path)
        assert reconcile(RepoSpec(clone, credentials=app, timeout=10)).ok
    assert [i.status for i in endpoint.issued] == [201, 401, 201]


def test_a_client_id_is_the_issuer(tmp_path: Path, key: tuple[Path, bytes]) -> None:
    """With a client id instead of an app id, the JWT names the client id as issuer."""
    path, public = key
    with TokenEndpoint(public, "Iv1.abc123", INSTALLATION) as endpoint:
        app = GitHubApp(INSTALLATION, path, client_id="Iv1.abc123", api_url=endpoint.url)
        assert app.secret() == "ghs_test0001token"


def test_the_app_needs_one_identity_and_a_numeric_installation(tmp_path: Path) -> None:
    """app_id and client_id are exclusive (one is required), the installation id is a
    number, and the API URL is http(s)."""
    key = tmp_path / "k.pem"
    with pytest.raises(InvalidSpecError, match="exactly one of app_id or client_id"):
        GitHubApp(1, key)
    with pytest.raises(InvalidSpecError, match="exactly one"):
        GitHubApp(1, key, app_id=1, client_id="x")
    with pytest.raises(InvalidSpecError, match="installation_id"):
        GitHubApp("one", key, app_id=1)
    with pytest.raises(InvalidSpecError, match="api_url"):
        GitHubApp(1, key, app_id=1, api_url="ftp://x")
    with pytest.raises(InvalidSpecError, match="cannot read the GitHub App key"):
        GitHubApp(1, key, app_id=1).secret()
    key.write_text("not a key\n")
    with pytest.raises(InvalidSpecError, match="not a PEM RSA private key"):
        GitHubApp(1, key, app_id=1).secret()


# --- GitHub's error answers (respx) ------------------------------------------------------

API = "https://github.example/api/v3"
TOKENS = f"{API}/app/installations/{INSTALLATION}/access_tokens"


def _app(key: tuple[Path, bytes]) -> GitHubApp:
    return GitHubApp(INSTALLATION, key[0], app_id=APP_ID, api_url=API)


@pytest.mark.parametrize(
    ("response", "code", "transient", "words"),
    [
        (httpx.Response(401, json={"message": "Bad credentials"}), "auth", False, "app id"),
        (httpx.Response(404, json={"message": "Not Found"}), "auth", False, "installation 4242"),
        (httpx.Response(403, json={"message": "Resource not accessible"}), "auth", False, "403"),
        (
            httpx.Response(
                403,
                headers={"x-ratelimit-remaining": "0"},
                json={"message": "API rate limit exceeded"},
            ),
            "rate-limited",
            True,
            "rate limit",
        ),
        (httpx.Response(429, json={"message": "slow down"}), "rate-limited", True, "429"),
        (httpx.Response(502, text="<html>bad gateway</html>"), "server-error", True, "502"),
        (httpx.Response(201, json={"unexpected": True}), "server-error", True, "without a token"),
    ],
    ids=["401", "404", "403", "rate-limit", "429", "502", "malformed"],
)
def test_githubs_refusals_become_classified_errors(
    key: tuple[Path, bytes], response: httpx.Response, code: str, transient: bool, words: str
) -> None:
    """Each of GitHub's error shapes is an error with the code and retry verdict a run
    acts on, and GitHub's own message in it."""
    with respx.mock(assert_all_called=True) as mock:
        mock.post(TOKENS).mock(return_value=response)
        with pytest.raises(NetworkError) as raised:
            _app(key).secret()
    assert (raised.value.code, raised.value.transient) == (code, transient)
    assert isinstance(raised.value, AuthenticationError) == (code == "auth")
    assert words in str(raised.value)


def test_an_unreachable_api_is_transient(key: tuple[Path, bytes]) -> None:
    """A connection that fails or times out is a transient error a run retries."""
    with respx.mock() as mock:
        mock.post(TOKENS).mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(NetworkError) as refused:
            _app(key).secret()
        mock.post(TOKENS).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(NetworkError) as slow:
            _app(key).secret()
    assert (refused.value.code, refused.value.transient) == ("connection", True)
    assert (slow.value.code, slow.value.transient) == ("timeout", True)


def test_enterprise_api_url_and_headers(key: tuple[Path, bytes]) -> None:
    """The token is asked of the configured API (GitHub Enterprise Server) with the
    app's JWT as bearer and GitHub's versioned media type."""
    with respx.mock() as mock:
        route = mock.post(TOKENS).mock(
            return_value=httpx.Response(
                201, json={"token": "ghs_x", "expires_at": "2099-01-01T00:00:00Z"}
            )
        )
        app = _app(key)
        assert app.secret() == "ghs_x"
        assert app.secret() == "ghs_x"
    [call] = route.calls
    assert call.request.headers["Authorization"].startswith("Bearer ey")
    assert call.request.headers["Accept"] == "application/vnd.github+json"
    assert call.request.headers["X-GitHub-Api-Version"] == "2022-11-28"
