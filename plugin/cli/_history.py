"""``git-reconcile history``: past runs from the audit store, newest first.

A reading command: it makes no store (a SQLite file that is not there is bad input),
and checks its filters before opening one. The table fits 80 columns without cutting
a time, an outcome or a conflict branch: the trigger stands under the time, the commit
under the outcome, and the conflict branch under the reason, which wraps.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ._database import add_database_options, audit_store, database_url
from ._exit import CommandError, ExitCode, HelpFormatter, epilog

__all__ = ["add_arguments", "run"]

LIMIT = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = epilog("history")
    parser.formatter_class = HelpFormatter  # the epilog is a table
    add_database_options(parser)
    parser.add_argument("--repo", help="only this repository")
    parser.add_argument("--outcome", help="only this outcome (e.g. conflict-escaped)")
    parser.add_argument(
        "--limit", type=int, default=LIMIT, help="how many runs, at least 1 (default: %(default)d)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    _check(args)
    with audit_store(database_url(args, os.environ), create=False) as store:
        rows = store.history(repo=args.repo, outcome=args.outcome, limit=args.limit)
    if args.json:
        print(json.dumps(rows, default=str))
        return ExitCode.OK
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            """Leave a closed output to ``main``, as for every command (rich's own
            answer is exit 1, the code of a bug)."""
            self.quiet = True
            raise BrokenPipeError

    _Console().print(_table(rows))
    return ExitCode.OK


def _check(args: argparse.Namespace) -> None:
    """Bad input, before anything is opened: a limit below 1, an unknown outcome."""
    from reconcile import Outcome

    if args.limit < 1:
        raise CommandError(f"--limit must be at least 1, not {args.limit}")
    known = [outcome.value for outcome in Outcome]
    if args.outcome is not None and args.outcome not in known:
        raise CommandError(
            f"--outcome {args.outcome!r} is not an outcome (known: {', '.join(known)})"
        )


def _table(rows: list[dict[str, Any]]) -> Any:
    """The runs as a rich table."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("finished (UTC)\ntrigger", no_wrap=True)
    table.add_column("repo", overflow="fold", max_width=24)
    table.add_column("outcome\ncommit", no_wrap=True)
    table.add_column("reason\nconflict branch", overflow="fold", ratio=1)
    for row in rows:
        table.add_row(*_cells(row))
    return table


def _cells(row: Mapping[str, Any]) -> tuple[str, ...]:
    """One run's cells of the table."""
    result = row.get("result") or {}
    finished = row.get("finished_at")
    when = (
        datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(finished, int | float)
        else str(finished)
    )
    reason = str(result.get("reason") or row.get("error") or "")
    branch = result.get("conflict_branch")
    return (
        f"{when}\n{', '.join(row.get('triggers') or [])}",
        str(row.get("repo")),
        f"{result.get('outcome') or 'error'}\n{str(result.get('new_commit') or '')[:10]}",
        f"{reason}\n{branch}" if branch else reason,
    )
