"""The command's exit codes, defined once: their numbers, names and meanings."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconcile import Result

__all__ = ["EXIT_CODES", "ExitCode", "epilog", "exit_code"]


class ExitCode(enum.IntEnum):
    """What ``git-reconcile`` exits with.

    ``FAILED`` is an unexpected error for every command; ``known-hosts add`` also
    returns it when it refuses to record a key, ``diagram --check`` when the
    diagram is out of date, and ``demo`` when a scenario ended otherwise.
    """

    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    CONFLICT = 3
    FETCH_FAILED = 4
    PUSH_NOT_LANDED = 5
    BLOCKED = 6
    INTERRUPTED = 130  # the shell's code for a command ended by SIGINT (Ctrl-C): 128 + 2
    TERMINATED = 143  # and by SIGTERM: 128 + 15


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "reconciled: in-sync, fast-forwarded, pushed-ahead or rebased, "
    "push ok or not needed",
    ExitCode.FAILED: "unexpected error (a bug: please report it)",
    ExitCode.BAD_INPUT: "bad input: not a repository, unknown remote or branch, malformed option",
    ExitCode.CONFLICT: "conflict-escaped: local commits moved to a conflicts/ branch",
    ExitCode.FETCH_FAILED: "fetch-failed: the remote could not be read",
    ExitCode.PUSH_NOT_LANDED: "a push was needed and did not land",
    ExitCode.BLOCKED: "blocked: local state makes a change unsafe; nothing changed",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C, SIGINT): the network operation was "
    "cancelled; one line says what had changed",
    ExitCode.TERMINATED: "terminated (SIGTERM): as for 130",
}


def epilog(codes: Iterable[ExitCode] = EXIT_CODES) -> str:
    """The ``--help`` epilog listing ``codes`` with their meanings (for a raw formatter)."""
    return "exit codes:\n" + "\n".join(f"  {code:<3d} {EXIT_CODES[code]}" for code in codes)


def exit_code(result: Result) -> ExitCode:
    """The command's exit code for a result."""
    from reconcile import Outcome, PushStatus

    if result.outcome is Outcome.FETCH_FAILED:
        return ExitCode.FETCH_FAILED
    if result.outcome is Outcome.BLOCKED:
        return ExitCode.BLOCKED
    if result.push.status in (PushStatus.FAILED, PushStatus.REJECTED):
        return ExitCode.PUSH_NOT_LANDED
    if result.outcome is Outcome.CONFLICT_ESCAPED:
        return ExitCode.CONFLICT
    return ExitCode.OK
