"""The fleet's cycle, in two phases, over the repositories discovery found.

Phase 1 commits: every enabled repository that may have changed (``_changes``) is
committed through the write path (``reconcile.commit_only``: its guards, hooks and
message generator), ``concurrency`` at a time, nothing pushed. Phase 2 starts only
once phase 1 has finished for every repository: each one that committed, or is
ahead of its remote-tracking branch, is reconciled (``reconcile.reconcile``: fetch,
then push, rebase or escape), at most ``per_host_concurrency`` at a time per remote
host. A repository with no change since the last cycle's watermark and nothing
ahead costs a walk of its stat data: no status, no fetch. One repository's failure
is its result; the cycle goes on.

Whether a cycle runs at all is the ``CycleGate``'s to say: one fleet service per data
directory holds a file lock (``_state``); several replicas sharing a database need
an advisory lock there as well, which ``plugin.replicas`` provides (a ``CycleGate``
that takes it goes in ``Fleet(gate=...)``).
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from reconcile import (
    BadInputError,
    CancelToken,
    CommitRequest,
    Outcome,
    ReconcileError,
    RepoSpec,
    Result,
    commit_only,
    ensure_clone,
    local_state,
    reconcile,
    redact_url,
)

from ._changes import changed_since
from ._config import FleetConfig, expand
from ._discover import Discovery, FoundRepo, discover
from ._report import CycleReport, RepoResult, RepoStatus

__all__ = ["AlwaysOnce", "CycleGate", "Fleet", "host_of", "new_cycle_id"]

logger = logging.getLogger("plugin.fleet")
_SCP = re.compile(r"^(?:[^@/]+@)?([^:/]+):")

#: Told of each repository's result as soon as a phase has it: (report, result, phase).
Listener = Callable[[CycleReport, RepoResult, str], None]


class CycleGate(Protocol):
    """Whether this process runs a cycle: entered around each cycle, it yields False
    when another holder runs it (the cycle is then skipped)."""

    def once(self, cycle_id: str) -> contextlib.AbstractContextManager[bool]: ...


class AlwaysOnce:
    """The gate of a single fleet service: the data directory's file lock already
    makes it the only one, so every cycle runs."""

    @contextlib.contextmanager
    def once(self, cycle_id: str) -> Iterator[bool]:
        yield True


def new_cycle_id() -> str:
    return f"cycle-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(3)}"


def host_of(url: str) -> str:
    """The host a remote URL reaches (``local`` for a path), for the per-host bound."""
    if "://" in url:
        return urlsplit(url).hostname or "local"
    found = _SCP.match(url)
    return found.group(1) if found and "/" not in found.group(1) else "local"


@dataclass
class _Memory:
    """What the fleet remembers of a repository between cycles."""

    watermark: float | None = None  # when the last good check of it started
    pending: bool = True  # a full check is needed: never checked, ahead, or ended badly


@dataclass
class _Planned:
    """A repository after phase 1: its result so far, and what phase 2 needs."""

    result: RepoResult
    spec: RepoSpec | None = None
    push: bool = False
    host: str = "local"
    check_started: float = 0.0


@dataclass
class Fleet:
    """The repositories under the configured base paths, and their cycles.

    Thread-safe: one cycle at a time (a second ``cycle()`` waits for the first)."""

    config: FleetConfig
    gate: CycleGate = field(default_factory=AlwaysOnce)
    listener: Listener | None = None
    repos: dict[Path, FoundRepo] = field(default_factory=dict)
    problems: tuple[tuple[str, str], ...] = ()
    discovered_at: float | None = None
    _memory: dict[Path, _Memory] = field(default_factory=dict)
    _running: threading.Lock = field(default_factory=threading.Lock)

    def discover(self) -> Discovery:
        """Walk the base paths again: new repositories appear, removed ones go."""
        config = self.config
        cloned = self._first_boot()
        found = discover(config.base_paths, config.recursive_depth, config.exclude)
        found = Discovery(found.repos, (*cloned, *found.problems))
        self.repos = {r.path: r for r in found.repos}
        self.problems = found.problems
        self._memory = {p: self._memory.get(p, _Memory()) for p in self.repos}
        self.discovered_at = time.time()
        return found

    def _first_boot(self) -> list[tuple[str, str]]:
        """Clone each repository an override names with a ``url`` where its path is
        missing or empty (and point a clone at a rotated URL); what could not be
        done, as discovery's problems (the cycle goes on without it)."""
        problems = []
        for override in self.config.overrides:
            if override.url is None:
                continue
            path = expand(override.path)
            try:
                ensure_clone(self.config.spec_for(path, path.name), override.url)
            except ReconcileError as exc:
                problems.append((str(path), f"not cloned from {redact_url(override.url)}: {exc}"))
        return problems

    def by_name(self, name: str) -> FoundRepo | None:
        """The repository of that name, or of that path."""
        for repo in self.repos.values():
            if name in (repo.name, str(repo.path)):
                return repo
        return None

    def cycle(
        self,
        cycle_id: str | None = None,
        *,
        trigger: str = "timer",
        disabled: frozenset[Path] = frozenset(),
        cancel: CancelToken | None = None,
    ) -> CycleReport | None:
        """One cycle over the repositories found; None when the gate says another
        holder runs it."""
        cycle_id = cycle_id or new_cycle_id()
        with self._running, self.gate.once(cycle_id) as mine:
            if not mine:
                return None
            report = CycleReport(cycle_id, trigger, self.config.push_policy, time.time())
            planned = self._commit_phase(report, disabled)
            report.commits_finished_at = time.time()
            self._push_phase(report, planned, cancel)
            report.finished_at = time.time()
            return report

    # --- phase 1 ------------------------------------------------------------------------

    def _commit_phase(self, report: CycleReport, disabled: frozenset[Path]) -> list[_Planned]:
        repos = list(self.repos.values())
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="fleet-commit") as pool:
            planned = list(pool.map(lambda r: self._commit_one(r, disabled), repos))
        for plan in planned:
            report.results.append(plan.result)
            self._tell(report, plan.result, "commit")
        return planned

    def _commit_one(self, repo: FoundRepo, disabled: frozenset[Path]) -> _Planned:
        result = RepoResult(repo.name, str(repo.path))
        plan = _Planned(result, check_started=time.time())
        memory = self._memory.setdefault(repo.path, _Memory())
        if repo.path in disabled or not self.config.enabled_for(repo.path):
            result.status = "disabled"
            return plan
        try:
            self._commit(repo, plan, memory)
        except BadInputError as exc:
            result.status, result.reason = "skipped", str(exc)
        except Exception as exc:  # one repository's problem is its result, never the cycle's
            logger.exception("fleet: %s failed while committing", repo.path)
            result.status, result.reason = "failed", f"{type(exc).__name__}: {exc}"
        if not result.ok:
            memory.pending = True
        return plan

    def _commit(self, repo: FoundRepo, plan: _Planned, memory: _Memory) -> None:
        result = plan.result
        if (
            memory.watermark is not None
            and not memory.pending
            and not changed_since(repo.path, memory.watermark, self.config.exclude)
        ):
            result.status = "unchanged"
            return
        spec = self.config.spec_for(repo.path, repo.name)
        result.commit_started_at = time.time()
        done = commit_only(spec, CommitRequest(trigger="fleet"))
        result.commit_finished_at = time.time()
        result.commit, result.branch = done, done.branch
        if done.refused is not None:
            result.status, result.reason = "refused", done.refused
            return
        state = local_state(spec, dirty=False)
        plan.spec, plan.host = spec, host_of(state.remote_url)
        plan.push = done.commit is not None or state.ahead > 0 or state.tracking is None
        result.status = "committed" if done.commit is not None else "clean"
        result.reason = done.reason
        memory.watermark, memory.pending = plan.check_started, plan.push

    # --- phase 2 ------------------------------------------------------------------------

    def _push_phase(
        self, report: CycleReport, planned: list[_Planned], cancel: CancelToken | None
    ) -> None:
        wanted = [p for p in planned if p.push and p.spec is not None]
        commit_failed = any(p.result.status in ("refused", "failed") for p in planned)
        if wanted and commit_failed and self.config.push_policy == "all-or-none":
            report.held = True
            for plan in wanted:
                plan.result.status = "held"
                plan.result.reason = "not pushed: a commit of this cycle failed (all-or-none)"
                self._tell(report, plan.result, "push")
            return
        hosts: dict[str, threading.BoundedSemaphore] = {
            p.host: threading.BoundedSemaphore(self.config.per_host_concurrency) for p in wanted
        }
        with ThreadPoolExecutor(self.config.concurrency, thread_name_prefix="fleet-push") as pool:
            for plan in _interleaved(wanted):
                pool.submit(self._push_one, report, plan, hosts[plan.host], cancel)

    def _push_one(
        self,
        report: CycleReport,
        plan: _Planned,
        host: threading.BoundedSemaphore,
        cancel: CancelToken | None,
    ) -> None:
        result, memory = plan.result, self._memory.setdefault(Path(plan.result.path), _Memory())
        assert plan.spec is not None
        with host:
            result.push_started_at = time.time()
            try:
                run = reconcile(plan.spec, cancel=cancel)
            except BadInputError as exc:
                result.status, result.reason = "skipped", str(exc)
            except Exception as exc:  # the cycle goes on
                logger.exception("fleet: %s failed while reconciling", plan.result.path)
                result.status, result.reason = "failed", f"{type(exc).__name__}: {exc}"
            else:
                result.run, result.reason = run, run.reason
                result.status = _status(run)
            result.push_finished_at = time.time()
        memory.pending = not result.ok
        self._tell(report, result, "push")

    def _tell(self, report: CycleReport, result: RepoResult, phase: str) -> None:
        if self.listener is not None:
            try:
                self.listener(report, result, phase)
            except Exception:
                logger.exception("fleet: a cycle listener failed")


def _status(run: Result) -> RepoStatus:
    """A phase-2 run's status: ``pushed``, ``escaped`` (the conflicting commits are
    safe on a pushed ``conflicts/`` branch), else ``failed``."""
    if run.ok:
        return "pushed"
    if run.outcome is Outcome.CONFLICT_ESCAPED and run.push.landed:
        return "escaped"
    return "failed"


def _interleaved(plans: list[_Planned]) -> list[_Planned]:
    """The plans in turns over their hosts, so a busy host does not hold up the others."""
    by_host: dict[str, list[_Planned]] = {}
    for plan in plans:
        by_host.setdefault(plan.host, []).append(plan)
    queues = list(by_host.values())
    ordered: list[_Planned] = []
    while queues:
        ordered += [q.pop(0) for q in queues]
        queues = [q for q in queues if q]
    return ordered
