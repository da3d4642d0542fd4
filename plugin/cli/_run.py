"""``git-reconcile run``: reconcile one repository now."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._defaults import default
from ._exit import ExitCode, HelpFormatter, epilog, exit_code
from ._signals import Interruptible

if TYPE_CHECKING:
    from collections.abc import Callable

    from plugin.audit import AuditStore
    from reconcile import (
        CancelToken,
        CommitPolicy,
        CommitRequest,
        HTTPAuth,
        RepoSpec,
        Result,
        SSHKey,
    )

__all__ = ["add_arguments", "interrupted", "reconcile_now", "run", "spec_of", "summary"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from plugin._environment import ENV_DATABASE_URL
    from reconcile import HTTPAuth, RepoSpec, Retry

    parser.description = (
        "Fetch, then fast-forward, push, rebase in memory, or escape conflicting "
        "local commits to a conflicts/<UTC> branch."
    )
    parser.epilog = epilog("run")
    parser.formatter_class = HelpFormatter  # the epilog is a table
    parser.add_argument("path", nargs="?", default=".", help="the repository (default: .)")
    parser.add_argument(
        "--remote",
        default=default(RepoSpec, "remote"),
        help="remote name (default: %(default)s)",
    )
    parser.add_argument("--branch", help="branch (default: the branch HEAD names)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-push", action="store_true", help="change nothing on the remote")
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(RepoSpec, "timeout"),
        help="seconds to wait for the network at each step (default: %(default)g)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=default(RepoSpec, "deadline"),
        metavar="SECONDS",
        help="seconds the run's network work may take in all, retries included "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=default(RepoSpec, "lock_timeout"),
        metavar="SECONDS",
        help="wait this long for another reconcile of the repository to finish "
        "(default: %(default)g)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=default(Retry, "attempts"),
        metavar="N",
        help="tries of each network operation when failures are transient (default: %(default)d)",
    )
    _credential_arguments(parser, http_user=default(HTTPAuth, "username"))
    parser.add_argument(
        "--conflict-prefix",
        default=default(RepoSpec, "conflict_prefix"),
        help="prefix of conflict branches (default: %(default)s)",
    )
    parser.add_argument(
        "--trust",
        action="store_true",
        help="open the repository at PATH even when another user owns it (this path only)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        help="log to stderr (implies -v) as JSON lines, console lines, or console on a "
        "terminal (default with -v: auto)",
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=f"record the run in this audit store (default: ${ENV_DATABASE_URL}; "
        "neither: the run is not recorded)",
    )


def _credential_arguments(parser: argparse.ArgumentParser, *, http_user: str) -> None:
    parser.add_argument("--ssh-key", type=Path, help="SSH private key file (ed25519 or ECDSA)")
    parser.add_argument(
        "--known-hosts",
        type=Path,
        help="known_hosts file for SSH host keys (default: ~/.ssh/known_hosts)",
    )
    parser.add_argument(
        "--fingerprint",
        action="append",
        default=[],
        metavar="SHA256:...",
        help="pin the SSH host key's fingerprint instead of using known_hosts (repeatable)",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        help="file holding the HTTP(S) password or access token, read at each run",
    )
    parser.add_argument(
        "--http-user",
        default=http_user,
        help="user name sent with --token-file (default: %(default)s)",
    )
    parser.add_argument(
        "--bearer",
        action="store_true",
        help="send the token as 'Authorization: Bearer' instead of answering Basic auth",
    )


def run(args: argparse.Namespace) -> int:
    return reconcile_now(args)


def reconcile_now(
    args: argparse.Namespace,
    commit: CommitRequest | None = None,
    summarize: Callable[[Result], str] | None = None,
    policy: CommitPolicy | None = None,
) -> int:
    """Run ``run``'s flags (committing first, with ``commit`` and ``policy``:
    ``git-reconcile commit``), print the result (``summarize``: its summary) and
    return the exit code."""
    spec = spec_of(args, policy)
    if args.verbose or args.log_format:
        from reconcile import configure_logging

        configure_logging(args.log_format or "auto", level="INFO", stream=sys.stderr)
    audit = _audit_store(args)
    started = time.time()
    runner = Interruptible()
    result = runner.run(lambda cancel: _reconcile(spec, args, cancel, commit))
    if audit is not None:
        _record(audit, result, started)
    if args.json:
        print(json.dumps(result.to_dict()))
    if runner.received is None:
        if not args.json:
            print((summarize or summary)(result))
        return exit_code(result)
    # Stopped by a signal: one line says what the run had done (the JSON, if asked
    # for, says it in full).
    print(f"git-reconcile: {interrupted(result)}", file=sys.stderr)
    return ExitCode.TERMINATED if runner.received == signal.SIGTERM else ExitCode.INTERRUPTED


def _reconcile(
    spec: RepoSpec, args: argparse.Namespace, cancel: CancelToken, commit: CommitRequest | None
) -> Result:
    from reconcile import reconcile

    if args.json or not sys.stdout.isatty():
        return reconcile(spec, commit=commit, cancel=cancel)
    from ._progress import ProgressBar

    with ProgressBar() as bar:
        return reconcile(spec, commit=commit, cancel=cancel, progress=bar.update)


def interrupted(result: Result) -> str:
    """What a run stopped by a signal had done, in one line."""
    from reconcile import PushStatus

    done = []
    if result.old_commit != result.new_commit:
        done.append(
            f"{result.branch} moved locally from {_short(result.old_commit)} "
            f"to {_short(result.new_commit)} ({result.outcome})"
        )
    if result.conflict_branch:
        done.append(f"local commits put on {result.conflict_branch}")
    if result.push.status is PushStatus.OK:
        done.append(f"pushed to {result.remote}")
    elif done:
        done.append("the push did not finish: run again")
    return "interrupted: " + ("; ".join(done) if done else "nothing changed")


def _audit_store(args: argparse.Namespace) -> tuple[str, AuditStore] | None:
    """The audit store the run is recorded in, and its URL: --database-url, else
    RECONCILE_DATABASE_URL; None (and nothing imported or touched) without either.
    A URL that cannot be used is refused before the run, as ``db`` refuses it."""
    from plugin._environment import ENV_DATABASE_URL

    url = args.database_url or os.environ.get(ENV_DATABASE_URL)
    if not url:
        return None
    from ._database import _open

    return url, _open(url)


def _record(audit: tuple[str, AuditStore], result: Result, started: float) -> None:
    """Record the run with trigger ``cli``, as the plugin records its runs; a store
    that cannot be written is said on stderr, and changes nothing else."""
    import uuid

    from plugin import RunRecord

    from ._database import _unreachable

    url, store = audit
    name = Path(result.repo).name
    record = RunRecord(
        run_id=f"{name}-{uuid.uuid4().hex[:16]}",
        repo=name,
        triggers=["cli"],
        queued_at=started,
        started_at=started,
        finished_at=time.time(),
        result=result,
    )
    try:
        with store:
            store.upgrade()
            store.record_run(record)
    except Exception as exc:  # the database is down, or refuses: the run stands
        print(
            f"git-reconcile: the run was not recorded: {_unreachable(url, exc)}",
            file=sys.stderr,
        )


def spec_of(args: argparse.Namespace, policy: CommitPolicy | None = None) -> RepoSpec:
    """The spec of ``run``'s flags, with the commit ``policy`` (None: the default)."""
    spec = _spec(args)
    return spec if policy is None else dataclasses.replace(spec, commit_policy=policy)


def _spec(args: argparse.Namespace) -> RepoSpec:
    from reconcile import InvalidSpecError, check_fingerprint

    for pin in args.fingerprint:
        problem = check_fingerprint(pin)
        if problem is not None:
            raise InvalidSpecError(f"--fingerprint {problem}")
    try:
        return _spec_of(args)
    except InvalidSpecError as exc:  # name the option the user gave, not the field
        raise InvalidSpecError("; ".join(map(_as_option, str(exc).split("; ")))) from None


def _as_option(problem: str) -> str:
    """One problem of a spec, naming the option that set the field it is about."""
    for field, option in _OPTIONS.items():
        if problem.startswith(f"{field} "):
            return option + problem[len(field) :]
    return problem


#: The fields of a RepoSpec whose range errors name the option that set them.
_OPTIONS = {
    "retry attempts": "--retries",
    "lock_timeout": "--lock-timeout",
    "timeout": "--timeout",
    "deadline": "--deadline",
}


def _spec_of(args: argparse.Namespace) -> RepoSpec:
    return _network_spec(
        args,
        conflict_prefix=args.conflict_prefix,
        push=not args.no_push,
        lock_timeout=args.lock_timeout,
        deadline=args.deadline,
    )


def _network_spec(args: argparse.Namespace, **more: Any) -> RepoSpec:
    """The RepoSpec of the options every command reaching a remote has (``run`` and
    ``clone``: path, remote, branch, timeout, credentials, host keys, retries, trust),
    with ``more`` fields."""
    from reconcile import RepoSpec, Retry

    return RepoSpec(
        path=args.path,
        remote=args.remote,
        branch=args.branch,
        timeout=args.timeout,
        credentials=_credentials(args),
        known_hosts=args.known_hosts,
        host_key_fingerprints=tuple(args.fingerprint),
        retry=Retry(attempts=args.retries),
        trust=args.trust,
        **more,
    )


def _credentials(args: argparse.Namespace) -> SSHKey | HTTPAuth | None:
    from reconcile import HTTPAuth, InvalidSpecError, SSHKey

    if args.ssh_key and args.token_file:
        raise InvalidSpecError("give --ssh-key or --token-file, not both")
    if args.ssh_key:
        return SSHKey(private_key=args.ssh_key)
    if args.token_file:
        return HTTPAuth(username=args.http_user, password_file=args.token_file, bearer=args.bearer)
    return None


def summary(result: Result) -> str:
    """A short human summary of a result."""
    from reconcile import Outcome, PushStatus

    what = result.outcome.value
    if result.push.status is PushStatus.SKIPPED and result.push.error:
        what = (
            "ahead, not pushed" if result.outcome is Outcome.PUSHED_AHEAD else f"{what}, not pushed"
        )
    elif not result.push.landed:
        what = (
            "push not landed"
            if result.outcome is Outcome.PUSHED_AHEAD
            else f"{what}, push not landed"
        )
    if not result.branch:
        head = f"{what}: {result.repo} (detached HEAD: name a branch with --branch)"
    elif result.old_commit != result.new_commit:
        moved = f"{_short(result.old_commit)} -> {_short(result.new_commit)}"
        head = f"{what}: {result.repo} {result.branch} {moved}"
    else:
        head = f"{what}: {result.repo} {result.branch} at {_short(result.new_commit)}"
    lines = [head, f"  {result.reason}"]
    if result.conflict_branch:
        lines.append(f"  conflict branch: {result.conflict_branch}")
    if result.push.status is not PushStatus.SKIPPED or result.push.error:
        lines.append(
            f"  push: {result.push.status.value}"
            + (f" ({result.push.error})" if result.push.error else "")
        )
    return "\n".join(lines)


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "(no commits)"
