"""Helpers of the commit-path tests: writing files as an application does, and reading
the result back with the git command line."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pygit2
from gitutil import git

from reconcile import CommitRequest, Identity, RepoSpec, Result, reconcile


def write(tree: Path, files: Mapping[str, str | bytes | None]) -> None:
    """Write ``files`` into a working tree (None deletes one), as an application does."""
    for name, content in files.items():
        path = tree / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def commit(spec: RepoSpec, **request: object) -> Result:
    """A run asked to commit, with ``request``'s fields."""
    return reconcile(spec, commit=CommitRequest(**request))  # type: ignore[arg-type]


def status(tree: Path) -> str:
    """``git status --porcelain`` of a working tree."""
    return git(tree, "status", "--porcelain", "--untracked-files=all")


def show(repo: Path, rev: str, path: str) -> str:
    """A file's content at a revision."""
    return git(repo, "show", f"{rev}:{path}")


def files_at(repo: Path, rev: str = "HEAD") -> set[str]:
    return set(git(repo, "ls-tree", "-r", "--name-only", rev).splitlines())


def message(repo: Path, rev: str = "HEAD") -> str:
    return git(repo, "log", "-1", "--format=%B", rev)


def trailers(repo: Path, rev: str = "HEAD") -> list[str]:
    """The trailers of a commit's message, as ``git interpret-trailers --parse`` reads them."""
    body = git(repo, "log", "-1", "--format=%B", rev)
    done = git(repo, "interpret-trailers", "--parse", input=body)
    return done.splitlines()


def hook(tree: Path, name: str, script: str, *, where: Path | None = None) -> Path:
    """An executable hook ``name`` in the repository's hooks folder (or ``where``)."""
    folder = where or tree / ".git" / "hooks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def index_bytes(tree: Path) -> bytes:
    index = tree / ".git" / "index"
    return index.read_bytes() if index.exists() else b""


@contextmanager
def no_global_identity(home: Path) -> Iterator[None]:
    """Neither pygit2 nor git finds a user in the global configuration meanwhile."""
    level = pygit2.enums.ConfigLevel.GLOBAL
    old_search = pygit2.settings.search_path[level]
    old_env = os.environ.get("GIT_CONFIG_GLOBAL")
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("")
    pygit2.settings.search_path[level] = str(home)
    os.environ["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")
    try:
        yield
    finally:
        pygit2.settings.search_path[level] = old_search
        if old_env is None:
            os.environ.pop("GIT_CONFIG_GLOBAL", None)
        else:
            os.environ["GIT_CONFIG_GLOBAL"] = old_env


ADA = Identity("Ada Lovelace", "ada@example.invalid")
GRACE = Identity("Grace Hopper", "grace@example.invalid")
SYNC = Identity("Data Sync", "sync@example.invalid")
