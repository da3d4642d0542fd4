"""Lock files left behind by a crashed git process, found and cleared safely.

A lock belongs to a live writer when some process has it open, or when a git
process is at work in the repository: ``git commit`` closes ``index.lock`` while
the editor or a hook runs, and still owns it. Only a lock that no process holds,
with no git process in the repository, and that is older than a minute, is
stale. Anything that cannot be checked counts as live: it is reported, and left.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Locks", "clear_stale_locks"]

MIN_AGE_SECONDS = 60.0
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


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _owners_alive(locks: list[Path], roots: tuple[str, ...]) -> bool | None:
    """Whether some process holds one of ``locks`` open or is a git process working in
    ``roots``; None when that cannot be known."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    wanted = {str(p) for p in locks} | {str(p.resolve()) for p in locks}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
            if name.startswith("git") and _inside(os.readlink(entry / "cwd"), roots):
                return True
            for fd in (entry / "fd").iterdir():
                try:
                    if os.readlink(fd) in wanted:
                        return True
                except OSError:
                    continue
        except PermissionError:
            return None  # a process we may not inspect could own it
        except OSError:
            continue  # the process ended meanwhile
    return False


def clear_stale_locks(
    gitdir: Path, workdir: Path | None = None, *, min_age: float = MIN_AGE_SECONDS
) -> Locks:
    """Remove stale lock files of a repository; report the ones that may be live.

    A git or libgit2 writer keeps its lock file open until it renames it into
    place, so a lock that no process has open, and that is not brand new, is
    stale. Locks held open (or whose holders cannot be checked) are reported as
    live and left alone.
    """
    candidates = _candidates(gitdir)
    if not candidates:
        return Locks()
    roots = tuple(str(p.resolve()) for p in (gitdir, workdir) if p is not None)
    now = time.time()
    ages: dict[Path, float] = {}
    for path in candidates:
        try:
            ages[path] = now - path.stat().st_mtime
        except FileNotFoundError:
            continue  # its writer finished meanwhile
    young = [p for p, age in ages.items() if age < min_age]
    old = [p for p, age in ages.items() if age >= min_age]
    if old and _owners_alive(old, roots) is not False:
        young, old = young + old, []
    cleared: list[str] = []
    for path in old:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        cleared.append(str(path))
    return Locks(live=tuple(str(p) for p in young), cleared=tuple(cleared))
