"""Alembic migrations of the git-reconcile audit store, and its tables (``models``).

A package, so that an installed wheel can find them: ``plugin.audit.AuditStore``
sets Alembic's ``script_location`` to this directory, wherever it was installed.
Nothing here imports ``plugin``: the store imports the models from here.
"""

# ``plugin.audit.migrations_directory`` checks this, so that another project's
# top-level ``migrations`` package shadowing this one is refused, not run.
AUDIT_STORE_MIGRATIONS = "git-reconcile"
