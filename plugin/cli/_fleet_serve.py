"""``git-reconcile fleet`` without ``--once``: the fleet's service under uvicorn, its
routes at ``/``, after taking the data directory's lock (a second service says who
holds it and exits 7)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ._database import audit_store, database_url, fleet_lock
from ._exit import CommandError, ExitCode

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from plugin.fleet import FleetConfig, FleetService

__all__ = ["fleet_app", "serve_fleet"]


def fleet_app(service: FleetService) -> Starlette:
    """The fleet's app: its routes at ``/``, the service running in its lifespan."""
    from starlette.applications import Starlette

    from plugin.fleet import fleet_routes

    return Starlette(routes=fleet_routes(), lifespan=service.lifespan())


def serve_fleet(
    config: FleetConfig, data_dir: Path, args: argparse.Namespace, environ: Mapping[str, str]
) -> int:
    from plugin._config import ENV_ADMIN_TOKEN
    from plugin.fleet import FleetService, FleetSettings

    from ._serve import listening, serve_app

    fd = fleet_lock(data_dir)
    try:
        url = database_url(argparse.Namespace(data_dir=data_dir), environ)
        with listening(args.host, args.port) as listener, audit_store(url) as store:
            service = FleetService(
                config,
                settings=FleetSettings.load(data_dir),
                store=store,
                admin_token=environ.get(ENV_ADMIN_TOKEN) or None,
                admin_token_env=ENV_ADMIN_TOKEN,
            )
            if not serve_app(fleet_app(service), listener, log_level=args.log_level.lower()):
                raise CommandError("the fleet did not start: see the error logged above")
    finally:
        os.close(fd)
    return ExitCode.OK
