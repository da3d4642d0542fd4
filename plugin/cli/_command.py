"""What a subcommand is: its name, its line in ``--help``, its flags, and its run."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Command"]


@dataclass(frozen=True)
class Command:
    """A subcommand of ``git-reconcile``, as its module declares it.

    ``add_arguments`` adds the flags (and sets the parser's description when there
    is one); ``run`` does the work and returns the exit code.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
