"""The command's exit codes, defined once: their numbers, meanings and the commands
that return them. The ``--help`` epilogs are made from here, and so is the README's
table (``_exit_table``)."""

from __future__ import annotations

import argparse
import enum
import textwrap
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from reconcile import Result

__all__ = [
    "COMMAND_NAMES",
    "EXIT_CODES",
    "MEANINGS",
    "RETURNED_BY",
    "CommandError",
    "ExitCode",
    "HelpFormatter",
    "codes_of",
    "epilog",
    "exit_code",
    "meaning",
]


class ExitCode(enum.IntEnum):
    """What ``git-reconcile`` exits with.

    ``FAILED`` is an unexpected error for every command; ``known-hosts add`` also
    returns it when it refuses to record a key, ``diagram --check`` when the
    diagram is out of date, and ``demo`` when a scenario ended otherwise.
    ``BAD_INPUT`` means the command line or the configuration is wrong, and running
    it again unchanged will not help; ``UNAVAILABLE`` means the input is fine but
    the machine is not ready for it (the port is taken, the database is down), so
    the same command may succeed later.
    """

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    CONFLICT = 3
    FETCH_FAILED = 4
    PUSH_NOT_LANDED = 5
    BLOCKED = 6
    UNAVAILABLE = 7
    INTERRUPTED = 130  # the shell's code for a command ended by SIGINT (Ctrl-C): 128 + 2
    OUTPUT_CLOSED = 141  # and by SIGPIPE (its reader went away): 128 + 13
    TERMINATED = 143  # and by SIGTERM: 128 + 15


#: What each code means, for every command that returns it.
EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.FAILED: "unexpected error (a bug: please report it)",
    ExitCode.BAD_INPUT: "bad input: not a repository, unknown remote or branch, a malformed "
    "option or configuration (one line on stderr)",
    ExitCode.CONFLICT: "conflict-escaped: local commits moved to a conflicts/ branch",
    ExitCode.FETCH_FAILED: "fetch-failed: the remote could not be read",
    ExitCode.PUSH_NOT_LANDED: "a push was needed and did not land",
    ExitCode.BLOCKED: "blocked: local state makes a change unsafe; nothing changed",
    ExitCode.UNAVAILABLE: "unavailable: the port is taken, the database is unreachable, a "
    "directory is not writable, or (serve) the boot reconcile failed under boot_policy fail "
    "(one line on stderr; the same command may succeed later)",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
    ExitCode.OUTPUT_CLOSED: "the output was closed before all of it was written (its reader "
    "stopped early, as head does in a pipe): the rest is not printed, and what the command did "
    "stands",
    ExitCode.TERMINATED: "terminated (SIGTERM): as for 130",
}

#: What a code means for one command, where that says more than ``EXIT_CODES``.
MEANINGS: dict[str, dict[ExitCode, str]] = {
    "run": {
        ExitCode.OK: "reconciled (in-sync, fast-forwarded, pushed-ahead or rebased), push ok "
        "or not needed",
        ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGINT): the network operation was "
        "cancelled, and one line says what the run had changed",
    },
    "commit": {
        ExitCode.OK: "committed (or nothing to commit) and reconciled, push ok or not needed",
        ExitCode.BLOCKED: "blocked: the commit was refused (a hook failed, a secret, an "
        "unsafe state) or local state makes a change unsafe; nothing changed",
    },
    "known-hosts": {
        ExitCode.FAILED: "add refused to record the key, or an unexpected error",
        ExitCode.FETCH_FAILED: "the host could not be reached",
    },
    "clone": {
        ExitCode.OK: "cloned, or the path already held that repository (its URL updated)",
        ExitCode.BAD_INPUT: "the path exists, is not empty and is not a repository; or a "
        "malformed option",
        ExitCode.FETCH_FAILED: "the remote could not be read: nothing was left behind",
    },
    "serve": {
        ExitCode.FETCH_FAILED: "a first boot's clone failed (a restart tries again)",
    },
    "fleet": {
        ExitCode.OK: "every repository ended well (committed and pushed, or nothing to do)",
        ExitCode.BLOCKED: "a repository was refused, skipped, not pushed or failed; the "
        "summary gives each one's reason, and the other repositories were done",
        ExitCode.UNAVAILABLE: "another fleet service holds the data directory's lock, or "
        "the directory is not writable",
    },
    "diagram": {ExitCode.FAILED: "--check: the diagram is out of date, or an unexpected error"},
    "demo": {ExitCode.FAILED: "a scenario ended otherwise, or an unexpected error"},
}

#: The subcommands, in the order ``git-reconcile --help`` lists them.
COMMAND_NAMES: Final = (
    "run",
    "commit",
    "clone",
    "known-hosts",
    "diagram",
    "demo",
    "serve",
    "fleet",
    "db",
    "history",
)

#: The commands that return each code.
RETURNED_BY: dict[ExitCode, tuple[str, ...]] = {
    ExitCode.OK: COMMAND_NAMES,
    ExitCode.FAILED: COMMAND_NAMES,
    ExitCode.BAD_INPUT: COMMAND_NAMES,
    ExitCode.CONFLICT: ("run", "commit"),
    ExitCode.FETCH_FAILED: ("run", "commit", "clone", "known-hosts", "serve"),
    ExitCode.PUSH_NOT_LANDED: ("run", "commit"),
    ExitCode.BLOCKED: ("run", "commit", "fleet"),
    ExitCode.UNAVAILABLE: ("serve", "fleet", "db", "history"),
    ExitCode.INTERRUPTED: COMMAND_NAMES,
    ExitCode.OUTPUT_CLOSED: COMMAND_NAMES,
    ExitCode.TERMINATED: ("run", "commit"),
}


class CommandError(Exception):
    """A command cannot go on: ``main`` prints the message as one line on stderr and
    exits with ``code`` (``BAD_INPUT`` or ``UNAVAILABLE``)."""

    def __init__(self, message: str, code: ExitCode = ExitCode.BAD_INPUT) -> None:
        super().__init__(message)
        self.code = code


def meaning(command: str, code: ExitCode) -> str:
    """What ``code`` means when ``command`` returns it."""
    return MEANINGS.get(command, {}).get(code, EXIT_CODES[code])


def codes_of(command: str) -> list[ExitCode]:
    """The codes ``command`` returns, in numeric order."""
    return [code for code in EXIT_CODES if command in RETURNED_BY[code]]


_EPILOG = "exit codes:\n"


def epilog(command: str) -> str:
    """The ``--help`` epilog of ``command``: its codes with their meanings, one line
    each (:class:`HelpFormatter` wraps them)."""
    return _EPILOG + "\n".join(
        f"  {code:<3d} {meaning(command, code)}" for code in codes_of(command)
    )


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that the exit-code epilog keeps one entry per code,
    each wrapped under its meaning."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if not text.startswith(_EPILOG):
            return super()._fill_text(text, width, indent)
        lines = [indent + _EPILOG.strip()]
        for entry in text[len(_EPILOG) :].splitlines():
            lines += textwrap.wrap(
                entry, width, initial_indent=indent, subsequent_indent=indent + " " * 6
            )
        return "\n".join(lines)


def exit_code(result: Result) -> ExitCode:
    """The command's exit code for a result."""
    from reconcile import Outcome

    if result.outcome is Outcome.FETCH_FAILED:
        return ExitCode.FETCH_FAILED
    if result.outcome is Outcome.BLOCKED:
        return ExitCode.BLOCKED
    if not result.push.landed:
        return ExitCode.PUSH_NOT_LANDED
    if result.outcome is Outcome.CONFLICT_ESCAPED:
        return ExitCode.CONFLICT
    return ExitCode.OK
