"""Alembic environment of the audit store.

Built for use from code (``AuditStore.upgrade``), without an alembic.ini: the
connection comes from ``config.attributes["connection"]``, else the URL from the
``sqlalchemy.url`` main option. The target metadata is that of the audit models
alone, and only their tables are compared, so the audit store can share a database
with a host application's own tables and Alembic history (its version table is
``reconcile_alembic_version``, not ``alembic_version``). It imports the models
(``migrations.models``) and nothing of ``plugin``: the store depends on the
migrations, never the other way round.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.environment import NameFilterParentNames, NameFilterType
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool
from sqlmodel.sql.sqltypes import AutoString

from migrations.models import AUDIT_METADATA, VERSION_TABLE, UTCDateTime

config = context.config
target_metadata = AUDIT_METADATA


def include_name(
    name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
) -> bool:
    """Compare only the audit tables: a host's tables in the same database are not ours."""
    if type_ == "table":
        return name in target_metadata.tables
    return True


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Autogenerate writes plain SQLAlchemy types, so revisions import neither sqlmodel
    nor the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return "sa.String()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        render_item=render_item,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Write the SQL to the output instead of running it (``alembic upgrade --sql``)."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    # SQLite alters tables by copying them: batch mode does that for later revisions.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("give the database: config.attributes['connection'] or sqlalchemy.url")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
