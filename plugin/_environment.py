"""The environment variables the service and the command line read: their names only.

Apart from ``_config`` so that a command that needs a name (``run``'s
``--database-url`` help and default) does not load the configuration's value objects.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ENV_ADMIN_TOKEN", "ENV_DATABASE_URL", "ENV_REPLICA_ID", "ENV_WEBHOOK_SECRET"]

ENV_WEBHOOK_SECRET: Final = "RECONCILE_WEBHOOK_SECRET"
ENV_ADMIN_TOKEN: Final = "RECONCILE_ADMIN_TOKEN"
ENV_DATABASE_URL: Final = "RECONCILE_DATABASE_URL"
ENV_REPLICA_ID: Final = "RECONCILE_REPLICA_ID"
