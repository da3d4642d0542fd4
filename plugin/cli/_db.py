"""``git-reconcile db``: apply the audit store's migrations."""

from __future__ import annotations

import argparse
import os

from ._database import add_database_options, audit_store, database_url, shown
from ._exit import ExitCode, HelpFormatter, epilog

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = epilog("db")
    parser.formatter_class = HelpFormatter  # the epilog is a table
    parser.add_argument(
        "action", choices=["upgrade"], help="upgrade: migrate the store to the latest schema"
    )
    add_database_options(parser)


def run(args: argparse.Namespace) -> int:
    url = database_url(args, os.environ)
    with audit_store(url, create=True):
        pass
    print(f"the audit store is at the latest schema ({shown(url)})")
    return ExitCode.OK
