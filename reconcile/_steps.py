"""The model the state table drives: one method per step.

Each step does its git work through the git layer and records what it found as
a new ``Facts``. The steps catch the failures the git layer is expected to meet
(a fetch that fails, a move refused, a push rejected) and record them as facts,
so that every run ends in one of the outcomes. The conditions that read the
facts come from ``Conditions``.

The run's guard (``_guard``) is asked before each write. Its lock lost before
anything was written, the run goes on to the fetching step only to end
``fetch-failed`` there; after a write, a step ends ``blocked`` through the rows that
already lead there (a move refused), or raises ``LockLostError`` for the engine's
one edge outside the table.
"""

from __future__ import annotations

import logging
import os
import pwd
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ._commit import CommitRequest
from ._errors import CheckoutBlockedError, GitError, LockLostError, RefMovedError
from ._facts import Conditions, Facts
from ._git import GitRepo, clear_stale_locks, finish_interrupted_move, local_repository
from ._guard import Guard
from ._result import LOCK_LOST, PushResult, PushStatus
from ._target import Target
from ._transfers import Transfers

if TYPE_CHECKING:
    from ._git import Blockers, Locks

# What only some runs do (committing, rebasing, moving a branch, squashing, escaping)
# is imported by its step when it runs, so that an in-sync run, which needs none of
# it, does not load those modules.

__all__ = ["Steps", "unwritable"]

logger = logging.getLogger("reconcile")


class Steps(Conditions):
    """One run: its target, its transfers, and the facts found so far."""

    state: str  # set by the machine

    def __init__(
        self,
        target: Target,
        facts: Facts,
        request: CommitRequest | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.target = target
        self.guard = guard if guard is not None else Guard()
        self.transfers = Transfers(target, self.guard)
        self.facts = facts
        self.request = request

    # --- inspecting -------------------------------------------------------------------

    def inspect(self) -> None:
        """Is the repository safe to touch? Clear the lock files and temporaries
        crashed writers left, and finish a move a crash cut short, on the way."""
        if self.facts.unsafe is None:
            lost = self.guard.why("touching the repository")
            if lost is not None:  # nothing is written: the fetching step ends the run
                self.facts = replace(self.facts, lock_lost=lost)
                return
        unsafe = self.facts.unsafe or self._busy() or self._shared() or self._resume()
        self.facts = replace(self.facts, unsafe=unsafe)

    def _busy(self) -> str | None:
        """Why the run must not look further: no branch, or git is in the middle of
        an operation."""
        if not self.target.branch:
            return "HEAD is detached and no branch was given; name one with --branch"
        place = self.target.repo.unwritable()
        if place is not None:
            return unwritable(self.target.repo.gitdir, place)
        operation = self.target.repo.in_progress()
        if operation is not None:
            return (
                f"{operation} is in progress in {self.target.path}; finish or abort it "
                "(e.g. git merge --abort, git rebase --abort), then run again"
            )
        return None

    def _shared(self) -> str | None:
        """Why another writer may be at work: the branch is checked out in another
        working tree, or a live process holds one of the repository's lock files."""
        repo, branch = self.target.repo, self.target.branch
        elsewhere = repo.checked_out_elsewhere(branch)
        if elsewhere is not None:
            return (
                f"{branch} is checked out in the working tree {elsewhere}; moving it "
                "from here would leave that tree behind: reconcile that working tree instead"
            )
        locks = _cleared(repo.gitdir, repo.workdir)
        remote = local_repository(self.target.remote.url)
        if remote is not None:
            # Pushes to a path remote write it from this process: a run killed while
            # pushing leaves its ref lock behind. Its live locks are the push's to meet.
            _cleared(*remote)
        if locks.undecided:
            return (
                f"{', '.join(locks.undecided)} may belong to a process this run cannot look "
                "at (another user's, or a crashed one); if no git process is working in the "
                "repository, remove it, then run again"
            )
        if locks.live:
            return (
                f"another process is writing the repository (it holds {', '.join(locks.live)}); "
                "run again when it is done"
            )
        return None

    def _resume(self) -> str | None:
        """Finish the move a crash cut short (the ref lock it left is gone by now);
        why the run must stop, if it cannot be finished."""
        repo = self.target.repo
        resumed = finish_interrupted_move(repo)
        if resumed.done is not None:
            logger.warning("%s: %s", self.target.path, resumed.done)
        if resumed.moved:
            self.facts = replace(self.facts, local=repo.branch_tip(self.target.branch))
        return resumed.blocked

    # --- committing -------------------------------------------------------------------

    def commit(self) -> None:
        """Stage and commit the working tree, as the run's commit request asks."""
        assert self.request is not None
        if self.facts.lock_lost is None:
            lost = self.guard.why("committing")
            self.facts = replace(self.facts, lock_lost=lost)
        if self.facts.lock_lost is not None:  # nothing is written: the fetch ends the run
            return
        from ._committing import commit_worktree

        done = commit_worktree(self.target, self.request, self.facts.local)
        local = done.info.sha if done.info is not None else self.facts.local
        self.facts = replace(
            self.facts,
            local=local,
            commit=done.info,
            skipped_paths=done.skipped,
            commit_refusal=done.refusal,
            commit_note=done.note,
        )

    # --- fetching ---------------------------------------------------------------------

    def fetch(self) -> None:
        """Read the remote's branch (downloading it only when new), and compare."""
        facts = replace(self.facts, round=self.facts.round + 1)
        try:
            if facts.lock_lost is not None:
                raise LockLostError(facts.lock_lost)
            remote = self.transfers.fetch()
        except LockLostError as exc:
            if facts.round > 1 or facts.local != self.target.original:
                raise  # something was written: the engine ends the run blocked
            self.facts = replace(facts, fetch_failure=str(exc), lock_lost=str(exc))
            return
        except GitError as exc:
            self.facts = replace(facts, fetch_failure=str(exc))
            return
        repo = self.target.repo
        local = repo.branch_tip(self.target.branch)
        base, ahead, behind = _compare(repo, local, remote.tip)
        tracking = f"refs/remotes/{self.target.spec.remote}/{self.target.branch}"
        self.facts = replace(
            facts,
            local=local,
            remote_tip=remote.tip,
            last_seen=repo.ref_target(tracking),
            remote_heads=remote.heads,
            base=base,
            ahead=ahead,
            behind=behind,
        )

    # --- moving -----------------------------------------------------------------------

    def fast_forward(self) -> None:
        assert self.facts.remote_tip is not None
        self._move(
            self.facts.remote_tip,
            f"git-reconcile: fast-forward {self.target.branch} to {self.target.spec.remote}",
        )

    def rebase(self) -> None:
        """Replay the local commits onto the remote's tip in memory, as git rebase
        would (patches already upstream dropped), then move there."""
        from ._git import replay

        facts, repo, spec = self.facts, self.target.repo, self.target.spec
        assert facts.local is not None
        assert facts.remote_tip is not None
        replayed = replay(
            repo, facts.local, facts.remote_tip, spec.committer, spec.commit_policy.signer
        )
        if replayed.unsigned is not None:  # fail closed: blocked, the branch as it was
            self.facts = replace(facts, move_error=replayed.unsigned)
            return
        if replayed.tip is None:
            self.facts = replace(
                facts,
                conflict_paths=replayed.conflict_paths,
                conflict_detail=replayed.conflict_detail,
                replay_refused=replayed.refused or "a local commit conflicts",
            )
            return
        self.facts = replace(
            facts,
            rebased=True,
            replayed=facts.replayed + replayed.replayed,
            dropped=facts.dropped + replayed.dropped,
            dropped_upstream=facts.dropped_upstream + replayed.upstream,
        )
        self._move(replayed.tip, f"git-reconcile: rebase {self.target.branch} onto {spec.remote}")

    def _move(self, new: str, message: str) -> None:
        from ._git import move_branch

        lost = self.guard.why(f"moving {self.target.branch}")
        if lost is not None:
            self.facts = replace(self.facts, move_error=lost, lock_lost=lost)
            return
        try:
            move_branch(
                self.target.repo, self.target.branch, self.facts.local, new, message=message
            )
        except (CheckoutBlockedError, RefMovedError) as exc:
            self.facts = replace(self.facts, move_error=str(exc))
            return
        self.facts = replace(self.facts, local=new)

    # --- pushing ----------------------------------------------------------------------

    def push(self) -> None:
        """Push the local branch under a lease on the tip the fetch saw (squashing this
        tool's own unpushed commits first, when the policy asks)."""
        try:
            self._squash()
            facts = self.facts
            if facts.local == facts.remote_tip or facts.local is None:
                push = replace(facts.push, status=PushStatus.SKIPPED, error=None, reason=None)
            elif not self.target.spec.push:
                push = replace(facts.push, status=PushStatus.SKIPPED, error="pushing is turned off")
            else:
                attempt = self.transfers.push({self.target.refname: facts.remote_tip})
                push = attempt.result(facts.push, facts.round)
        except LockLostError as exc:
            # Not pushed: the engine ends the run blocked, with this reason.
            attempts = self.facts.push.attempts
            failed = PushResult(PushStatus.FAILED, attempts, str(exc), LOCK_LOST)
            self.facts = replace(self.facts, push=failed, lock_lost=str(exc))
            raise
        self.facts = replace(facts, push=push)

    def _squash(self) -> None:
        facts, spec = self.facts, self.target.spec
        if not (spec.commit_policy.squash_unpushed and spec.push) or facts.local is None:
            return
        from ._squash import squash_unpushed, squashed_commit

        self.guard.check(f"squashing the unpushed commits of {self.target.branch}")
        squashed = squash_unpushed(self.target, facts.local, facts.remote_tip)
        if squashed is None:
            return
        commit = facts.commit
        if commit is None or commit.sha in squashed.replaced:
            commit = squashed_commit(self.target, squashed, commit)
        self.facts = replace(
            facts, local=squashed.sha, ahead=facts.ahead - squashed.count + 1, commit=commit
        )

    # --- escaping ---------------------------------------------------------------------

    def escape(self) -> None:
        """Put the local commits on a conflict branch; reset the local branch to the
        remote's only once that branch is on the remote."""
        from ._escape import escape_commits
        from ._git import blocking_paths

        facts, repo, spec = self.facts, self.target.repo, self.target.spec
        local, tip = facts.local, facts.remote_tip
        assert local is not None
        assert tip is not None
        self.facts = facts = replace(facts, escaped_commits=tuple(repo.commits_not_in(local, tip)))
        if repo.is_checked_out(self.target.branch):
            found = blocking_paths(repo, local, tip)
            if found.paths:
                self.facts = replace(facts, move_error=_escape_blocked(found))
                return
        try:
            put = escape_commits(self.target, self.transfers, facts)
        except LockLostError as exc:
            self.facts = replace(facts, move_error=str(exc), lock_lost=str(exc))
            return
        self.facts = replace(
            facts, conflict_branch=put.branch, push=put.push, move_error=put.problem
        )
        if put.branch is None:
            return
        if put.push.status in (PushStatus.FAILED, PushStatus.REJECTED):
            note = "; the local branch was left as it is until the push lands"
            self.facts = replace(self.facts, escape_note=note)
            return
        if not spec.push:
            # The local branch is reset only once the escaped commits are on the remote.
            note = "; the local branch was left as it is (pushing is off)"
            self.facts = replace(self.facts, escape_note=note)
            return
        self._move(
            tip, f"git-reconcile: escaped local commits to {put.branch}, reset to {spec.remote}"
        )


def unwritable(gitdir: Path, place: Path) -> str:
    """Why a repository whose git directory this user may not write is left alone,
    and what to do."""
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    return (
        f"this user ({user}) may not write {place}; a run writes the git directory "
        f"(its lock, fetched objects, refs): give {user} write access to {gitdir} "
        "(or run as the user who owns it), then run again"
    )


def _cleared(gitdir: Path, workdir: Path | None) -> Locks:
    """Clear the stale locks and old temporaries of a repository, saying so."""
    locks = clear_stale_locks(gitdir, workdir)
    for path in locks.cleared:
        logger.warning("removed a stale lock file left by a crashed process: %s", path)
    for path in locks.temporaries:
        logger.warning("removed a temporary file left by a crashed process: %s", path)
    return locks


def _compare(repo: GitRepo, local: str | None, tip: str | None) -> tuple[str | None, int, int]:
    """The merge base of the local and remote tips, and how far each is ahead."""
    if local is None or tip is None:
        ahead = len(repo.commits_not_in(local, None)) if local else 0
        behind = len(repo.commits_not_in(tip, None)) if tip else 0
        return local or tip, ahead, behind
    if local == tip:
        return local, 0, 0
    base = repo.merge_base(local, tip)
    ahead, behind = repo.ahead_behind(local, tip)
    return base, ahead, behind


def _escape_blocked(found: Blockers) -> str:
    return f"local commits must be escaped, but {found.describe()}; {found.advice()}"
