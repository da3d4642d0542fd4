"""One reconcile at a time per repository, across threads and processes on a host.

The lock is ``git-reconcile.lock`` in the git directory, held with ``flock``. The
kernel drops it when its holder dies, so a crash never leaves it stuck. flock
conflicts between two open files even in one process, so a process-wide table
of thread locks comes first, one per repository.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from ._control import CancelToken
from ._errors import RepoLockTimeout
from ._spec import RepoSpec

__all__ = ["LOCK_NAME", "RepoLock"]

LOCK_NAME = "git-reconcile.lock"
_POLL = 0.02

_table_guard = threading.Lock()
_in_process: dict[str, threading.Lock] = {}


def _key(gitdir: Path) -> str:
    """The same for every path of one git directory: its device and inode (one
    ``stat``, where resolving the path looks at each of its parts), or the resolved
    path of one that is not there."""
    try:
        st = os.stat(gitdir)
    except OSError:
        return str((gitdir / LOCK_NAME).resolve())
    return f"{st.st_dev}:{st.st_ino}"


class RepoLock:
    """Exclusive lock on one repository's reconciles.

    ``gitdir`` is the repository's git directory (``.git`` of a working tree, or
    the bare repository itself). ``acquire()`` waits up to ``timeout`` seconds,
    then raises ``RepoLockTimeout``.
    The lock may be released from another thread than the one that took it.
    """

    def __init__(
        self,
        gitdir: Path,
        timeout: float = RepoSpec.lock_timeout,
        cancel: CancelToken | None = None,
    ) -> None:
        self.path = Path(gitdir) / LOCK_NAME
        self.timeout = timeout
        self.cancel = cancel
        key = _key(Path(gitdir))
        with _table_guard:
            self._thread_lock = _in_process.setdefault(key, threading.Lock())
        self._fd: int | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self._thread_lock.acquire(timeout=max(0.0, self.timeout)):
            raise RepoLockTimeout(f"another reconcile of this repository holds {self.path}")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    cancelled = self.cancel is not None and self.cancel.wait(_POLL)
                    if cancelled or time.monotonic() >= deadline:
                        os.close(fd)
                        raise RepoLockTimeout(
                            f"another process is reconciling this repository (it holds {self.path})"
                        ) from None
                    if self.cancel is None:
                        time.sleep(_POLL)
            _write_pid(fd)
            self._fd = fd
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
            self._thread_lock.release()

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _write_pid(fd: int) -> None:
    """Leave the holder's pid (and a newline) in the lock file.

    The file usually holds this process's pid already (its last run wrote it), and
    then nothing is written. Otherwise the pid is written over the old one and the
    file cut to its length: truncating a non-empty file to zero makes ext4 flush
    the file's data when it is closed (its replace-by-truncate heuristic), a
    millisecond or more per run.
    """
    pid = f"{os.getpid()}\n".encode()
    if os.pread(fd, len(pid) + 1, 0) == pid:
        return
    os.pwrite(fd, pid, 0)
    os.ftruncate(fd, len(pid))
