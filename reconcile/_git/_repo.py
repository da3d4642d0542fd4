"""The git layer's repository: local state, comparing, moving refs, replaying commits,
and the fetch and push that use one network session each.

Every pygit2 call that can fail runs inside ``translate()``; the rest of the library
sees hex commit ids, paths and our exceptions, never pygit2 objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import (
    CheckoutStrategy,
    FileStatus,
    RepositoryOpenFlag,
    RepositoryState,
    SortMode,
)

from .._classify import classify_rejection
from .._errors import (
    CheckoutBlockedError,
    GitError,
    NetworkError,
    NotARepositoryError,
    RefMovedError,
    UnknownRemoteError,
)
from .._redact import redact_text
from .._spec import Identity
from ._locks import Locks, clear_stale_locks
from ._network import ZERO, NetOptions, Session
from ._translate import translate

__all__ = ["JOURNAL", "GitRepo", "PushOutcome", "RemoteState", "Replay"]

JOURNAL = "git-reconcile-move"  # in the git directory while a checked-out branch moves

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


@dataclass(frozen=True)
class RemoteState:
    """What the remote advertised: the branch tip (None when absent) and its heads."""

    tip: str | None
    heads: Mapping[str, str]
    received_bytes: int = 0
    received_objects: int = 0


@dataclass(frozen=True)
class Replay:
    """An in-memory rebase: the new tip, or the paths of the first conflict."""

    tip: str | None
    conflict_paths: tuple[str, ...] = ()
    conflict_commit: str | None = None
    refused: str | None = None
    replayed: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class PushOutcome:
    """The server's answer for one ref: accepted, raced, or refused with a message."""

    ok: bool
    raced: bool = False
    message: str | None = None
    code: str | None = None
    hint: str = ""


def _status_blocks(flags: int) -> bool:
    return flags != FileStatus.CURRENT


class GitRepo:
    """A repository opened for one run."""

    def __init__(self, path: Path) -> None:
        try:
            with translate("open"):
                self._repo = pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
        except GitError:
            hint = "" if path.exists() else " (the path does not exist)"
            raise NotARepositoryError(
                f"{path} is not a git repository{hint}; "
                "give the path of a clone or of a bare repository"
            ) from None
        self.path = path

    # --- local state ------------------------------------------------------------

    @property
    def gitdir(self) -> Path:
        """The git directory: ``.git`` of a working tree, or the bare repository."""
        return Path(self._repo.path)

    @property
    def is_bare(self) -> bool:
        return bool(self._repo.is_bare)

    def head_branch(self) -> str | None:
        """The short name of the branch HEAD names (even if unborn), or None if detached."""
        with translate("open"):
            head = self._repo.references.get("HEAD")
            if head is None:
                return None
            target = head.target
            if isinstance(target, str) and target.startswith("refs/heads/"):
                return target[len("refs/heads/") :]
            return None

    def in_progress(self) -> str | None:
        """Names an operation git left in progress (merge, rebase, ...), if any."""
        state = RepositoryState(self._repo.state())
        if state != RepositoryState.NONE:
            return _IN_PROGRESS.get(state, "an operation")
        return None

    def remote_url(self, name: str) -> str:
        try:
            with translate("open"):
                remote = self._repo.remotes[name]
        except GitError:
            known = ", ".join(r.name or "" for r in self._repo.remotes) or "none"
            raise UnknownRemoteError(
                f"{self.path} has no remote named {name!r} (remotes: {known}); "
                f"add one with: git -C {self.path} remote add {name} URL"
            ) from None
        return remote.url or ""

    def branch_tip(self, branch: str) -> str | None:
        with translate("ref"):
            ref = self._repo.references.get(f"refs/heads/{branch}")
            return None if ref is None else str(ref.resolve().target)

    def ref_target(self, refname: str) -> str | None:
        """The commit ``refname`` points at locally, or None."""
        with translate("ref"):
            ref = self._repo.references.get(refname)
            return None if ref is None else str(ref.resolve().target)

    def clear_stale_locks(self) -> Locks:
        """Remove lock files no live process holds (left by a crashed writer).

        A git or libgit2 writer keeps its lock file open until it renames it into
        place, so a lock that no process has open, and that is not brand new, is
        stale. Locks held open (or whose holders cannot be checked) are reported
        as live and left alone.
        """
        workdir = self._repo.workdir
        return clear_stale_locks(Path(self._repo.path), Path(workdir) if workdir else None)

    def remote_heads(self, remote_name: str, net: NetOptions) -> dict[str, str]:
        """The remote's heads, from one connection and no pack."""
        url = self.remote_url(remote_name)
        session = Session(url, net, "fetch")
        with translate("fetch", url, session):
            remote = self._repo.remotes[remote_name]
            with session.running(remote):
                session.connect(remote)
                return {h.name: str(h.oid) for h in remote.list_heads(connect=False) if h.name}

    def reachable(self, branch: str, commit: str) -> bool:
        """True when ``commit`` is the tip of ``branch`` or one of its ancestors."""
        with translate("compare"):
            tip = self.branch_tip(branch)
            if tip is None:
                return False
            if tip == commit.lower():
                return True
            oid = pygit2.Oid(hex=commit)
            return oid in self._repo and bool(self._repo.descendant_of(tip, oid))

    def ref_exists(self, refname: str) -> bool:
        with translate("ref"):
            return self._repo.references.get(refname) is not None

    @staticmethod
    def valid_branch_name(branch: str) -> bool:
        """True when ``refs/heads/<branch>`` is a well-formed ref name."""
        return bool(pygit2.reference_is_valid_name(f"refs/heads/{branch}"))

    def branches_at(self, prefix: str, commit: str) -> list[str]:
        """Local branches under ``prefix`` that point at ``commit``, oldest name first."""
        with translate("ref"):
            found = []
            for name in self._repo.branches.local:
                if name.startswith(prefix):
                    ref = self._repo.references.get(f"refs/heads/{name}")
                    if ref is not None and str(ref.resolve().target) == commit:
                        found.append(name)
            return sorted(found)

    def branches(self) -> list[str]:
        return sorted(self._repo.branches.local)

    def is_checked_out(self, branch: str) -> bool:
        """True when ``branch`` is HEAD's branch in a working tree."""
        return not self.is_bare and self.head_branch() == branch

    def checked_out_elsewhere(self, branch: str) -> str | None:
        """The path of another working tree (``git worktree``) that has ``branch``
        checked out, or None. Moving it from here would leave that tree stale."""
        gitdir = Path(self._repo.path)
        with translate("open"):
            paths = [Path(self._repo.lookup_worktree(n).path) for n in self._repo.list_worktrees()]
        if gitdir.parent.name == "worktrees":  # a linked worktree: the main one counts too
            common = gitdir.parent.parent
            paths.append(common.parent if common.name == ".git" else common)
        mine = Path(self._repo.workdir).resolve() if self._repo.workdir else None
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

    def ahead_behind(self, local: str, upstream: str) -> tuple[int, int]:
        with translate("compare"):
            ahead, behind = self._repo.ahead_behind(local, upstream)
            return int(ahead), int(behind)

    def merge_base(self, a: str, b: str) -> str | None:
        with translate("compare"):
            base = self._repo.merge_base(a, b)
            return None if base is None else str(base)

    def commits_not_in(self, tip: str, hidden: str | None) -> list[str]:
        """Commits reachable from ``tip`` and not from ``hidden``, oldest first."""
        with translate("compare"):
            walker = self._repo.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE)
            if hidden is not None:
                walker.hide(hidden)
            return [str(c.id) for c in walker]

    def changed_paths(self, a: str | None, b: str) -> tuple[str, ...]:
        """Paths that differ between the trees of commits ``a`` and ``b``."""
        with translate("compare"):
            new = self._repo[b].peel(pygit2.Tree)
            old = _empty_tree(self._repo) if a is None else self._repo[a].peel(pygit2.Tree)
            diff = old.diff_to_tree(new)
            paths: set[str] = set()
            for delta in diff.deltas:
                paths.add(delta.old_file.path)
                paths.add(delta.new_file.path)
            return tuple(sorted(paths))

    # --- moving refs ------------------------------------------------------------

    def blocking_paths(self, old: str | None, new: str) -> tuple[str, ...]:
        """Local changes (staged, unstaged, untracked or ignored) that moving the
        checked-out branch from ``old`` to ``new`` would overwrite."""
        touched = set(self.changed_paths(old, new))
        if not touched:
            return ()
        with translate("checkout"):
            status = self._repo.status(untracked_files="all", ignored=True)
        blocked = set()
        for path, flags in status.items():
            if not _status_blocks(flags):
                continue
            # A path in the way, or a file inside a directory the update replaces.
            if path in touched or any(
                path.startswith(t + "/") or t.startswith(path.rstrip("/") + "/") for t in touched
            ):
                blocked.add(path)
        return tuple(sorted(blocked))

    def move_branch(self, branch: str, old: str | None, new: str, *, message: str) -> None:
        """Move ``branch`` from ``old`` to ``new``.

        The ref is locked first and compared with ``old`` (compare-and-swap), so no
        other writer can move it meanwhile; when the branch is checked out, a SAFE
        checkout follows, and the ref moves last. Raises CheckoutBlockedError or
        RefMovedError, and then nothing was written.
        """
        refname = f"refs/heads/{branch}"
        checkout = self.is_checked_out(branch)
        journal = self.gitdir / JOURNAL
        try:
            # The transaction commits when its block ends; a failure there (the lock
            # or the write) arrives through _translate as a GitError.
            with translate("ref"), self._repo.transaction() as txn:
                txn.lock_ref(refname)
                current = self.branch_tip(branch)
                if current != old:
                    raise RefMovedError(
                        f"{refname} moved during the run (now {current}, expected {old})",
                        kind="ref",
                    )
                if checkout:
                    paths = self.blocking_paths(old, new)
                    if paths:
                        raise CheckoutBlockedError(_blocked_message(paths), paths=paths)
                    # Between the checkout and the ref's move the files are ahead of
                    # the branch; a note lets the next run finish a move cut short.
                    journal.write_text(f"{branch} {old or ZERO} {new}\n")
                    try:
                        self._checkout(old, new)
                    except CheckoutBlockedError:
                        journal.unlink(missing_ok=True)  # SAFE refused: nothing written
                        raise
                txn.set_target(refname, pygit2.Oid(hex=new), message=message)
        except (CheckoutBlockedError, RefMovedError):
            raise
        except GitError as exc:
            raise RefMovedError(f"could not move {refname}: {exc}", kind="ref") from None
        journal.unlink(missing_ok=True)

    def finish_interrupted_move(self) -> str | None:
        """Finish a branch move a crash cut short between the checkout and the ref's
        move: when the ref is still at the old commit and the index holds exactly the
        new commit's tree, move the ref. Says what it did, or None."""
        journal = self.gitdir / JOURNAL
        try:
            branch, old, new = journal.read_text().split()
        except (OSError, ValueError):
            return None
        with translate("ref"):
            current = self.branch_tip(branch)
            done = current == new
            if (
                not done
                and current == (None if old == ZERO else old)
                and self.is_checked_out(branch)
            ):
                self._repo.index.read(True)
                target = self._repo[new].peel(pygit2.Commit)
                if self._repo.index.write_tree() == target.tree_id:
                    with self._repo.transaction() as txn:
                        txn.lock_ref(f"refs/heads/{branch}")
                        if self.branch_tip(branch) == current:
                            txn.set_target(
                                f"refs/heads/{branch}",
                                target.id,
                                message="git-reconcile: finish an interrupted move",
                            )
                            done = True
        journal.unlink(missing_ok=True)
        return (
            f"finished an interrupted move of {branch} to {new[:10]}"
            if done and (current != new)
            else None
        )

    def _checkout(self, old: str | None, new: str) -> None:
        strategy = CheckoutStrategy.SAFE | CheckoutStrategy.DONT_OVERWRITE_IGNORED
        try:
            with translate("checkout"):
                tree = self._repo[new].peel(pygit2.Tree)
                self._repo.checkout_tree(tree, strategy=strategy)  # type: ignore[no-untyped-call]
        except GitError as exc:
            raise CheckoutBlockedError(
                f"local changes are in the way of the checkout: {exc}"
            ) from None

    def create_ref(self, refname: str, target: str, message: str) -> bool:
        """Create ``refname`` at ``target`` unless it exists; True when created."""
        try:
            with translate("ref"):
                self._repo.create_reference_direct(
                    refname, pygit2.Oid(hex=target), False, message=message
                )
        except GitError:
            if self.ref_exists(refname):
                return False
            raise
        return True

    def delete_ref(self, refname: str, expected: str) -> None:
        """Delete ``refname`` if it still points at ``expected``."""
        with translate("ref"):
            ref = self._repo.references.get(refname)
            if ref is not None and str(ref.target) == expected:
                ref.delete()

    # --- rebase -------------------------------------------------------------------

    def replay(self, commits: list[str], onto: str, committer: Identity | None) -> Replay:
        """Replay ``commits`` (oldest first) onto ``onto`` in memory. Writes objects
        only; refs, index and working tree are untouched.

        A commit whose change is already upstream (it *became* empty) is dropped; a
        commit that was empty to begin with is kept. Merge commits are not replayed:
        a merge can carry changes of its own (a resolution), which a linear replay
        would lose, so a history with merges is refused (``refused`` says why) and
        the caller escapes it instead.
        """
        repo = self._repo
        with translate("rebase"):
            tip = repo[onto].peel(pygit2.Commit)
            replayed = dropped = 0
            for hexid in commits:
                commit = repo[hexid].peel(pygit2.Commit)
                if len(commit.parents) > 1:
                    return Replay(
                        tip=None,
                        refused=f"local history has a merge commit ({hexid[:10]}), which is "
                        "not replayed, so its changes cannot be lost",
                    )
                base_tree = commit.parents[0].tree if commit.parents else _empty_tree(repo)
                was_empty = commit.tree_id == base_tree.id
                index = repo.merge_trees(base_tree, tip.tree, commit.tree)
                if index.conflicts is not None:
                    paths = sorted(
                        {
                            entry.path
                            for triple in index.conflicts
                            for entry in triple
                            if entry is not None
                        }
                    )
                    return Replay(
                        tip=None,
                        conflict_paths=tuple(paths),
                        conflict_commit=hexid,
                        replayed=replayed,
                        dropped=dropped,
                    )
                tree_id = index.write_tree(repo)
                if tree_id == tip.tree_id and not was_empty:
                    dropped += 1
                    continue
                new_id = repo.create_commit(
                    None,
                    commit.author,
                    self._committer(commit, committer),
                    commit.message,
                    tree_id,
                    [tip.id],
                )
                tip = repo[new_id].peel(pygit2.Commit)
                replayed += 1
            return Replay(tip=str(tip.id), replayed=replayed, dropped=dropped)

    def _committer(self, commit: pygit2.Commit, committer: Identity | None) -> pygit2.Signature:
        if committer is not None:
            return pygit2.Signature(committer.name, committer.email)
        try:
            with translate("rebase"):
                return self._repo.default_signature
        except GitError:
            return pygit2.Signature(commit.committer.name, commit.committer.email)

    def commit_summary(self, hexid: str) -> str:
        with translate("compare"):
            commit = self._repo[hexid].peel(pygit2.Commit)
            return f"{hexid[:10]} {commit.message.splitlines()[0] if commit.message else ''}"

    # --- network ----------------------------------------------------------------

    def fetch(self, remote_name: str, branch: str, net: NetOptions) -> RemoteState:
        """One connection: read the remote's heads, and download the branch only when
        its tip is not already here. The tip lands in refs/remotes/<remote>/<branch>
        through an explicit refspec, never in a local branch."""
        url = self.remote_url(remote_name)
        session = Session(url, net, "fetch")
        session.pack_dir = Path(self._repo.path) / "objects" / "pack"
        refname = f"refs/heads/{branch}"
        tracking = f"refs/remotes/{remote_name}/{branch}"
        received = objects = 0
        with translate("fetch", url, session):
            remote = self._repo.remotes[remote_name]
            with session.running(remote):
                session.connect(remote)
                heads = {h.name: str(h.oid) for h in remote.list_heads(connect=False) if h.name}
                tip = heads.get(refname)
                if tip is not None and pygit2.Oid(hex=tip) not in self._repo:
                    received, objects = session.fetch(
                        remote,
                        [f"+{refname}:{tracking}"],
                        f"git-reconcile: fetch {branch}",
                        session.pack_dir,
                    )
            current = self._repo.references.get(tracking)
            if tip is not None and (current is None or str(current.target) != tip):
                self._repo.create_reference_direct(
                    tracking, pygit2.Oid(hex=tip), True, message=f"git-reconcile: fetch {branch}"
                )
        return RemoteState(tip=tip, heads=heads, received_bytes=received, received_objects=objects)

    def push(
        self, remote_name: str, refs: dict[str, str | None], net: NetOptions, *, force: bool = False
    ) -> tuple[dict[str, PushOutcome], int]:
        """Push local refs to the same names on the remote, each under a lease.

        ``refs`` maps each ref to the value the remote must hold (None: must not
        exist), checked in push negotiation before anything is sent; the server's
        own compare-and-swap guards the rest. With ``force`` the update need not be
        a fast-forward, but the lease still holds. Returns the server's answer per
        ref and the bytes sent; a network failure raises ``NetworkError``.
        """
        url = self.remote_url(remote_name)
        session = Session(url, net, "push")
        session.expected = dict(refs)
        specs = [f"{'+' if force else ''}{name}:{name}" for name in refs]
        try:
            with translate("push", url, session):
                remote = self._repo.remotes[remote_name]
                with session.running(remote):
                    session.push(remote, specs)
        except RefMovedError:  # push negotiation found a lease lost; nothing was sent
            return {
                name: PushOutcome(
                    ok=False,
                    raced=name in session.lease_lost,
                    message=(
                        f"remote moved: {name} is at {session.lease_lost[name] or 'nothing'}, "
                        f"expected {refs[name] or 'nothing'}"
                        if name in session.lease_lost
                        else "not pushed: another ref's lease was lost"
                    ),
                )
                for name in refs
            }, session.pushed_bytes
        except NetworkError as exc:
            text = str(exc)
            if "non-fastforwardable" in text or "not present locally" in text:
                return {
                    name: PushOutcome(ok=False, raced=True, message=text) for name in refs
                }, session.pushed_bytes
            raise
        result: dict[str, PushOutcome] = {}
        for name in refs:
            if name not in session.ref_status:
                result[name] = PushOutcome(ok=False, message="the server sent no status for it")
                continue
            message = session.ref_status[name]
            if message is None:
                result[name] = PushOutcome(ok=True)
            else:
                said = " ".join(session.remote_messages)
                if said:
                    message = f"{message}: {said}"
                found = classify_rejection(message)
                result[name] = PushOutcome(
                    ok=False,
                    raced=found.code == "non-fast-forward",
                    message=redact_text(message, session.secrets),
                    code=found.code,
                    hint=found.hint,
                )
        return result, session.pushed_bytes


def _empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    return repo[repo.TreeBuilder().write()].peel(pygit2.Tree)


def _blocked_message(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    return (
        f"uncommitted changes would be overwritten: {shown}; commit or stash them, then run again"
    )
