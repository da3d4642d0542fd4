"""Alembic migrations of the git-reconcile audit store (see ``plugin._store``).

A package, so that an installed wheel can find them: ``AuditStore.upgrade`` sets
Alembic's ``script_location`` to this directory, wherever it was installed.
"""

# ``plugin._store.migrations_directory`` checks this, so that another project's
# top-level ``migrations`` package shadowing this one is refused, not run.
AUDIT_STORE_MIGRATIONS = "git-reconcile"
