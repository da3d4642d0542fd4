"""The fleet's place in its data directory: the lock that makes one fleet service per
directory, and what ``/enable`` and ``/disable`` set, kept across restarts.

The lock is ``fleet.lock``, held with ``flock`` for the life of the process (the
kernel lets go of it when the process ends, however it ends), with the holder's pid
written in it so a second one can say who holds it. The settings are
``fleet-state.json``, written whole to a temporary file and renamed over the old one,
so a crash leaves the old settings or the new ones, never half of either.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FleetLocked", "FleetSettings", "hold_data_dir"]

LOCK_NAME = "fleet.lock"
STATE_NAME = "fleet-state.json"


class FleetLocked(Exception):
    """Another fleet service holds this data directory."""


def hold_data_dir(data_dir: Path) -> int:
    """Take the data directory's fleet lock for the life of the process; returns its file
    descriptor (close it to let go). Raises ``FleetLocked`` naming the holder, or
    ``OSError`` when the directory cannot be made or written."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise FleetLocked(
            f"another fleet service (pid {holder}) runs with the data directory {data_dir} "
            f"(it holds {path}); stop it, or give this one another --data-dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


@dataclass
class FleetSettings:
    """Whether the daemon's timer runs cycles, and the repositories turned off (by real
    path), persisted in ``path`` (None: in memory only)."""

    path: Path | None = None
    enabled: bool = True
    disabled: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, data_dir: Path | None) -> FleetSettings:
        """The settings kept in ``data_dir`` (the defaults when there are none yet)."""
        if data_dir is None:
            return cls()
        path = data_dir / STATE_NAME
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError):
            return cls(path)  # unreadable: the defaults, rewritten at the next change
        enabled = data.get("enabled", True) if isinstance(data, dict) else True
        disabled = data.get("disabled_repos", []) if isinstance(data, dict) else []
        return cls(path, bool(enabled), {str(p) for p in disabled if isinstance(p, str)})

    def set_enabled(self, enabled: bool) -> None:
        with self._lock:
            self.enabled = enabled
            self._save()

    def set_repo(self, repo: str, enabled: bool) -> None:
        with self._lock:
            if enabled:
                self.disabled.discard(repo)
            else:
                self.disabled.add(repo)
            self._save()

    def _save(self) -> None:
        if self.path is None:
            return
        body = {"enabled": self.enabled, "disabled_repos": sorted(self.disabled)}
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, self.path)
