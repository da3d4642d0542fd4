"""Where the audit schema comes from: the tables and the migrations of the top-level
``migrations`` package, which owns them (the store depends on it, never the reverse).

The package is found as the one importable under that name, so it works from an
installed wheel whatever the current directory; another project's ``migrations``
package coming first on ``sys.path`` is refused with an error that says so, instead
of having its ``env.py`` run against the audit database.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from alembic.config import Config
from sqlalchemy import URL

from .._errors import ForeignMigrations


def _foreign(package: ModuleType | None) -> ForeignMigrations:
    where = "?" if package is None else package.__file__ or list(getattr(package, "__path__", []))
    return ForeignMigrations(
        f"the importable 'migrations' package ({where}) is not git-reconcile's: "
        "another package of that name comes first on sys.path"
    )


try:
    from migrations.models import (
        AUDIT_METADATA,
        VERSION_TABLE,
        AuditModel,
        GitOperation,
        ReconcileRun,
        RepoCommit,
        UTCDateTime,
        WebhookDelivery,
    )
except ImportError as exc:  # another project's ``migrations`` was found first
    raise _foreign(sys.modules.get("migrations")) from exc

__all__ = [
    "AUDIT_METADATA",
    "VERSION_TABLE",
    "AuditModel",
    "GitOperation",
    "ReconcileRun",
    "RepoCommit",
    "UTCDateTime",
    "WebhookDelivery",
    "alembic_config",
    "migrations_directory",
]


def migrations_directory() -> Path:
    """Where the installed ``migrations`` package is. Raises ``RuntimeError`` when
    the package of that name is not git-reconcile's."""
    package = importlib.import_module("migrations")
    mark = getattr(package, "AUDIT_STORE_MIGRATIONS", None)
    if package.__file__ is None or mark != "git-reconcile":
        raise _foreign(package)
    return Path(package.__file__).resolve().parent


def alembic_config(url: URL) -> Config:
    """An Alembic configuration for the database at ``url``, built in code (no
    alembic.ini)."""
    config = Config()
    config.set_main_option("path_separator", "os")  # paths may hold spaces or commas
    location = str(migrations_directory())
    config.set_main_option("script_location", location.replace("%", "%%"))
    config.set_main_option(
        "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return config
