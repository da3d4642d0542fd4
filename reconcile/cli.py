"""The ``git-reconcile`` command (also ``git reconcile``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ._errors import BadInputError, InvalidSpecError
from ._result import Outcome, PushStatus, Result

__all__ = ["EXIT_CODES", "exit_code", "main"]

EXIT_OK = 0
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
EXIT_FETCH_FAILED = 4
EXIT_PUSH_NOT_LANDED = 5
EXIT_BLOCKED = 6

EXIT_CODES = {
    EXIT_OK: "reconciled: in-sync, fast-forwarded, pushed-ahead or rebased, push ok or not needed",
    EXIT_UNEXPECTED: "unexpected error (a bug: please report it)",
    EXIT_BAD_INPUT: "bad input: not a repository, unknown remote or branch, malformed option",
    EXIT_CONFLICT: "conflict-escaped: local commits moved to a conflicts/ branch",
    EXIT_FETCH_FAILED: "fetch-failed: the remote could not be read",
    EXIT_PUSH_NOT_LANDED: "a push was needed and did not land",
    EXIT_BLOCKED: "blocked: local state makes a change unsafe; nothing changed",
}


def exit_code(result: Result) -> int:
    """The command's exit code for a result."""
    if result.outcome is Outcome.FETCH_FAILED:
        return EXIT_FETCH_FAILED
    if result.outcome is Outcome.BLOCKED:
        return EXIT_BLOCKED
    if result.push.status in (PushStatus.FAILED, PushStatus.REJECTED):
        return EXIT_PUSH_NOT_LANDED
    if result.outcome is Outcome.CONFLICT_ESCAPED:
        return EXIT_CONFLICT
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="git-reconcile",
        description="Keep git-backed data repos reconciled with their remotes, "
        "without ever losing a commit.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_run(sub)
    _add_known_hosts(sub)

    diagram = sub.add_parser("diagram", help="print the state machine as a mermaid diagram")
    group = diagram.add_mutually_exclusive_group()
    group.add_argument(
        "--write",
        type=Path,
        metavar="README",
        help="rewrite the diagram between the markers in this file",
    )
    group.add_argument(
        "--check",
        type=Path,
        metavar="README",
        help="exit 1 when the diagram in this file is out of date",
    )

    demo = sub.add_parser(
        "demo", help="build a throwaway remote and clone, and drive them through every outcome"
    )
    demo.add_argument("--keep", action="store_true", help="keep the demo directory")
    demo.add_argument("--json", action="store_true", help="print the results as JSON lines")
    return parser


def _add_run(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="reconcile one repository now",
        description="Fetch, then fast-forward, push, rebase in memory, or escape conflicting "
        "local commits to a conflicts/<UTC> branch.",
        epilog="exit codes:\n"
        + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("path", nargs="?", default=".", help="the repository (default: .)")
    run.add_argument("--remote", default="origin", help="remote name (default: origin)")
    run.add_argument("--branch", help="branch (default: the branch HEAD names)")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--no-push", action="store_true", help="change nothing on the remote")
    run.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="seconds to wait for the network at each step (default: 30)",
    )
    run.add_argument(
        "--lock-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="wait this long for another reconcile of the repository to finish (default: 300)",
    )
    run.add_argument(
        "--retries",
        type=int,
        default=4,
        metavar="N",
        help="tries of each network operation when failures are transient (default: 4)",
    )
    run.add_argument("--ssh-key", type=Path, help="SSH private key file (ed25519 or ECDSA)")
    run.add_argument(
        "--known-hosts",
        type=Path,
        help="known_hosts file for SSH host keys (default: ~/.ssh/known_hosts)",
    )
    run.add_argument(
        "--fingerprint",
        action="append",
        default=[],
        metavar="SHA256:...",
        help="pin the SSH host key's fingerprint instead of using known_hosts (repeatable)",
    )
    run.add_argument(
        "--token-file",
        type=Path,
        help="file holding the HTTP(S) password or access token, read at each run",
    )
    run.add_argument(
        "--http-user", default="git", help="user name sent with --token-file (default: git)"
    )
    run.add_argument(
        "--bearer",
        action="store_true",
        help="send the token as 'Authorization: Bearer' instead of answering Basic auth",
    )
    run.add_argument(
        "--conflict-prefix",
        default="conflicts/",
        help="prefix of conflict branches (default: conflicts/)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    run.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="with -v: JSON lines, console lines, or console on a terminal (default: auto)",
    )


def _add_known_hosts(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hosts = sub.add_parser(
        "known-hosts",
        help="show or record an SSH server's host key",
        description="Connect to an SSH server only as far as its host key (no login), show "
        "the key's fingerprint, and record it in a known_hosts file when it matches "
        "--fingerprint, or when --trust-on-first-use is given.",
    )
    hosts.add_argument(
        "action", choices=["add", "show"], help="add: record the key; show: print it"
    )
    hosts.add_argument(
        "target", help="ssh://[user@]host[:port][/path], user@host:path, or host[:port]"
    )
    hosts.add_argument(
        "--known-hosts", type=Path, help="the file to record in (default: ~/.ssh/known_hosts)"
    )
    hosts.add_argument(
        "--fingerprint",
        action="append",
        default=[],
        metavar="SHA256:...",
        help="record the key only if it has this fingerprint (repeatable)",
    )
    hosts.add_argument(
        "--trust-on-first-use",
        action="store_true",
        help="record whatever key the server presents, unverified",
    )
    hosts.add_argument("--timeout", type=float, default=15.0, help="seconds (default: 15)")


def _subparsers(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise AssertionError("the parser has no subcommands")


def _version() -> str:
    from . import __version__

    return __version__


Command = Callable[[argparse.Namespace], int]
Extension = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], dict[str, Command]]


def main(argv: Sequence[str] | None = None, *, extend: Extension | None = None) -> int:
    """Entry point of the command; returns the exit code.

    ``extend`` adds subcommands (the plugin adds ``serve``): it receives the
    subparsers and returns a handler per command name it added.
    """
    parser = _parser()
    extra: dict[str, Command] = {}
    if extend is not None:
        extra = extend(_subparsers(parser))
    args = parser.parse_args(argv)
    try:
        if args.command in extra:
            return extra[args.command](args)
        if args.command == "run":
            return _run(args)
        if args.command == "known-hosts":
            return _known_hosts(args)
        if args.command == "diagram":
            return _diagram(args)
        if args.command == "demo":
            from ._demo import run_demo

            return run_demo(keep=args.keep, as_json=args.json)
    except BadInputError as exc:
        print(f"git-reconcile: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: one line, no traceback
        if getattr(args, "verbose", False):
            raise
        print(f"git-reconcile: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_UNEXPECTED
    return EXIT_UNEXPECTED


def _run(args: argparse.Namespace) -> int:
    from ._engine import reconcile
    from ._spec import HTTPAuth, RepoSpec, Retry, SSHKey

    if args.verbose:
        from ._logging import configure_logging

        configure_logging(args.log_format, level="INFO", stream=sys.stderr)
    if args.ssh_key and args.token_file:
        raise InvalidSpecError("give --ssh-key or --token-file, not both")
    credentials: SSHKey | HTTPAuth | None = None
    if args.ssh_key:
        credentials = SSHKey(private_key=args.ssh_key)
    elif args.token_file:
        credentials = HTTPAuth(
            username=args.http_user, password_file=args.token_file, bearer=args.bearer
        )
    spec = RepoSpec(
        path=args.path,
        remote=args.remote,
        branch=args.branch,
        timeout=args.timeout,
        credentials=credentials,
        known_hosts=args.known_hosts,
        host_key_fingerprints=tuple(args.fingerprint),
        conflict_prefix=args.conflict_prefix,
        push=not args.no_push,
        retry=Retry(attempts=args.retries),
        lock_timeout=args.lock_timeout,
    )
    if args.json or not sys.stdout.isatty():
        result = reconcile(spec)
    else:
        from ._progress import ProgressBar

        with ProgressBar() as bar:
            result = reconcile(spec, progress=bar.update)
    print(json.dumps(result.to_dict()) if args.json else summary(result))
    return exit_code(result)


def summary(result: Result) -> str:
    """A short human summary of a result."""

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


def _known_hosts(args: argparse.Namespace) -> int:
    from ._errors import NetworkError
    from ._git import scan_host_key
    from ._hostkeys import (
        Verdict,
        check_host_key,
        default_known_hosts,
        host_pattern,
        known_hosts_line,
        parse_target,
    )

    host, port, url = parse_target(args.target)
    path = args.known_hosts or default_known_hosts()
    try:
        key = scan_host_key(url, args.timeout)
    except NetworkError as exc:
        print(f"git-reconcile: {exc}", file=sys.stderr)
        return EXIT_FETCH_FAILED
    print(f"{host_pattern(host, port)} presents {key.keytype} {key.fingerprint}")
    if args.action == "show":
        print(known_hosts_line(host, port, key))
        return EXIT_OK
    verdict, reason = check_host_key(key, host, port, path)
    if verdict is Verdict.TRUSTED:
        print(f"already recorded in {path}")
        return EXIT_OK
    if verdict in (Verdict.CHANGED, Verdict.REVOKED):
        print(f"git-reconcile: not recorded: {reason}", file=sys.stderr)
        return EXIT_UNEXPECTED
    if args.fingerprint:
        if check_host_key(key, host, port, path, tuple(args.fingerprint))[0] is not Verdict.TRUSTED:
            print(
                f"git-reconcile: not recorded: the server presents {key.fingerprint}, "
                f"not {', '.join(args.fingerprint)}",
                file=sys.stderr,
            )
            return EXIT_UNEXPECTED
    elif not args.trust_on_first_use:
        print(
            "not recorded: check that fingerprint with the host's operator, then run again "
            f"with --fingerprint {key.fingerprint} (or --trust-on-first-use to skip the check)",
            file=sys.stderr,
        )
        return EXIT_UNEXPECTED
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(known_hosts_line(host, port, key) + "\n")
    how = "fingerprint verified" if args.fingerprint else "trusted on first use, unverified"
    print(f"recorded in {path} ({how})")
    return EXIT_OK


def _diagram(args: argparse.Namespace) -> int:
    from ._diagram import mermaid, readme_with_diagram, write_readme

    try:
        if args.write:
            changed = write_readme(args.write)
            print(f"{args.write}: {'updated' if changed else 'already current'}")
            return EXIT_OK
        if args.check:
            text = args.check.read_text(encoding="utf-8")
            if readme_with_diagram(text) != text:
                print(
                    f"{args.check}: the state diagram is out of date; "
                    f"run: git-reconcile diagram --write {args.check}",
                    file=sys.stderr,
                )
                return EXIT_UNEXPECTED
            return EXIT_OK
    except (OSError, ValueError) as exc:
        print(f"git-reconcile: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    sys.stdout.write(mermaid())
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
