"""``git-reconcile run``: reconcile one repository now."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ._command import Command
from ._defaults import default
from ._exit import epilog, exit_code

if TYPE_CHECKING:
    from reconcile import HTTPAuth, RepoSpec, Result, SSHKey

__all__ = ["COMMAND", "add_arguments", "run", "summary"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reconcile import HTTPAuth, RepoSpec, Retry

    parser.description = (
        "Fetch, then fast-forward, push, rebase in memory, or escape conflicting "
        "local commits to a conflicts/<UTC> branch."
    )
    parser.epilog = epilog()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # the epilog is a table
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
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="with -v: JSON lines, console lines, or console on a terminal (default: %(default)s)",
    )


def _credential_arguments(parser: argparse.ArgumentParser, *, http_user: str) -> None:
    from pathlib import Path

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
    import json

    from reconcile import reconcile

    if args.verbose:
        from reconcile import configure_logging

        configure_logging(args.log_format, level="INFO", stream=sys.stderr)
    spec = _spec(args)
    if args.json or not sys.stdout.isatty():
        result = reconcile(spec)
    else:
        from ._progress import ProgressBar

        with ProgressBar() as bar:
            result = reconcile(spec, progress=bar.update)
    print(json.dumps(result.to_dict()) if args.json else summary(result))
    return exit_code(result)


def _spec(args: argparse.Namespace) -> RepoSpec:
    from reconcile import RepoSpec, Retry

    return RepoSpec(
        path=args.path,
        remote=args.remote,
        branch=args.branch,
        timeout=args.timeout,
        credentials=_credentials(args),
        known_hosts=args.known_hosts,
        host_key_fingerprints=tuple(args.fingerprint),
        conflict_prefix=args.conflict_prefix,
        push=not args.no_push,
        retry=Retry(attempts=args.retries),
        lock_timeout=args.lock_timeout,
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
    from reconcile import PushStatus

    def short(commit: str | None) -> str:
        return commit[:10] if commit else "(none)"

    head = f"{result.outcome.value}: {result.repo} {result.branch}"
    if result.old_commit != result.new_commit:
        head += f" {short(result.old_commit)} -> {short(result.new_commit)}"
    else:
        head += f" at {short(result.new_commit)}"
    lines = [head, f"  {result.reason}"]
    if result.conflict_branch:
        lines.append(f"  conflict branch: {result.conflict_branch}")
    if result.push.status is not PushStatus.SKIPPED or result.push.error:
        lines.append(
            f"  push: {result.push.status.value}"
            + (f" ({result.push.error})" if result.push.error else "")
        )
    return "\n".join(lines)


COMMAND = Command(
    name="run",
    help="reconcile one repository now",
    add_arguments=add_arguments,
    run=run,
)
