"""One reconcile run: the model the state table drives.

Conditions are pure predicates over the facts the steps record. Steps call the git
layer; they catch its ``GitError`` and record it as a fact, so every run ends in
one of the outcomes. ``BadInputError`` is raised before the machine starts.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ._errors import (
    CheckoutBlockedError,
    GitError,
    InvalidSpecError,
    NetworkError,
    RefMovedError,
    UnknownBranchError,
)
from ._git import GitRepo, PushOutcome, RemoteState
from ._machine import TERMINAL, TRANSITIONS, build_machine
from ._result import Outcome, PushResult, PushStatus, Result
from ._spec import RepoSpec

__all__ = ["reconcile"]

logger = logging.getLogger("reconcile")

# The trigger that leaves each step; the table has exactly one per source state.
_NEXT = {source: trigger for trigger, source, _dest, _conds in TRANSITIONS}
_MAX_NAME_TRIES = 5


def reconcile(spec: RepoSpec) -> Result:
    """Reconcile one branch of one repository with its remote, and say what happened.

    Raises ``NotARepositoryError``, ``UnknownRemoteError`` or ``UnknownBranchError``
    (all ``BadInputError``) before touching anything; every other problem ends in
    an outcome of the returned ``Result``.
    """
    started = time.monotonic()
    run = _Run(spec)
    build_machine(run)
    run.trigger("begin")
    while run.state not in TERMINAL:
        run.trigger(_NEXT[run.state])
    result = run.result(Outcome(run.state.replace("_", "-")), time.monotonic() - started)
    _log(result)
    return result


def _known_hosts(spec: RepoSpec) -> Path:
    if spec.known_hosts is not None:
        return Path(os.path.expanduser(spec.known_hosts)).absolute()
    return Path.home() / ".ssh" / "known_hosts"


class _Run:
    """The facts of one run, the steps that gather them, and the predicates over them."""

    state: str
    trigger: Any  # bound by the machine

    def __init__(self, spec: RepoSpec) -> None:
        self.spec = spec
        self.path = spec.resolved_path
        self.repo = GitRepo(self.path)
        self.repo.remote_url(spec.remote)  # UnknownRemoteError before anything else
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
        self.known_hosts = _known_hosts(spec)
        # Facts.
        self.unsafe: str | None = None
        self.fetch_message: str | None = None
        self.remote: RemoteState | None = None
        self.local: str | None = self.original
        self.base: str | None = None
        self.ahead = self.behind = 0
        self.round = 0
        self.move_error: str | None = None
        self.conflict_paths: tuple[str, ...] = ()
        self.replayed_count = 0
        self.dropped = 0
        self.push_status = PushStatus.SKIPPED
        self.push_attempts = 0
        self.push_error: str | None = None
        self.raced = False
        self.conflict_branch: str | None = None
        self.escaped_commits: tuple[str, ...] = ()
        self.escape_note = ""

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
        return bool(self.conflict_paths)

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
        if not self.branch:
            self.unsafe = "HEAD is detached and no branch was given; name one with --branch"
            return
        operation = self.repo.in_progress()
        if operation is not None:
            self.unsafe = (
                f"{operation} is in progress in {self.path}; finish or abort it "
                "(e.g. git merge --abort, git rebase --abort), then run again"
            )

    def on_enter_fetching(self) -> None:
        self.round += 1
        self.raced = False
        spec = self.spec
        try:
            self.remote = self.repo.fetch(
                spec.remote,
                self.branch,
                key=spec.credentials,
                known_hosts=self.known_hosts,
                timeout=spec.timeout,
            )
        except GitError as exc:
            self.fetch_message = str(exc)
            return
        self.local = self.repo.branch_tip(self.branch)
        local, tip = self.local, self.remote_tip
        self.base = None
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
        replay = self.repo.replay(commits, self.remote_tip, self.spec.committer)
        if replay.tip is None:
            self.conflict_paths = replay.conflict_paths or ("(unknown)",)
            return
        self.replayed_count += replay.replayed
        self.dropped += replay.dropped
        self._move(replay.tip, f"git-reconcile: rebase {self.branch} onto {self.spec.remote}")

    def on_enter_pushing(self) -> None:
        if self.local == self.remote_tip or self.local is None:
            self.push_status, self.push_error = PushStatus.SKIPPED, None
            return
        if not self.spec.push:
            self.push_status, self.push_error = PushStatus.SKIPPED, "pushing is turned off"
            return
        self.push_attempts += 1
        answer = self._push({self.refname: self.remote_tip})
        if answer is None:
            return
        if answer.ok:
            self.push_status, self.push_error = PushStatus.OK, None
        elif answer.raced:
            self.raced = True
            self.push_status = PushStatus.REJECTED
            self.push_error = (
                f"the remote moved during the run ({answer.message}); "
                f"gave up after {self.round} rounds, run again"
            )
        else:
            self.push_status, self.push_error = PushStatus.REJECTED, answer.message

    def on_enter_escaping(self) -> None:
        assert self.local is not None
        assert self.remote_tip is not None
        self.escaped_commits = tuple(self.repo.commits_not_in(self.local, self.remote_tip))
        if self.repo.is_checked_out(self.branch):
            paths = self.repo.blocking_paths(self.local, self.remote_tip)
            if paths:
                self.move_error = (
                    f"local commits must be escaped, but uncommitted changes "
                    f"would be overwritten: {', '.join(paths[:10])}; commit or "
                    "stash them, then run again"
                )
                return
        name = self._create_conflict_branch()
        if name is None:
            return
        if self.push_status in (PushStatus.FAILED, PushStatus.REJECTED):
            self.escape_note = "; the local branch was left as it is until the push lands"
            return
        self._move(
            self.remote_tip,
            f"git-reconcile: escaped local commits to {name}, reset to {self.spec.remote}",
        )

    # --- helpers of the steps -----------------------------------------------------

    def _move(self, new: str, message: str) -> None:
        try:
            self.repo.move_branch(self.branch, self.local, new, message=message)
        except (CheckoutBlockedError, RefMovedError) as exc:
            self.move_error = str(exc)
            return
        self.local = new

    def _push(self, refs: dict[str, str | None]) -> PushOutcome | None:
        spec = self.spec
        try:
            answers = self.repo.push(
                spec.remote,
                refs,
                key=spec.credentials,
                known_hosts=self.known_hosts,
                timeout=spec.timeout,
            )
        except NetworkError as exc:
            self.push_status, self.push_error = PushStatus.FAILED, str(exc)
            return None
        return next(iter(answers.values()))

    def _conflict_names(self) -> list[str]:
        assert self.local is not None
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
        base = f"{self.spec.conflict_prefix}{stamp}"
        short = self.local[:7]
        return [base, f"{base}-{short}"] + [
            f"{base}-{short}-{n}" for n in range(2, _MAX_NAME_TRIES)
        ]

    def _create_conflict_branch(self) -> str | None:
        """Create the conflict branch at the local head under a name free locally
        and remotely, and push it create-only. Returns its name."""
        assert self.local is not None
        assert self.remote is not None
        taken_remote = set(self.remote.heads)
        for name in self._conflict_names():
            ref = f"refs/heads/{name}"
            if ref in taken_remote or self.repo.ref_exists(ref):
                continue
            if not self.repo.create_ref(ref, self.local, f"git-reconcile: escape {self.branch}"):
                continue
            self.conflict_branch = name
            if not self.spec.push:
                return name
            self.push_attempts += 1
            answer = self._push({ref: None})
            if answer is None:
                return name
            if answer.ok:
                self.push_status, self.push_error = PushStatus.OK, None
                return name
            if answer.raced:  # the name was taken on the remote meanwhile: pick another
                self.repo.delete_ref(ref, self.local)
                self.conflict_branch = None
                continue
            self.push_status, self.push_error = PushStatus.REJECTED, answer.message
            return name
        self.move_error = "no free name for the conflict branch; delete old conflict branches"
        return None

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
            push=PushResult(self.push_status, self.push_attempts, self.push_error),
            reason=self._reason(outcome),
            duration_ms=seconds * 1000.0,
            conflict_paths=self.conflict_paths,
            escaped_commits=self.escaped_commits if outcome is Outcome.CONFLICT_ESCAPED else (),
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
                f"replayed {self.replayed_count} local commit(s) onto {self.behind} from {remote}"
                f"{dropped}; {landed}{push}"
            )
        if outcome is Outcome.CONFLICT_ESCAPED:
            why = (
                f"local commits conflict with {remote} in {', '.join(self.conflict_paths[:10])}"
                if self.conflict_paths
                else f"local and {remote} share no history"
            )
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
