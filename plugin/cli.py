"""The ``git-reconcile`` command with the plugin's ``serve`` subcommand."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from reconcile import cli

from ._serve import add_serve

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, extend=add_serve)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
