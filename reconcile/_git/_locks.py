"""Lock files left behind by a crashed git process, found and cleared safely."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Locks", "clear_stale_locks"]

# A lock younger than this may belong to a writer that has not opened it yet
# (it cannot, in fact: creating is opening), or one on a file system whose clock
# differs; waiting costs nothing, since the next run clears it.
MIN_AGE_SECONDS = 2.0
_TOP_LEVEL = (
    "index.lock",
    "HEAD.lock",
    "config.lock",
    "packed-refs.lock",
    "shallow.lock",
    "FETCH_HEAD.lock",
    "ORIG_HEAD.lock",
)


@dataclass(frozen=True)
class Locks:
    live: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()


def _candidates(gitdir: Path) -> list[Path]:
    found = [gitdir / name for name in _TOP_LEVEL if (gitdir / name).exists()]
    refs = gitdir / "refs"
    if refs.is_dir():
        found += [p for p in refs.rglob("*.lock") if p.is_file()]
    packs = gitdir / "objects" / "pack"
    if packs.is_dir():
        found += [p for p in packs.glob("tmp_*") if p.is_file()]
    return found


def _open_files() -> set[str] | None:
    """Every file some process has open, or None when that cannot be known."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    opened: set[str] = set()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                try:
                    opened.add(os.readlink(fd))
                except OSError:
                    continue
        except PermissionError:
            return None  # a process we may not inspect could hold it
        except OSError:
            continue  # the process ended meanwhile
    return opened


def clear_stale_locks(gitdir: Path, *, min_age: float = MIN_AGE_SECONDS) -> Locks:
    candidates = _candidates(gitdir)
    if not candidates:
        return Locks()
    opened = _open_files()
    live: list[str] = []
    cleared: list[str] = []
    now = time.time()
    for path in candidates:
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue  # its writer finished meanwhile
        if opened is None or str(path) in opened or str(path.resolve()) in opened or age < min_age:
            live.append(str(path))
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        cleared.append(str(path))
    return Locks(live=tuple(live), cleared=tuple(cleared))
