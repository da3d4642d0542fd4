"""OpenSSH's own ``sshd`` on loopback, serving git repositories, for tests.

``OpenSSHServer`` runs ``/usr/sbin/sshd -D -e -f <workdir>/sshd_config`` on a
free port of 127.0.0.1 with its own ed25519 host key and authorized_keys file,
public-key authentication only.  Clients log in as a real local user (the
current user by default, root in CI) and git runs through that user's login
shell, so ``git-upload-pack '/abs/path.git'`` and ``git-receive-pack`` work
like against any OpenSSH git host (hooks included).

It complements the asyncssh server of ``sshgit``: that one is scriptable
(dropped connections, hangs, counting commands), this one is the reference
server implementation that real remotes run.

Needs the ``openssh-server`` package (``openssh-client`` for ``ssh-keygen``
comes with it); :func:`sshd_binary` is None when it is not installed.

Typical use::

    with OpenSSHServer(tmp_path / "sshd") as srv:
        key = ssh_keygen(tmp_path / "id_ed25519")
        srv.authorize(pubkey_path(key))
        with pygit2_homedir(make_ssh_home(tmp_path / "home", srv.known_hosts_path)):
            callbacks = KeypairCallbacks(pubkey_path(key), key, username=srv.user)
            pygit2.clone_repository(srv.url(bare), str(dest), callbacks=callbacks)
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from ._process import free_port

__all__ = [
    "DEFAULT_ENV",
    "HOST",
    "PRIVSEP_DIR",
    "OpenSSHServer",
    "pubkey_path",
    "ssh_keygen",
    "ssh_keygen_binary",
    "sshd_binary",
]

HOST = "127.0.0.1"
# sshd refuses to start as root without its privilege separation directory;
# Debian's package creates it from the init script, which never runs in a
# container.
PRIVSEP_DIR = Path("/run/sshd")
_SSHD_CANDIDATES = (Path("/usr/sbin/sshd"), Path("/usr/local/sbin/sshd"))
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 10.0
_PORT_ATTEMPTS = 3
_LISTENING = "Server listening on"
# Environment sshd sets for the git processes: no system or global git config
# of the login user leaks into the server side.
DEFAULT_ENV: Mapping[str, str] = {
    "LC_ALL": "C",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
# Options of newer OpenSSH releases, dropped when this sshd does not know them.
# PerSourcePenalties (9.8+) would otherwise lock 127.0.0.1 out for a while
# after a few failed or unauthenticated connections, which tests provoke.
_OPTIONAL_OPTIONS = ("PerSourcePenalties no",)


def sshd_binary() -> Path | None:
    """The absolute path of OpenSSH's ``sshd`` if installed, else None."""
    for candidate in _SSHD_CANDIDATES:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def ssh_keygen_binary() -> Path | None:
    """The absolute path of ``ssh-keygen`` if installed, else None."""
    found = shutil.which("ssh-keygen") or shutil.which(
        "ssh-keygen", path="/usr/bin:/usr/local/bin:/bin"
    )
    return Path(found).resolve() if found else None


def pubkey_path(private_key_path: Path) -> Path:
    """The ``.pub`` file next to a private key."""
    return private_key_path.with_name(private_key_path.name + ".pub")


def ssh_keygen(
    path: Path,
    keytype: str = "ed25519",
    *,
    bits: int | None = None,
    pem: bool = False,
    comment: str = "opensshd-test",
) -> Path:
    """Write a new unencrypted key pair with ``ssh-keygen`` to ``path`` and
    ``path + '.pub'`` (replacing existing files) and return ``path``.

    ``keytype``/``bits`` are ``ssh-keygen -t``/``-b``; ``pem=True`` writes the
    private key in the legacy PEM format (``-m PEM``, "BEGIN RSA PRIVATE KEY"
    for RSA) instead of the OpenSSH format.
    """
    keygen = ssh_keygen_binary()
    if keygen is None:
        raise RuntimeError("ssh-keygen not found (install openssh-client)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in (path, pubkey_path(path)):
        old.unlink(missing_ok=True)  # ssh-keygen would ask whether to overwrite
    argv = [str(keygen), "-q", "-t", keytype, "-N", "", "-C", comment, "-f", str(path)]
    if bits is not None:
        argv[4:4] = ["-b", str(bits)]
    if pem:
        argv[4:4] = ["-m", "PEM"]
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return path


def _ensure_privsep_dir() -> None:
    """Create sshd's privilege separation directory if running as root (only
    root needs it) and it is missing."""
    if os.geteuid() != 0 or PRIVSEP_DIR.is_dir():
        return
    PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    os.chmod(PRIVSEP_DIR, 0o755)  # sshd rejects a group/world-writable one


class OpenSSHServer:
    """OpenSSH ``sshd`` listening on 127.0.0.1, public-key logins only.

    ``workdir``: where the config, host key, authorized_keys, known_hosts,
    pid file and log are written.  ``user``: the login user of :meth:`url`
    (default: the current user; sshd must run as root to log in as anyone
    else).  ``env``: variables sshd sets for the session's processes
    (``SetEnv``; default :data:`DEFAULT_ENV`; no whitespace or quotes).

    RSA client keys are accepted with ``rsa-sha2-256``/``rsa-sha2-512`` and the
    legacy SHA-1 ``ssh-rsa`` signature alike.  The sshd log (``-e``: stderr)
    is kept in :attr:`log` and in ``workdir/sshd.log``.
    """

    port: int
    host_key_path: Path
    known_hosts_path: Path
    authorized_keys_path: Path
    config_path: Path

    def __init__(
        self,
        workdir: Path,
        *,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        binary = sshd_binary()
        if binary is None:
            raise RuntimeError("sshd not found (install openssh-server)")
        self.sshd = binary
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.user = user if user is not None else pwd.getpwuid(os.getuid()).pw_name
        self.env = dict(DEFAULT_ENV if env is None else env)
        for key, value in self.env.items():
            if not key or "=" in key or any(c.isspace() or c in "\"'" for c in key + value):
                raise ValueError(f"SetEnv cannot carry {key}={value!r}")
        self.host_key_path = ssh_keygen(self.workdir / "ssh_host_ed25519_key", "ed25519")
        self.known_hosts_path = self.workdir / "known_hosts"
        self.authorized_keys_path = self.workdir / "authorized_keys"
        self.authorized_keys_path.touch()
        self.config_path = self.workdir / "sshd_config"
        self.pid_path = self.workdir / "sshd.pid"
        self.log_path = self.workdir / "sshd.log"
        self.port = 0
        self._optional = list(_OPTIONAL_OPTIONS)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._log: list[str] = []
        self._listening = threading.Event()

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
        """Start sshd on a free port; return once it accepts connections."""
        if self._proc is not None:
            raise RuntimeError("sshd already started")
        _ensure_privsep_dir()
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.port = free_port()
            self._write_config()
            self._check_config()
            if self._launch():
                break
            # Another process took the port between probe and bind: retry.
            if "Address already in use" not in self.log or attempt == _PORT_ATTEMPTS:
                raise RuntimeError(f"sshd did not start:\n{self.log}")
        self.known_hosts_path.write_text(self.known_hosts_line + "\n")

    def stop(self) -> None:
        """Stop sshd (SIGTERM, SIGKILL after a timeout) and reap it."""
        proc, reader = self._proc, self._reader
        self._proc = self._reader = None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_TIMEOUT)
        if reader is not None:
            # Session processes that outlive the listener share its stderr;
            # the reader is a daemon thread, so never wait for them forever.
            reader.join(_STOP_TIMEOUT)

    def authorize(self, pubkey_path: Path) -> None:
        """Accept another client key: append its public key line to the
        AuthorizedKeysFile (sshd rereads it on every login)."""
        line = Path(pubkey_path).read_text().strip()
        if not line or "\n" in line:
            raise ValueError(f"{pubkey_path} does not hold one public key line")
        with self.authorized_keys_path.open("a") as out:
            out.write(line + "\n")

    def url(self, repo_path: Path) -> str:
        """``ssh://USER@127.0.0.1:PORT/abs/path.git`` for a repository."""
        return f"ssh://{self.user}@{HOST}:{self.port}{Path(repo_path).resolve().as_posix()}"

    @property
    def host_public_key_line(self) -> str:
        """``"ssh-ed25519 AAAA..."`` of the server's host key."""
        keytype, blob = pubkey_path(self.host_key_path).read_text().split()[:2]
        return f"{keytype} {blob}"

    @property
    def known_hosts_line(self) -> str:
        """``"[127.0.0.1]:PORT ssh-ed25519 AAAA..."``."""
        return f"[{HOST}]:{self.port} {self.host_public_key_line}"

    @property
    def log(self) -> str:
        """Everything sshd logged so far (LogLevel VERBOSE: accepted keys, sessions...)."""
        with self._lock:
            return "".join(self._log)

    @property
    def pid(self) -> int | None:
        """PID of the listening sshd, None when not running."""
        return self._proc.pid if self._proc is not None else None

    # -- implementation ----------------------------------------------------

    def _config_lines(self) -> list[str]:
        lines = [
            f"ListenAddress {HOST}",
            f"Port {self.port}",
            f"HostKey {self.host_key_path}",
            f"PidFile {self.pid_path}",
            f"AuthorizedKeysFile {self.authorized_keys_path}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAcceptedAlgorithms +ssh-rsa",
            "AcceptEnv GIT_PROTOCOL",
            "AllowTcpForwarding no",
            "X11Forwarding no",
            "PrintMotd no",
            "LogLevel VERBOSE",
            *self._optional,
        ]
        if self.env:
            lines.append("SetEnv " + " ".join(f"{k}={v}" for k, v in self.env.items()))
        return lines

    def _write_config(self) -> None:
        self.config_path.write_text("\n".join(self._config_lines()) + "\n")

    def _check_config(self) -> None:
        """``sshd -t``; drop optional options this sshd does not know."""
        while True:
            done = subprocess.run(
                [str(self.sshd), "-t", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                return
            unknown = [opt for opt in self._optional if opt.split()[0] in done.stderr]
            if not unknown:
                raise RuntimeError(f"sshd -t rejected {self.config_path}: {done.stderr.strip()}")
            self._optional = [opt for opt in self._optional if opt not in unknown]
            self._write_config()

    def _launch(self) -> bool:
        """Run ``sshd -D -e``; True once it listens, False if it exited."""
        self._listening.clear()
        with self._lock:
            self._log.clear()
        proc = subprocess.Popen(
            [str(self.sshd), "-D", "-e", "-f", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        reader = threading.Thread(
            target=self._read_log,
            args=(proc.stderr,),
            name=f"sshd-log-{proc.pid}",
            daemon=True,
        )
        reader.start()
        # The reader sets the event on "Server listening on ..." (logged after
        # listen()) and at EOF of stderr, i.e. when sshd exited.
        if not self._listening.wait(_START_TIMEOUT):
            proc.kill()
            proc.wait(_STOP_TIMEOUT)
            raise RuntimeError(f"sshd did not listen within {_START_TIMEOUT}s:\n{self.log}")
        if _LISTENING in self.log and proc.poll() is None:
            self._proc, self._reader = proc, reader
            return True
        proc.wait(_STOP_TIMEOUT)
        reader.join(_STOP_TIMEOUT)
        return False

    def _read_log(self, stream: IO[bytes]) -> None:
        with stream, self.log_path.open("a", encoding="utf-8") as out:
            for raw in stream:
                line = raw.decode("utf-8", "replace")
                with self._lock:
                    self._log.append(line)
                out.write(line)
                out.flush()
                if _LISTENING in line:
                    self._listening.set()
        self._listening.set()
