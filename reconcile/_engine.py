"""One reconcile run: the model the state table drives.

Conditions are pure predicates over the facts the steps record. Steps call the git
layer; they catch its ``GitError`` and record it as a fact, so every run ends in
one of the outcomes. ``BadInputError`` is raised before the machine starts.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import tenacity

from ._control import CancelToken, ProgressCallback
from ._errors import (
    BadInputError,
    CancelledError,
    CheckoutBlockedError,
    GitError,
    InvalidSpecError,
    NetworkError,
    ReconcileError,
    RefMovedError,
    RepoLockTimeout,
    UnknownBranchError,
)
from ._git import (
    GitRemote,
    GitRepo,
    NetOptions,
    PushOutcome,
    RemoteState,
    blocking_paths,
    clear_stale_locks,
    create_ref,
    delete_ref,
    finish_interrupted_move,
    move_branch,
    replay,
)
from ._hostkeys import default_known_hosts
from ._lock import RepoLock
from ._machine import TERMINAL, TRANSITIONS, build_machine
from ._redact import redact_url
from ._result import NetworkOperation, Outcome, PushResult, PushStatus, Result
from ._spec import RepoSpec, Retry

__all__ = [
    "RepoInfo",
    "commit_reachable",
    "git_directory",
    "inspect_repo",
    "push_with_lease",
    "reconcile",
]

logger = logging.getLogger("reconcile")

# The trigger that leaves each step; the table has exactly one per source state.
_NEXT = {source: trigger for trigger, source, _dest, _conds in TRANSITIONS}
_MAX_NAME_TRIES = 5
T = TypeVar("T")


def reconcile(
    spec: RepoSpec,
    *,
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
    lock: bool = True,
) -> Result:
    """Reconcile one branch of one repository with its remote, and say what happened.

    Raises ``NotARepositoryError``, ``UnknownRemoteError``, ``UnknownBranchError``
    or ``InvalidSpecError`` (all ``BadInputError``) before touching anything; every
    other problem ends in an outcome of the returned ``Result``. ``cancel`` stops
    the run's network operations; ``progress`` is told how transfers advance, a
    few times a second at most. The run holds the repository's ``RepoLock`` (one
    reconcile at a time, across processes), waiting up to ``spec.lock_timeout``;
    pass ``lock=False`` when the caller holds it already.
    """
    started = time.monotonic()
    run = _Run(spec, cancel, progress)
    held = RepoLock(run.repo.gitdir, spec.lock_timeout, cancel) if lock else None
    try:
        if held is not None:
            held.acquire()
    except RepoLockTimeout as exc:
        held = None
        run.lock_problem = f"{exc}; run again when it is done"
    try:
        machine = build_machine(run)
        try:
            run.trigger("begin")
            while run.state not in TERMINAL:
                run.trigger(_NEXT[run.state])
        except ReconcileError as exc:
            # A step met something the steps do not expect (a ref name git refuses,
            # a credential file that vanished). Whatever it is, the steps wrote nothing
            # half-way: refs move by compare-and-swap, so the run stops, blocked.
            run.unsafe = f"stopped at {run.state}: {exc}"
            machine.set_state("blocked")
    finally:
        if held is not None:
            held.release()
    result = run.result(Outcome(run.state.replace("_", "-")), time.monotonic() - started)
    _log(result)
    return result


@dataclass(frozen=True)
class RepoInfo:
    """What a repository says about itself: its git directory, the branch a run of
    the spec would reconcile, and the remote's URL (credentials redacted)."""

    gitdir: Path
    branch: str | None
    remote_url: str


def inspect_repo(spec: RepoSpec) -> RepoInfo:
    """Describe the repository of ``spec`` without changing anything; raises
    ``BadInputError`` like ``reconcile()`` would."""
    repo = GitRepo(spec.resolved_path)
    url = repo.remote_url(spec.remote)
    return RepoInfo(repo.gitdir, spec.branch or repo.head_branch(), redact_url(url))


def git_directory(path: Path | str) -> Path:
    """The git directory of a repository (``.git`` of a working tree, or the bare
    repository itself); raises ``NotARepositoryError``."""
    return GitRepo(Path(path).expanduser().absolute()).gitdir


def commit_reachable(path: Path | str, branch: str, commit: str) -> bool:
    """True when ``commit`` (a full hex id) is already on the local ``branch``.

    Cheap (no network, no lock): a webhook announcing a commit the repository
    already has needs no reconcile. Any doubt (a malformed id, a missing branch)
    answers False, so the caller reconciles.
    """
    try:
        return GitRepo(Path(path).expanduser().absolute()).reachable(branch, commit)
    except (GitError, BadInputError):
        return False


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
    run = _Run(spec if branch is None else _with_branch(spec, branch), cancel, None)
    refname = run.refname
    if run.local is None:
        raise UnknownBranchError(f"{run.path} has no branch {run.branch!r} to push")
    answer = run.push_refs({refname: expected}, force=True)
    if answer is not None:
        run.apply_push_answer(answer)
    return PushResult(run.push_status, run.push_attempts, run.push_error, run.push_reason)


def _with_branch(spec: RepoSpec, branch: str) -> RepoSpec:
    from dataclasses import replace

    return replace(spec, branch=branch)


class _Attempts:
    """Counts the tries of one retried operation."""

    def __init__(self) -> None:
        self.count = 0


class _Run:
    """The facts of one run, the steps that gather them, and the predicates over them."""

    state: str
    trigger: Any  # bound by the machine

    def __init__(
        self, spec: RepoSpec, cancel: CancelToken | None, progress: ProgressCallback | None
    ) -> None:
        self.spec = spec
        self.cancel = cancel
        self.path = spec.resolved_path
        self.repo = GitRepo(self.path)
        known_hosts = (
            Path(os.path.expanduser(spec.known_hosts)).absolute()
            if spec.known_hosts is not None
            else default_known_hosts()
        )
        net = NetOptions(
            credentials=spec.credentials,
            known_hosts=known_hosts,
            pins=spec.host_key_fingerprints,
            timeout=spec.timeout,
            cancel=cancel,
            progress=progress,
        )
        # UnknownRemoteError before anything else
        self.git_remote = GitRemote(self.repo, spec.remote, net)
        self.url = self.git_remote.url
        head = self.repo.head_branch()
        self.branch = spec.branch or head or ""
        if self.branch and not GitRepo.valid_branch_name(self.branch):
            raise InvalidSpecError(f"{self.branch!r} is not a valid branch name")
        self.refname = f"refs/heads/{self.branch}"
        self.original: str | None = self.repo.branch_tip(self.branch) if self.branch else None
        if self.branch and self.original is None and head != self.branch:
            known = ", ".join(self.repo.branches()) or "none"
            raise UnknownBranchError(
                f"{self.path} has no branch {self.branch!r} (branches: {known}); "
                f"create it with: git -C {self.path} branch {self.branch} "
                f"{spec.remote}/{self.branch}"
            )
        # Facts.
        self.lock_problem: str | None = None
        self.unsafe: str | None = None
        self.fetch_message: str | None = None
        self.remote: RemoteState | None = None
        self.local: str | None = self.original
        self.base: str | None = None
        self.ahead = self.behind = 0
        self.round = 0
        self.move_error: str | None = None
        self.conflict_paths: tuple[str, ...] = ()
        self.replay_refused: str | None = None
        self.replayed_count = 0
        self.dropped = 0
        self.push_status = PushStatus.SKIPPED
        self.push_attempts = 0
        self.push_error: str | None = None
        self.push_reason: str | None = None
        self.raced = False
        self.conflict_branch: str | None = None
        self.escaped_commits: tuple[str, ...] = ()
        self.escape_note = ""
        self.operations: list[NetworkOperation] = []

    # --- conditions: pure predicates over the facts ----------------------------------

    def local_unsafe(self) -> bool:
        return self.unsafe is not None

    def fetch_error(self) -> bool:
        return self.fetch_message is not None

    def same_commit(self) -> bool:
        return self.local == self.remote_tip

    def local_behind(self) -> bool:
        return self.remote_tip is not None and (
            self.local is None or (self.ahead == 0 < self.behind)
        )

    def local_ahead(self) -> bool:
        return self.local is not None and (
            self.remote_tip is None or (self.behind == 0 < self.ahead)
        )

    def no_common_history(self) -> bool:
        return self.base is None

    def replay_conflicted(self) -> bool:
        return self.replay_refused is not None

    def move_refused(self) -> bool:
        return self.move_error is not None

    def push_raced(self) -> bool:
        return self.raced

    def rounds_left(self) -> bool:
        return self.round < self.spec.max_rounds

    def commits_replayed(self) -> bool:
        return self.replayed_count > 0 or self.dropped > 0

    @property
    def remote_tip(self) -> str | None:
        return None if self.remote is None else self.remote.tip

    # --- steps: the only places that call the git layer -------------------------------

    def on_enter_inspecting(self) -> None:
        if self.lock_problem is not None:
            self.unsafe = self.lock_problem
            return
        if not self.branch:
            self.unsafe = "HEAD is detached and no branch was given; name one with --branch"
            return
        operation = self.repo.in_progress()
        if operation is not None:
            self.unsafe = (
                f"{operation} is in progress in {self.path}; finish or abort it "
                "(e.g. git merge --abort, git rebase --abort), then run again"
            )
            return
        finished = finish_interrupted_move(self.repo)
        if finished is not None:
            logger.warning("%s: %s", self.path, finished)
            self.local = self.repo.branch_tip(self.branch)
        elsewhere = self.repo.checked_out_elsewhere(self.branch)
        if elsewhere is not None:
            self.unsafe = (
                f"{self.branch} is checked out in the working tree {elsewhere}; moving it "
                "from here would leave that tree behind: reconcile that working tree instead"
            )
            return
        locks = clear_stale_locks(self.repo.gitdir, self.repo.workdir)
        if locks.live:
            self.unsafe = (
                f"another process is writing the repository (it holds {', '.join(locks.live)}); "
                "run again when it is done"
            )
        for path in locks.cleared:
            logger.warning("removed a stale lock file left by a crashed process: %s", path)

    def on_enter_fetching(self) -> None:
        self.round += 1
        self.raced = False
        started, clock = time.time(), time.monotonic()
        tries = _Attempts()
        try:
            self.remote = self._retrying(tries, lambda: self.git_remote.fetch(self.branch))
        except GitError as exc:
            self.fetch_message = str(exc)
            self._record(
                "fetch",
                (self.refname,),
                started=started,
                clock=clock,
                attempts=tries.count,
                sent=0,
                objects=0,
                error=exc,
            )
            return
        self._record(
            "fetch",
            (self.refname,),
            started=started,
            clock=clock,
            attempts=tries.count,
            sent=self.remote.received_bytes,
            objects=self.remote.received_objects,
            error=None,
        )
        self.local = self.repo.branch_tip(self.branch)
        local, tip = self.local, self.remote_tip
        if local is None or tip is None:
            self.ahead = len(self.repo.commits_not_in(local, None)) if local else 0
            self.behind = len(self.repo.commits_not_in(tip, None)) if tip else 0
            self.base = local or tip
        elif local != tip:
            self.base = self.repo.merge_base(local, tip)
            self.ahead, self.behind = self.repo.ahead_behind(local, tip)
        else:
            self.base, self.ahead, self.behind = local, 0, 0

    def on_enter_fast_forwarding(self) -> None:
        assert self.remote_tip is not None
        self._move(
            self.remote_tip, f"git-reconcile: fast-forward {self.branch} to {self.spec.remote}"
        )

    def on_enter_rebasing(self) -> None:
        assert self.local is not None
        assert self.remote_tip is not None
        commits = self.repo.commits_not_in(self.local, self.remote_tip)
        replayed = replay(self.repo, commits, self.remote_tip, self.spec.committer)
        if replayed.tip is None:
            self.conflict_paths = replayed.conflict_paths
            self.replay_refused = replayed.refused or "a local commit conflicts"
            return
        self.replayed_count += replayed.replayed
        self.dropped += replayed.dropped
        self._move(replayed.tip, f"git-reconcile: rebase {self.branch} onto {self.spec.remote}")

    def on_enter_pushing(self) -> None:
        if self.local == self.remote_tip or self.local is None:
            self.push_status, self.push_error, self.push_reason = PushStatus.SKIPPED, None, None
            return
        if not self.spec.push:
            self.push_status, self.push_error = PushStatus.SKIPPED, "pushing is turned off"
            return
        answer = self.push_refs({self.refname: self.remote_tip})
        if answer is not None:
            self.apply_push_answer(answer)

    def on_enter_escaping(self) -> None:
        assert self.local is not None
        assert self.remote_tip is not None
        self.escaped_commits = tuple(self.repo.commits_not_in(self.local, self.remote_tip))
        if self.repo.is_checked_out(self.branch):
            paths = blocking_paths(self.repo, self.local, self.remote_tip)
            if paths:
                self.move_error = (
                    f"local commits must be escaped, but uncommitted changes would be "
                    f"overwritten: {', '.join(paths[:10])}; commit or stash them, then run again"
                )
                return
        name = self._create_conflict_branch()
        if name is None:
            return
        if self.push_status in (PushStatus.FAILED, PushStatus.REJECTED):
            self.escape_note = "; the local branch was left as it is until the push lands"
            return
        if not self.spec.push:
            # The local branch is reset only once the escaped commits are on the remote.
            self.escape_note = "; the local branch was left as it is (pushing is off)"
            return
        self._move(
            self.remote_tip,
            f"git-reconcile: escaped local commits to {name}, reset to {self.spec.remote}",
        )

    # --- helpers of the steps -----------------------------------------------------

    def _move(self, new: str, message: str) -> None:
        try:
            move_branch(self.repo, self.branch, self.local, new, message=message)
        except (CheckoutBlockedError, RefMovedError) as exc:
            self.move_error = str(exc)
            return
        self.local = new

    def _retrying(self, tries: _Attempts, operation: Callable[[], T]) -> T:
        """Run a network operation, retrying what time may fix (tenacity, full jitter)."""
        policy: Retry = self.spec.retry

        def attempt() -> T:
            tries.count += 1
            return operation()

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            wait=tenacity.wait_random_exponential(
                multiplier=policy.initial, exp_base=policy.multiplier, max=policy.max_delay
            ),
            retry=tenacity.retry_if_exception(_transient),
            sleep=self._sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(attempt)

    def _sleep(self, seconds: float) -> None:
        if self.cancel is None:
            time.sleep(seconds)
        elif self.cancel.wait(seconds):
            raise CancelledError("cancelled while waiting to retry")

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info(
            "retrying after a transient failure (attempt %d, waiting %.2fs): %s",
            state.attempt_number,
            wait,
            error,
        )

    def push_refs(self, refs: dict[str, str | None], *, force: bool = False) -> PushOutcome | None:
        """Push under a lease, retrying transient failures. A push whose answer was
        lost (a timeout after the server accepted it) is found landed by reading the
        remote's heads before the next try. None when it failed; the facts say why."""
        started, clock = time.time(), time.monotonic()
        tries = _Attempts()
        sent = 0

        def attempt() -> dict[str, PushOutcome]:
            nonlocal sent
            if tries.count > 1 and self._landed(refs):
                return dict.fromkeys(refs, PushOutcome(ok=True))
            answers, sent = self.git_remote.push(refs, force=force)
            return answers

        failure: NetworkError | None = None
        answer: PushOutcome | None = None
        try:
            answer = next(iter(self._retrying(tries, attempt).values()))
        except NetworkError as exc:
            if exc.transient and self._landed(refs):
                answer = PushOutcome(ok=True)
            else:
                failure = exc
                self.push_status = PushStatus.FAILED
                self.push_error, self.push_reason = str(exc), exc.code
        self.push_attempts += tries.count
        self._record(
            "push",
            tuple(refs),
            started=started,
            clock=clock,
            attempts=tries.count,
            sent=sent,
            objects=0,
            error=failure,
            result=None if answer is None else ("ok" if answer.ok else "rejected"),
            message=None if answer is None else answer.message,
            code=None if answer is None else answer.code,
        )
        return answer

    def _landed(self, refs: dict[str, str | None]) -> bool:
        """True when the remote holds our value for every ref (best effort)."""
        try:
            heads = self.git_remote.heads()
        except GitError:
            return False
        return all(heads.get(ref) == self.repo.ref_target(ref) for ref in refs)

    def apply_push_answer(self, answer: PushOutcome) -> None:
        if answer.ok:
            self.push_status, self.push_error, self.push_reason = PushStatus.OK, None, None
        elif answer.raced:
            self.raced = True
            self.push_status, self.push_reason = PushStatus.REJECTED, "non-fast-forward"
            self.push_error = (
                f"the remote moved during the run ({answer.message}); "
                f"gave up after {self.round} round(s), run again"
            )
        else:
            self.push_status = PushStatus.REJECTED
            self.push_reason = answer.code or "rejected"
            message = answer.message or "refused by the server"
            self.push_error = message + (f" ({answer.hint})" if answer.hint else "")

    def _conflict_names(self) -> list[str]:
        assert self.local is not None
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        base = f"{self.spec.conflict_prefix}{stamp}"
        short = self.local[:7]
        return [base, f"{base}-{short}"] + [
            f"{base}-{short}-{n}" for n in range(2, _MAX_NAME_TRIES)
        ]

    def _create_conflict_branch(self) -> str | None:
        """Put the local head on a conflict branch, on the remote too unless pushing is
        off, and return its name. A branch an earlier run left at this very commit
        (its push refused, or pushing off) is reused; otherwise a name free locally
        and remotely is taken, and pushed create-only, so nothing is overwritten."""
        assert self.local is not None
        assert self.remote is not None
        heads = self.remote.heads
        for name in self.repo.branches_at(self.spec.conflict_prefix, self.local):
            ref = f"refs/heads/{name}"
            if heads.get(ref) == self.local:
                self.conflict_branch = name
                self.push_status, self.push_error, self.push_reason = PushStatus.OK, None, None
                return name
            if ref not in heads:
                if self._publish_conflict_branch(name):
                    return name
                if self.conflict_branch is not None:
                    return name  # refused for good: reported as such
        for name in self._conflict_names():
            ref = f"refs/heads/{name}"
            if ref in heads or self.repo.ref_exists(ref):
                continue
            try:
                created = create_ref(
                    self.repo, ref, self.local, f"git-reconcile: escape {self.branch}"
                )
            except GitError as exc:
                self.move_error = f"cannot create the conflict branch {name}: {exc}"
                return None
            if not created:
                continue
            if self._publish_conflict_branch(name):
                return name
            if self.conflict_branch is not None:
                return name
            delete_ref(self.repo, ref, self.local)  # the name was taken meanwhile
        self.move_error = "no free name for the conflict branch; delete old conflict branches"
        return None

    def _publish_conflict_branch(self, name: str) -> bool:
        """Push the conflict branch create-only. True when it landed (or pushing is off);
        False with ``conflict_branch`` set when refused or failed; False with it unset
        when the name was taken on the remote meanwhile."""
        self.conflict_branch = name
        if not self.spec.push:
            return True
        answer = self.push_refs({f"refs/heads/{name}": None})
        if answer is None:
            return False
        if answer.ok:
            self.push_status, self.push_error, self.push_reason = PushStatus.OK, None, None
            return True
        if answer.raced:
            self.conflict_branch = None
            return False
        self.apply_push_answer(answer)
        return False

    def _record(
        self,
        kind: str,
        refs: tuple[str, ...],
        *,
        started: float,
        clock: float,
        attempts: int,
        sent: int,
        objects: int,
        error: GitError | None,
        result: str | None = None,
        message: str | None = None,
        code: str | None = None,
    ) -> None:
        if error is not None:
            result = "cancelled" if isinstance(error, CancelledError) else "failed"
            message = str(error)
            code = error.code if isinstance(error, NetworkError) else None
        self.operations.append(
            NetworkOperation(
                kind=kind,
                remote=self.spec.remote,
                url=redact_url(self.url),
                refs=refs,
                started_at=started,
                duration_ms=(time.monotonic() - clock) * 1000.0,
                attempts=attempts,
                bytes=sent,
                objects=objects,
                result=result or "ok",
                error=message,
                code=code,
            )
        )

    # --- the result ------------------------------------------------------------------

    def result(self, outcome: Outcome, seconds: float) -> Result:
        new = self.repo.branch_tip(self.branch) if self.branch else None
        return Result(
            repo=str(self.path),
            remote=self.spec.remote,
            branch=self.branch,
            outcome=outcome,
            old_commit=self.original,
            new_commit=new,
            remote_commit=self.remote_tip,
            ahead=self.ahead,
            behind=self.behind,
            conflict_branch=self.conflict_branch,
            push=PushResult(
                self.push_status, self.push_attempts, self.push_error, self.push_reason
            ),
            reason=self._reason(outcome),
            duration_ms=seconds * 1000.0,
            conflict_paths=self.conflict_paths,
            escaped_commits=self.escaped_commits if outcome is Outcome.CONFLICT_ESCAPED else (),
            operations=tuple(self.operations),
        )

    def _reason(self, outcome: Outcome) -> str:
        push = "" if self.push_error is None else f"; push: {self.push_error}"
        remote = self.spec.remote
        if outcome is Outcome.IN_SYNC:
            if self.local is None:
                return f"{self.branch} has no commits, locally or on {remote}"
            return f"{self.branch} is at the same commit locally and on {remote}"
        if outcome is Outcome.FAST_FORWARDED:
            return f"fast-forwarded {self.behind} commit(s) from {remote}"
        if outcome is Outcome.PUSHED_AHEAD:
            if self.push_status is PushStatus.OK:
                created = " (created the branch there)" if self.remote_tip is None else ""
                return f"pushed {self.ahead} local commit(s) to {remote}{created}"
            return f"{self.ahead} local commit(s) not pushed{push}"
        if outcome is Outcome.REBASED:
            dropped = f", dropped {self.dropped} that became empty" if self.dropped else ""
            landed = "pushed" if self.push_status is PushStatus.OK else "not pushed"
            return (
                f"replayed {self.replayed_count} local commit(s) onto {self.behind} from "
                f"{remote}{dropped}; {landed}{push}"
            )
        if outcome is Outcome.CONFLICT_ESCAPED:
            if self.conflict_paths:
                why = (
                    f"local commits conflict with {remote} in {', '.join(self.conflict_paths[:10])}"
                )
            elif self.replay_refused:
                why = self.replay_refused
            else:
                why = f"local and {remote} share no history"
            where = "pushed" if self.push_status is PushStatus.OK else "kept locally"
            reset = self.escape_note or f"; {self.branch} reset to {remote}"
            escaped = f"{len(self.escaped_commits)} commit(s) escaped to {self.conflict_branch}"
            return f"{why}; {escaped} ({where}){reset}{push}"
        if outcome is Outcome.FETCH_FAILED:
            return f"could not read {remote}: {self.fetch_message}"
        reason = self.unsafe or self.move_error or "blocked"
        if self.conflict_branch:
            reason += f" (local commits are on {self.conflict_branch})"
        return reason


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, NetworkError) and exc.transient


def _log(result: Result) -> None:
    fields: dict[str, Any] = {
        "repo": result.repo,
        "branch": result.branch,
        "outcome": result.outcome.value,
        "old_commit": result.old_commit,
        "new_commit": result.new_commit,
        "remote_commit": result.remote_commit,
        "conflict_branch": result.conflict_branch,
        "push_status": result.push.status.value,
        "duration_ms": round(result.duration_ms, 1),
    }
    text = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
    if result.outcome is Outcome.CONFLICT_ESCAPED:
        level = logging.ERROR
        text = f"local commits escaped to {result.conflict_branch}: {text}"
    elif result.ok:
        level = logging.INFO
    else:
        level = logging.WARNING
    logger.log(level, "%s reason=%r", text, result.reason, extra={"reconcile": fields})
