"""A repository opened for one run: what it holds, read and compared.

Every pygit2 call that can fail runs inside ``translate()``; the rest of the library
sees hex commit ids, paths and our exceptions, never pygit2 objects. The git layer's
other modules (moving, replaying, the remote) work on the same opened repository.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pygit2
from pygit2.enums import RepositoryOpenFlag, RepositoryState, SortMode

from .._errors import GitError, NotARepositoryError, UnknownRemoteError
from ._libgit2 import open_repository
from ._translate import translate
from ._trust import dubious_ownership, is_ownership_error, trust

__all__ = ["ZERO", "GitRepo", "empty_tree"]

ZERO = "0" * 40  # git's null object id: "no such ref", in a push lease or the move note

_IN_PROGRESS = {
    RepositoryState.MERGE: "a merge",
    RepositoryState.REVERT: "a revert",
    RepositoryState.REVERT_SEQUENCE: "a revert",
    RepositoryState.CHERRYPICK: "a cherry-pick",
    RepositoryState.CHERRYPICK_SEQUENCE: "a cherry-pick",
    RepositoryState.BISECT: "a bisect",
    RepositoryState.REBASE: "a rebase",
    RepositoryState.REBASE_INTERACTIVE: "a rebase",
    RepositoryState.REBASE_MERGE: "a rebase",
    RepositoryState.APPLY_MAILBOX: "an am",
    RepositoryState.APPLY_MAILBOX_OR_REBASE: "an am or rebase",
}


class GitRepo:
    """A repository opened for one run: its local state, and comparing its commits.

    ``raw`` is the pygit2 repository, for the git layer's other modules only. With
    ``trusted`` the repository opens even when another user owns it (``_trust``);
    without, such a repository raises ``DubiousOwnershipError``.
    """

    def __init__(self, path: Path, *, trusted: bool = False) -> None:
        if trusted:
            trust(path)
        try:
            with translate("open"):
                self.raw = open_repository(str(path), RepositoryOpenFlag.NO_SEARCH)
        except GitError as exc:
            if is_ownership_error(str(exc)):
                raise dubious_ownership(path) from None
            hint = "" if path.exists() else " (the path does not exist)"
            raise NotARepositoryError(
                f"{path} is not a git repository{hint}; "
                "give the path of a clone or of a bare repository"
            ) from None
        self.path = path
        self._gitdir = Path(self.raw.path)
        workdir = self.raw.workdir
        self._workdir = Path(workdir) if workdir else None
        # The remote remote_url() looked up, kept for the remote's first network
        # operation (a run reads the URL, then fetches: one lookup, not two).
        self._unused_remote: tuple[str, pygit2.Remote] | None = None

    # --- local state ------------------------------------------------------------

    @property
    def gitdir(self) -> Path:
        """The git directory: ``.git`` of a working tree, or the bare repository."""
        return self._gitdir

    @property
    def workdir(self) -> Path | None:
        """The working tree, or None for a bare repository."""
        return self._workdir

    @property
    def is_bare(self) -> bool:
        return bool(self.raw.is_bare)

    def head_branch(self) -> str | None:
        """The short name of the branch HEAD names (even if unborn), or None if detached."""
        with translate("open"):
            head = self.raw.references.get("HEAD")
            if head is None:
                return None
            target = head.target
            if isinstance(target, str) and target.startswith("refs/heads/"):
                return target[len("refs/heads/") :]
            return None

    def unwritable(self) -> Path | None:
        """The first place of the git directory this process may not write (the
        directory, its objects, its refs, the reconcile lock), or None."""
        gitdir = self.gitdir
        places = [gitdir, gitdir / "objects", gitdir / "refs", gitdir / "refs" / "heads"]
        places.append(gitdir / "git-reconcile.lock")
        for place in places:
            if not os.access(place, os.W_OK) and place.exists():
                return place
        return None

    def in_progress(self) -> str | None:
        """Names an operation git left in progress (merge, rebase, ...), if any."""
        state = RepositoryState(self.raw.state())
        if state != RepositoryState.NONE:
            return _IN_PROGRESS.get(state, "an operation")
        return None

    def remote_url(self, name: str) -> str:
        try:
            with translate("open"):
                remote = self.raw.remotes[name]
        except GitError:
            names = [r.name for r in self.raw.remotes if r.name]
            known = ", ".join(names) or "none"
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f"did you mean {close[0]!r}?"
                if close
                else f"add one with: git -C {self.path} remote add {name} URL"
            )
            raise UnknownRemoteError(
                f"{self.path} has no remote named {name!r} (remotes: {known}); {hint}"
            ) from None
        self._unused_remote = (name, remote)
        return remote.url or ""

    def unused_remote(self, name: str) -> pygit2.Remote:
        """A pygit2 ``Remote`` of ``name`` that no operation has used yet (a used one
        reports stale transfer statistics): the one ``remote_url`` looked up, the
        first time, and a new lookup after that. For the git layer only."""
        unused, self._unused_remote = self._unused_remote, None
        if unused is not None and unused[0] == name:
            return unused[1]
        return self.raw.remotes[name]

    def forget_remotes(self) -> None:
        """Drop the remote kept by ``remote_url``: its configuration changed."""
        self._unused_remote = None

    def branch_tip(self, branch: str) -> str | None:
        return self.ref_target(f"refs/heads/{branch}")

    def ref_target(self, refname: str) -> str | None:
        """The commit ``refname`` points at locally, or None."""
        with translate("ref"):
            ref = self.raw.references.get(refname)
            return None if ref is None else str(ref.resolve().target)

    def ref_exists(self, refname: str) -> bool:
        with translate("ref"):
            return self.raw.references.get(refname) is not None

    @staticmethod
    def valid_branch_name(branch: str) -> bool:
        """True when ``refs/heads/<branch>`` is a well-formed ref name."""
        return bool(pygit2.reference_is_valid_name(f"refs/heads/{branch}"))

    def branches(self) -> list[str]:
        return sorted(self.raw.branches.local)

    def tracking_branches(self, remote: str) -> list[str]:
        """The branches git remembers of ``remote`` (``refs/remotes/<remote>/*``)."""
        prefix = f"refs/remotes/{remote}/"
        with translate("ref"):
            return sorted(
                name[len(prefix) :]
                for name in self.raw.references
                if name.startswith(prefix) and name != f"{prefix}HEAD"
            )

    def branches_at(self, prefix: str, commit: str) -> list[str]:
        """Local branches under ``prefix`` that point at ``commit``, oldest name first."""
        with translate("ref"):
            found = []
            for name in self.raw.branches.local:
                if name.startswith(prefix):
                    ref = self.raw.references.get(f"refs/heads/{name}")
                    if ref is not None and str(ref.resolve().target) == commit:
                        found.append(name)
            return sorted(found)

    def is_checked_out(self, branch: str) -> bool:
        """True when ``branch`` is HEAD's branch in a working tree."""
        return not self.is_bare and self.head_branch() == branch

    def checked_out_elsewhere(self, branch: str) -> str | None:
        """The path of another working tree (``git worktree``) that has ``branch``
        checked out, or None. Moving it from here would leave that tree stale."""
        paths = self._worktrees()
        if not paths:
            return None
        mine = self.workdir.resolve() if self.workdir is not None else None
        for path in paths:
            if mine is not None and path.resolve() == mine:
                continue
            try:
                with translate("open"):
                    other = pygit2.Repository(str(path))
                    head = other.references.get("HEAD")
                    if (
                        not other.is_bare
                        and head is not None
                        and head.target == (f"refs/heads/{branch}")
                    ):
                        return str(path)
            except GitError:
                continue
        return None

    def _worktrees(self) -> list[Path]:
        """Every working tree of this repository: the linked ones, and the main one
        when this is a linked one."""
        with translate("open"):
            paths = [Path(self.raw.lookup_worktree(n).path) for n in self.raw.list_worktrees()]
        gitdir = self.gitdir
        if gitdir.parent.name == "worktrees":  # a linked worktree: the main one counts too
            common = gitdir.parent.parent
            paths.append(common.parent if common.name == ".git" else common)
        return paths

    # --- comparing --------------------------------------------------------------

    def reachable(self, branch: str, commit: str) -> bool:
        """True when ``commit`` is the tip of ``branch`` or one of its ancestors."""
        with translate("compare"):
            tip = self.branch_tip(branch)
            if tip is None:
                return False
            if tip == commit.lower():
                return True
            oid = pygit2.Oid(hex=commit)
            return oid in self.raw and bool(self.raw.descendant_of(tip, oid))

    def ahead_behind(self, local: str, upstream: str) -> tuple[int, int]:
        with translate("compare"):
            ahead, behind = self.raw.ahead_behind(local, upstream)
            return int(ahead), int(behind)

    def merge_base(self, a: str, b: str) -> str | None:
        with translate("compare"):
            base = self.raw.merge_base(a, b)
            return None if base is None else str(base)

    def commits_not_in(self, tip: str, hidden: str | None) -> list[str]:
        """Commits reachable from ``tip`` and not from ``hidden``, oldest first."""
        with translate("compare"):
            walker = self.raw.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE)
            if hidden is not None:
                walker.hide(hidden)
            return [str(c.id) for c in walker]

    def changed_paths(self, a: str | None, b: str) -> tuple[str, ...]:
        """Paths that differ between the trees of commits ``a`` and ``b``."""
        with translate("compare"):
            new = self.raw[b].peel(pygit2.Tree)
            old = empty_tree(self.raw) if a is None else self.raw[a].peel(pygit2.Tree)
            diff = old.diff_to_tree(new)
            paths: set[str] = set()
            for delta in diff.deltas:
                paths.add(delta.old_file.path)
                paths.add(delta.new_file.path)
            return tuple(sorted(paths))


def empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    """The empty tree: the "parent" tree of a root commit."""
    return repo[repo.TreeBuilder().write()].peel(pygit2.Tree)
