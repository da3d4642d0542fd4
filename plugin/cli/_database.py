"""Where the audit store is: the database flags, and the URL they and the environment give."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["add_database_options", "database_url", "default_data_dir", "shown"]


def add_database_options(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    from plugin._config import ENV_DATABASE_URL

    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://... (default: ${ENV_DATABASE_URL}, else a "
        "SQLite file in --data-dir)",
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="where the default SQLite file lives"
    )


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """``$XDG_DATA_HOME/git-reconcile``, or ``~/.local/share/git-reconcile``."""
    from pathlib import Path

    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "git-reconcile"


def database_url(
    args: argparse.Namespace, environ: Mapping[str, str], configured: str | None = None
) -> str:
    """The audit store's URL: --database-url, RECONCILE_DATABASE_URL, the config file's,
    else a SQLite file in the data directory."""
    from pathlib import Path

    from plugin._config import ENV_DATABASE_URL

    explicit = getattr(args, "database_url", None)
    if explicit or environ.get(ENV_DATABASE_URL) or configured:
        return str(explicit or environ.get(ENV_DATABASE_URL) or configured)
    folder = getattr(args, "data_dir", None) or default_data_dir(environ)
    return f"sqlite:///{Path(folder).expanduser().absolute() / 'audit.sqlite3'}"


def shown(url: str) -> str:
    """``url`` with any password redacted, fit to print."""
    from reconcile import redact_url

    return redact_url(url)
