"""Trusting one repository owned by another user, and saying so when one is refused.

libgit2 (like git since 2.35.2) refuses to open a repository whose working tree or
git directory belongs to another user ("dubious ownership"): a volume prepared by
another uid is the usual way to meet it. ``GIT_OPT_SET_OWNER_VALIDATION`` would turn
the check off for the whole process, every repository at once; git's own answer is
``safe.directory``, one entry per trusted path, read from the global, XDG, system
and "programdata" configuration files, never from the repository's own.

``trust(path)`` adds an entry for exactly that path to a configuration file this
module owns, and points libgit2's programdata level at it (that level is empty on
Linux and macOS; on Windows the file includes the programdata file it replaces).
The user's own ``~/.gitconfig`` is left alone, and no ``*`` is ever written.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

import pygit2
from pygit2.enums import ConfigLevel

from .._errors import DubiousOwnershipError

__all__ = ["dubious_ownership", "is_ownership_error", "trust", "trusted"]

_OWNERSHIP_MESSAGE = "not owned by current user"
_lock = threading.Lock()
_trusted: set[str] = set()
_folder: Path | None = None
_included: list[str] = []  # the programdata folders configured before ours


def is_ownership_error(message: str) -> bool:
    """True when a libgit2 error message is its refusal of another user's repository."""
    return _OWNERSHIP_MESSAGE in message


def dubious_ownership(path: Path) -> DubiousOwnershipError:
    """The error for a repository at ``path`` that libgit2 refused for its owner."""
    try:
        owner = path.stat().st_uid
    except OSError:
        owner = -1
    me = os.geteuid()
    return DubiousOwnershipError(
        f"{path} belongs to another user (uid {owner}; this process runs as uid {me}), "
        "so git refuses it as of dubious ownership; run as its owner, give it to this "
        f"user (chown -R {me} {path}), or trust this one path: trust = true in its "
        "[[repos]] entry (RepoSpec(trust=True), --trust on the command line)"
    )


def trusted() -> frozenset[str]:
    """The paths trusted so far in this process."""
    with _lock:
        return frozenset(_trusted)


def trust(path: Path) -> None:
    """Let libgit2 open the repository at ``path`` (absolute) whoever owns it; only
    that path, for the rest of this process."""
    # libgit2 compares the resolved path of the working tree (or bare git directory).
    key = str(Path(path).resolve()).rstrip("/") or "/"
    with _lock:
        if key in _trusted:
            return
        folder = _own_folder()
        _trusted.add(key)
        _write(folder)


def _own_folder() -> Path:
    global _folder  # noqa: PLW0603  (one folder per process, made on first use)
    if _folder is None:
        current = pygit2.settings.search_path[ConfigLevel.PROGRAMDATA] or ""
        _included.extend(p for p in current.split(os.pathsep) if p)
        _folder = Path(tempfile.mkdtemp(prefix="git-reconcile-trust-"))
        atexit.register(shutil.rmtree, _folder, True)
        pygit2.settings.search_path[ConfigLevel.PROGRAMDATA] = str(_folder)
    return _folder


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _write(folder: Path) -> None:
    """Rewrite the file whole, then move it into place: libgit2 reads it at each open."""
    lines = [f"[include]\n\tpath = {_quoted(str(Path(p) / 'config'))}\n" for p in _included]
    lines.append("[safe]\n")
    lines += [f"\tdirectory = {_quoted(p)}\n" for p in sorted(_trusted)]
    staged = folder / "config.new"
    staged.write_text("".join(lines), encoding="utf-8")
    os.replace(staged, folder / "config")
