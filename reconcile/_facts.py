"""What a run has found out: the one value the state table's conditions read.

The steps record facts, each time as a new ``Facts`` (the value is frozen); the
conditions are pure predicates over them, so any row of the table can be checked
with facts alone, no repository. ``Conditions`` is the model's side of it:
transitions looks each condition up by name on the model, and the model asks its
facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ._commit import CommitInfo
from ._result import REMOTE_MOVED, PushResult, PushStatus

__all__ = ["Conditions", "Facts"]


@dataclass(frozen=True)
class Facts:
    """The facts of one run. Commits are full hex ids, or None where there is none."""

    branch: str  # the branch reconciled; "" when HEAD is detached and none was named
    remote: str  # the remote's name
    max_rounds: int  # how many times a run may fetch (a raced push fetches again)
    unsafe: str | None = None  # why the repository must not be touched
    round: int = 0  # fetches so far
    fetch_failure: str | None = None  # why the remote could not be read
    local: str | None = None  # the local branch's tip
    remote_tip: str | None = None  # the remote branch's tip, as last fetched
    last_seen: str | None = None  # its tip as git remembers it (refs/remotes/<remote>/<b>)
    remote_heads: Mapping[str, str] = field(default_factory=dict)  # every head it advertised
    base: str | None = None  # the merge base of the two tips (None: no common history)
    ahead: int = 0  # local commits the remote does not have
    behind: int = 0  # remote commits the local branch does not have
    move_error: str | None = None  # why the branch could not be moved
    replay_refused: str | None = None  # why the local commits could not be replayed
    conflict_paths: tuple[str, ...] = ()  # the paths of the replay's conflict
    conflict_detail: str | None = None  # what kind of conflict, when not a plain one
    rebased: bool = False  # the local commits were replayed onto the remote
    replayed: int = 0  # commits replayed, over the run's rounds
    dropped: int = 0  # commits dropped because they became empty
    dropped_upstream: int = 0  # commits dropped because their patch is already upstream
    push: PushResult = field(default_factory=PushResult)  # the run's push, attempts summed
    conflict_branch: str | None = None  # the branch the local commits were escaped to
    escaped_commits: tuple[str, ...] = ()  # the commits put on it
    escape_note: str = ""  # why the local branch was left where it is after an escape
    lock_lost: str | None = None  # why the run stopped before writing: its guard's lock is gone
    commit_wanted: bool = False  # the run was asked to commit the working tree first
    commit_refusal: str | None = None  # why the working tree could not be committed
    commit: CommitInfo | None = None  # the commit the run made
    skipped_paths: tuple[str, ...] = ()  # changes the exclude globs left out of it
    commit_note: str = ""  # what the committing step did, for the reason

    # --- the table's conditions --------------------------------------------------

    def local_unsafe(self) -> bool:
        """Something makes touching the repository unsafe (a writer, an operation)."""
        return self.unsafe is not None

    def commit_requested(self) -> bool:
        """The run was asked to commit the working tree before reconciling."""
        return self.commit_wanted

    def commit_refused(self) -> bool:
        """The working tree could not be committed safely (nothing was written)."""
        return self.commit_refusal is not None

    def fetch_error(self) -> bool:
        return self.fetch_failure is not None

    def same_commit(self) -> bool:
        return self.local == self.remote_tip

    def remote_branch_deleted(self) -> bool:
        """The remote no longer has the branch, which it had when git last saw it
        (its remote-tracking ref): someone deleted it there."""
        return self.remote_tip is None and self.last_seen is not None

    def local_behind(self) -> bool:
        """Only the remote has new commits (or only the remote has the branch)."""
        return self.remote_tip is not None and (
            self.local is None or (self.ahead == 0 < self.behind)
        )

    def local_ahead(self) -> bool:
        """Only the local branch has new commits (or only it exists)."""
        return self.local is not None and (
            self.remote_tip is None or (self.behind == 0 < self.ahead)
        )

    def no_common_history(self) -> bool:
        return self.base is None

    def replay_conflicted(self) -> bool:
        """The local commits could not be replayed (a conflict, or a merge commit)."""
        return self.replay_refused is not None

    def move_refused(self) -> bool:
        """The branch could not be moved (changes in the way, or it moved meanwhile)."""
        return self.move_error is not None

    def push_raced(self) -> bool:
        """The push was refused because the remote moved since the fetch."""
        return self.push.status is PushStatus.REJECTED and self.push.reason == REMOTE_MOVED

    def rounds_left(self) -> bool:
        return self.round < self.max_rounds

    def commits_replayed(self) -> bool:
        """This run rewrote local commits onto the remote, so a push lands a rebase."""
        return self.rebased


class Conditions:
    """The table's conditions, asked of a model that holds ``facts``: each is the
    ``Facts`` predicate of the same name."""

    facts: Facts

    def local_unsafe(self) -> bool:
        return self.facts.local_unsafe()

    def commit_requested(self) -> bool:
        return self.facts.commit_requested()

    def commit_refused(self) -> bool:
        return self.facts.commit_refused()

    def fetch_error(self) -> bool:
        return self.facts.fetch_error()

    def same_commit(self) -> bool:
        return self.facts.same_commit()

    def remote_branch_deleted(self) -> bool:
        return self.facts.remote_branch_deleted()

    def local_behind(self) -> bool:
        return self.facts.local_behind()

    def local_ahead(self) -> bool:
        return self.facts.local_ahead()

    def no_common_history(self) -> bool:
        return self.facts.no_common_history()

    def replay_conflicted(self) -> bool:
        return self.facts.replay_conflicted()

    def move_refused(self) -> bool:
        return self.facts.move_refused()

    def push_raced(self) -> bool:
        return self.facts.push_raced()

    def rounds_left(self) -> bool:
        return self.facts.rounds_left()

    def commits_replayed(self) -> bool:
        return self.facts.commits_replayed()
