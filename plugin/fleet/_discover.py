"""Discovery: the repositories under the base paths, found by walking the folders.

A folder with a ``.git`` directory is a repository (the walk goes on inside it, for
repositories nested in its tree). A ``.git`` file is a submodule or a linked working
tree: not a repository of its own, and not walked into. A bare repository (``HEAD``,
``objects`` and ``refs`` in one folder) is skipped, and not walked into either.
Folders matching an ``exclude`` glob are pruned while walking (never opened), and
so are symbolic links to folders below a base path (a base path itself may be one).
A repository found through several base paths is one: its real path.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ._config import expand

__all__ = ["Discovery", "FoundRepo", "discover", "excluded", "is_bare"]


@dataclass(frozen=True)
class FoundRepo:
    """One repository: its real path, the base path it was found under, and its name
    (the base's folder name, then the path below it: the metrics' label)."""

    path: Path
    base: Path
    name: str


@dataclass(frozen=True)
class Discovery:
    """What one walk found: the repositories, in walking order, and the base paths
    that could not be walked, with why."""

    repos: tuple[FoundRepo, ...] = ()
    problems: tuple[tuple[str, str], ...] = field(default=())


def excluded(name: str, path: str, globs: Iterable[str]) -> bool:
    """Whether a folder is pruned: a glob without ``/`` matches its name, one with
    ``/`` its whole path."""
    return any(fnmatch.fnmatchcase(path if "/" in g else name, g) for g in globs)


def is_bare(path: str) -> bool:
    """Whether ``path`` looks like a bare repository (as git recognises one)."""
    return (
        os.path.isfile(os.path.join(path, "HEAD"))
        and os.path.isdir(os.path.join(path, "objects"))
        and os.path.isdir(os.path.join(path, "refs"))
    )


def discover(base_paths: Iterable[Path], depth: int, exclude: Iterable[str]) -> Discovery:
    """Every repository under ``base_paths``, down to ``depth`` folders below each."""
    globs = tuple(exclude)
    seen: set[Path] = set()
    names: set[str] = set()
    repos: list[FoundRepo] = []
    problems: list[tuple[str, str]] = []
    for given in base_paths:
        base = expand(given)
        if not base.is_dir():
            problems.append((str(given), "not a folder" if base.exists() else "does not exist"))
            continue
        for path in _walk(str(base), depth, globs):
            real = Path(path)
            if real in seen:
                continue
            seen.add(real)
            repos.append(FoundRepo(real, base, _unique(_name(base, real), names)))
    return Discovery(tuple(repos), tuple(problems))


def _name(base: Path, repo: Path) -> str:
    below = repo.relative_to(base).as_posix()
    return base.name if below == "." else f"{base.name}/{below}"


def _unique(name: str, names: set[str]) -> str:
    found, n = name, 1
    while found in names:
        n += 1
        found = f"{name}-{n}"
    names.add(found)
    return found


def _walk(base: str, depth: int, globs: tuple[str, ...]) -> Iterator[str]:
    """The repositories' paths under ``base``, breadth first, pruning as it goes."""
    level = [base]
    for below in range(depth + 1):
        following: list[str] = []
        for folder in level:
            kind = _kind(folder)
            if kind == "repository":
                yield folder
            elif kind != "folder":
                continue  # a bare repository, a submodule, a linked working tree
            if below < depth:
                following += _subfolders(folder, globs)
        level = following


def _kind(folder: str) -> str:
    dotgit = os.path.join(folder, ".git")
    if os.path.isdir(dotgit) and not os.path.islink(dotgit):
        return "repository"
    if os.path.lexists(dotgit):
        return "linked"  # a .git file: a submodule or a linked working tree
    if is_bare(folder):
        return "bare"
    return "folder"


def _subfolders(folder: str, globs: tuple[str, ...]) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return sorted(
                entry.path
                for entry in entries
                if entry.name != ".git"
                and entry.is_dir(follow_symlinks=False)
                and not excluded(entry.name, entry.path, globs)
            )
    except OSError:  # unreadable, or gone meanwhile: nothing below it
        return []
