"""What reaches into libgit2 past pygit2's API, and why.

pygit2 routes libgit2's per-object transfer progress into Python. With any busy
Python thread beside it (a web server under load), each of those tens of
thousands of calls waits for the GIL, and a fetch slows down a hundredfold. So
the connect, fetch and push here call libgit2 directly, with options that carry
no per-object or sideband callbacks: progress is read from libgit2's transfer
statistics by a poller a few times a second instead (``transfer_stats``), and
cancellation goes through ``git_remote_stop`` (``remote_stopper``), which pygit2
does not offer.

The first ``Callbacks`` also sets TCP_NODELAY on libgit2's sockets (``_nodelay``
says how and why). Also here: the full layout of ``git_cert_hostkey`` (pygit2
passes None to Python certificate callbacks, so the host key is read through a
cast), libgit2's timeouts, which are process-wide settings, and index entries that carry the stat
data of their file (``index_add_written``: pygit2's ``IndexEntry`` carries none,
so every later status would hash the file again).

Nothing here is parsed at import: pygit2's compiled cffi module already declares
what the calls need, and the one struct it does not declare in full is read with
ctypes (a ``cffi.FFI().cdef`` would load pycparser and parse C at every start,
about 50 ms of a command-line run).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pygit2
from pygit2 import _libgit2 as _libgit2_module
from pygit2.callbacks import git_fetch_options, git_push_options, git_remote_callbacks
from pygit2.enums import FileMode, RepositoryOpenFlag
from pygit2.errors import check_error
from pygit2.ffi import C, ffi
from pygit2.utils import StrArray

from ._nodelay import install as install_nodelay

__all__ = [
    "TIMEOUTS",
    "Callbacks",
    "index_add_written",
    "open_repository",
    "remote_stopper",
    "transfer_stats",
]

_GIT_CERT_SSH_RAW = 1 << 3


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


# --- opening a repository ------------------------------------------------------------


def open_repository(path: str, flags: RepositoryOpenFlag) -> pygit2.Repository:
    """``pygit2.Repository(path, flags)``, with the GIL let go while libgit2 opens it.

    pygit2's constructor holds the GIL through ``git_repository_open_ext``, which
    reads the repository's, the user's and the system's configuration files: with
    several runs in threads, the others' Python code waits for that. Called through
    cffi, the same function runs without the GIL, and pygit2 wraps the handle as
    its constructor does (the repository owned, freed with the object). A failure
    is left to pygit2's constructor, so that it raises as it always did.
    """
    out = ffi.new("git_repository **")
    if C.git_repository_open_ext(out, os.fsencode(path), int(flags), ffi.NULL) < 0:
        return pygit2.Repository(path, flags)
    return pygit2.Repository._from_c(out[0], True)


# --- git_remote_stop -----------------------------------------------------------------


def _load_remote_stop() -> Callable[[int], int] | None:
    """``git_remote_stop`` from the libgit2 pygit2 uses (it is not in pygit2's API).

    Looked up through pygit2's own compiled module, which links that libgit2 (the
    wheel's bundled copy, or a system one): a symbol lookup on a loaded library also
    searches the libraries it needs, and the file is mapped already, so this costs
    no search of the file system and starts no process."""
    try:
        stop = ctypes.CDLL(_libgit2_module.__file__).git_remote_stop
    except (OSError, AttributeError):
        return None
    stop.argtypes = [ctypes.c_void_p]
    stop.restype = ctypes.c_int
    return stop  # type: ignore[no-any-return,unused-ignore]


_REMOTE_STOP = _load_remote_stop()


def remote_stopper(remote: pygit2.Remote) -> Callable[[], None] | None:
    """A function that stops ``remote``'s transfer at its next packet, from any thread;
    None when this libgit2 has no ``git_remote_stop``."""
    if _REMOTE_STOP is None:
        return None
    stop = _REMOTE_STOP
    pointer = int(ffi.cast("uintptr_t", remote._remote))
    return lambda: _ignore(stop(pointer))


def _ignore(_value: object) -> None:
    """Drop a return value (git_remote_stop's status: there is nothing to do about it)."""


def transfer_stats(remote: pygit2.Remote) -> tuple[int, int]:
    """Objects received so far, and the total the remote announced."""
    stats = C.git_remote_stats(remote._remote)
    return int(stats.received_objects), int(stats.total_objects)


# --- git_cert_hostkey ----------------------------------------------------------------
#
# The raw host key libgit2 passes to the certificate callback. pygit2 declares only
# the head of this struct (and passes None to Python callbacks), so the full layout
# of libgit2 1.9's git_cert_hostkey is declared here, with ctypes (which lays it out
# by the platform's C rules, as the compiler did), and read in place.


class _CertHostkey(ctypes.Structure):
    _fields_ = (
        ("cert_type", ctypes.c_int),  # git_cert parent
        ("type", ctypes.c_int),  # git_cert_ssh_t: which of the fields below are set
        ("hash_md5", ctypes.c_ubyte * 16),
        ("hash_sha1", ctypes.c_ubyte * 20),
        ("hash_sha256", ctypes.c_ubyte * 32),
        ("raw_type", ctypes.c_int),  # git_cert_ssh_raw_type_t
        ("hostkey", ctypes.c_void_p),
        ("hostkey_len", ctypes.c_size_t),
    )


def _raw_host_key(address: int) -> bytes | None:
    """The SSH host key blob of a ``git_cert_hostkey``, or None when libssh2 gave none."""
    hostkey = _CertHostkey.from_address(address)
    if not hostkey.type & _GIT_CERT_SSH_RAW or not hostkey.hostkey_len or not hostkey.hostkey:
        return None
    return ctypes.string_at(hostkey.hostkey, hostkey.hostkey_len)


# --- the calls -----------------------------------------------------------------------


class Callbacks(pygit2.RemoteCallbacks):
    """pygit2's remote callbacks, for connect, fetch and push called directly.

    The subclass decides: whether an SSH host key or a TLS certificate is trusted,
    what a certificate that could not be read means, and what to raise when a call
    fails because the caller stopped it.
    """

    def __init__(self) -> None:
        super().__init__()
        install_nodelay()  # once per process, before the first connection; never raises
        self._cert_cb = ffi.callback(
            "int(git_cert *, int, const char *, void *)", self._certificate_check
        )

    def ssh_host_key_ok(self, blob: bytes | None, host: str | None) -> bool:
        """True when the server's SSH host key (None: it sent none) is trusted."""
        raise NotImplementedError

    def tls_certificate_ok(self, valid: bool, host: str | None) -> bool:
        """True when a TLS certificate is trusted (``valid``: libgit2 verified it)."""
        raise NotImplementedError

    def certificate_unreadable(self) -> None:
        """The certificate could not be read or checked; the connection is refused."""

    def interrupted(self) -> BaseException | None:
        """What to raise for a failed call that the caller stopped; None if not stopped."""
        return None

    def _certificate_check(self, cert: Any, valid: int, host: Any, _payload: Any) -> int:
        try:
            address = int(ffi.cast("uintptr_t", cert))
            name = ffi.string(host).decode("utf-8", "replace") if host else None
            if cert.cert_type == C.GIT_CERT_HOSTKEY_LIBSSH2:
                trusted = self.ssh_host_key_ok(_raw_host_key(address), name)
            else:
                trusted = self.tls_certificate_ok(bool(valid), name)
        except Exception:  # a callback must never raise into C
            self.certificate_unreadable()
            trusted = False
        return 0 if trusted else int(C.GIT_ECERTIFICATE)

    def _check(self, err: int) -> None:
        if err >= 0:
            return
        if self._stored_exception is not None:
            raise self._stored_exception
        stopped = self.interrupted()
        if stopped is not None:
            raise stopped
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
                self._check(err)

    def download(self, remote: pygit2.Remote, refspecs: list[str], message: str) -> None:
        """Fetch ``refspecs`` with no progress or sideband callback into Python."""
        with git_fetch_options(self) as payload:
            opts = payload.fetch_options
            opts.callbacks.transfer_progress = ffi.NULL
            opts.callbacks.sideband_progress = ffi.NULL
            opts.callbacks.certificate_check = self._cert_cb
            opts.proxy_opts.type = C.GIT_PROXY_NONE
            with StrArray(refspecs) as arr:
                err = C.git_remote_fetch(remote._remote, arr.ptr, opts, message.encode())
                self._check(err)

    def upload(self, remote: pygit2.Remote, refspecs: list[str]) -> None:
        """Push ``refspecs`` with no per-object callback into Python."""
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
                self._check(err)


# --- index entries of files just written ----------------------------------------------


def index_add_written(index: pygit2.Index, file: str, path: str, oid: str, mode: int) -> None:
    """Put ``path`` in ``index`` as blob ``oid`` with ``mode``, and the stat data of
    ``file``, just written there, as libgit2's checkout does for the files it writes
    (``git_index_entry__init_from_stat``). The file is not read again."""
    st = os.lstat(file)
    entry = pygit2.IndexEntry(path, pygit2.Oid(hex=oid), FileMode(mode))
    centry, _keep = entry._to_c()
    centry.ctime.seconds = int(st.st_ctime) & 0x7FFFFFFF
    centry.ctime.nanoseconds = st.st_ctime_ns % 1_000_000_000
    centry.mtime.seconds = int(st.st_mtime) & 0x7FFFFFFF
    centry.mtime.nanoseconds = st.st_mtime_ns % 1_000_000_000
    centry.dev = st.st_rdev & 0xFFFFFFFF
    centry.ino = st.st_ino & 0xFFFFFFFF
    centry.uid = st.st_uid & 0xFFFFFFFF
    centry.gid = st.st_gid & 0xFFFFFFFF
    centry.file_size = st.st_size & 0xFFFFFFFF
    check_error(C.git_index_add(index._index, centry), io=True)
