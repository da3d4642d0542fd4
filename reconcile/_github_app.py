"""GitHub App credentials for HTTPS remotes: an installation token, minted on demand.

At each connection the session asks ``GitHubApp.secret()`` for a token. A cached
token is returned while it has more than ``refresh_margin`` seconds to live;
otherwise the app's private key is read from its file (so a rotated key needs no
restart), an RS256 JWT is signed with it (``iss`` the app id or client id, ``iat``
a minute in the past against clock drift, ``exp`` nine minutes ahead: GitHub takes
at most ten), and exchanged at ``POST {api_url}/app/installations/{id}/access_tokens``
for an installation token, which git sends as the password of ``x-access-token``.

GitHub's answers become git-reconcile's errors: 401, 403 and 404 (a wrong key, app
id or installation id, a suspended app) are ``AuthenticationError``; rate limiting
(429, or 403 with no requests left) and 5xx are transient ``NetworkError`` that the
run's retries try again; a connection that fails or times out too.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._errors import AuthenticationError, InvalidSpecError, NetworkError

if TYPE_CHECKING:
    import httpx

__all__ = ["GITHUB_API", "GitHubApp"]

GITHUB_API = "https://api.github.com"
_JWT_PAST = 60  # seconds: iat is set back this much, as GitHub recommends
_JWT_LIFETIME = 540  # seconds after now; GitHub refuses more than 600
_MAX_MESSAGE = 200


@dataclass
class _Minted:
    token: str
    expires_at: float


@dataclass
class _Cache:
    """The current installation token of one ``GitHubApp``, shared by its threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    minted: _Minted | None = None
    requests: int = 0  # tokens asked of GitHub so far


@dataclass(frozen=True)
class GitHubApp:
    """A GitHub App installation's credentials, for ``https://`` remotes on GitHub or
    GitHub Enterprise Server.

    Give ``app_id`` or ``client_id`` (either identifies the app as the JWT's issuer),
    the ``installation_id`` of the app on the repository's owner, and the app's
    ``private_key_file`` (PEM). ``api_url`` is ``https://api.github.com``, or
    ``https://HOST/api/v3`` for GitHub Enterprise Server. Tokens are cached and
    minted again ``refresh_margin`` seconds before they expire; ``timeout`` bounds
    each call to the API. Nothing secret appears in ``repr()``.
    """

    installation_id: int | str
    private_key_file: Path
    app_id: int | str | None = None
    client_id: str | None = None
    api_url: str = GITHUB_API
    username: str = "x-access-token"
    refresh_margin: float = 300.0
    timeout: float = 30.0
    _cache: _Cache = field(default_factory=_Cache, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.app_id is None) == (self.client_id is None):
            raise InvalidSpecError("GitHubApp needs exactly one of app_id or client_id")
        if not str(self.installation_id).isdigit():
            raise InvalidSpecError(
                f"installation_id must be a number, not {self.installation_id!r}"
            )
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidSpecError(f"api_url {self.api_url!r} is not an http(s) URL")
        if not 0 <= self.refresh_margin < 3000:
            raise InvalidSpecError("refresh_margin must be between 0 and 3000 seconds")

    @property
    def bearer(self) -> bool:
        """Installation tokens answer the Basic challenge, as ``x-access-token``."""
        return False

    @property
    def token_requests(self) -> int:
        """How many tokens were asked of GitHub so far (the rest came from the cache)."""
        return self._cache.requests

    def secret(self) -> str:
        """A valid installation token: the cached one, or a new one from GitHub."""
        cache = self._cache
        with cache.lock:
            minted = cache.minted
            if minted is None or minted.expires_at - time.time() <= self.refresh_margin:
                cache.requests += 1
                minted = cache.minted = self._mint()
            return minted.token

    def app_jwt(self, now: float | None = None) -> str:
        """The RS256 JWT that authenticates the app itself, from the key file as it is now."""
        path = Path(os.path.expanduser(self.private_key_file))
        try:
            key = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidSpecError(
                f"cannot read the GitHub App key from {path}: {exc.strerror}"
            ) from None
        issued = int(time.time() if now is None else now)
        claims = {
            "iat": issued - _JWT_PAST,
            "exp": issued + _JWT_LIFETIME,
            "iss": str(self.app_id if self.app_id is not None else self.client_id),
        }
        # PyJWT (and the cryptography it signs with, about 70 ms to import) loads
        # when a token is first minted: a run with any other credential never needs it.
        import jwt  # noqa: PLC0415

        try:
            return jwt.encode(claims, key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise InvalidSpecError(
                f"{path} is not a PEM RSA private key (a GitHub App's key)"
            ) from None

    def _mint(self) -> _Minted:
        # httpx loads when a token is first needed: `import reconcile` (and the command
        # line's --help) stays light.
        import httpx  # noqa: PLC0415

        url = f"{self.api_url.rstrip('/')}/app/installations/{self.installation_id}/access_tokens"
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {self.app_jwt()}",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "git-reconcile",
        }
        try:
            response = httpx.post(url, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException:
            raise NetworkError(
                f"GitHub's API at {self.api_url} did not answer within {self.timeout:g}s",
                kind="auth",
                code="timeout",
                transient=True,
            ) from None
        except httpx.TransportError as exc:
            raise NetworkError(
                f"GitHub's API at {self.api_url} could not be reached: {type(exc).__name__}",
                kind="auth",
                code="connection",
                transient=True,
            ) from None
        return self._minted(response)

    def _minted(self, response: httpx.Response) -> _Minted:
        if response.status_code in (200, 201):
            body = _json(response)
            token, expires = body.get("token"), body.get("expires_at")
            if isinstance(token, str) and token and isinstance(expires, str):
                try:
                    return _Minted(token, datetime.fromisoformat(expires).timestamp())
                except ValueError:
                    pass
            raise NetworkError(
                "GitHub's API answered without a token and its expiry",
                kind="auth",
                code="server-error",
                transient=True,
            )
        raise self._refusal(response)

    def _refusal(self, response: httpx.Response) -> NetworkError:
        status = response.status_code
        said = _message(response)
        if status == 429 or (
            status == 403 and response.headers.get("x-ratelimit-remaining") == "0"
        ):
            return NetworkError(
                f"GitHub's API is rate limiting the app (HTTP {status}): {said}",
                kind="auth",
                code="rate-limited",
                transient=True,
            )
        if status >= 500:
            return NetworkError(
                f"GitHub's API failed (HTTP {status}): {said}",
                kind="auth",
                code="server-error",
                transient=True,
            )
        hint = {
            401: "check the app id (or client id) and that the key file holds the app's "
            "current private key",
            403: "the app may be suspended, or not allowed to create installation tokens",
            404: f"no installation {self.installation_id} of this app: check the installation "
            "id, and that the app is installed on the repository's owner",
        }.get(status, "GitHub refused the request")
        return AuthenticationError(
            f"GitHub refused an installation token (HTTP {status}: {said}); {hint}",
            kind="auth",
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message(response: httpx.Response) -> str:
    """GitHub's own words, clipped: its ``message`` field, or the start of the body."""
    text = _json(response).get("message")
    if not isinstance(text, str):
        text = response.text
    text = " ".join(text.split())
    return (
        (text[: _MAX_MESSAGE - 3] + "...") if len(text) > _MAX_MESSAGE else (text or "no message")
    )
