"""A local stand-in for GitHub's installation-token endpoint, for tests.

``TokenEndpoint`` is a real HTTP server on 127.0.0.1 answering
``POST /app/installations/<id>/access_tokens`` as GitHub does, after checking the
app's JWT the way GitHub does: RS256 only, signed by the app's public key (which a
test may swap, as when an operator rotates the key), the right issuer, ``iat`` not in
the future and ``exp`` at most ten minutes after it. A refused JWT gets GitHub's 401.
Each token it issues is handed to ``on_issue`` (a test points its git server's
password at it).

``rsa_key(path)`` writes a new RSA private key (PEM) and returns its public key.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._process import HOST

__all__ = ["Issued", "TokenEndpoint", "rsa_key"]

_MAX_JWT_LIFETIME = 600


def rsa_key(path: Path) -> bytes:
    """Write a new 2048-bit RSA private key to ``path`` (PEM); return its public key (PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass
class Issued:
    """One request the endpoint answered: its path, the JWT's claims (None when
    refused), the status and the token issued (None when refused)."""

    path: str
    claims: dict[str, Any] | None
    status: int
    token: str | None


@dataclass
class TokenEndpoint:
    """GitHub's token endpoint, on loopback. ``issuer`` is the app id (or client id)
    the JWT must name, ``installation`` the one installation it knows, ``lifetime``
    the seconds each token lives."""

    public_key: bytes
    issuer: str
    installation: int
    lifetime: float = 3600.0
    on_issue: Callable[[str], None] | None = None
    issued: list[Issued] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _count: int = 0

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{HOST}:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                status, body = endpoint._answer(self.path, self.headers.get("Authorization", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        claims = self._claims(authorization)
        if claims is None:
            self.issued.append(Issued(path, None, 401, None))
            return 401, {"message": "A JSON web token could not be decoded"}
        if path != f"/app/installations/{self.installation}/access_tokens":
            self.issued.append(Issued(path, claims, 404, None))
            return 404, {"message": "Not Found"}
        self._count += 1
        token = f"ghs_test{self._count:04d}token"
        expires = datetime.fromtimestamp(time.time() + self.lifetime, UTC)
        self.issued.append(Issued(path, claims, 201, token))
        if self.on_issue is not None:
            self.on_issue(token)
        return 201, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _claims(self, authorization: str) -> dict[str, Any] | None:
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer":
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                issuer=self.issuer,
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError:
            return None
        now = time.time()
        if claims["iat"] > now or claims["exp"] - claims["iat"] > _MAX_JWT_LIFETIME:
            return None
        return claims
