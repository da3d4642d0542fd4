"""The conflict escape: local commits that cannot be replayed go to their own branch.

The branch is ``<prefix><UTC time>``, e.g. ``conflicts/2026-12-01T09-30-00Z``; when
that name is taken, locally or on the remote, the commit's short id is appended,
then a number. A branch an earlier run left at this very commit (its push refused,
or pushing off) is reused instead of making another. The branch is pushed
create-only, so nothing on the remote is ever overwritten: a name taken there
meanwhile is given up and the next one tried. The run's guard is asked before each
ref is created or deleted, and by the push before each push (``LockLostError``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ._errors import GitError
from ._facts import Facts
from ._git import create_ref, delete_ref
from ._result import PushResult, PushStatus
from ._target import Target
from ._transfers import Transfers

__all__ = ["EscapeResult", "conflict_names", "escape_commits"]

_MAX_NAME_TRIES = 5


@dataclass(frozen=True)
class EscapeResult:
    """Where the local commits went.

    ``branch`` is the conflict branch that holds them, or None when none could be
    made (``problem`` says why). ``push`` is the run's push after publishing it:
    ``ok`` when it landed, ``failed`` or ``rejected`` when it did not (the branch
    then exists locally only), unchanged when pushing is off.
    """

    branch: str | None
    push: PushResult
    problem: str | None = None


def conflict_names(prefix: str, commit: str, now: datetime) -> list[str]:
    """The names a conflict branch for ``commit`` may take, in the order tried."""
    base = f"{prefix}{now.strftime('%Y-%m-%dT%H-%M-%SZ')}"
    short = commit[:7]
    return [base, f"{base}-{short}"] + [f"{base}-{short}-{n}" for n in range(2, _MAX_NAME_TRIES)]


def escape_commits(target: Target, transfers: Transfers, facts: Facts) -> EscapeResult:
    """Put the local head on a conflict branch, and on the remote too unless pushing
    is off. ``facts`` give the local head, the remote's heads as last fetched, and
    the run's push so far."""
    assert facts.local is not None
    return _Escape(target, transfers, facts.local, facts).run()


class _Escape:
    """One escape: the run's push as it stands while names are tried."""

    def __init__(self, target: Target, transfers: Transfers, local: str, facts: Facts) -> None:
        self._target = target
        self._transfers = transfers
        self._local = local
        self._heads = facts.remote_heads
        self._rounds = facts.round
        self.push = facts.push  # the tries of pushes given up add up here

    def run(self) -> EscapeResult:
        spec, repo = self._target.spec, self._target.repo
        for name in repo.branches_at(spec.conflict_prefix, self._local):
            found = self._reuse(name)
            if found is not None:
                return found
        for name in conflict_names(spec.conflict_prefix, self._local, datetime.now(UTC)):
            found = self._take(name)
            if found is not None:
                return found
        problem = "no free name for the conflict branch; delete old conflict branches"
        return EscapeResult(None, self.push, problem)

    def _reuse(self, name: str) -> EscapeResult | None:
        """Reuse a conflict branch an earlier run left at this commit, unless the
        remote has another commit under that name."""
        ref = f"refs/heads/{name}"
        if self._heads.get(ref) == self._local:
            return EscapeResult(name, PushResult(PushStatus.OK, self.push.attempts))
        if ref in self._heads:
            return None
        return self._publish(name)

    def _take(self, name: str) -> EscapeResult | None:
        """Create the branch ``name`` where no ref of that name exists, locally or on
        the remote, and publish it; None when the name turned out to be taken."""
        ref = f"refs/heads/{name}"
        repo = self._target.repo
        if ref in self._heads or repo.ref_exists(ref):
            return None
        message = f"git-reconcile: escape {self._target.branch}"
        self._transfers.guard.check(f"creating the conflict branch {name}")
        try:
            created = create_ref(repo, ref, self._local, message)
        except GitError as exc:
            return EscapeResult(None, self.push, f"cannot create the conflict branch {name}: {exc}")
        if not created:
            return None
        found = self._publish(name)
        if found is None:
            # The name was taken on the remote meanwhile.
            self._transfers.guard.check(f"giving up the conflict branch {name}")
            delete_ref(repo, ref, self._local)
        return found

    def _publish(self, name: str) -> EscapeResult | None:
        """Push the branch create-only. None when the name was taken on the remote
        meanwhile; a push that failed or was refused is the result, reported as such."""
        if not self._target.spec.push:
            return EscapeResult(name, self.push)
        attempt = self._transfers.push({f"refs/heads/{name}": None})
        if attempt.answer is not None and attempt.answer.raced:
            self.push = attempt.counted(self.push)
            return None
        return EscapeResult(name, attempt.result(self.push, self._rounds))
