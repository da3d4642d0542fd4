"""``git-reconcile history``: past runs from the audit store, newest first."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from typing import Any

from ._command import Command
from ._database import add_database_options, database_url
from ._exit import ExitCode

__all__ = ["COMMAND", "add_arguments", "run"]

LIMIT = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_options(parser)
    parser.add_argument("--repo", help="only this repository")
    parser.add_argument("--outcome", help="only this outcome (e.g. conflict-escaped)")
    parser.add_argument(
        "--limit", type=int, default=LIMIT, help="how many runs (default: %(default)d)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from plugin.audit import AuditStore

    with AuditStore(database_url(args, os.environ)) as store:
        store.upgrade()
        rows = store.history(repo=args.repo, outcome=args.outcome, limit=max(1, args.limit))
    if args.json:
        print(json.dumps(rows, default=str))
        return ExitCode.OK
    from rich.console import Console
    from rich.table import Table

    table = Table("finished (UTC)", "repo", "trigger", "outcome", "commit", "reason")
    for row in rows:
        table.add_row(*_cells(row))
    Console().print(table)
    return ExitCode.OK


def _cells(row: Mapping[str, Any]) -> tuple[str, ...]:
    """One run's line of the table."""
    from datetime import UTC, datetime

    result = row.get("result") or {}
    finished = row.get("finished_at")
    when = (
        datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(finished, int | float)
        else str(finished)
    )
    return (
        when,
        str(row.get("repo")),
        ",".join(row.get("triggers") or []),
        str(result.get("outcome") or "error"),
        str(result.get("new_commit") or "")[:10],
        str(result.get("reason") or row.get("error") or ""),
    )


COMMAND = Command(
    name="history",
    help="past runs from the audit store, newest first",
    add_arguments=add_arguments,
    run=run,
)
