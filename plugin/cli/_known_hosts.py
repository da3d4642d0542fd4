"""``git-reconcile known-hosts``: show or record an SSH server's host key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ._command import Command
from ._exit import ExitCode

if TYPE_CHECKING:
    from reconcile._hostkeys import HostKey

__all__ = ["COMMAND", "add_arguments", "run"]

SCAN_TIMEOUT = 15.0  # seconds: a host key scan is one handshake, not a transfer


class _Server(NamedTuple):
    host: str
    port: int | None
    key: HostKey


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Connect to an SSH server only as far as its host key (no login), show "
        "the key's fingerprint, and record it in a known_hosts file when it matches "
        "--fingerprint, or when --trust-on-first-use is given."
    )
    parser.add_argument(
        "action", choices=["add", "show"], help="add: record the key; show: print it"
    )
    parser.add_argument(
        "target", help="ssh://[user@]host[:port][/path], user@host:path, or host[:port]"
    )
    parser.add_argument(
        "--known-hosts", type=Path, help="the file to record in (default: ~/.ssh/known_hosts)"
    )
    parser.add_argument(
        "--fingerprint",
        action="append",
        default=[],
        metavar="SHA256:...",
        help="record the key only if it has this fingerprint (repeatable)",
    )
    parser.add_argument(
        "--trust-on-first-use",
        action="store_true",
        help="record whatever key the server presents, unverified",
    )
    parser.add_argument(
        "--timeout", type=float, default=SCAN_TIMEOUT, help="seconds (default: %(default)g)"
    )


def run(args: argparse.Namespace) -> int:
    from reconcile import InvalidSpecError, NetworkError
    from reconcile._git import scan_host_key
    from reconcile._hostkeys import (
        check_fingerprint,
        default_known_hosts,
        host_pattern,
        known_hosts_line,
        parse_target,
    )

    for pin in args.fingerprint or ():
        problem = check_fingerprint(pin)
        if problem is not None:
            raise InvalidSpecError(f"--fingerprint {problem}")
    host, port, url = parse_target(args.target)
    path: Path = args.known_hosts or default_known_hosts()
    try:
        key = scan_host_key(url, args.timeout)
    except NetworkError as exc:
        print(f"git-reconcile: {exc}", file=sys.stderr)
        return ExitCode.FETCH_FAILED
    print(f"{host_pattern(host, port)} presents {key.keytype} {key.fingerprint}")
    if args.action == "show":
        print(known_hosts_line(host, port, key))
        return ExitCode.OK
    return _add(args, _Server(host, port, key), path)


def _add(args: argparse.Namespace, server: _Server, path: Path) -> int:
    """Record the server's key in ``path`` when it is verified or trusted on first use."""
    from reconcile._hostkeys import Verdict, check_host_key, known_hosts_line

    verdict, reason = check_host_key(server.key, server.host, server.port, path)
    if verdict is Verdict.TRUSTED:
        print(f"already recorded in {path}")
        return ExitCode.OK
    if verdict in (Verdict.CHANGED, Verdict.REVOKED):
        print(f"git-reconcile: not recorded: {reason}", file=sys.stderr)
        return ExitCode.FAILED
    refusal = _refusal(args, server, path)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return ExitCode.FAILED
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(known_hosts_line(server.host, server.port, server.key) + "\n")
    how = "fingerprint verified" if args.fingerprint else "trusted on first use, unverified"
    print(f"recorded in {path} ({how})")
    return ExitCode.OK


def _refusal(args: argparse.Namespace, server: _Server, path: Path) -> str | None:
    """Why an unrecorded key may not be recorded: a wrong or missing fingerprint."""
    from reconcile._hostkeys import Verdict, check_host_key

    key = server.key
    if args.fingerprint:
        pinned = tuple(args.fingerprint)
        if check_host_key(key, server.host, server.port, path, pinned)[0] is Verdict.TRUSTED:
            return None
        return (
            f"git-reconcile: not recorded: the server presents {key.fingerprint}, "
            f"not {', '.join(args.fingerprint)}"
        )
    if args.trust_on_first_use:
        return None
    return (
        "not recorded: check that fingerprint with the host's operator, then run again "
        f"with --fingerprint {key.fingerprint} (or --trust-on-first-use to skip the check)"
    )


COMMAND = Command(
    name="known-hosts",
    help="show or record an SSH server's host key",
    add_arguments=add_arguments,
    run=run,
)
