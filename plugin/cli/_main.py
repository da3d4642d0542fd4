"""The one parser of ``git-reconcile``, with every subcommand, and the dispatch.

Each command is a module with ``add_arguments(parser)`` (its flags, and its
description when it has one) and ``run(args) -> int`` (the exit code); the table
here names it and gives its line in ``git-reconcile --help``. A command's module is
imported only when that command is used, and imports only the standard library
when loaded; a command imports what it needs when it runs.

A command's flags are added the first time its parser is used (to parse its
arguments, or to show its ``--help``): their defaults come from the value objects
(``reconcile.RepoSpec``, ``plugin.RepoConfig`` ...), and ``git-reconcile --help``,
``--version`` or ``run`` should not load what another command's flags need.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from ._command import Command
from ._exit import CommandError, ExitCode

__all__ = ["COMMANDS", "build_parser", "main"]

PROG = "git-reconcile"


class _Deferred:
    """A command module's ``add_arguments`` or ``run``, the module imported when it is
    called: ``git-reconcile --help`` and each command load only their own module."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, value: Any) -> Any:
        import importlib

        return getattr(importlib.import_module(f".{self.module}", __package__), self.name)(value)


#: Each command: its name, the module with its ``add_arguments`` and ``run``, and its
#: line in ``git-reconcile --help``; in the order ``--help`` lists them.
_TABLE = (
    ("run", "_run", "reconcile one repository now"),
    ("commit", "_commit", "commit the working tree, then reconcile"),
    ("clone", "_clone", "clone into an empty path, or point an existing clone at a new URL"),
    ("known-hosts", "_known_hosts", "show or record an SSH server's host key"),
    ("diagram", "_diagram", "print the state machine as a mermaid diagram"),
    ("demo", "_demo", "build a throwaway remote and clone, and drive them through every outcome"),
    ("serve", "_serve", "serve repositories: boot reconcile, webhooks, polling, status (uvicorn)"),
    ("fleet", "_fleet", "commit and push every repository under base paths, in two phases"),
    ("db", "_db", "the audit store: apply its migrations"),
    ("history", "_history", "past runs from the audit store, newest first"),
)

COMMANDS: dict[str, Command] = {
    name: Command(name, text, _Deferred(module, "add_arguments"), _Deferred(module, "run"))
    for name, module, text in _TABLE
}


class _Version(argparse.Action):
    """``--version``: prints the library's version, imported only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "show program's version number and exit")
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from reconcile import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


class _UsageError(Exception):
    """A command line argparse refused, with the parser that refused it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose refusals ``main`` reports (as JSON too, under --json)."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


class _CommandParser(_Parser):
    """A subcommand's parser, which adds its command's flags the first time it is used."""

    def __init__(self, *args: Any, command: Command | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = command

    def _ensure_arguments(self) -> None:
        if self._pending is not None:
            command, self._pending = self._pending, None
            command.add_arguments(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._ensure_arguments()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._ensure_arguments()
        return super().format_usage()

    def format_help(self) -> str:
        self._ensure_arguments()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    """The ``git-reconcile`` parser, every subcommand included (each one's flags are
    added when its parser is first used)."""
    parser = _Parser(
        prog=PROG,
        description="Keep git-backed data repos reconciled with their remotes, "
        "without ever losing a commit.",
    )
    parser.add_argument("-V", "--version", action=_Version)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser
    )
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.help, command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the command; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(words)
    except _UsageError as refused:
        refused.parser.print_usage(sys.stderr)
        print(f"{refused.parser.prog}: error: {refused}", file=sys.stderr)
        return _error_object(str(refused), ExitCode.BAD_INPUT, as_json="--json" in words)
    try:
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError as exc:
        if not _stdout_closed():
            return _failed(exc, verbose=getattr(args, "verbose", False), as_json=False)
        return ExitCode.OUTPUT_CLOSED
    except Exception as exc:  # the last line of defence: one line, no traceback
        return _failed(
            exc, verbose=getattr(args, "verbose", False), as_json=getattr(args, "json", False)
        )


def _stdout_closed() -> bool:
    """True when stdout's reader went away (``git-reconcile history | head``); then
    stdout is pointed at the null device, so that nothing more is written there, not
    even by the interpreter's last flush."""
    import os
    import select

    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        events = [event for _fd, event in poller.poll(0)]
    except (OSError, ValueError):  # no stdout, or not a file: not a closed pipe
        return False
    if not any(event & (select.POLLERR | select.POLLHUP) for event in events):
        return False
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, fd)
    os.close(null)
    return True


def _failed(exc: Exception, *, verbose: bool, as_json: bool) -> int:
    """Report ``exc`` in one line: a command's own error (its code), bad input (exit 2),
    else a bug (exit 1; with -v, raised). Under --json the same is also printed on
    stdout, as ``{"error": ..., "code": ...}``."""
    from reconcile import BadInputError

    if isinstance(exc, CommandError):
        print(f"{PROG}: {exc}", file=sys.stderr)
        return _error_object(str(exc), exc.code, as_json=as_json)
    if isinstance(exc, BadInputError):
        print(f"{PROG}: {exc}", file=sys.stderr)
        return _error_object(str(exc), ExitCode.BAD_INPUT, as_json=as_json)
    if verbose:
        raise exc
    message = f"unexpected error: {type(exc).__name__}: {exc}"
    print(f"{PROG}: {message}", file=sys.stderr)
    return _error_object(message, ExitCode.FAILED, as_json=as_json)


def _error_object(message: str, code: ExitCode, *, as_json: bool) -> int:
    """``code``, after printing the error as one JSON object on stdout when asked to."""
    if as_json:
        print(json.dumps({"error": message, "code": int(code)}))
    return code
