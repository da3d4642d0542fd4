"""Real git repositories for your own tests: a bare remote, clones, and commits.

``GitSandbox`` builds a bare remote in a directory you give it (pytest's
``tmp_path``, or a ``tempfile.TemporaryDirectory``), with one first commit, and
clones it. It commits in a clone as your application would, and lands commits on
the remote as another writer would, so a test can drive your application's boot
reconcile, webhook handling and ``on_reconciled`` rebuild against real
repositories. It needs no ``git`` binary and does not depend on pytest.

>>> from reconcile import Outcome, reconcile
>>> from reconcile.testing import GitSandbox
>>> sandbox = GitSandbox(tmp_path, files={"data.txt": "1\\n"})  # doctest: +SKIP
>>> app = sandbox.clone("app")                                   # doctest: +SKIP
>>> theirs = sandbox.advance_remote({"data.txt": "2\\n"}, "another writer")  # doctest: +SKIP
>>> reconcile(sandbox.spec(app)).outcome                         # doctest: +SKIP
<Outcome.FAST_FORWARDED: 'fast-forwarded'>

How to reach each outcome from a fresh clone ``app``:

=====================  ========================================================
``in-sync``            nothing: a fresh clone is in sync
``fast-forwarded``     ``sandbox.advance_remote(...)``
``pushed-ahead``       ``sandbox.commit(app, ...)``
``rebased``            ``sandbox.diverge(app, local, remote)``, other files
``conflict-escaped``   ``sandbox.diverge(app, local, remote)``, one file changed
                       differently on each side
``blocked``            ``sandbox.advance_remote({"f": ...})``, then write ``f`` in
                       ``app`` without committing it
=====================  ========================================================

Commits are deterministic: the sandbox's commits are made by fixed identities
(``APP_AUTHOR`` in clones, ``OTHER_AUTHOR`` on the remote) at fixed times (the
first at ``EPOCH``, each next one a minute later, unless ``when`` is given), so
the same steps give the same commit ids on every machine. Commits that
``reconcile()`` replays get the clone's configured user (``APP_AUTHOR``) as
committer and the current time, so their ids differ from run to run.

Errors: paths that are absolute, climb out with ``..`` or reach into ``.git`` raise
``ValueError``; a name already taken raises ``FileExistsError``; a git operation
that fails (deleting a file that is not there, reading a branch that does not
exist) raises ``reconcile.GitError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

from ._errors import GitError
from ._git import _sandbox
from ._spec import Identity, RepoSpec

__all__ = ["APP_AUTHOR", "EPOCH", "OTHER_AUTHOR", "Divergence", "Files", "GitSandbox"]

APP_AUTHOR = Identity("App", "app@example.invalid")
"""Author and committer of commits made in clones; also the clones' configured user."""

OTHER_AUTHOR = Identity("Other Writer", "other@example.invalid")
"""Author and committer of the first commit and of commits landed on the remote."""

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""The time of a sandbox's first commit; each commit after it is a minute later."""

_TICK = timedelta(minutes=1)

Files = Mapping[str, str | bytes | None]
"""Path (relative, ``/``-separated) -> new content (str is written as UTF-8), or
None to delete the file."""


class Divergence(NamedTuple):
    """The two commits ``GitSandbox.diverge`` made: in the clone, and on the remote."""

    local: str
    remote: str


class GitSandbox:
    """A bare remote under ``root`` (``root/remote.git``) with one first commit on
    ``branch`` holding ``files`` (none: an empty tree), and clones of it.

    ``remote`` is the bare repository's path and ``url`` the URL clones use for it
    (remote ``origin``). Commit ids are returned as 40-character hex strings.
    """

    def __init__(
        self,
        root: Path | str,
        branch: str = "main",
        files: Files | None = None,
        *,
        message: str = "initial commit",
    ) -> None:
        self.root = Path(root).absolute()
        self.branch = branch
        self.remote = self.root / "remote.git"
        self._clock = EPOCH
        first = _changes(files or {})  # bad input raises before anything is created
        _refuse_existing(self.remote)
        _sandbox.init_bare(self.remote, branch)
        self.advance_remote(first, message)

    @property
    def url(self) -> str:
        """The remote's URL, as clones have it for ``origin``."""
        return str(self.remote)

    def __repr__(self) -> str:
        return f"GitSandbox({str(self.root)!r}, branch={self.branch!r})"

    # --- repositories -------------------------------------------------------------

    def clone(self, name: str, *, bare: bool = False) -> Path:
        """Clone the remote into ``root/name`` with ``branch`` checked out (a working
        tree, or a bare repository with ``bare=True``); returns the clone's path.

        The clone's ``user.name``/``user.email`` are ``APP_AUTHOR``'s.
        """
        path = self.root / _relative(name, what="clone name")
        _refuse_existing(path)
        _sandbox.clone(self.url, path, branch=self.branch, bare=bare, identity=APP_AUTHOR)
        return path

    def spec(self, clone: Path | str, **kwargs: Any) -> RepoSpec:
        """A ``RepoSpec`` for ``clone``; ``kwargs`` are ``RepoSpec``'s own."""
        return RepoSpec(clone, **kwargs)

    # --- writing ------------------------------------------------------------------

    def commit(
        self,
        clone: Path | str,
        files: Files,
        message: str | None = None,
        *,
        author: Identity = APP_AUTHOR,
        when: datetime | None = None,
    ) -> str:
        """Commit ``files`` on the branch checked out in ``clone``, as the application
        would: in a working tree the files are written and staged, so the tree is
        clean afterwards; in a bare clone the commit is written with plumbing.
        Nothing is pushed. Returns the new commit."""
        return _sandbox.commit(
            Path(clone),
            "HEAD",
            _changes(files),
            _message(files, message),
            author=author,
            when=self._when(when),
        )

    def advance_remote(
        self,
        files: Files,
        message: str | None = None,
        *,
        branch: str | None = None,
        author: Identity = OTHER_AUTHOR,
        when: datetime | None = None,
    ) -> str:
        """Land a commit of ``files`` on the remote's ``branch`` (default: the
        sandbox's), on top of its tip, as another writer's push would; a branch the
        remote lacks is created from the sandbox's branch. No clone changes.
        Returns the new commit."""
        return _sandbox.commit(
            self.remote,
            f"refs/heads/{branch or self.branch}",
            _changes(files),
            _message(files, message),
            author=author,
            when=self._when(when),
            base=f"refs/heads/{self.branch}",
        )

    def diverge(
        self,
        clone: Path | str,
        local: Files,
        remote: Files,
        message: str = "diverge",
    ) -> Divergence:
        """Commit ``local`` in ``clone`` and land ``remote`` on the remote, so the two
        have diverged: the next reconcile rebases when the changes replay cleanly
        (different files), and escapes the local commit to a conflict branch when
        they conflict (one file changed differently on each side)."""
        mine = self.commit(clone, local, f"{message}: local")
        theirs = self.advance_remote(remote, f"{message}: remote")
        return Divergence(local=mine, remote=theirs)

    # --- reading ------------------------------------------------------------------

    def head(self, clone: Path | str) -> str:
        """The commit checked out in ``clone`` (its HEAD)."""
        found = _sandbox.resolve(Path(clone), "HEAD")
        if found is None:
            raise GitError(f"{clone} has no commit checked out", kind="read")
        return found

    def remote_head(self, branch: str | None = None) -> str:
        """The commit the remote's ``branch`` (default: the sandbox's) names."""
        name = branch or self.branch
        found = _sandbox.resolve(self.remote, f"refs/heads/{name}")
        if found is None:
            raise GitError(f"the remote has no branch {name!r}", kind="read")
        return found

    def remote_branches(self, prefix: str = "") -> dict[str, str]:
        """The remote's branches whose names start with ``prefix`` (``"conflicts/"``
        finds the conflict branches), with the commits they name."""
        return _sandbox.branch_tips(self.remote, prefix)

    def remote_files(self, branch: str | None = None) -> dict[str, bytes]:
        """Every file at the tip of the remote's ``branch`` (default: the
        sandbox's), by path, with its content."""
        return _sandbox.read_files(self.remote, f"refs/heads/{branch or self.branch}")

    # --- helpers ------------------------------------------------------------------

    def _when(self, when: datetime | None) -> datetime:
        if when is None:
            when, self._clock = self._clock, self._clock + _TICK
        elif when.utcoffset() is None:
            raise ValueError(f"when must be a timezone-aware datetime, not {when!r}")
        return when


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise FileExistsError(f"{path} already exists")


def _relative(name: str, *, what: str) -> str:
    """``name`` when it is a relative, ``/``-separated path that stays inside its
    repository, else ``ValueError``."""
    parts = PurePosixPath(name).parts
    if (
        not name
        or "\\" in name
        or name.startswith("/")
        or name.endswith("/")
        or any(part in (".", "..", ".git") for part in parts)
        or "/".join(parts) != name
    ):
        raise ValueError(
            f"{what} {name!r} must be a relative path such as 'data/a.txt', "
            "without '.', '..' or '.git' parts"
        )
    return name


def _changes(files: Files) -> dict[str, bytes | None]:
    changes: dict[str, bytes | None] = {}
    for name, content in files.items():
        _relative(name, what="path")
        if isinstance(content, str):
            changes[name] = content.encode()
        elif content is None or isinstance(content, bytes):
            changes[name] = content
        else:
            raise TypeError(f"the content of {name} must be str, bytes or None, not {content!r}")
    return changes


def _message(files: Files, message: str | None) -> str:
    if message is not None:
        return message
    return "update " + ", ".join(sorted(files)) if files else "empty commit"
