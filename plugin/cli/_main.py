"""The one parser of ``git-reconcile``, with every subcommand, and the dispatch.

Each command is a module that declares ``COMMAND``: its name, its line in
``git-reconcile --help``, ``add_arguments(parser)`` (its flags, and its description
when it has one) and ``run(args) -> int`` (the exit code). This module and the
command modules import only the standard library when loaded; a command imports
what it needs when it runs. Building the parser reads the flags' defaults from the
core's value objects (``reconcile.RepoSpec`` ...), so it loads the core library, and
nothing of the web stack or the database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._clone import COMMAND as CLONE
from ._command import Command
from ._commit import COMMAND as COMMIT
from ._db import COMMAND as DB
from ._demo import COMMAND as DEMO
from ._diagram import COMMAND as DIAGRAM
from ._exit import CommandError, ExitCode
from ._history import COMMAND as HISTORY
from ._known_hosts import COMMAND as KNOWN_HOSTS
from ._run import COMMAND as RUN
from ._serve import COMMAND as SERVE

__all__ = ["COMMANDS", "build_parser", "main"]

PROG = "git-reconcile"

# In the order `git-reconcile --help` lists them.
COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (RUN, COMMIT, CLONE, KNOWN_HOSTS, DIAGRAM, DEMO, SERVE, DB, HISTORY)
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


def build_parser() -> argparse.ArgumentParser:
    """The ``git-reconcile`` parser, every subcommand included."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Keep git-backed data repos reconciled with their remotes, "
        "without ever losing a commit.",
    )
    parser.add_argument("-V", "--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help))
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
    """Report ``exc`` in one line: a command's own error (its code), bad input (exit 2),
    else a bug (exit 1; with -v, raised)."""
    from reconcile import BadInputError

    if isinstance(exc, CommandError):
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exc.code
    if isinstance(exc, BadInputError):
        print(f"{PROG}: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    if verbose:
        raise exc
    print(f"{PROG}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return ExitCode.FAILED
