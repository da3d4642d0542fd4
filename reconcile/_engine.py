"""One reconcile run: the lock, the machine, the loop, the result and its log line;
and the small public helpers that read a repository without running.

``BadInputError`` is raised before the machine starts (``open_target``); after
that, every problem ends in one of the outcomes.
"""

from __future__ import annotations

import errno
import functools
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from transitions import Machine

from ._commit import CommitInfo, CommitRequest
from ._control import CancelToken, ProgressCallback
from ._errors import (
    BadInputError,
    GitError,
    LockLostError,
    ReconcileError,
    RepoLockTimeout,
    UnknownBranchError,
)
from ._facts import Facts
from ._git import GitRepo
from ._guard import Guard, RunGuard
from ._lock import RepoLock
from ._machine import BLOCKED, INITIAL, NEXT, TERMINAL, build_machine
from ._reasons import reason
from ._redact import redact_url
from ._result import Outcome, PushResult, Result
from ._spec import RepoSpec
from ._steps import Steps, unwritable
from ._target import open_target
from ._transfers import Transfers

__all__ = [
    "RepoInfo",
    "commit_reachable",
    "git_directory",
    "inspect_repo",
    "push_with_lease",
    "reconcile",
]

logger = logging.getLogger("reconcile")

# Why a lock file cannot be created: this user may not write there, or the file
# system is read-only. The run then ends blocked, as an unwritable repository.
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def reconcile(
    spec: RepoSpec,
    *,
    commit: CommitRequest | None = None,
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
    lock: bool = True,
    guard: RunGuard | None = None,
) -> Result:
    """Reconcile one branch of one repository with its remote, and say what happened.

    Raises ``NotARepositoryError``, ``UnknownRemoteError``, ``UnknownBranchError``
    or ``InvalidSpecError`` (all ``BadInputError``) before touching anything; every
    other problem ends in an outcome of the returned ``Result``. With ``commit``, the
    run first commits the working tree as the request asks (``Result.commit``), under
    the same lock, then reconciles. ``cancel`` stops
    the run's network operations; ``progress`` is told how transfers advance, a
    few times a second at most. The run holds the repository's ``RepoLock`` (one
    reconcile at a time, across processes), waiting up to ``spec.lock_timeout``;
    pass ``lock=False`` when the caller holds it already. ``guard`` stands for a lock
    the caller holds elsewhere (see ``RunGuard``): it is asked before every write,
    and once it answers that its lock is gone the run writes nothing more, ending
    ``fetch-failed`` (nothing written yet) or ``blocked``.
    """
    started = time.monotonic()
    target = open_target(spec, cancel, progress)
    steps = Steps(
        target,
        Facts(
            branch=target.branch,
            remote=spec.remote,
            max_rounds=spec.max_rounds,
            local=target.original,
            commit_wanted=commit is not None,
        ),
        commit,
        Guard(guard),
    )
    with run_lock(steps, spec.lock_timeout, cancel, take=lock):
        _drive(steps)
    result = _result(steps, Outcome(steps.state.replace("_", "-")), time.monotonic() - started)
    _log(result)
    return result


@contextmanager
def run_lock(
    steps: Steps, timeout: float, cancel: CancelToken | None, *, take: bool = True
) -> Iterator[None]:
    """The repository's run lock (``RepoLock``) held around the steps (``take=False``:
    the caller holds it). Another run holding it, or a git directory this user may
    not write, is a fact found before the first step (``unsafe``: the inspecting
    step looks no further), not an error."""
    gitdir = steps.target.repo.gitdir
    held = RepoLock(gitdir, timeout, cancel) if take else None
    try:
        if held is not None:
            held.acquire()
    except RepoLockTimeout as exc:
        held = None
        steps.facts = replace(steps.facts, unsafe=f"{exc}; run again when it is done")
    except OSError as exc:
        if exc.errno not in _UNWRITABLE or held is None:
            raise
        steps.facts = replace(steps.facts, unsafe=unwritable(gitdir, held.path))
        held = None
    try:
        yield
    finally:
        if held is not None:
            held.release()


@functools.cache
def _machine() -> Machine:
    """The table's machine, built once per process; each run's model is driven
    through it without being bound to it.

    Runs in several threads share it safely: a machine without a queue keeps a
    transition's state in its event, not in itself, and every call is given the
    model. (Two threads racing here may each build one: both are the table.)
    """
    return build_machine()


def _drive(steps: Steps) -> None:
    """Run the table from its initial state to an outcome.

    Each trigger goes straight to the machine's event with the run's model, which is
    what the trigger methods ``add_model`` would put on the model do; binding and
    unbinding them (a method per trigger and per state) cost more than the run's
    transitions, and changed the shared machine's list of models at every run.
    """
    machine = _machine()
    events = machine.events
    machine.set_state(INITIAL, model=steps)
    try:
        while steps.state not in TERMINAL:
            events[NEXT[steps.state]].trigger(steps)
    except LockLostError as exc:
        # The same edge: the run's guard lost its lock after something was written.
        steps.facts = replace(steps.facts, unsafe=str(exc), lock_lost=str(exc))
        machine.set_state(BLOCKED, model=steps)
    except ReconcileError as exc:
        # The one edge outside the table (see _machine): a step met something the
        # steps do not expect (a ref name git refuses, a credential file that
        # vanished). Whatever it is, the steps wrote nothing half-way: refs move by
        # compare-and-swap, so the run stops, blocked.
        steps.facts = replace(steps.facts, unsafe=f"stopped at {steps.state}: {exc}")
        machine.set_state(BLOCKED, model=steps)


def _result(steps: Steps, outcome: Outcome, seconds: float) -> Result:
    target, facts = steps.target, steps.facts
    new = target.repo.branch_tip(target.branch) if target.branch else None
    said = reason(outcome, facts)
    if facts.commit_note and outcome is not Outcome.BLOCKED:
        said = f"{facts.commit_note}; {said}"
    return Result(
        repo=str(target.path),
        remote=target.spec.remote,
        branch=target.branch,
        outcome=outcome,
        old_commit=target.original,
        new_commit=new,
        remote_commit=facts.remote_tip,
        ahead=facts.ahead,
        behind=facts.behind,
        conflict_branch=facts.conflict_branch,
        push=facts.push,
        reason=said,
        duration_ms=seconds * 1000.0,
        conflict_paths=facts.conflict_paths,
        escaped_commits=facts.escaped_commits if outcome is Outcome.CONFLICT_ESCAPED else (),
        operations=tuple(steps.transfers.operations),
        commit=_final_commit(steps, new),
        skipped_paths=facts.skipped_paths,
    )


def _final_commit(steps: Steps, new: str | None) -> CommitInfo | None:
    """The run's commit as it is after the run: a rebase gave it a new id; an escape
    left it on the conflict branch."""
    facts = steps.facts
    info = facts.commit
    if info is None:
        return None
    from ._squash import relocated  # only a run that committed: see _steps

    depth = facts.ahead + facts.replayed + 1
    found = relocated(steps.target, info, new, depth)
    return info if found is None or found == info.sha else replace(info, sha=found)


def _log(result: Result) -> None:
    if result.outcome is Outcome.CONFLICT_ESCAPED:
        level = logging.ERROR
    elif result.ok:
        level = logging.INFO
    else:
        level = logging.WARNING
    if not logger.isEnabledFor(level):
        return  # nothing would be written: the line is not built
    fields: dict[str, Any] = {
        "repo": result.repo,
        "branch": result.branch,
        "outcome": result.outcome.value,
        "old_commit": result.old_commit,
        "new_commit": result.new_commit,
        "remote_commit": result.remote_commit,
        "conflict_branch": result.conflict_branch,
        "push_status": result.push.status.value,
        "commit": None if result.commit is None else result.commit.sha,
        "duration_ms": round(result.duration_ms, 1),
    }
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    if level == logging.ERROR:
        text = f"local commits escaped to {result.conflict_branch}: {text}"
    logger.log(level, "%s reason=%r", text, result.reason, extra={"reconcile": fields})


# --- the small public helpers ----------------------------------------------------------


@dataclass(frozen=True)
class RepoInfo:
    """What a repository says about itself: its git directory, the branch a run of
    the spec would reconcile, and the remote's URL (credentials redacted)."""

    gitdir: Path
    branch: str | None
    remote_url: str


def inspect_repo(spec: RepoSpec, *, check_branch: bool = False) -> RepoInfo:
    """Describe the repository of ``spec`` without changing anything; raises
    ``BadInputError`` like ``reconcile()`` would for the path and the remote, and with
    ``check_branch`` for the branch too (a malformed name, or one that is neither a
    local branch nor the branch HEAD names). No network is touched."""
    if check_branch:
        open_target(spec)
    repo = GitRepo(spec.resolved_path, trusted=spec.trust)
    url = repo.remote_url(spec.remote)
    return RepoInfo(repo.gitdir, spec.branch or repo.head_branch(), redact_url(url))


def git_directory(path: Path | str, *, trust: bool = False) -> Path:
    """The git directory of a repository (``.git`` of a working tree, or the bare
    repository itself); raises ``NotARepositoryError``, or ``DubiousOwnershipError``
    for another user's repository unless ``trust`` (``RepoSpec.trust``) is given."""
    return GitRepo(Path(path).expanduser().absolute(), trusted=trust).gitdir


def commit_reachable(path: Path | str, branch: str, commit: str) -> bool:
    """True when ``commit`` (a full hex id) is already on the local ``branch``.

    Cheap (no network, no lock): a webhook announcing a commit the repository
    already has needs no reconcile. Any doubt (a malformed id, a missing branch)
    answers False, so the caller reconciles.

    Checks of one repository from one thread reuse its opened handle for a few
    seconds (opening it is most of the cost, and a webhook intake under load checks
    one repository thousands of times a second). Each check still reads the branch
    afresh, and libgit2 looks for new packs when an object is missing, so what a
    fetch brought in meanwhile is seen.
    """
    try:
        return _opened(Path(path).expanduser().absolute()).reachable(branch, commit)
    except (GitError, BadInputError):
        return False


_REUSE_SECONDS = 5.0  # then the handle is opened again (and the old one's packs let go)
_REUSED_AT_MOST = 8  # repositories per thread
_handles = threading.local()


def _opened(path: Path) -> GitRepo:
    """This thread's open handle of ``path``, reused while it is recent."""
    held: dict[Path, tuple[float, GitRepo]] = _handles.__dict__.setdefault("repos", {})
    now = time.monotonic()
    found = held.get(path)
    if found is not None and now - found[0] < _REUSE_SECONDS:
        return found[1]
    for stale in [p for p, (opened, _r) in held.items() if now - opened >= _REUSE_SECONDS]:
        del held[stale]
    repo = GitRepo(path)
    if len(held) < _REUSED_AT_MOST:
        held[path] = (now, repo)
    return repo


def push_with_lease(
    spec: RepoSpec,
    expected: str | None,
    *,
    branch: str | None = None,
    cancel: CancelToken | None = None,
) -> PushResult:
    """Force-push the local branch, but only if the remote branch is at ``expected``.

    ``expected`` is the commit the remote branch must hold (None: it must not exist
    yet, a create-only push). The lease is checked in push negotiation, before
    anything is sent; a lost lease leaves the remote untouched and gives status
    ``rejected`` with reason ``non-fast-forward``. Use it for history the
    application rewrote on purpose; ``reconcile()`` never needs force.
    """
    target = open_target(spec if branch is None else replace(spec, branch=branch), cancel)
    if target.original is None:
        raise UnknownBranchError(f"{target.path} has no branch {target.branch!r} to push")
    attempt = Transfers(target).push({target.refname: expected}, force=True)
    return attempt.result(PushResult(), rounds=0)
