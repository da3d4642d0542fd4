"""Fleet mode: every repository under a few base paths, committed and pushed in two
phases, with an HTTP API to watch and steer it (``git-reconcile fleet``).

The names are loaded on first use, so ``git-reconcile fleet --once`` does not load the
web stack, nor the audit store before it needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._audit import FleetAudit
    from ._config import DEFAULT_FLEET_EXCLUDE, PUSH_POLICIES, FleetConfig, FleetOverride
    from ._cycle import AlwaysOnce, CycleGate, Fleet, host_of
    from ._discover import Discovery, FoundRepo, discover
    from ._gate import FLEET_CYCLE, ReplicaGate
    from ._metrics import FleetMetrics
    from ._report import CycleReport, RepoResult
    from ._routes import routes as fleet_routes
    from ._service import STATE_KEY, FleetService
    from ._state import FleetLocked, FleetSettings, hold_data_dir

_WHERE = {
    "DEFAULT_FLEET_EXCLUDE": ("_config", "DEFAULT_FLEET_EXCLUDE"),
    "FLEET_CYCLE": ("_gate", "FLEET_CYCLE"),
    "PUSH_POLICIES": ("_config", "PUSH_POLICIES"),
    "STATE_KEY": ("_service", "STATE_KEY"),
    "AlwaysOnce": ("_cycle", "AlwaysOnce"),
    "CycleGate": ("_cycle", "CycleGate"),
    "CycleReport": ("_report", "CycleReport"),
    "Discovery": ("_discover", "Discovery"),
    "Fleet": ("_cycle", "Fleet"),
    "FleetAudit": ("_audit", "FleetAudit"),
    "FleetConfig": ("_config", "FleetConfig"),
    "FleetLocked": ("_state", "FleetLocked"),
    "FleetMetrics": ("_metrics", "FleetMetrics"),
    "FleetOverride": ("_config", "FleetOverride"),
    "FleetService": ("_service", "FleetService"),
    "FleetSettings": ("_state", "FleetSettings"),
    "FoundRepo": ("_discover", "FoundRepo"),
    "RepoResult": ("_report", "RepoResult"),
    "ReplicaGate": ("_gate", "ReplicaGate"),
    "discover": ("_discover", "discover"),
    "fleet_routes": ("_routes", "routes"),
    "hold_data_dir": ("_state", "hold_data_dir"),
    "host_of": ("_cycle", "host_of"),
}

__all__ = [
    "DEFAULT_FLEET_EXCLUDE",
    "FLEET_CYCLE",
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
    "ReplicaGate",
    "RepoResult",
    "discover",
    "fleet_routes",
    "hold_data_dir",
    "host_of",
]


def __getattr__(name: str) -> Any:
    found = _WHERE.get(name)
    if found is None:
        raise AttributeError(f"module 'plugin.fleet' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{found[0]}", __name__), found[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
