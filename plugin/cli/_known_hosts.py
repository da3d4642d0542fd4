"""``git-reconcile known-hosts``: show or record an SSH server's host key."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import urlsplit

from ._exit import ExitCode, HelpFormatter, epilog

if TYPE_CHECKING:
    from reconcile import HostKey

__all__ = ["add_arguments", "run"]

SCAN_TIMEOUT = 15.0  # seconds: a host key scan is one handshake, not a transfer


class _Server(NamedTuple):
    host: str
    port: int | None
    key: HostKey


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = epilog("known-hosts")
    parser.formatter_class = HelpFormatter  # the epilog is a table
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
    from reconcile import (
        InvalidSpecError,
        NetworkError,
        check_fingerprint,
        default_known_hosts,
        known_hosts_line,
        scan_host_key,
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
    pattern = known_hosts_line(host, port, key).split(" ", 1)[0]
    print(f"{pattern} presents {key.keytype} {key.fingerprint}")
    if args.action == "show":
        print(known_hosts_line(host, port, key))
        return ExitCode.OK
    return _add(args, _Server(host, port, key), path)


def _add(args: argparse.Namespace, server: _Server, path: Path) -> int:
    """Record the server's key in ``path`` when it is verified or trusted on first use."""
    from reconcile import HostKeyVerdict, check_host_key, known_hosts_line

    verdict, reason = check_host_key(server.key, server.host, server.port, path)
    if verdict is HostKeyVerdict.TRUSTED:
        print(f"already recorded in {path}")
        return ExitCode.OK
    if verdict in (HostKeyVerdict.CHANGED, HostKeyVerdict.REVOKED):
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
    from reconcile import HostKeyVerdict, check_host_key

    key = server.key
    if args.fingerprint:
        pinned = tuple(args.fingerprint)
        if check_host_key(key, server.host, server.port, path, pinned)[0] is HostKeyVerdict.TRUSTED:
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


def parse_target(target: str) -> tuple[str, int | None, str]:
    """(host, port, ssh URL) from ``ssh://[user@]host[:port][/path]``, ``user@host:path``
    or ``host[:port]``. Raises ``InvalidSpecError`` for anything else."""
    from reconcile import InvalidSpecError

    port: int | None = None
    if "://" in target:
        try:
            parts = urlsplit(target)
            host, port = parts.hostname or "", parts.port
        except ValueError as exc:
            raise InvalidSpecError(f"{target!r} is not a valid URL: {exc}") from None
        if parts.scheme != "ssh" or not host:
            raise InvalidSpecError(f"{target!r}: host keys are recorded for ssh:// remotes only")
    elif "@" in target:
        host = target.partition("@")[2].partition(":")[0]
    else:
        host, sep, port_text = target.partition(":")
        try:
            port = int(port_text) if sep else None
        except ValueError:
            raise InvalidSpecError(f"{target!r}: the port must be a number") from None
    if not host:
        raise InvalidSpecError(f"{target!r} names no host")
    if port is not None and not 0 < port < 65536:
        raise InvalidSpecError(f"{target!r}: the port must be between 1 and 65535")
    netloc = host if port is None else f"{host}:{port}"
    return host, port, f"ssh://git@{netloc}/"
