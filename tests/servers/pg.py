"""A real PostgreSQL 15 server for the tests: one per session, one database per use.

``postgres_server`` starts the server once per test session in a fresh directory
under the system temp directory, listening on a free loopback port (TCP, trust
authentication) and on a Unix socket in that directory. ``initdb`` refuses to run
as root, so when the tests run as root the server runs as the unprivileged user
``postgres`` (the directory is handed over to it). ``postgres_url`` creates a new,
empty database for each test that asks for it and yields its SQLAlchemy URL,
``postgresql+psycopg://postgres@127.0.0.1:PORT/NAME``.

The binaries are looked up in ``$RECONCILE_PG_BIN``, else
``/usr/lib/postgresql/15/bin``; when they are missing the fixture fails the test
(it never skips: CI installs PostgreSQL 15 on purpose).

Use from a test module (tests/ is on sys.path)::

    from servers.pg import postgres_server, postgres_url  # noqa: F401
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ._process import free_port

__all__ = ["PG_BIN", "PostgresServer", "postgres_server", "postgres_url", "reap_orphans"]

PG_BIN = Path(os.environ.get("RECONCILE_PG_BIN", "/usr/lib/postgresql/15/bin"))
_USER = "postgres"  # the unprivileged account the server runs as when we are root
_READY_TIMEOUT = 30.0  # seconds: an upper bound, not a wait; readiness is polled
_PREFIX = "reconcile-pg-"
_names = itertools.count(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans() -> None:
    """Stop and remove the servers of earlier sessions that were killed before their
    teardown (their owner process is gone). Servers of live sessions are left alone."""
    for root in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((root / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if _alive(owner):
            continue
        PostgresServer(root=root).stop()


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory, started and stopped by the tests."""

    def __init__(self, bin_dir: Path = PG_BIN, root: Path | None = None) -> None:
        """A new cluster directory, or (``root``) the one an earlier session left."""
        self.bin_dir = bin_dir
        self.port = 0
        if root is None:
            root = Path(tempfile.mkdtemp(prefix=_PREFIX))
            (root / "owner.pid").write_text(str(os.getpid()))
        self.root = root
        self.data = root / "data"
        self.sockets = root / "run"
        self.log = root / "server.log"
        self._as_root = os.geteuid() == 0

    # --- running the binaries -------------------------------------------------------

    def _cmd(self, name: str, *args: str) -> list[str]:
        exe = str(self.bin_dir / name)
        return ["runuser", "-u", _USER, "--", exe, *args] if self._as_root else [exe, *args]

    def _run(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self._cmd(name, *args), capture_output=True, text=True, check=False, timeout=60
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{name} {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )
        return done

    def _log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"

    # --- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """initdb, then start on a free port and wait (bounded) until it accepts
        connections. A port taken between choosing and binding is retried."""
        if not (self.bin_dir / "initdb").is_file():
            pytest.fail(
                f"PostgreSQL 15 is required for these tests and was not found: "
                f"{self.bin_dir / 'initdb'} is missing. Install postgresql-15 (Debian/Ubuntu: "
                f"apt-get install postgresql-15) or set RECONCILE_PG_BIN to its bin directory.",
                pytrace=False,
            )
        self.sockets.mkdir()
        if self._as_root:
            entry = pwd.getpwnam(_USER)
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            _USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            options = (
                f"-k {self.sockets} -p {self.port} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100"
            )
            started = self._run(
                "pg_ctl",
                "start",
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",  # pg_ctl itself polls until the server accepts connections
                "-t",
                str(int(_READY_TIMEOUT)),
                check=False,
            )
            if started.returncode == 0 and self._wait_ready():
                return
            last_error = f"{started.stdout}{started.stderr}\n{self._log_text()}"
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", check=False)
        raise RuntimeError(f"PostgreSQL did not start:\n{last_error}")

    def _wait_ready(self) -> bool:
        """Poll pg_isready on the TCP port until it answers, within a bounded time."""
        deadline = time.monotonic() + _READY_TIMEOUT
        delay = 0.01
        while time.monotonic() < deadline:
            probe = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
                timeout=10,
            )
            if probe.returncode == 0:
                return True
            if probe.returncode == 3:  # bad parameters: waiting will not help
                return False
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
        return False

    def stop(self) -> None:
        """Stop the server at once (the data is thrown away) and remove its directory."""
        if self.data.exists() and (self.bin_dir / "pg_ctl").is_file():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- databases ------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={_USER} dbname={dbname}"

    def url(self, dbname: str) -> str:
        """The SQLAlchemy URL of a database of this server."""
        return f"postgresql+psycopg://{_USER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "test") -> str:
        """Create a new empty database and return its name."""
        name = f"{prefix}_{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL 15 server on loopback, started once for the whole test session."""
    reap_orphans()
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty PostgreSQL database for this test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    with contextlib.suppress(psycopg.Error):
        postgres_server.drop_database(name)
