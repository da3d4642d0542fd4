"""Where the audit store is: the database flags, the URL they and the environment give,
and the store opened with its problems told in one line each.

A URL that is not one, or names a database the store does not support, is bad input
(exit 2); a database that cannot be reached, or a file or directory that cannot be
made or written, is the machine not being ready (exit 7): the same command may work
later. Passwords are redacted in every message.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ._exit import CommandError, ExitCode

if TYPE_CHECKING:
    from plugin.audit import AuditStore

__all__ = [
    "add_database_options",
    "audit_store",
    "database_url",
    "default_data_dir",
    "fleet_lock",
    "shown",
]

_FORMS = "give sqlite:///PATH or postgresql://USER@HOST/DB"


def add_database_options(parser: argparse.ArgumentParser) -> None:
    from plugin._environment import ENV_DATABASE_URL

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
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "git-reconcile"


def fleet_lock(data_dir: Path) -> int:
    """The fleet's lock on ``data_dir``, as its file descriptor (close it to let go);
    a second fleet there, or a folder that cannot be used, exits 7 saying so."""
    from plugin.fleet import FleetLocked, hold_data_dir

    try:
        return hold_data_dir(data_dir)
    except FleetLocked as exc:
        raise CommandError(str(exc), ExitCode.UNAVAILABLE) from None
    except OSError as exc:
        raise CommandError(f"cannot use {data_dir}: {exc.strerror}", ExitCode.UNAVAILABLE) from None


def database_url(
    args: argparse.Namespace, environ: Mapping[str, str], configured: str | None = None
) -> str:
    """The audit store's URL: --database-url, RECONCILE_DATABASE_URL, the config file's,
    else a SQLite file in the data directory."""
    from plugin._environment import ENV_DATABASE_URL

    explicit = getattr(args, "database_url", None)
    if explicit or environ.get(ENV_DATABASE_URL) or configured:
        return str(explicit or environ.get(ENV_DATABASE_URL) or configured)
    folder = getattr(args, "data_dir", None) or default_data_dir(environ)
    return f"sqlite:///{Path(folder).expanduser().absolute() / 'audit.sqlite3'}"


def shown(url: str) -> str:
    """``url`` with any password redacted, fit to print."""
    from reconcile import redact_url

    return redact_url(url)


@contextmanager
def audit_store(url: str, *, create: bool = True, upgrade: bool = True) -> Iterator[AuditStore]:
    """The audit store at ``url``, migrated when ``upgrade``; closed afterwards.

    With ``create`` false a SQLite file that does not exist is bad input (a reading
    command makes no store). Every problem of opening, migrating or reading the store,
    in the ``with`` block too, is a :class:`CommandError` with its one line.
    """
    from sqlalchemy.exc import DBAPIError

    if not create:
        _must_exist(url)
    store = _open(url)
    try:
        with store:
            if upgrade:
                store.upgrade()
            else:
                store.engine.connect().close()
            yield store
    except DBAPIError as exc:
        raise CommandError(_unreachable(url, exc), ExitCode.UNAVAILABLE) from None


def _must_exist(url: str) -> None:
    """Bad input when ``url`` is a SQLite file (or a file in a folder) that is not there."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return  # _open says what is wrong with it
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return
    path = Path(parsed.database).expanduser()
    if not path.parent.is_dir():
        raise CommandError(f"no audit store at {path}: the folder {path.parent} does not exist")
    if not path.is_file():
        raise CommandError(
            f"no audit store at {path}: nothing was recorded there (serve records its runs "
            "there; give the --data-dir or --database-url it uses)"
        )


def _open(url: str) -> AuditStore:
    """The store object for ``url`` (nothing connected yet); its problems in one line."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from plugin.audit import AuditStore

    try:
        return AuditStore(url)
    except ArgumentError:
        raise CommandError(f"{shown(url)} is not a database URL: {_FORMS}") from None
    except NoSuchModuleError as exc:
        raise CommandError(f"{shown(url)}: unknown database driver ({exc}); {_FORMS}") from None
    except ValueError as exc:  # an unsupported database, or SQLite not in a file
        raise CommandError(f"{shown(url)}: {exc}; {_FORMS}") from None
    except ImportError as exc:
        raise CommandError(
            f"{shown(url)}: the database driver is not installed ({exc.name}); "
            "pip install 'git-reconcile[postgres]' adds PostgreSQL's",
            ExitCode.UNAVAILABLE,
        ) from None
    except OSError as exc:  # the SQLite file's folder could not be made
        where = exc.filename or url
        raise CommandError(
            f"cannot create the audit store's folder {where}: {exc.strerror}",
            ExitCode.UNAVAILABLE,
        ) from None


def _unreachable(url: str, exc: Exception) -> str:
    """One line for a database that could not be opened, reached or written."""
    from reconcile import redact_text

    cause = getattr(exc, "orig", None) or exc
    detail = redact_text(str(cause).strip().splitlines()[0] if str(cause).strip() else "")
    kind = type(cause).__name__
    return f"cannot use the audit database {shown(url)}: {detail or kind}"
