"""A real smart-HTTP git server on loopback for tests.

``HTTPGitServer`` listens on 127.0.0.1 and serves the git repositories under a
root directory over HTTP by running ``git http-backend`` as a CGI program for
every request, so real ``git-upload-pack`` / ``git-receive-pack`` processes
run, and server-side hooks (``pre-receive`` ...) run exactly as they would
behind a real web server.  The HTTP server (stdlib ``ThreadingHTTPServer``,
HTTP/1.1 with keep-alive) runs in daemon threads so synchronous pygit2 code in
the test can talk to it.

Request bodies sent with ``Transfer-Encoding: chunked`` are de-chunked before
they reach the CGI; gzip request bodies are passed through with
``HTTP_CONTENT_ENCODING`` (http-backend inflates them itself).  Responses are
streamed back with ``Transfer-Encoding: chunked`` unless the CGI gave a
``Content-Length`` (or the client spoke HTTP/1.0: then the connection is
closed after the body).

Authentication (optional): a bearer ``token`` and/or HTTP Basic
``username``/``password``.  With both configured either one is accepted.
Pushing is always enabled (``http.receivepack=true``).

Fault injection: ``fail_next`` / ``fail_status`` answer the next N requests
with an error status, ``hang_next`` accepts the next N requests and never
answers them (until :meth:`HTTPGitServer.stop`).  ``fault_filter``, if set,
limits both to the requests it returns True for, given ``(method,
path+query)`` (e.g. only the ``git-receive-pack`` POST).

Typical use::

    with HTTPGitServer(tmp_path, token="s3cret") as srv:
        pygit2.clone_repository(srv.url(bare), str(dest), callbacks=BearerCallbacks("s3cret"))
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Protocol, Self

import pygit2
import pytest

from ._process import kill_group

__all__ = [
    "BasicAuthCallbacks",
    "BearerCallbacks",
    "HTTPGitServer",
    "Reader",
    "dechunk",
    "http_server_fixture",
    "parse_cgi_headers",
]

HOST = "127.0.0.1"
_CHUNK = 64 * 1024
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_MAX_HEADER_LINE = 64 * 1024
_REALM = "git"


# --------------------------------------------------------------------------
# pygit2 callbacks for the two authentication schemes
# --------------------------------------------------------------------------


class _RecordingCallbacks(pygit2.RemoteCallbacks):
    """Records ``push_update_reference`` calls in ``push_updates``."""

    def __init__(self) -> None:
        super().__init__()
        self.push_updates: list[tuple[str, str | None]] = []

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.push_updates.append((refname, message))

    @property
    def rejected(self) -> dict[str, str]:
        """refname -> message of every ref the remote refused."""
        return {ref: msg for ref, msg in self.push_updates if msg is not None}


class BearerCallbacks(_RecordingCallbacks):
    """pygit2 callbacks sending ``Authorization: Bearer <token>`` as a custom
    header on every request (no token in the URL, no credentials callback).

    ``token=None`` sends no header.  ``push_update_reference`` calls are
    recorded in ``push_updates``; ``rejected`` maps refname -> message.
    """

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def custom_headers(self) -> list[str] | None:
        return None if self.token is None else [f"Authorization: Bearer {self.token}"]


class BasicAuthCallbacks(_RecordingCallbacks):
    """pygit2 callbacks answering HTTP Basic challenges with
    ``pygit2.UserPass(username, password)``.

    ``attempts`` counts ``credentials`` calls; after ``max_attempts`` the
    callback raises ``pygit2.GitError`` (libgit2 otherwise asks again forever
    when the password is refused).
    """

    def __init__(self, username: str, password: str, max_attempts: int = 3) -> None:
        super().__init__()
        self.username = username
        self.password = password
        self.max_attempts = max_attempts
        self.attempts = 0
        self.allowed: list[pygit2.enums.CredentialType] = []

    def credentials(
        self,
        url: str,
        username_from_url: str | None,
        allowed_types: pygit2.enums.CredentialType,
    ) -> pygit2.UserPass:
        self.attempts += 1
        self.allowed.append(allowed_types)
        if self.attempts > self.max_attempts:
            raise pygit2.GitError(f"http authentication failed after {self.max_attempts} attempts")
        return pygit2.UserPass(username_from_url or self.username, self.password)


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------


class Reader(Protocol):
    """What :func:`dechunk` reads from (a socket's ``rfile``, a file ...)."""

    def read(self, size: int = ..., /) -> bytes: ...

    def readline(self, size: int = ..., /) -> bytes: ...


def dechunk(rfile: Reader, out: IO[bytes]) -> int:
    """Copy a ``Transfer-Encoding: chunked`` body from ``rfile`` to ``out``
    (trailers are read and dropped); return the number of body bytes.

    Raises ``ValueError`` on a malformed or truncated body.
    """
    total = 0
    while True:
        line = rfile.readline(_MAX_HEADER_LINE)
        if not line.endswith(b"\n"):
            raise ValueError("truncated chunk size line")
        size_field = line.split(b";", 1)[0].strip()
        try:
            size = int(size_field, 16)
        except ValueError:
            raise ValueError(f"bad chunk size {size_field!r}") from None
        if size < 0:
            raise ValueError(f"bad chunk size {size_field!r}")
        if size == 0:
            break
        _copy_exactly(rfile, out, size)
        total += size
        if rfile.readline(_MAX_HEADER_LINE).strip():
            raise ValueError("missing CRLF after chunk data")
    while True:  # trailers, up to the empty line
        line = rfile.readline(_MAX_HEADER_LINE)
        if not line.endswith(b"\n"):
            raise ValueError("truncated chunked trailer")
        if not line.strip():
            return total


def _copy_exactly(rfile: Reader, out: IO[bytes], size: int) -> None:
    """Copy exactly ``size`` bytes from ``rfile`` to ``out``."""
    left = size
    while left:
        data = rfile.read(min(left, _CHUNK))
        if not data:
            raise ValueError(f"body truncated: {left} of {size} bytes missing")
        out.write(data)
        left -= len(data)


def parse_cgi_headers(lines: list[bytes]) -> tuple[int, str, list[tuple[str, str]]]:
    """Parse CGI response header lines into ``(status, reason, headers)``.

    A ``Status: 404 Not Found`` line sets the status (default ``200 OK``);
    the other ``Name: value`` lines are returned in order.
    """
    status, reason = 200, "OK"
    headers: list[tuple[str, str]] = []
    for raw in lines:
        line = raw.decode("latin-1").rstrip("\r\n")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed CGI header line {line!r}")
        name, value = name.strip(), value.strip()
        if name.lower() == "status":
            code, _, text = value.partition(" ")
            status = int(code)
            reason = text or _reason(status)
        else:
            headers.append((name, value))
    return status, reason, headers


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # stop() joins the handler threads itself

    def __init__(self, owner: HTTPGitServer) -> None:
        self.owner = owner
        super().__init__((HOST, 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # client went away
            self.owner._record_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing ------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.owner._connection_opened(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._connection_closed(self.connection)

    def log_message(self, format: str, *args: object) -> None:
        pass  # requests are recorded in HTTPGitServer.requests instead

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    # -- request handling ----------------------------------------------------

    def _serve(self) -> None:
        owner = self.server.owner
        action, status = owner._admit(self.command, self.path, dict(self.headers.items()))
        if action == "hang":
            owner._stopping.wait()
            self.close_connection = True
            return
        with tempfile.TemporaryFile() as body:
            try:
                length = self._read_body(body)
            except ValueError as exc:
                self._send_plain(HTTPStatus.BAD_REQUEST, f"bad request body: {exc}\n")
                self.close_connection = True
                return
            if action == "fail":
                self._send_plain(status, f"injected failure {status}\n")
                return
            authorized, user = owner._authenticate(self.headers.get("Authorization"))
            if not authorized:
                self._send_plain(
                    HTTPStatus.UNAUTHORIZED,
                    "authentication required\n",
                    [("WWW-Authenticate", c) for c in owner._challenges()],
                )
                return
            body.seek(0)
            self._run_cgi(body, length, user)

    def _read_body(self, out: IO[bytes]) -> int:
        """Read the request body (de-chunked if need be) into ``out``."""
        encoding = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in encoding:
            return dechunk(self.rfile, out)
        raw = self.headers.get("Content-Length")
        if raw is None:
            return 0
        try:
            length = int(raw)
        except ValueError:
            raise ValueError(f"bad Content-Length {raw!r}") from None
        if length < 0:
            raise ValueError(f"bad Content-Length {raw!r}")
        _copy_exactly(self.rfile, out, length)
        return length

    def _send_plain(
        self, status: int, text: str, headers: list[tuple[str, str]] | None = None
    ) -> None:
        data = text.encode()
        self.send_response(status, _reason(status))
        for name, value in headers or []:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _run_cgi(self, body: IO[bytes], length: int, user: str | None) -> None:
        owner = self.server.owner
        env = owner._cgi_env(
            method=self.command,
            target=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            content_length=length,
            remote_user=user,
            remote_addr=self.client_address[0],
        )
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(
                [owner._backend],
                stdin=body,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=str(owner.root),
                start_new_session=True,  # own process group: killpg gets hooks too
            )
            owner._child_started(proc)
            try:
                assert proc.stdout is not None
                with proc.stdout:
                    self._relay(proc.stdout)
            finally:
                if owner._stopping.is_set():
                    kill_group(proc)
                proc.wait()
                kill_group(proc)  # leftovers (a background job of a hook ...)
                owner._child_finished(proc)
                stderr.seek(0)
                text = stderr.read().decode("utf-8", "replace")
                if text:
                    owner._record_cgi_stderr(text)

    def _relay(self, stdout: IO[bytes]) -> None:  # noqa: C901  (the CGI protocol, step by step)
        """Send the CGI's response (headers, then the streamed body)."""
        head = self._read_cgi_head(stdout)
        if head is None:
            return
        status, reason, headers = head
        has_length = any(name.lower() == "content-length" for name, _ in headers)
        chunked = not has_length and self.request_version >= "HTTP/1.1"
        self.send_response(status, reason)
        for name, value in headers:
            if name.lower() not in {"transfer-encoding", "connection"}:
                self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not has_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

        connected = self.command != "HEAD"
        while data := _read1(stdout):
            if not connected:
                continue  # keep draining so git never blocks on a full pipe
            try:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            except OSError:
                connected = False
                self.close_connection = True
        if connected and chunked:
            try:
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                self.close_connection = True

    def _read_cgi_head(self, stdout: IO[bytes]) -> tuple[int, str, list[tuple[str, str]]] | None:
        """The CGI's parsed response headers, or None after answering 502."""
        lines: list[bytes] = []
        while True:
            line = stdout.readline(_MAX_HEADER_LINE)
            if not line.endswith(b"\n"):
                self._send_plain(HTTPStatus.BAD_GATEWAY, "git http-backend gave no headers\n")
                return None
            if not line.strip():
                break
            lines.append(line)
        try:
            return parse_cgi_headers(lines)
        except ValueError as exc:
            self._send_plain(HTTPStatus.BAD_GATEWAY, f"git http-backend: {exc}\n")
            return None


def _read1(stream: IO[bytes]) -> bytes:
    """Whatever is available from ``stream`` (at least one byte, or b"" at EOF)."""
    read1 = getattr(stream, "read1", None)
    if read1 is not None:
        data: bytes = read1(_CHUNK)
        return data
    return stream.read(_CHUNK)


class HTTPGitServer:
    """Smart-HTTP git server on 127.0.0.1 running ``git http-backend``.

    ``root``: repositories under it are served at
    ``http://127.0.0.1:PORT/<path relative to root>``.  ``token``: every
    request must carry ``Authorization: Bearer <token>``.  ``username`` and
    ``password`` (both or neither): every request must carry HTTP Basic
    credentials.  ``env``: extra environment for http-backend and the git
    processes and hooks it runs (PATH, HOME, LC_ALL=C, GIT_CONFIG_NOSYSTEM=1
    and GIT_CONFIG_GLOBAL=/dev/null are set; nothing else is inherited).

    Attributes for tests: ``requests`` holds ``(method, path+query,
    headers)`` of every request received (header names as the client sent
    them); ``errors`` holds tracebacks of unexpected handler exceptions;
    ``cgi_stderr`` holds what http-backend wrote to stderr; ``hung`` is set
    once a request was held by ``hang_next``.

    ``fail_next`` / ``hang_next`` (and ``fail_status``, ``fault_filter``) may
    be set at any time; each request they catch decrements its counter.
    ``hang_next`` is checked first.
    """

    port: int
    fail_next: int
    fail_status: int
    hang_next: int
    fault_filter: Callable[[str, str], bool] | None
    requests: list[tuple[str, str, dict[str, str]]]
    errors: list[str]
    cgi_stderr: list[str]

    def __init__(
        self,
        root: Path,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.root = Path(root).resolve()
        self.token = token
        self.username = username
        self.password = password
        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": os.environ.get("HOME", str(self.root)),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
        if env:
            self.env.update(env)
        git = shutil.which("git", path=self.env["PATH"])
        if git is None:
            raise RuntimeError("git not found on PATH")
        exec_path = subprocess.run(
            [git, "--exec-path"], capture_output=True, text=True, check=True
        ).stdout.strip()
        backend = Path(exec_path) / "git-http-backend"
        if not backend.is_file():
            raise RuntimeError(f"{backend} not found")
        self._backend = str(backend)

        self.port = 0
        self.fail_next = 0
        self.fail_status = 503
        self.hang_next = 0
        self.fault_filter = None
        self.requests = []
        self.errors = []
        self.cgi_stderr = []
        self.hung = threading.Event()

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._closing = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- public API ----------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start listening on 127.0.0.1 (random port); returns once listening."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("HTTPGitServer can be started only once")
        server = _Server(self)  # bound and listening when the constructor returns
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"HTTPGitServer({self.root})",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, release hung requests, close every connection, kill
        running git processes (whole process groups) and join the threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        with self._lock:
            self._closing = True
        server.shutdown()
        thread.join(_STOP_TIMEOUT)
        server.server_close()
        with self._lock:
            connections = dict(self._connections)
            children = list(self._children.values())
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for proc in children:
            kill_group(proc)
        for handler in connections.values():
            handler.join(_STOP_TIMEOUT)
        self._server = self._thread = None

    def url(self, repo_path: Path) -> str:
        """``http://127.0.0.1:PORT/<path relative to root>`` for a repository."""
        relative = Path(repo_path).resolve().relative_to(self.root)
        return f"http://{HOST}:{self.port}/{urllib.parse.quote(relative.as_posix())}"

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` requests were received (True) or ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.requests) >= count, timeout)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no http-backend process is running (True) or ``timeout``."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._children, timeout)

    # -- handler-side implementation -----------------------------------------

    def _admit(self, method: str, target: str, headers: dict[str, str]) -> tuple[str, int]:
        """Record a request and decide its fate: ``("hang", 0)``,
        ``("fail", status)`` or ``("serve", 0)``."""
        with self._changed:
            self.requests.append((method, target, headers))
            self._changed.notify_all()
            if self.fault_filter is not None and not self.fault_filter(method, target):
                return "serve", 0
            if self.hang_next > 0:
                self.hang_next -= 1
                self.hung.set()
                return "hang", 0
            if self.fail_next > 0:
                self.fail_next -= 1
                return "fail", self.fail_status
        return "serve", 0

    def _challenges(self) -> list[str]:
        challenges = []
        if self.token is not None:
            challenges.append(f'Bearer realm="{_REALM}"')
        if self.username is not None:
            challenges.append(f'Basic realm="{_REALM}"')
        return challenges

    def _authenticate(self, authorization: str | None) -> tuple[bool, str | None]:
        """``(accepted, REMOTE_USER)`` for an ``Authorization`` header value."""
        if self.token is None and self.username is None:
            return True, None
        if not authorization:
            return False, None
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and self.token is not None:
            if hmac.compare_digest(credentials.encode(), self.token.encode()):
                return True, "token"
        elif scheme.lower() == "basic" and self.username is not None:
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False, None
            user, sep, password = decoded.partition(":")
            assert self.password is not None
            if (
                sep
                and hmac.compare_digest(user.encode(), self.username.encode())
                and hmac.compare_digest(password.encode(), self.password.encode())
            ):
                return True, user
        return False, None

    def _cgi_env(
        self,
        *,
        method: str,
        target: str,
        headers: Mapping[str, str],  # lower-case names
        content_length: int,
        remote_user: str | None,
        remote_addr: str,
    ) -> dict[str, str]:
        path, _, query = target.partition("?")
        env = dict(self.env)
        env.update(
            {
                "GATEWAY_INTERFACE": "CGI/1.1",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "SERVER_NAME": HOST,
                "SERVER_PORT": str(self.port),
                "SCRIPT_NAME": "",
                "REQUEST_METHOD": method,
                "PATH_INFO": urllib.parse.unquote(path),
                "QUERY_STRING": query,
                "CONTENT_LENGTH": str(content_length),
                "REMOTE_ADDR": remote_addr,
                "GIT_PROJECT_ROOT": str(self.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "http.receivepack",
                "GIT_CONFIG_VALUE_0": "true",
            }
        )
        content_type = headers.get("content-type")
        if content_type:
            env["CONTENT_TYPE"] = content_type
        if remote_user is not None:
            env["REMOTE_USER"] = remote_user
            env["AUTH_TYPE"] = "Bearer" if remote_user == "token" else "Basic"
        content_encoding = headers.get("content-encoding")
        if content_encoding:
            env["HTTP_CONTENT_ENCODING"] = content_encoding
        git_protocol = headers.get("git-protocol")
        if git_protocol:
            env["GIT_PROTOCOL"] = git_protocol
        return env

    def _connection_opened(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections[sock] = threading.current_thread()
            closing = self._closing
        if closing:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _connection_closed(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.pop(sock, None)

    def _child_started(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._children[proc.pid] = proc
            closing = self._closing
        if closing:
            kill_group(proc)

    def _child_finished(self, proc: subprocess.Popen[bytes]) -> None:
        with self._changed:
            self._children.pop(proc.pid, None)
            self._changed.notify_all()

    def _record_error(self, text: str) -> None:
        with self._lock:
            if not self._closing:  # connections torn down by stop() are expected
                self.errors.append(text)

    def _record_cgi_stderr(self, text: str) -> None:
        with self._lock:
            self.cgi_stderr.append(text)


# --------------------------------------------------------------------------
# pytest fixtures (import them into a conftest.py or a test module)
# --------------------------------------------------------------------------


@pytest.fixture(name="http_server")
def http_server_fixture(tmp_path: Path) -> Iterator[HTTPGitServer]:
    """A running :class:`HTTPGitServer` without authentication serving ``tmp_path``."""
    with HTTPGitServer(tmp_path) as server:
        yield server
