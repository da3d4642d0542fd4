"""Network operations: one connection, strict host keys, bounded waits, cancellable.

pygit2 routes libgit2's per-object transfer progress into Python. With any busy
Python thread beside it (a web server under load), each of those tens of
thousands of calls waits for the GIL, and a fetch slows down a hundredfold. So
the options are filled here with no per-object or sideband callbacks: progress is
read from libgit2's transfer statistics by a poller a few times a second instead,
and cancellation goes through ``git_remote_stop``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import glob
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cffi
import pygit2
from pygit2.callbacks import git_fetch_options, git_push_options, git_remote_callbacks
from pygit2.enums import CredentialType
from pygit2.errors import check_error
from pygit2.ffi import C, ffi
from pygit2.utils import StrArray

from .._control import CancelToken, Progress, ProgressCallback
from .._errors import (
    AuthenticationError,
    CancelledError,
    HostKeyError,
    InvalidSpecError,
    RefMovedError,
)
from .._hostkeys import HostKey, Verdict, check_host_key
from .._redact import url_secrets
from .._spec import HTTPAuth, SSHKey

__all__ = ["ZERO", "NetOptions", "Session", "scan_host_key"]

ZERO = "0" * 40
MAX_CREDENTIAL_ATTEMPTS = 3
_POLL_SECONDS = 0.25
_MAX_REMOTE_LINES = 50
_GIT_CERT_SSH_RAW = 1 << 3


@dataclass(frozen=True)
class NetOptions:
    """Everything a network operation needs besides the repository."""

    credentials: SSHKey | HTTPAuth | None
    known_hosts: Path
    pins: tuple[str, ...] = ()
    timeout: float = 30.0
    cancel: CancelToken | None = None
    progress: ProgressCallback | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)


# --- process-wide libgit2 settings ---------------------------------------------------
#
# libgit2's timeouts are process-wide options. Operations that want the same
# timeout share the setting and run concurrently; one that wants another waits
# until those finish.


class _Timeouts:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._current: int | None = None
        self._users = 0

    @contextlib.contextmanager
    def use(self, milliseconds: int) -> Iterator[None]:
        with self._cond:
            while self._users and self._current != milliseconds:
                self._cond.wait()
            if self._current != milliseconds:
                pygit2.settings.server_connect_timeout = milliseconds
                pygit2.settings.server_timeout = milliseconds
                self._current = milliseconds
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()


TIMEOUTS = _Timeouts()


def _load_remote_stop() -> Callable[[int], int] | None:
    """``git_remote_stop`` from the libgit2 pygit2 uses (it is not in pygit2's API)."""
    candidates = sorted(
        glob.glob(os.path.join(os.path.dirname(pygit2.__file__) + ".libs", "libgit2*.so*"))
    )
    found = ctypes.util.find_library("git2")
    if found:
        candidates.append(found)
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            stop = lib.git_remote_stop
        except (OSError, AttributeError):
            continue
        stop.argtypes = [ctypes.c_void_p]
        stop.restype = ctypes.c_int
        return stop  # type: ignore[no-any-return,unused-ignore]
    return None


_REMOTE_STOP = _load_remote_stop()

# The raw host key libgit2 passes to the certificate callback. pygit2 declares only
# the head of this struct (and passes None to Python callbacks), so the full layout
# of libgit2 1.9's git_cert_hostkey is declared here and read through a cast.
_CERT_FFI = cffi.FFI()
_CERT_FFI.cdef(
    """
    typedef struct { int cert_type; } rc_cert;
    typedef struct {
        rc_cert parent;
        int type;
        unsigned char hash_md5[16];
        unsigned char hash_sha1[20];
        unsigned char hash_sha256[32];
        int raw_type;
        const char *hostkey;
        size_t hostkey_len;
    } rc_cert_hostkey;
    """
)


class Session(pygit2.RemoteCallbacks):
    """One network operation: its callbacks, and what went wrong in them."""

    def __init__(self, url: str, net: NetOptions, operation: str) -> None:
        super().__init__()
        self.url = url
        self.net = net
        self.operation = operation
        parts = urlsplit(url) if "://" in url else None
        self.host = (parts.hostname or "") if parts else url.partition("@")[2].partition(":")[0]
        self.port = parts.port if parts else None
        try:
            secret = net.credentials.secret() if isinstance(net.credentials, HTTPAuth) else ""
        except InvalidSpecError as exc:
            raise AuthenticationError(str(exc), kind=operation) from None
        self._secrets = (*url_secrets(url), *net.secrets, *((secret,) if secret else ()))
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
        self.pack_dir: Path | None = None  # where a fetch writes its pack, for progress
        self._cert_cb = ffi.callback(
            "int(git_cert *, int, const char *, void *)", self._certificate_check
        )

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
        if self.cancelled:
            raise CancelledError(kind=self.operation)
        if self.credential_attempts > MAX_CREDENTIAL_ATTEMPTS:
            self.auth_problem = (
                f"the server refused the credentials {MAX_CREDENTIAL_ATTEMPTS} times; check "
                "that the key or token is valid and allowed on this repository"
            )
            raise AuthenticationError(self.auth_problem, kind=self.operation)
        cred = self.net.credentials
        if allowed_types & CredentialType.SSH_KEY and isinstance(cred, SSHKey):
            return _keypair(cred, username_from_url)
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and isinstance(cred, HTTPAuth):
            return pygit2.UserPass(cred.username, self._http_secret)
        if allowed_types & CredentialType.USERNAME:
            name = cred.username if isinstance(cred, SSHKey | HTTPAuth) else None
            return pygit2.Username(name or username_from_url or "git")
        if allowed_types & CredentialType.SSH_KEY:
            wanted = "an SSH key: set credentials=SSHKey(...) (or --ssh-key)"
        elif allowed_types & CredentialType.USERPASS_PLAINTEXT:
            wanted = "a user name and password or token: set credentials=HTTPAuth(...)"
        else:
            wanted = f"credentials of a kind not configured ({allowed_types!r})"
        self.auth_problem = f"the server asks for {wanted}, and none is configured"
        raise AuthenticationError(self.auth_problem, kind=self.operation)

    def _certificate_check(self, cert: Any, valid: int, host: Any, _payload: Any) -> int:
        try:
            address = int(ffi.cast("uintptr_t", cert))
            head = _CERT_FFI.cast("rc_cert *", address)
            name = ffi.string(host).decode("utf-8", "replace") if host else self.host
            if head.cert_type == C.GIT_CERT_HOSTKEY_LIBSSH2:
                hostkey = _CERT_FFI.cast("rc_cert_hostkey *", address)
                if not hostkey.type & _GIT_CERT_SSH_RAW or not hostkey.hostkey_len:
                    self.host_key_problem = f"the server {name} sent no host key to check"
                    return int(C.GIT_ECERTIFICATE)
                blob = bytes(_CERT_FFI.buffer(hostkey.hostkey, hostkey.hostkey_len))
                self.presented_key = HostKey(blob)
                if self.scan_only:
                    self.host_key_problem = "host key recorded; connection stopped on purpose"
                    return int(C.GIT_ECERTIFICATE)
                verdict, reason = check_host_key(
                    HostKey(blob), name, self.port, self.net.known_hosts, self.net.pins
                )
                if verdict is Verdict.TRUSTED:
                    return 0
                self.host_key_problem = reason
                return int(C.GIT_ECERTIFICATE)
            # TLS: libgit2 verified the chain and the name against the system's CAs.
            if valid:
                return 0
            self.host_key_problem = (
                f"the TLS certificate of {name} is not valid (untrusted, expired, or for "
                "another name); fix the server's certificate or the system's CA bundle"
            )
            return int(C.GIT_ECERTIFICATE)
        except Exception:  # a callback must never raise into C
            self.host_key_problem = "the server's certificate could not be checked"
            return int(C.GIT_ECERTIFICATE)

    def sideband_progress(self, string: str) -> None:
        text = string.strip()
        if text and len(self.remote_messages) < _MAX_REMOTE_LINES:
            self.remote_messages.append(text)

    def push_negotiation(self, updates: list[Any]) -> None:
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
        if self.cancelled:
            raise CancelledError(kind=self.operation)
        if self.net.progress is not None:
            self.net.progress(Progress("push", objects_pushed, total_objects, bytes_pushed))

    # --- running an operation ----------------------------------------------------------

    @contextlib.contextmanager
    def running(self, remote: pygit2.Remote) -> Iterator[None]:
        """Bound the operation's waits, make it cancellable, and poll its progress."""
        pointer = int(ffi.cast("uintptr_t", remote._remote))
        unregister: Callable[[], None] | None = None
        if self.net.cancel is not None:
            if self.net.cancel.cancelled:
                raise CancelledError(f"{self.operation} was cancelled", kind=self.operation)
            if _REMOTE_STOP is not None:
                stop = _REMOTE_STOP
                unregister = self.net.cancel.register(lambda: _ignore(stop(pointer)))
        poller = (
            _Poller(remote, self.net.progress, self.pack_dir)
            if (self.net.progress is not None and self.pack_dir is not None)
            else None
        )
        try:
            with TIMEOUTS.use(max(1, int(self.net.timeout * 1000))):
                if poller is not None:
                    poller.start()
                yield
        finally:
            if poller is not None:
                poller.stop()
            if unregister is not None:
                unregister()

    def _check(self, err: int, payload: pygit2.RemoteCallbacks) -> None:
        if err >= 0:
            return
        if payload._stored_exception is not None:
            raise payload._stored_exception
        if self.cancelled:
            raise CancelledError(f"{self.operation} was cancelled", kind=self.operation)
        check_error(err)

    def connect(self, remote: pygit2.Remote) -> None:
        """Connect for fetching, so the heads can be listed before any pack is asked for."""
        with git_remote_callbacks(self) as payload:
            payload.remote_callbacks.certificate_check = self._cert_cb
            with StrArray(self.custom_headers() or None) as headers:
                proxy = ffi.new("git_proxy_options *")
                C.git_proxy_options_init(proxy, C.GIT_PROXY_OPTIONS_VERSION)
                proxy.type = C.GIT_PROXY_NONE
                err = C.git_remote_connect(
                    remote._remote,
                    C.GIT_DIRECTION_FETCH,
                    payload.remote_callbacks,
                    proxy,
                    headers.ptr,
                )
                self._check(err, payload)

    def fetch(
        self, remote: pygit2.Remote, refspecs: list[str], message: str, pack_dir: Path
    ) -> tuple[int, int]:
        """Download ``refspecs``; returns (bytes, objects) received.

        libgit2 counts received bytes only for a per-packet Python callback, which is
        what must be avoided; the pack it writes is the same size, so its size is
        the byte count (and the poller reads the growing temporary pack).
        """
        before = _packs(pack_dir)
        with git_fetch_options(self) as payload:
            opts = payload.fetch_options
            opts.callbacks.transfer_progress = ffi.NULL
            opts.callbacks.sideband_progress = ffi.NULL
            opts.callbacks.certificate_check = self._cert_cb
            opts.proxy_opts.type = C.GIT_PROXY_NONE
            with StrArray(refspecs) as arr:
                err = C.git_remote_fetch(remote._remote, arr.ptr, opts, message.encode())
                self._check(err, payload)
        stats = C.git_remote_stats(remote._remote)
        received = sum(size for path, size in _packs(pack_dir).items() if path not in before)
        if self.net.progress is not None:
            self.net.progress(
                Progress(
                    "fetch",
                    int(stats.received_objects),
                    int(stats.total_objects),
                    received,
                    done=True,
                )
            )
        return received, int(stats.received_objects)

    def push(self, remote: pygit2.Remote, refspecs: list[str]) -> None:
        # The sideband stays on for a push: it carries the server's own words about a
        # refusal ("protected branch ..."), a handful of lines.
        with git_push_options(self) as payload:
            opts = payload.push_options
            opts.callbacks.transfer_progress = ffi.NULL
            opts.callbacks.certificate_check = self._cert_cb
            opts.proxy_opts.type = C.GIT_PROXY_NONE
            opts.pb_parallelism = 1
            with StrArray(refspecs) as arr:
                err = C.git_remote_push(remote._remote, arr.ptr, opts)
                self._check(err, payload)


def _ignore(_value: object) -> None:
    """Drop a return value (git_remote_stop's status: there is nothing to do about it)."""


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
            stats = C.git_remote_stats(self._remote._remote)
            received = sum(
                size for path, size in _packs(self._pack_dir).items() if "tmp_pack" in path
            )
            now = (int(stats.received_objects), int(stats.total_objects), received)
            if now != last and self._callback is not None:
                last = now
                with contextlib.suppress(Exception):
                    self._callback(Progress("fetch", *now))


def scan_host_key(url: str, timeout: float) -> HostKey:
    """Connect to an SSH server only as far as its host key, and return the key.

    The connection stops at the certificate check, before any authentication, so
    no credential is offered and nothing is read or written.
    """
    import tempfile

    from .._errors import NetworkError
    from ._translate import translate

    net = NetOptions(credentials=None, known_hosts=Path(os.devnull), timeout=timeout)
    session = Session(url, net, "connect")
    session.scan_only = True
    failure: NetworkError | None = None
    with tempfile.TemporaryDirectory(prefix="git-reconcile-scan-") as scratch:
        repo = pygit2.init_repository(scratch, bare=True)
        try:
            with translate("connect", url, session):
                remote = repo.remotes.create_anonymous(url)
                with session.running(remote):
                    session.connect(remote)
        except NetworkError as exc:
            failure = exc
    if session.presented_key is None:
        if failure is not None and not isinstance(failure, HostKeyError):
            raise failure
        raise NetworkError(
            f"{url}: the server presented no SSH host key (is it an SSH server?)",
            kind="connect",
            code="connection",
            transient=True,
        )
    return session.presented_key


def _packs(pack_dir: Path) -> dict[str, int]:
    """Pack files (finished and temporary) in a pack directory, with their sizes."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for entry in os.scandir(pack_dir):
            if entry.name.endswith(".pack") or entry.name.startswith("tmp_pack"):
                with contextlib.suppress(OSError):
                    found[entry.path] = entry.stat().st_size
    return found


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
