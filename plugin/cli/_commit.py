"""``git-reconcile commit``: commit the working tree, then reconcile, in one run."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ._command import Command
from ._exit import epilog
from ._run import add_arguments as run_arguments
from ._run import reconcile_now
from ._run import summary as run_summary

if TYPE_CHECKING:
    from reconcile import CommitRequest, Result

__all__ = ["COMMAND", "add_arguments", "run", "summary"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    run_arguments(parser)
    parser.description = (
        "Commit the working tree (tracked changes, and new files .gitignore does not "
        "ignore), leaving out the usual secret files and refusing files with a filter= "
        "attribute, large files and new lines holding secrets, with the repository's "
        "pre-commit and commit-msg hooks; then reconcile as run does. Nothing to commit "
        "is no error."
    )
    parser.epilog = epilog("commit")
    parser.add_argument(
        "-m",
        "--message",
        help="the commit message (default: the template 'Update {num_files} file(s): {files}')",
    )
    parser.add_argument(
        "--author",
        metavar='"NAME <EMAIL>"',
        help="the author (default: the repository's user.name and user.email)",
    )
    parser.add_argument(
        "--co-author",
        action="append",
        default=[],
        metavar='"NAME <EMAIL>"',
        help="a co-author, as a Co-authored-by trailer (repeatable)",
    )
    parser.add_argument(
        "--trailer",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a trailer, in order (repeatable; KEY: VALUE works too)",
    )
    parser.add_argument(
        "--path",
        action="append",
        default=[],
        dest="paths",
        metavar="P",
        help="commit only changes at or under P, relative to the top of the tree (repeatable)",
    )


def _request(args: argparse.Namespace) -> CommitRequest:
    """The commit request of the flags; raises ``InvalidSpecError`` (exit 2)."""
    from reconcile import CommitRequest, Identity, parse_trailer

    return CommitRequest(
        message=args.message,
        paths=tuple(args.paths) or None,
        author=None if args.author is None else Identity.parse(args.author),
        co_authors=tuple(Identity.parse(a) for a in args.co_author),
        trailers=tuple(parse_trailer(t) for t in args.trailer),
        trigger="cli",
    )


def run(args: argparse.Namespace) -> int:
    return reconcile_now(args, _request(args), summary)


def summary(result: Result) -> str:
    """``run``'s summary, with the commit and the paths left out."""
    lines = [run_summary(result)]
    if result.commit is not None:
        subject = result.commit.message.split("\n", 1)[0]
        lines.append(f"  commit: {result.commit.sha[:10]} {subject}")
    if result.skipped_paths:
        lines.append(f"  left out (exclude): {', '.join(result.skipped_paths)}")
    return "\n".join(lines)


COMMAND = Command(
    name="commit",
    help="commit the working tree, then reconcile",
    add_arguments=add_arguments,
    run=run,
)
