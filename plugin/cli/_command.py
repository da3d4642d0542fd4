"""What a subcommand is: its name, its line in ``--help``, its flags, and its run."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["Command"]


class Command(NamedTuple):
    """A subcommand of ``git-reconcile``, as the command table (``_main``) names it.

    ``add_arguments`` adds the flags (and sets the parser's description when there
    is one); ``run`` does the work and returns the exit code. (A named tuple rather
    than a dataclass: ``dataclasses`` would cost ``--help`` about 10 ms of imports.)
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
