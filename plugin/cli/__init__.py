"""The ``git-reconcile`` command (also ``git reconcile`` and ``python -m plugin``).

One parser holds every subcommand (``run``, ``known-hosts``, ``diagram``, ``demo``,
``serve``, ``db``, ``history``); each lives in its own module here. Loading this
package imports only the standard library: a command imports the library, the web
stack or the database when it runs.
"""

from __future__ import annotations

from ._exit import (
    COMMAND_NAMES,
    EXIT_CODES,
    RETURNED_BY,
    CommandError,
    ExitCode,
    codes_of,
    exit_code,
    meaning,
)
from ._main import build_parser, main

__all__ = [
    "COMMAND_NAMES",
    "EXIT_CODES",
    "RETURNED_BY",
    "CommandError",
    "ExitCode",
    "build_parser",
    "codes_of",
    "exit_code",
    "main",
    "meaning",
]
