"""What the HTTP layer may read of the plugin, and how a request finds it.

The routes are plain endpoints: each finds the plugin in the app's lifespan state,
where ``ReconcilePlugin.lifespan()`` puts it under :data:`STATE_KEY`, and sees it
only as a :class:`PluginView`. So the routes need neither the plugin's class nor a
closure over one, and the plugin's module imports the routes, never the reverse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final, Protocol

from starlette.requests import HTTPConnection

from webhooks import DeliveryCache

from ._config import PluginConfig
from ._errors import LifespanMissing
from ._metrics import Metrics
from ._record import RunRecord
from ._runner import Runner

if TYPE_CHECKING:
    from .audit import AuditStore
    from .replicas import Replicas

__all__ = ["STATE_KEY", "PluginView", "plugin_of"]

#: The key of the plugin in the lifespan state (``request.state.reconcile``).
STATE_KEY: Final = "reconcile"


class PluginView(Protocol):
    """The plugin as the routes see it (``ReconcilePlugin`` is one)."""

    @property
    def config(self) -> PluginConfig: ...

    @property
    def ready(self) -> bool: ...

    @property
    def booted(self) -> bool: ...

    @property
    def boot_errors(self) -> Mapping[str, str]: ...

    @property
    def runners(self) -> Mapping[str, Runner]: ...

    @property
    def history(self) -> Sequence[RunRecord]:
        """Finished runs of every runner, oldest first (kept without an audit store)."""

    @property
    def store(self) -> AuditStore | None: ...

    @property
    def metrics(self) -> Metrics: ...

    @property
    def replicas(self) -> Replicas:
        """This replica's id, and what it shares with the others (PostgreSQL)."""

    async def publish(self, repo: str, commit: str | None, trigger_id: str, kind: str) -> None:
        """Tell the other replicas of a trigger received here (nothing without them)."""

    @property
    def deliveries(self) -> DeliveryCache:
        """Delivery ids seen lately (the dedupe without an audit store)."""

    def runner(self, name: str | None) -> Runner | None:
        """The runner named ``name``; with no name, the only runner (if just one)."""

    def admin_allowed(self, authorization: str | None) -> bool | None:
        """None when no admin token is configured, else whether the header carries it."""


def plugin_of(connection: HTTPConnection) -> PluginView:
    """The plugin serving ``connection``, from the app's lifespan state.

    Raises :class:`LifespanMissing` when the app was not run by the plugin's lifespan
    (``Starlette(..., lifespan=plugin.lifespan())``, or ``plugin.lifespan(yours)``
    around the app's own).
    """
    state = connection.scope.get("state")
    found = state.get(STATE_KEY) if isinstance(state, Mapping) else None
    if found is None:
        raise LifespanMissing(
            "the git-reconcile routes found no plugin in the app's lifespan state: build "
            "the app with lifespan=plugin.lifespan() (wrap your own lifespan as "
            "plugin.lifespan(yours)), and run it with its lifespan (a TestClient in a "
            "'with' block)"
        )
    view: PluginView = found
    return view
