"""One network operation's session: what libgit2 asks of us while it runs.

Credentials (counted: a constant wrong credential is refused, not retried
forever), the host-key check (known_hosts or pinned fingerprints; TLS by the
system's CAs), the lease checked in push negotiation before anything is sent, and
the server's answer per ref. ``running()`` bounds the operation's waits, makes it
stoppable (a cancel, the run's deadline: ``_interrupt``), and polls its progress
off the hot path (``_libgit2`` says why).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType

from .._control import CancelToken, Deadline, Progress, ProgressCallback
from .._errors import (
    AuthenticationError,
    CancelledError,
    InvalidSpecError,
    NetworkError,
    RefMovedError,
)
from .._github_app import GitHubApp
from .._hostkeys import HostKey, HostKeyVerdict, check_host_key
from .._redact import url_secrets
from .._spec import Credentials, HTTPAuth, SSHKey
from ._interrupt import Guard, interrupt_supported
from ._libgit2 import TIMEOUTS, Callbacks, remote_stopper, transfer_stats
from ._repo import ZERO

__all__ = ["AlreadyLanded", "NetOptions", "Session"]

MAX_CREDENTIAL_ATTEMPTS = 3
_POLL_SECONDS = 0.25
_MAX_REMOTE_LINES = 50
_HTTP = ("http", "https")


class AlreadyLanded(Exception):
    """A push tried again found the remote holding every ref it pushes already."""


@dataclass(frozen=True)
class NetOptions:
    """Everything a network operation needs besides the repository."""

    credentials: Credentials | None
    known_hosts: Path
    timeout: float
    pins: tuple[str, ...] = ()
    cancel: CancelToken | None = None
    progress: ProgressCallback | None = None
    deadline: Deadline | None = None  # the run's, shared by its operations


class Session(Callbacks):
    """One network operation: its callbacks, and what went wrong in them."""

    def __init__(self, url: str, net: NetOptions, operation: str) -> None:
        super().__init__()
        self.url = url
        self.net = net
        self.operation = operation
        parts = urlsplit(url) if "://" in url else None
        self.host = (parts.hostname or "") if parts else url.partition("@")[2].partition(":")[0]
        self.port = parts.port if parts else None
        # A GitHub App mints (or takes from its cache) an installation token here, at
        # each connection; its API's refusals are raised as they are.
        cred = net.credentials
        secret = ""
        try:
            if isinstance(cred, HTTPAuth) or (
                isinstance(cred, GitHubApp) and parts is not None and parts.scheme in _HTTP
            ):
                secret = cred.secret()
        except InvalidSpecError as exc:
            raise AuthenticationError(str(exc), kind=operation) from None
        self._secrets = (*url_secrets(url), *((secret,) if secret else ()))
        self._http_secret = secret
        self.credential_attempts = 0
        self.host_key_problem: str | None = None
        self.auth_problem: str | None = None
        self.expected: dict[str, str | None] = {}
        self.lease_lost: dict[str, str | None] = {}
        self.ref_status: dict[str, str | None] = {}
        self.pushed_bytes = 0
        self.remote_messages: list[str] = []
        self.presented_key: HostKey | None = None
        self.scan_only = False  # stop at the host key: nothing is authenticated or sent
        # A push tried again after a transient failure, whose answer may have been lost:
        # a remote already holding every ref we push got them from the try before (the
        # lease held then). That is found in push negotiation, on this try's own
        # connection, and the push stops there: nothing is sent, so no server hook runs
        # again for an update that changes nothing.
        self.again = False
        self.pack_dir: Path | None = None  # where a fetch writes its pack, for progress
        self._guard: Guard | None = None  # the operation's watch, while it runs

    # --- NetworkContext -------------------------------------------------------------

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    @property
    def cancelled(self) -> bool:
        return self.net.cancel is not None and self.net.cancel.cancelled

    # --- callbacks --------------------------------------------------------------------

    def custom_headers(self) -> list[str]:
        auth = self.net.credentials
        if isinstance(auth, HTTPAuth) and auth.bearer and self._http_secret:
            return [f"Authorization: Bearer {self._http_secret}"]
        return []

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair | pygit2.KeypairFromMemory:
        self.credential_attempts += 1
        stopped = self.interrupted()
        if stopped is not None:
            raise stopped
        if self.credential_attempts > MAX_CREDENTIAL_ATTEMPTS:
            self.auth_problem = (
                f"the server refused the credentials {MAX_CREDENTIAL_ATTEMPTS} times; check "
                "that the key or token is valid and allowed on this repository"
            )
            raise AuthenticationError(self.auth_problem, kind=self.operation)
        cred = self.net.credentials
        if allowed_types & CredentialType.SSH_KEY and isinstance(cred, SSHKey):
            return _keypair(cred, username_from_url)
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and isinstance(
            cred, HTTPAuth | GitHubApp
        ):
            return pygit2.UserPass(cred.username, self._http_secret)
        if allowed_types & CredentialType.USERNAME:
            name = cred.username if isinstance(cred, SSHKey | HTTPAuth | GitHubApp) else None
            return pygit2.Username(name or username_from_url or "git")
        self.auth_problem = f"the server asks for {_wanted(allowed_types)}, and none is configured"
        raise AuthenticationError(self.auth_problem, kind=self.operation)

    def ssh_host_key_ok(self, blob: bytes | None, host: str | None) -> bool:
        name = host or self.host
        if blob is None:
            self.host_key_problem = f"the server {name} sent no host key to check"
            return False
        self.presented_key = HostKey(blob)
        if self.scan_only:
            self.host_key_problem = "host key recorded; connection stopped on purpose"
            return False
        verdict, reason = check_host_key(
            HostKey(blob), name, self.port, self.net.known_hosts, self.net.pins
        )
        if verdict is HostKeyVerdict.TRUSTED:
            return True
        self.host_key_problem = reason
        return False

    def tls_certificate_ok(self, valid: bool, host: str | None) -> bool:
        # libgit2 verified the chain and the name against the system's CAs.
        if valid:
            return True
        self.host_key_problem = (
            f"the TLS certificate of {host or self.host} is not valid (untrusted, expired, "
            "or for another name); fix the server's certificate or the system's CA bundle"
        )
        return False

    def certificate_unreadable(self) -> None:
        self.host_key_problem = "the server's certificate could not be checked"

    def interrupted(self) -> NetworkError | None:
        if self.cancelled:
            return CancelledError(f"{self.operation} was cancelled", kind=self.operation)
        if self._guard is not None and self._guard.deadline_hit:
            return self._deadline_passed()
        return None

    def _deadline_passed(self) -> NetworkError:
        seconds = self.net.deadline.seconds if self.net.deadline is not None else 0.0
        return NetworkError(
            f"{self.operation} stopped: the run's deadline of {seconds:g} s passed",
            kind=self.operation,
            code="timeout",
            transient=False,
        )

    def sideband_progress(self, string: str) -> None:
        text = string.strip()
        if text and len(self.remote_messages) < _MAX_REMOTE_LINES:
            self.remote_messages.append(text)

    def push_negotiation(self, updates: list[Any]) -> None:
        if self.again and _all_there(updates, self.expected):
            raise AlreadyLanded  # the try before landed; abort before anything is sent
        for update in updates:
            if update.dst_refname in self.expected:
                want = self.expected[update.dst_refname] or ZERO
                have = str(update.src)
                if have != want:
                    self.lease_lost[update.dst_refname] = None if have == ZERO else have
        if self.lease_lost:
            # Raising is how a callback aborts the push: nothing has been sent yet.
            lost = ", ".join(sorted(self.lease_lost))
            raise RefMovedError(f"the remote moved under the lease of {lost}", kind="push")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.ref_status[refname] = message

    def push_transfer_progress(
        self, objects_pushed: int, total_objects: int, bytes_pushed: int
    ) -> None:
        # libgit2 calls this at most twice a second, so it costs nothing.
        self.pushed_bytes = bytes_pushed
        stopped = self.interrupted()
        if stopped is not None:
            raise stopped
        if self.net.progress is not None:
            self.net.progress(Progress("push", objects_pushed, total_objects, bytes_pushed))

    # --- running an operation ----------------------------------------------------------

    @contextlib.contextmanager
    def running(self, remote: pygit2.Remote) -> Iterator[None]:
        """Bound the operation's waits, make it stoppable (by a cancel, or at the
        run's deadline), and poll its progress."""
        stopped = self._before_start()
        if stopped is not None:
            raise stopped
        left = self.net.deadline.left() if self.net.deadline is not None else None
        unregister: Callable[[], None] | None = None
        if self.net.cancel is not None or left is not None:
            self._guard = Guard(remote_stopper(remote), left)
            if self.net.cancel is not None:
                unregister = self.net.cancel.register(self._guard.stop)
        poller = (
            _Poller(remote, self.net.progress, self.pack_dir)
            if (self.net.progress is not None and self.pack_dir is not None)
            else None
        )
        try:
            with TIMEOUTS.use(self._wait_ms(left)):
                if poller is not None:
                    poller.start()
                yield
        finally:
            if poller is not None:
                poller.stop()
            if unregister is not None:
                unregister()
            if self._guard is not None:
                self._guard.close()

    def _before_start(self) -> NetworkError | None:
        """Why the operation must not start: the run was cancelled, or its deadline
        passed (no try starts after it)."""
        if self.cancelled:
            return CancelledError(f"{self.operation} was cancelled", kind=self.operation)
        if self.net.deadline is not None and self.net.deadline.left() <= 0:
            return self._deadline_passed()
        return None

    def _wait_ms(self, left: float | None) -> int:
        """libgit2's bound on each wait, in milliseconds: the timeout. Where a wait
        under way cannot be ended at the deadline, it is cut to what is left of the
        run (in whole seconds, so that concurrent operations still share the
        process-wide setting, which ``TIMEOUTS`` explains)."""
        seconds = self.net.timeout
        if left is not None and not interrupt_supported():
            seconds = min(seconds, float(max(1, math.ceil(left))))
        return max(1, int(seconds * 1000))

    def fetch(
        self, remote: pygit2.Remote, refspecs: list[str], message: str, pack_dir: Path
    ) -> tuple[int, int]:
        """Download ``refspecs``; returns (bytes, objects) received.

        libgit2 counts received bytes only for a per-packet Python callback, which is
        what must be avoided; the pack it writes is the same size, so its size is
        the byte count (and the poller reads the growing temporary pack).
        """
        before = _packs(pack_dir)
        self.download(remote, refspecs, message)
        objects, total = transfer_stats(remote)
        received = sum(size for path, size in _packs(pack_dir).items() if path not in before)
        if self.net.progress is not None:
            self.net.progress(Progress("fetch", objects, total, received, done=True))
        return received, objects


class _Poller:
    """Reads libgit2's transfer statistics a few times a second, off the hot path."""

    def __init__(
        self, remote: pygit2.Remote, callback: ProgressCallback | None, pack_dir: Path
    ) -> None:
        self._remote = remote
        self._pack_dir = pack_dir
        self._callback = callback
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="git-reconcile-progress", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def _run(self) -> None:
        last = None
        while not self._stopped.wait(_POLL_SECONDS):
            objects, total = transfer_stats(self._remote)
            received = sum(
                size for path, size in _packs(self._pack_dir).items() if "tmp_pack" in path
            )
            now = (objects, total, received)
            if now != last and self._callback is not None:
                last = now
                with contextlib.suppress(Exception):
                    self._callback(Progress("fetch", *now))


def _packs(pack_dir: Path) -> dict[str, int]:
    """Pack files (finished and temporary) in a pack directory, with their sizes."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(pack_dir):
            if entry.name.endswith(".pack") or entry.name.startswith("tmp_pack"):
                with contextlib.suppress(OSError):
                    found[entry.path] = entry.stat().st_size
    return found


def _all_there(updates: list[Any], expected: dict[str, str | None]) -> bool:
    """True when every update pushes a ref the remote already holds at our value."""
    return bool(updates) and all(
        update.dst_refname in expected and str(update.src) == str(update.dst) for update in updates
    )


def _wanted(allowed_types: CredentialType) -> str:
    """The kind of credential a server asks for, said so the operator can give it."""
    if allowed_types & CredentialType.SSH_KEY:
        return "an SSH key: set credentials=SSHKey(...) (or --ssh-key)"
    if allowed_types & CredentialType.USERPASS_PLAINTEXT:
        return "a user name and password or token: set credentials=HTTPAuth(...)"
    return f"credentials of a kind not configured ({allowed_types!r})"


def _keypair(
    key: SSHKey, username_from_url: str | None
) -> pygit2.Keypair | pygit2.KeypairFromMemory:
    username = key.username or username_from_url or "git"
    if key.private_key is not None:
        private = Path(os.path.expanduser(key.private_key))
        if not private.is_file():
            raise AuthenticationError(f"SSH key file {private} does not exist", kind="auth")
        public = key.public_key
        if public is None and private.with_name(private.name + ".pub").is_file():
            public = private.with_name(private.name + ".pub")
        return pygit2.Keypair(
            username, str(public) if public else None, str(private), key.passphrase
        )
    return pygit2.KeypairFromMemory(username, None, key.private_key_data, key.passphrase)
