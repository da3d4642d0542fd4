"""Fleet mode: every repository under a few base paths, committed and pushed in two
phases, with an HTTP API to watch and steer it (``git-reconcile fleet``)."""

from __future__ import annotations

from ._audit import FleetAudit
from ._config import DEFAULT_FLEET_EXCLUDE, PUSH_POLICIES, FleetConfig, FleetOverride
from ._cycle import AlwaysOnce, CycleGate, Fleet, host_of
from ._discover import Discovery, FoundRepo, discover
from ._metrics import FleetMetrics
from ._report import CycleReport, RepoResult
from ._routes import STATE_KEY
from ._routes import routes as fleet_routes
from ._service import FleetService
from ._state import FleetLocked, FleetSettings, hold_data_dir

__all__ = [
    "DEFAULT_FLEET_EXCLUDE",
    "PUSH_POLICIES",
    "STATE_KEY",
    "AlwaysOnce",
    "CycleGate",
    "CycleReport",
    "Discovery",
    "Fleet",
    "FleetAudit",
    "FleetConfig",
    "FleetLocked",
    "FleetMetrics",
    "FleetOverride",
    "FleetService",
    "FleetSettings",
    "FoundRepo",
    "RepoResult",
    "discover",
    "fleet_routes",
    "hold_data_dir",
    "host_of",
]
