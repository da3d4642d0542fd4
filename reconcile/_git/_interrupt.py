"""Stopping a network operation from another thread, even while it waits.

``git_remote_stop`` only sets a flag that libgit2 reads between packets. A
connection still being set up (the TCP connect, the SSH handshake) or a server that
sends nothing keeps libgit2 in ``poll()`` until its timeout, flag or no flag. Linux
says which system call a thread is blocked in, and with what arguments
(``/proc/self/task/<tid>/syscall``): when the operation's thread waits on a TCP
socket, shutting that socket down ends the wait at once, and libgit2 fails the
operation as it would a dropped connection, cleaning up after itself (no lock
file, no partial pack). Only the socket that thread is blocked on is touched,
never another thread's. Elsewhere (another system, another architecture) nothing
is shut down, and the wait ends at its timeout.

``Guard`` is one operation's watch: a stop (a cancel) or the run's deadline stops
the operation that way until it has ended. One thread watches every guard of the
process, so an operation costs no thread of its own.
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import stat
import sys
import threading
import time
from collections.abc import Callable

__all__ = ["Guard", "interrupt_supported", "shut_down_wait"]

_RETRY_SECONDS = 0.02

# System calls a socket wait blocks in, per machine: those whose first argument
# is an array of struct pollfd (and the second its length), and those whose first
# argument is the file descriptor itself (read, write, connect, sendto, recvfrom,
# sendmsg, recvmsg).
_POLLS = {"x86_64": (7, 271), "aarch64": (73,)}
_FD_FIRST = {
    "x86_64": (0, 1, 42, 44, 45, 46, 47),
    "aarch64": (63, 64, 203, 206, 207, 211, 212),
}
_MACHINE = (
    platform.machine() if sys.platform == "linux" and os.path.isdir("/proc/self/task") else ""
)
_POLLFD_SIZE = 8  # int fd; short events; short revents
_MAX_POLLFDS = 4  # libgit2 and libssh2 poll one socket at a time


def interrupt_supported() -> bool:
    """True when a blocked socket wait can be ended from another thread here."""
    return _MACHINE in _POLLS


def _syscall(tid: int) -> list[int] | None:
    """The system call thread ``tid`` is blocked in and its arguments (number first),
    or None when it is running or not in a system call."""
    try:
        with open(f"/proc/self/task/{tid}/syscall", encoding="ascii") as handle:
            words = handle.read().split()
    except OSError:
        return None
    if len(words) < 7 or words[0] in ("running", "-1"):
        return None
    try:
        return [int(word, 0) for word in words]
    except ValueError:
        return None


def _polled_fds(address: int, count: int) -> list[int]:
    """The descriptors of an array of ``count`` struct pollfd at ``address`` in this
    process (read through /proc/self/mem, which fails cleanly on a bad address)."""
    if not 0 < count <= _MAX_POLLFDS:
        return []
    try:
        mem = os.open("/proc/self/mem", os.O_RDONLY)
    except OSError:
        return []
    try:
        data = os.pread(mem, count * _POLLFD_SIZE, address)
    except (OSError, OverflowError):
        return []
    finally:
        os.close(mem)
    return [
        int.from_bytes(data[i : i + 4], sys.byteorder, signed=True)
        for i in range(0, len(data) - _POLLFD_SIZE + 1, _POLLFD_SIZE)
    ]


def _waited_fds(tid: int) -> list[int]:
    """The descriptors thread ``tid`` is blocked on, read twice over to be sure the
    thread stayed in the same call meanwhile; empty when unsure."""
    call = _syscall(tid)
    if call is None:
        return []
    number, first, second = call[0], call[1], call[2]
    if number in _POLLS.get(_MACHINE, ()):
        fds = _polled_fds(first, second)
    elif number in _FD_FIRST.get(_MACHINE, ()):
        fds = [first]
    else:
        return []
    return fds if _syscall(tid) == call else []


def _shut_down_tcp(fd: int) -> bool:
    """Shut down the TCP socket ``fd`` (both ways); False when it is no such socket."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return False
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return False
    with sock:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return False
        if sock.type != socket.SOCK_STREAM:
            return False
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
            return True
    return False


def shut_down_wait(tid: int) -> bool:
    """End the socket wait thread ``tid`` is blocked in, if it is blocked on a TCP
    socket; True when a socket was shut down."""
    if _MACHINE not in _POLLS:
        return False
    shut = [_shut_down_tcp(fd) for fd in _waited_fds(tid) if fd >= 0]  # every one of them
    return any(shut)


class Guard:
    """Watches one network operation, from the process's one watcher thread.

    Created in the operation's thread. ``stop()`` (from any thread: a cancel) or the
    deadline (``seconds`` from now; None: none) starts the stopping:
    ``stop_remote`` (``git_remote_stop``), then, until the operation ends, its
    thread's socket wait is shut down. ``close()``, from the operation's thread when
    the operation has ended, ends the watch; nothing is touched after it returns.
    ``deadline_hit`` says whether it was the deadline that stopped it.
    """

    def __init__(self, stop_remote: Callable[[], None] | None, seconds: float | None) -> None:
        self._stop_remote = stop_remote
        self.ends = None if seconds is None else time.monotonic() + seconds
        self._tid = threading.get_native_id()
        self._lock = threading.Lock()
        self.asked = False  # stop() was called
        self.stopping = False  # the stopping has begun
        self.deadline_hit = False
        self._closed = False
        _WATCHER.add(self)

    def stop(self) -> None:
        self.asked = True
        _WATCHER.wake()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        _WATCHER.discard(self)

    def due(self, now: float) -> bool:
        """Whether the stopping should begin now (or has begun)."""
        return self.stopping or self.asked or (self.ends is not None and now >= self.ends)

    def act(self, now: float) -> None:
        """Begin the stopping when it is due, and end the thread's socket wait."""
        with self._lock:
            if self._closed or not self.due(now):
                return
            if not self.stopping:
                self.stopping = True
                self.deadline_hit = not self.asked
                if self._stop_remote is not None:
                    self._stop_remote()
            shut_down_wait(self._tid)


class _Watcher:
    """The one thread that watches every running operation's guard: it sleeps until
    the earliest deadline or a stop, then, while any operation is being stopped,
    looks again every few milliseconds. Started on first use."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._guards: set[Guard] = set()
        self._wakes_at: float | None = None  # when the thread means to look next
        self._thread: threading.Thread | None = None

    def add(self, guard: Guard) -> None:
        with self._cond:
            self._guards.add(guard)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="git-reconcile-watcher", daemon=True
                )
                self._thread.start()
            if guard.ends is not None and (self._wakes_at is None or guard.ends < self._wakes_at):
                self._cond.notify()

    def discard(self, guard: Guard) -> None:
        with self._cond:
            self._guards.discard(guard)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                guards = list(self._guards)
            now = time.monotonic()
            for guard in guards:
                guard.act(now)
            with self._cond:
                self._cond.wait(self._timeout(time.monotonic()))
                self._wakes_at = None

    def _timeout(self, now: float) -> float | None:
        """How long to sleep: briefly while stopping, else until the earliest deadline."""
        if any(guard.due(now) for guard in self._guards):
            self._wakes_at = now + _RETRY_SECONDS
            return _RETRY_SECONDS
        ends = [guard.ends for guard in self._guards if guard.ends is not None]
        self._wakes_at = min(ends) if ends else None
        return None if self._wakes_at is None else max(0.0, self._wakes_at - now)


_WATCHER = _Watcher()
