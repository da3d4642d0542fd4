"""What the test servers share: a free loopback port, killing a process group, and an
ASGI server process waited for until its startup completed."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

__all__ = ["HOST", "free_port", "kill_group", "started_server"]

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


@contextlib.contextmanager
def started_server(
    argv: Sequence[str], env: dict[str, str], *, name: str, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``argv`` (a uvicorn server: ``serve``, or an app under ``uvicorn``) as a real
    process, once it printed that its startup completed; yields the process and the
    lines it printed so far. SIGTERM stops it afterwards, if it still runs."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Application startup complete" in line:
                break
        else:
            raise AssertionError(f"{name} exited early:\n" + "".join(lines))
        yield proc, lines
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stdout.close()
