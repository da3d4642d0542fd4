"""What the test servers share: a free loopback port, and killing a process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from typing import Protocol

__all__ = ["HOST", "free_port", "kill_group"]

HOST = "127.0.0.1"


class _HasPid(Protocol):
    @property
    def pid(self) -> int: ...


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def kill_group(proc: _HasPid) -> None:
    """SIGKILL the process group led by ``proc`` (it ran with start_new_session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
