"""A real SSH git server (and a hanging TCP server) for tests.

``SSHGitServer`` listens on 127.0.0.1 and serves the git repositories under a
root directory over SSH by running real ``git upload-pack`` /
``git receive-pack`` processes, so server-side hooks (``pre-receive`` ...)
run exactly as they would against a real remote.  The asyncio loop runs in a
daemon thread so synchronous pygit2 code in the test can talk to it.

Only public-key authentication with authorized keys is accepted.  RSA keys
are deliberately not supported by the helpers here: an RSA client key crashes
libssh2 (double free) against asyncssh.

``HangingServer`` accepts TCP connections and never sends a byte.

Typical use::

    with SSHGitServer(root=tmp_path, workdir=tmp_path / "ssh") as srv:
        callbacks = KeypairCallbacks(srv.client_pubkey_path, srv.client_key_path)
        with pygit2_homedir(make_ssh_home(tmp_path / "home", srv.known_hosts_path)):
            pygit2.clone_repository(srv.url(bare), str(dest), callbacks=callbacks)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import asyncssh
import pygit2
import pytest

from ._process import kill_group

__all__ = [
    "GIT_SERVICES",
    "CommandError",
    "HangingServer",
    "KeypairCallbacks",
    "SSHGitServer",
    "generate_ecdsa",
    "generate_ed25519",
    "hanging_server_fixture",
    "known_hosts_line",
    "make_ssh_home",
    "own_ssh_server_fixture",
    "parse_git_command",
    "pubkey_path",
    "public_key_line",
    "pygit2_homedir",
    "write_known_hosts",
]

HOST = "127.0.0.1"
GIT_SERVICES = frozenset({"git-upload-pack", "git-receive-pack"})
_CHUNK = 64 * 1024
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0

# --------------------------------------------------------------------------
# keys and known_hosts
# --------------------------------------------------------------------------


def _write_keypair(key: asyncssh.SSHKey, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    key.write_private_key(str(path))  # OpenSSH format, no passphrase
    os.chmod(path, 0o600)
    key.write_public_key(str(path) + ".pub")
    return path


def generate_ed25519(path: Path, comment: str = "sshgit-test") -> Path:
    """Write a new ed25519 private key (OpenSSH format, no passphrase) to
    ``path`` and its public key to ``path + '.pub'``; return ``path``."""
    return _write_keypair(asyncssh.generate_private_key("ssh-ed25519", comment), path)


def generate_ecdsa(path: Path, comment: str = "sshgit-test") -> Path:
    """Like :func:`generate_ed25519` but an ecdsa-sha2-nistp256 key."""
    return _write_keypair(asyncssh.generate_private_key("ecdsa-sha2-nistp256", comment), path)


def pubkey_path(private_key_path: Path) -> Path:
    """The ``.pub`` file next to a private key."""
    return private_key_path.with_name(private_key_path.name + ".pub")


def public_key_line(key_path: Path) -> str:
    """``"<type> <base64>"`` for a public *or* private key file (no comment)."""
    try:
        key = asyncssh.read_public_key(str(key_path))
    except (asyncssh.KeyImportError, ValueError):
        key = asyncssh.read_private_key(str(key_path)).convert_to_public()
    keytype, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    return f"{keytype} {blob}"


def known_hosts_line(port: int, pubkey: str | Path, host: str = HOST) -> str:
    """A known_hosts line ``[host]:port <type> <base64>`` (no trailing newline).

    ``pubkey`` is either a key file (public or private) or a public key line
    such as ``"ssh-ed25519 AAAA... comment"``.
    """
    line = public_key_line(pubkey) if isinstance(pubkey, Path) else pubkey
    keytype, blob = line.split()[:2]
    hostspec = host if port == 22 else f"[{host}]:{port}"
    return f"{hostspec} {keytype} {blob}"


def write_known_hosts(path: Path, port: int, pubkey: str | Path, host: str = HOST) -> Path:
    """Write a known_hosts file at ``path`` holding one entry for
    ``[host]:port`` with the given key (use a freshly generated key to
    simulate a changed / wrong host key).  Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(known_hosts_line(port, pubkey, host) + "\n")
    return path


def make_ssh_home(home: Path, known_hosts: Path) -> Path:
    """Create ``home/.ssh/known_hosts`` as a copy of ``known_hosts``; return
    ``home`` (suitable for :func:`pygit2_homedir`)."""
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(ssh_dir, 0o700)
    shutil.copyfile(known_hosts, ssh_dir / "known_hosts")
    return home


@contextlib.contextmanager
def pygit2_homedir(home: Path) -> Iterator[Path]:
    """Temporarily point ``pygit2.settings.homedir`` (where libgit2 looks for
    ``.ssh/known_hosts``) at ``home``; restore the previous value after."""
    old = pygit2.settings.homedir
    pygit2.settings.homedir = str(home)
    try:
        yield home
    finally:
        if old is not None:
            pygit2.settings.homedir = old
        else:  # NULL makes libgit2 derive it from $HOME again
            pygit2.option(pygit2.enums.Option.SET_HOMEDIR, None)


class KeypairCallbacks(pygit2.RemoteCallbacks):
    """pygit2 callbacks authenticating with an on-disk key pair.

    * ``credentials`` returns ``pygit2.Keypair(username, pub, priv, "")`` and
      raises after ``max_attempts`` calls (libgit2 otherwise retries forever
      when the key is refused).
    * ``certificate_check`` records libgit2's own known_hosts verdict in
      ``cert_checks`` and returns it (so a wrong/missing host key fails).
    * ``push_update_reference`` records ``(refname, message)`` in
      ``push_updates``; ``rejected`` maps refname -> message for rejections.
    """

    def __init__(
        self,
        pubkey: Path,
        privkey: Path,
        username: str = "git",
        max_attempts: int = 3,
        accept_any_host_key: bool = False,
    ) -> None:
        super().__init__()
        self.pubkey = pubkey
        self.privkey = privkey
        self.username = username
        self.max_attempts = max_attempts
        self.accept_any_host_key = accept_any_host_key
        self.attempts = 0
        self.cert_checks: list[bool] = []
        self.push_updates: list[tuple[str, str | None]] = []

    def credentials(
        self,
        url: str,
        username_from_url: str | None,
        allowed_types: pygit2.enums.CredentialType,
    ) -> pygit2.Keypair:
        self.attempts += 1
        if self.attempts > self.max_attempts:
            raise pygit2.GitError(f"ssh authentication failed after {self.max_attempts} attempts")
        return pygit2.Keypair(
            username_from_url or self.username, str(self.pubkey), str(self.privkey), ""
        )

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        self.cert_checks.append(bool(valid))
        return True if self.accept_any_host_key else bool(valid)

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.push_updates.append((refname, message))

    @property
    def rejected(self) -> dict[str, str]:
        return {ref: msg for ref, msg in self.push_updates if msg is not None}


# --------------------------------------------------------------------------
# background event loop
# --------------------------------------------------------------------------


class _LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self, setup: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Start the thread and run ``setup()`` in its loop; return once that
        completed, re-raising its exception (the thread is then stopped)."""
        if self._thread is not None:
            raise RuntimeError(f"{self._name} already started")
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_forever()
            finally:
                _close_loop(loop)

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self._name, daemon=True)
        self._thread.start()
        ok = False
        try:
            asyncio.run_coroutine_threadsafe(setup(), loop).result(_START_TIMEOUT)
            ok = True
        finally:
            if not ok:
                self._halt()

    def stop(self, teardown: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``teardown()`` in the loop, stop the loop, join the thread."""
        if self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(teardown(), self._loop).result(_STOP_TIMEOUT)
        finally:
            self._halt()

    def _halt(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_STOP_TIMEOUT)


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left in ``loop`` and close it."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


# --------------------------------------------------------------------------
# the SSH git server
# --------------------------------------------------------------------------


class CommandError(Exception):
    """An exec request the server refuses (message goes to the client)."""


def parse_git_command(command: str | None, root: Path) -> tuple[str, Path]:
    """Parse an SSH exec command into ``(service, absolute repo path)``.

    Accepts ``git-upload-pack '/abs/path'``, ``git upload-pack /abs/path``,
    likewise for receive-pack, quoted or not, absolute or relative to
    ``root``.  Raises :class:`CommandError` for anything else or for a path
    that resolves outside ``root``.
    """
    if not command:
        raise CommandError("interactive shells are not supported; exec a git service")
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CommandError(f"cannot parse command {command!r}: {exc}") from None
    if len(argv) == 3 and argv[0] == "git":
        argv = [f"git-{argv[1]}", argv[2]]
    if len(argv) != 2 or argv[0] not in GIT_SERVICES:
        raise CommandError(f"command not allowed: {command!r}")
    service, raw = argv
    if not raw or "\0" in raw:
        raise CommandError(f"bad repository path in {command!r}")
    root = root.resolve()
    path = Path(raw)
    resolved = (path if path.is_absolute() else root / path).resolve()
    if not resolved.is_relative_to(root):
        raise CommandError(f"repository path {raw!r} is outside the served root")
    return service, resolved


class _GitSSHServer(asyncssh.SSHServer):
    """Per-connection authentication policy: authorized public keys only."""

    def __init__(self, owner: SSHGitServer) -> None:
        self._owner = owner
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        if self._owner._accept_connection(conn):
            # asyncssh sends its version string right after this callback
            # returns, so abort on the next loop turn rather than in here.
            asyncio.get_running_loop().call_soon(conn.abort)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._owner._conns.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def host_based_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data in self._owner._authorized


class SSHGitServer:
    """SSH server on 127.0.0.1 running real git-upload-pack/git-receive-pack.

    ``root``: only repositories under it are served.  ``workdir``: where the
    host key, client key and known_hosts file are written.  ``home``: HOME of
    the git processes (default ``workdir/home``, created empty).  ``env``:
    extra environment for the git processes (PATH, HOME, LC_ALL=C and
    GIT_CONFIG_NOSYSTEM=1 are set; nothing else is inherited).

    ``orphan_grace``: seconds a git process may keep running after its client
    closed the channel or dropped the connection; then it is killed with its
    whole process group (hooks included).  ``stop()`` kills at once.
    """

    port: int
    connections: int
    dropped: int
    fail_next: int
    drop: set[int]

    def __init__(
        self,
        root: Path,
        workdir: Path,
        *,
        home: Path | None = None,
        env: Mapping[str, str] | None = None,
        orphan_grace: float = 5.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.home = Path(home) if home is not None else self.workdir / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env: dict[str, str] = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self.home),
            "LC_ALL": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        if env:
            self.env.update(env)
        git = shutil.which("git", path=self.env["PATH"])
        if git is None:
            raise RuntimeError("git not found on PATH")
        self._git = git

        self.host_key_path = generate_ed25519(self.workdir / "ssh_host_ed25519_key")
        self.client_key_path = generate_ed25519(self.workdir / "id_ed25519")
        self.client_pubkey_path = pubkey_path(self.client_key_path)
        self.known_hosts_path = self.workdir / "known_hosts"
        self._host_key = asyncssh.read_private_key(str(self.host_key_path))

        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._authorized: frozenset[bytes] = frozenset()
        self.authorize(self.client_pubkey_path)

        self.port = 0
        self.connections = 0  # every accepted TCP connection, dropped ones too
        self.dropped = 0  # connections dropped because of fail_next or drop
        self.fail_next = 0
        self.drop: set[int] = set()  # numbers (as `connections` counts them) to drop
        self.orphan_grace = orphan_grace
        self.commands: list[str] = []  # exec commands received, in order
        self._children: dict[int, asyncio.subprocess.Process] = {}
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._runner = _LoopThread(f"SSHGitServer({self.root})")

    # -- public API --------------------------------------------------------

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
        self._runner.start(self._listen)
        self.known_hosts_path.write_text(self.known_hosts_line + "\n")

    def stop(self) -> None:
        """Close the listener and all connections, kill leftover git
        processes (whole process groups) and join the loop thread."""
        self._runner.stop(self._shutdown)

    def url(self, repo_path: Path, user: str = "git") -> str:
        """``ssh://git@127.0.0.1:PORT/abs/path`` for a repository under root."""
        path = Path(repo_path).resolve()
        return f"ssh://{user}@{HOST}:{self.port}{path.as_posix()}"

    def authorize(self, pubkey_path: Path) -> None:
        """Accept another client key (public or private key file)."""
        key = asyncssh.import_public_key(public_key_line(pubkey_path))
        with self._lock:
            self._authorized = self._authorized | {key.public_data}

    @property
    def host_public_key_line(self) -> str:
        """``"ssh-ed25519 AAAA..."`` of the server's host key."""
        return public_key_line(self.host_key_path)

    @property
    def known_hosts_line(self) -> str:
        return known_hosts_line(self.port, self.host_public_key_line)

    def child_pids(self) -> list[int]:
        """PIDs of git processes currently running for clients."""
        with self._lock:
            return list(self._children)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no git process is running (True) or ``timeout``."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._children, timeout)

    # -- loop-side implementation ------------------------------------------

    async def _listen(self) -> None:
        self._acceptor = await asyncssh.listen(
            HOST,
            0,
            server_factory=lambda: _GitSSHServer(self),
            server_host_keys=[self._host_key],
            process_factory=self._handle,
            encoding=None,
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            keepalive_interval=0,
        )
        self.port = self._acceptor.get_port()

    def _accept_connection(self, conn: asyncssh.SSHServerConnection) -> bool:
        """Count a new connection; True if it must be dropped."""
        with self._lock:
            self.connections += 1
            if self.fail_next > 0 or self.connections in self.drop:
                self.fail_next = max(0, self.fail_next - 1)
                self.dropped += 1
                return True
            self._conns.add(conn)
            return False

    async def _shutdown(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in list(self._conns):
            conn.abort()
        self._conns.clear()
        with self._lock:
            procs = list(self._children.values())
        for proc in procs:
            kill_group(proc)
        for proc in procs:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), _STOP_TIMEOUT)

    async def _handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command
        with self._lock:
            self.commands.append(command or "")
        try:
            service, repo = parse_git_command(command, self.root)
        except CommandError as exc:
            with contextlib.suppress(OSError, asyncssh.Error):
                process.stderr.write(f"sshgit: {exc}\n".encode())
                process.exit(1)
            return

        env = dict(self.env)
        git_protocol = process.env.get("GIT_PROTOCOL")
        if git_protocol:
            env["GIT_PROTOCOL"] = git_protocol
        try:
            proc = await asyncio.create_subprocess_exec(
                self._git,
                service.removeprefix("git-"),
                str(repo),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=str(self.home),
                start_new_session=True,  # own process group: killpg gets hooks too
            )
        except OSError as exc:
            with contextlib.suppress(OSError, asyncssh.Error):
                process.stderr.write(f"sshgit: cannot run git: {exc}\n".encode())
                process.exit(1)
            return

        with self._lock:
            self._children[proc.pid] = proc
        feeder = asyncio.ensure_future(_pump_stdin(process, proc))
        work = asyncio.ensure_future(_run_outputs(process, proc))
        closed = asyncio.ensure_future(process.wait_closed())
        try:
            await asyncio.wait({work, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                # The client closed the channel or dropped the connection
                # while git still runs (client killed, transfer aborted by a
                # callback, ...).  Like sshd, let git finish on its own
                # (stdin closed, output discarded), but only for
                # orphan_grace seconds.
                feeder.cancel()
                await asyncio.wait({work}, timeout=self.orphan_grace)
            elif not work.cancelled() and work.exception() is None:
                status = work.result()
                with contextlib.suppress(OSError, asyncssh.Error):
                    process.exit(status if status >= 0 else 128 - status)
        finally:
            # Whatever is left of this session's process group (a hung hook,
            # a background job of a hook, ...) does not outlive it.
            kill_group(proc)
            for task in (feeder, work, closed):
                task.cancel()
            await asyncio.gather(feeder, work, closed, return_exceptions=True)
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
            with self._idle:
                self._children.pop(proc.pid, None)
                self._idle.notify_all()


async def _pump_stdin(
    src: asyncssh.SSHServerProcess[bytes], proc: asyncio.subprocess.Process
) -> None:
    """Channel stdin -> git stdin; close git's stdin on channel EOF."""
    stdin = proc.stdin
    assert stdin is not None
    try:
        while True:
            data = await src.stdin.read(_CHUNK)
            if not data:
                break
            stdin.write(data)
            await stdin.drain()
    except (OSError, asyncssh.Error):
        pass  # git exited early or the client went away
    finally:
        with contextlib.suppress(OSError):
            stdin.close()


async def _pump_out(
    src: asyncio.StreamReader | None,
    write: Callable[[bytes], None],
    drain: Callable[[], Coroutine[Any, Any, None]],
) -> None:
    """Copy ``src`` to the channel until EOF; once the channel is gone keep
    reading and discard, so git never blocks on a full pipe."""
    assert src is not None
    connected = True
    while data := await src.read(_CHUNK):
        if not connected:
            continue
        try:
            write(data)
            await drain()
        except (OSError, asyncssh.Error):
            connected = False


async def _run_outputs(
    process: asyncssh.SSHServerProcess[bytes], proc: asyncio.subprocess.Process
) -> int:
    """Copy git stdout/stderr to the channel until both hit EOF, then reap
    git and return its exit status."""
    await asyncio.gather(
        _pump_out(proc.stdout, process.stdout.write, process.stdout.drain),
        _pump_out(proc.stderr, process.stderr.write, process.stderr.drain),
    )
    return await proc.wait()


# --------------------------------------------------------------------------
# a remote that hangs
# --------------------------------------------------------------------------


class _SilentProtocol(asyncio.Protocol):
    def __init__(self, owner: HangingServer) -> None:
        self._owner = owner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._owner._accepted(transport)

    def data_received(self, data: bytes) -> None:
        pass  # swallow the client's banner and everything else


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte (a remote
    that hangs).  ``connections`` counts accepted connections and
    ``connected`` is set on the first one."""

    port: int
    connections: int

    def __init__(self) -> None:
        self.port = 0
        self.connections = 0
        self.connected = threading.Event()
        self._transports: list[asyncio.BaseTransport] = []
        self._server: asyncio.Server | None = None
        self._runner = _LoopThread("HangingServer")

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
        self._runner.start(self._listen)

    def stop(self) -> None:
        self._runner.stop(self._shutdown)

    def url(self, path: str | Path = "/whatever.git") -> str:
        p = str(path)
        if not p.startswith("/"):
            p = "/" + p
        return f"ssh://git@{HOST}:{self.port}{p}"

    def _accepted(self, transport: asyncio.BaseTransport) -> None:
        self.connections += 1
        self._transports.append(transport)
        self.connected.set()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _SilentProtocol(self), HOST, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for transport in self._transports:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            else:
                transport.close()
        self._transports.clear()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


# --------------------------------------------------------------------------
# pytest fixtures (import them into a conftest.py)
# --------------------------------------------------------------------------


@pytest.fixture(name="own_ssh_server")
def own_ssh_server_fixture(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SSHGitServer]:
    """A running :class:`SSHGitServer` of this test alone, serving everything under
    ``tmp_path`` (the session-wide one is conftest's ``ssh_server``)."""
    with SSHGitServer(tmp_path, tmp_path_factory.mktemp("sshgit")) as server:
        yield server


@pytest.fixture(name="hanging_server")
def hanging_server_fixture() -> Iterator[HangingServer]:
    """A running :class:`HangingServer`."""
    with HangingServer() as server:
        yield server
