"""One runner per repository: every trigger goes through it, one run at a time.

A trigger that arrives while a run is going joins the single queued follow-up
(created if there is none), so a burst of any size costs at most two runs. A
commit request joins it the same way: the follow-up commits once, with every
request's message and attribution (``CommitRequest.merged``), since the tree it
commits holds every write that came before it. The
reconcile runs in a worker thread under the repository's ``RepoLock`` (which also
keeps other processes out), and the host's ``on_reconciled`` callback runs under
that same lock when the local commit changed, and so does the repository's
``exec_hook`` (``plugin._hook``), after it. With several replicas (PostgreSQL), the
repository's shared lock is taken after the file lock, within the same
``lock_timeout``, is the run's guard, and is let go with it.
"""

from __future__ import annotations

import errno
import inspect
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from reconcile import (
    BadInputError,
    CancelToken,
    CommitRequest,
    RepoInfo,
    RepoLock,
    RepoLockTimeout,
    RepoSpec,
    Result,
    git_directory,
    inspect_repo,
    reconcile,
)

from ._config import RepoConfig
from ._errors import ReplicaLockError
from ._hook import run_hook
from ._record import RunRecord, failure_streak

if TYPE_CHECKING:
    from .replicas import AdvisoryLock

__all__ = ["OnReconciled", "RunRecord", "Runner", "Ticket"]

logger = logging.getLogger("plugin")

OnReconciled = Callable[[Result], Awaitable[None] | None]
Observer = Callable[["Runner", "RunRecord"], Awaitable[None] | None]


def _new_run_id(repo: str) -> str:
    """Unique across restarts and replicas: run ids are keys of the audit store."""
    return f"{repo}-{uuid.uuid4().hex[:16]}"


_REMEMBERED = 1000  # tickets kept for wait_for()


@dataclass
class Ticket:
    """A promise of the run that will cover a trigger."""

    record: RunRecord
    done: anyio.Event = field(default_factory=anyio.Event)
    commit: CommitRequest | None = None  # what the run commits first (None: nothing)

    @property
    def run_id(self) -> str:
        return self.record.run_id

    async def wait(self) -> RunRecord:
        await self.done.wait()
        return self.record


class Runner:
    """Runs the reconciles of one repository, coalescing triggers."""

    def __init__(
        self,
        config: RepoConfig,
        on_reconciled: OnReconciled | None = None,
        history: deque[RunRecord] | None = None,
        *,
        replica_id: str | None = None,
        shared_lock: AdvisoryLock | None = None,
    ) -> None:
        self.config = config
        self.replica_id = replica_id
        self.shared_lock = shared_lock
        self.spec: RepoSpec = config.to_spec()
        self.name = config.name
        self.on_reconciled = on_reconciled
        self.history: deque[RunRecord] = history if history is not None else deque(maxlen=200)
        self.enabled = True
        self.last: RunRecord | None = None
        self.current: Ticket | None = None
        self.pending: Ticket | None = None
        self.consecutive_failures = 0
        self.last_success: float | None = None
        self.runs = 0
        self.cancel = CancelToken()
        self._wake = anyio.Event()
        self._closed = False
        self._info: RepoInfo | None = None
        self.tickets: dict[str, Ticket] = {}
        self.observers: list[Observer] = []

    # --- what the repository says about itself ----------------------------------------

    def info(self) -> RepoInfo | None:
        """The repository's git directory, branch and remote URL (None if unreadable)."""
        if self._info is None:
            try:
                self._info = inspect_repo(self.spec)
            except BadInputError:
                return None
        return self._info

    def branch(self) -> str | None:
        info = self.info()
        return None if info is None else info.branch

    def remote_url(self) -> str | None:
        info = self.info()
        return None if info is None else info.remote_url

    # --- state for /status ------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def running(self) -> bool:
        return self.current is not None

    @property
    def queued(self) -> bool:
        return self.pending is not None

    def status(self) -> dict[str, Any]:
        last = self.last
        return {
            "repo": self.name,
            "path": str(self.spec.resolved_path),
            "branch": self.branch(),
            "enabled": self.enabled,
            "running": self.running,
            "queued": self.queued,
            "consecutive_failures": self.consecutive_failures,
            "last_success": self.last_success,
            "runs": self.runs,
            "holds_lock": None if self.shared_lock is None else self.shared_lock.held,
            "last_run": None if last is None else last.to_dict(),
        }

    # --- triggering -----------------------------------------------------------------

    def trigger(self, kind: str, commit: CommitRequest | None = None) -> Ticket:
        """Ask for a run (one that commits first, with ``commit``). Returns the ticket
        of the run that will cover this trigger: the queued follow-up when there is
        one, else a new one; a commit request joins the follow-up's."""
        if self._closed:
            closed = Ticket(
                RunRecord(
                    run_id=_new_run_id(self.name),
                    repo=self.name,
                    triggers=[kind],
                    queued_at=time.time(),
                    error="shutting down: not run",
                    replica=self.replica_id,
                )
            )
            closed.done.set()
            return closed
        if self.pending is None:
            self.pending = self._remember(
                Ticket(
                    RunRecord(
                        run_id=_new_run_id(self.name),
                        repo=self.name,
                        triggers=[],
                        queued_at=time.time(),
                        replica=self.replica_id,
                    )
                )
            )
            self._wake.set()
        pending = self.pending
        pending.record.triggers.append(kind)
        if commit is not None:
            pending.commit = commit if pending.commit is None else pending.commit.merged(commit)
        return pending

    def commit(self, request: CommitRequest, kind: str = "commit") -> Ticket:
        """Ask for a run that commits the working tree as ``request`` asks, then
        reconciles; the ticket of the run that covers it."""
        return self.trigger(kind, request)

    def _remember(self, ticket: Ticket) -> Ticket:
        self.tickets[ticket.run_id] = ticket
        while len(self.tickets) > _REMEMBERED:
            self.tickets.pop(next(iter(self.tickets)))
        return ticket

    async def wait_for(self, run_id: str) -> RunRecord | None:
        """Wait for the run ``run_id`` to finish; None if it is unknown (or forgotten)."""
        ticket = self.tickets.get(run_id)
        return None if ticket is None else await ticket.wait()

    async def serve(self) -> None:
        """The runner's loop: take the queued ticket, run it, repeat. Cancel to stop."""
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            ticket, self.pending = self.pending, None
            if ticket is None:
                continue
            self.current = ticket
            try:
                await self._run(ticket)
            finally:
                self.current = None
                ticket.done.set()

    def close(self) -> None:
        """Refuse new triggers, cancel the network work of a run under way, and wake
        anyone waiting on the queued ticket."""
        self._closed = True
        self.cancel.cancel()
        if self.pending is not None:
            self.pending.record.error = "shut down before it ran"
            self.pending.done.set()

    # --- one run ----------------------------------------------------------------------

    async def _run(self, ticket: Ticket) -> None:
        record = ticket.record
        record.started_at = time.time()
        handoff = _Handoff()
        try:
            # Shutdown may abandon the thread after its bound; it then lets go of the
            # repository's lock itself when it finishes.
            await anyio.to_thread.run_sync(
                self._reconcile_locked, record, handoff, ticket.commit, abandon_on_cancel=True
            )
            held = handoff.take()
            try:
                result = record.result
                if result is not None and result.changed and self.on_reconciled is not None:
                    await self._callback(record)
                if result is not None and result.changed and self.config.exec_hook:
                    record.hook = await run_hook(self.config, record)
            finally:
                if held is not None:
                    await held.release_async()
        except BaseException:
            handoff.abandon()
            raise
        finally:
            record.finished_at = time.time()
            self._account(record)
            with anyio.CancelScope(shield=True):
                await self._tell_observers(record)

    async def _tell_observers(self, record: RunRecord) -> None:
        """Report a finished run to the observers (audit store, metrics); their failures
        are logged, never raised into the run."""
        for observe in self.observers:
            try:
                outcome = observe(self, record)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.exception("an observer of %s failed", self.name)

    def _reconcile_locked(
        self, record: RunRecord, handoff: _Handoff, commit: CommitRequest | None
    ) -> None:
        """In a worker thread: take the repository's locks and reconcile; the locks
        are handed over to the caller, which lets go after the host's callback ran."""
        waited = time.monotonic()
        try:
            gitdir = git_directory(self.spec.resolved_path, trust=self.spec.trust)
            held = _Held(RepoLock(gitdir, self.spec.lock_timeout, self.cancel))
            held.file.acquire()
            held.take_shared(self.shared_lock, self.spec.lock_timeout, waited, self.cancel)
        except (BadInputError, RepoLockTimeout, ReplicaLockError) as exc:
            record.error = str(exc)
            return
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            # The git directory cannot be written: the run's own lock fails the same
            # way, and the run ends blocked, saying what to do.
            record.result = reconcile(self.spec, cancel=self.cancel)
            return
        finally:
            record.lock_wait_seconds = time.monotonic() - waited
        try:
            record.result = reconcile(
                self.spec, commit=commit, cancel=self.cancel, lock=False, guard=self.shared_lock
            )
        except BadInputError as exc:
            record.error = str(exc)
        except Exception as exc:
            logger.exception("reconcile of %s failed unexpectedly", self.name)
            record.error = f"unexpected error: {type(exc).__name__}: {exc}"
        finally:
            handoff.give(held)

    async def _callback(self, record: RunRecord) -> None:
        """Run the host's callback: a coroutine function on the loop, a plain function
        in a worker thread, so a slow rebuild never stalls the app's requests."""
        assert record.result is not None
        callback = self.on_reconciled
        assert callback is not None
        try:
            if inspect.iscoroutinefunction(callback):
                await callback(record.result)
            else:
                outcome = await anyio.to_thread.run_sync(callback, record.result)
                if inspect.isawaitable(outcome):
                    await outcome
        except Exception as exc:
            record.callback_error = f"{type(exc).__name__}: {exc}"
            logger.exception("on_reconciled failed for %s", self.name)

    def _account(self, record: RunRecord) -> None:
        self.runs += 1
        self.last = record
        self.history.append(record)
        record.failures_before = self.consecutive_failures
        self.consecutive_failures = failure_streak(self.consecutive_failures, record)
        if record.succeeded:
            self.last_success = record.finished_at


class _Held:
    """The locks a run holds: the host's file lock, then the replicas' shared lock
    (when there is one), let go in the opposite order."""

    def __init__(self, file: RepoLock) -> None:
        self.file = file
        self.shared: AdvisoryLock | None = None

    def take_shared(
        self, shared: AdvisoryLock | None, timeout: float, since: float, cancel: CancelToken
    ) -> None:
        """Take ``shared`` within what is left of ``timeout`` (counted from ``since``);
        on failure the file lock is let go too, and the error raised."""
        if shared is None:
            return
        try:
            shared.acquire(max(0.0, timeout - (time.monotonic() - since)), cancel)
        except BaseException:
            self.file.release()
            raise
        self.shared = shared

    def release(self) -> None:
        try:
            if self.shared is not None:
                self.shared.release()
        finally:
            self.file.release()

    async def release_async(self) -> None:
        """Let go from the event loop: the shared lock's round trip in a worker thread."""
        if self.shared is None:
            self.file.release()
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.release)


class _Handoff:
    """Passes the held locks from the worker thread to the run, or, when the run was
    abandoned at shutdown, has the thread let go of them itself."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: _Held | None = None
        self._abandoned = False

    def give(self, held: _Held) -> None:
        with self._guard:
            if self._abandoned:
                held.release()
            else:
                self._held = held

    def take(self) -> _Held | None:
        with self._guard:
            held, self._held = self._held, None
            return held

    def abandon(self) -> None:
        with self._guard:
            self._abandoned = True
            held, self._held = self._held, None
        if held is not None:
            held.release()
