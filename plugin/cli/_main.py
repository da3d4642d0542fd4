"""The one parser of ``git-reconcile``, with every subcommand, and the dispatch.

Each command is a module that declares ``COMMAND``: its name, its line in
``git-reconcile --help``, ``add_arguments(parser)`` (its flags, and its description
when it has one) and ``run(args) -> int`` (the exit code). This module and the
command modules import only the standard library when loaded; a command imports
what it needs when it runs.

A command's flags are added the first time its parser is used (to parse its
arguments, or to show its ``--help``): their defaults come from the value objects
(``reconcile.RepoSpec``, ``plugin.RepoConfig`` ...), and ``git-reconcile --help``,
``--version`` or ``run`` should not load what another command's flags need.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._command import Command
from ._db import COMMAND as DB
from ._demo import COMMAND as DEMO
from ._diagram import COMMAND as DIAGRAM
from ._exit import ExitCode
from ._history import COMMAND as HISTORY
from ._known_hosts import COMMAND as KNOWN_HOSTS
from ._run import COMMAND as RUN
from ._serve import COMMAND as SERVE

__all__ = ["COMMANDS", "build_parser", "main"]

PROG = "git-reconcile"

# In the order `git-reconcile --help` lists them.
COMMANDS: dict[str, Command] = {
    command.name: command for command in (RUN, KNOWN_HOSTS, DIAGRAM, DEMO, SERVE, DB, HISTORY)
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


class _CommandParser(argparse.ArgumentParser):
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
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Keep git-backed data repos reconciled with their remotes, "
        "without ever losing a commit.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser
    )
    for name, command in COMMANDS.items():
        sub.add_parser(name, help=command.help, command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the command; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except Exception as exc:  # the last line of defence: one line, no traceback
        return _failed(exc, verbose=getattr(args, "verbose", False))


def _failed(exc: Exception, *, verbose: bool) -> int:
    """Report ``exc`` in one line: bad input (exit 2), else a bug (exit 1; with -v, raised)."""
    from reconcile import BadInputError

    if isinstance(exc, BadInputError):
        print(f"{PROG}: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if verbose:
        raise exc
    print(f"{PROG}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return ExitCode.FAILED
