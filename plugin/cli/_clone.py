"""``git-reconcile clone URL PATH``: first boot by hand, and rotation.

The same as ``serve`` does at start for a repository with a ``url``
(``reconcile.ensure_clone``): a missing or empty PATH is cloned, a clone whose
remote names another URL is pointed at URL, anything else is refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._defaults import default
from ._exit import ExitCode, HelpFormatter, epilog
from ._run import _credential_arguments, _network_spec

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from reconcile import HTTPAuth, RepoSpec, Retry

    parser.description = (
        "Make PATH a clone of URL: clone into a missing or empty PATH (full history, "
        "host keys verified), or point the remote of the clone at PATH at URL. A PATH "
        "that holds anything else is refused and left as it is."
    )
    parser.epilog = epilog("clone")
    parser.formatter_class = HelpFormatter
    parser.add_argument("url", help="the remote's URL (no credentials in it)")
    parser.add_argument("path", type=Path, help="where the clone goes")
    parser.add_argument("--bare", action="store_true", help="a bare repository (no working tree)")
    parser.add_argument(
        "--remote", default=default(RepoSpec, "remote"), help="remote name (default: %(default)s)"
    )
    parser.add_argument("--branch", help="branch to check out (default: the remote's HEAD)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=default(RepoSpec, "timeout"),
        help="seconds to wait for the network at each step (default: %(default)g)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=default(Retry, "attempts"),
        metavar="N",
        help="tries when failures are transient (default: %(default)d)",
    )
    parser.add_argument(
        "--trust",
        action="store_true",
        help="accept an existing repository at PATH that another user owns",
    )
    _credential_arguments(parser, http_user=default(HTTPAuth, "username"))


def run(args: argparse.Namespace) -> int:
    from reconcile import NetworkError, ensure_clone

    spec = _network_spec(args)
    try:
        done = ensure_clone(spec, args.url, bare=args.bare)
    except NetworkError as exc:
        print(f"git-reconcile: cannot clone: {exc}", file=sys.stderr)
        return ExitCode.FETCH_FAILED
    print(done.describe())
    return ExitCode.OK
