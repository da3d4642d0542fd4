"""The human reason of a result: what the run did, in a sentence, from its facts."""

from __future__ import annotations

from collections.abc import Callable

from ._facts import Facts
from ._result import Outcome, PushStatus

__all__ = ["reason"]


def reason(outcome: Outcome, facts: Facts) -> str:
    """Say what a run that ended in ``outcome`` did, and why, for an operator."""
    return _REASONS[outcome](facts)


def _push_error(facts: Facts) -> str:
    return "" if facts.push.error is None else f"; push: {facts.push.error}"


def _in_sync(facts: Facts) -> str:
    if facts.local is None:
        return f"{facts.branch} has no commits, locally or on {facts.remote}"
    return f"{facts.branch} is at the same commit locally and on {facts.remote}"


def _fast_forwarded(facts: Facts) -> str:
    return f"fast-forwarded {facts.behind} commit(s) from {facts.remote}"


def _pushed_ahead(facts: Facts) -> str:
    if facts.push.status is PushStatus.OK:
        created = " (created the branch there)" if facts.remote_tip is None else ""
        return f"pushed {facts.ahead} local commit(s) to {facts.remote}{created}"
    return f"{facts.ahead} local commit(s) not pushed{_push_error(facts)}"


def _rebased(facts: Facts) -> str:
    dropped = f", dropped {facts.dropped} that became empty" if facts.dropped else ""
    if facts.dropped_upstream:
        dropped = f", dropped {facts.dropped_upstream} already on {facts.remote}{dropped}"
    landed = "pushed" if facts.push.status is PushStatus.OK else "not pushed"
    if facts.local == facts.remote_tip:  # every local commit was dropped
        landed = "nothing left to push"
    return (
        f"replayed {facts.replayed} local commit(s) onto {facts.behind} from "
        f"{facts.remote}{dropped}; {landed}{_push_error(facts)}"
    )


def _conflict_escaped(facts: Facts) -> str:
    if facts.conflict_paths:
        shown = ", ".join(facts.conflict_paths[:10])
        why = f"local commits conflict with {facts.remote} in {shown}"
        if facts.conflict_detail:
            why += f" ({facts.conflict_detail})"
    elif facts.replay_refused:
        why = facts.replay_refused
    else:
        why = f"local and {facts.remote} share no history"
    where = "pushed" if facts.push.status is PushStatus.OK else "kept locally"
    reset = facts.escape_note or f"; {facts.branch} reset to {facts.remote}"
    escaped = f"{len(facts.escaped_commits)} commit(s) escaped to {facts.conflict_branch}"
    return f"{why}; {escaped} ({where}){reset}{_push_error(facts)}"


def _fetch_failed(facts: Facts) -> str:
    if facts.lock_lost is not None:
        return f"{facts.lock_lost}; {facts.remote} was not read and nothing was written"
    return f"could not read {facts.remote}: {facts.fetch_failure}"


def _blocked(facts: Facts) -> str:
    text = facts.unsafe or facts.commit_refusal or facts.move_error or _deleted(facts) or "blocked"
    if facts.conflict_branch:
        text += f" (local commits are on {facts.conflict_branch})"
    return text


def _deleted(facts: Facts) -> str | None:
    """Why a branch the remote deleted is not pushed back, and what to do."""
    if not facts.remote_branch_deleted():
        return None
    seen = (facts.last_seen or "")[:10]
    return (
        f"{facts.branch} was deleted on {facts.remote} (it was at {seen} when last seen "
        f"there); it is not re-created on its own and the local branch is left as it is: "
        f"to publish it again, forget the remote's old copy (git branch -d -r "
        f"{facts.remote}/{facts.branch}) and run again, or reconcile another branch"
    )


_REASONS: dict[Outcome, Callable[[Facts], str]] = {
    Outcome.IN_SYNC: _in_sync,
    Outcome.FAST_FORWARDED: _fast_forwarded,
    Outcome.PUSHED_AHEAD: _pushed_ahead,
    Outcome.REBASED: _rebased,
    Outcome.CONFLICT_ESCAPED: _conflict_escaped,
    Outcome.FETCH_FAILED: _fetch_failed,
    Outcome.BLOCKED: _blocked,
}
