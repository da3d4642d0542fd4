"""The fleet's HTTP routes, plain endpoints that find the service in the app's lifespan
state (``request.state.fleet``), as the plugin's routes find the plugin.

``git-reconcile fleet`` serves them at ``/``; ``git-reconcile serve`` with a
``[fleet]`` section mounts them under ``/fleet``, beside the plugin's own routes of
the same names. Admin routes (``POST``) need ``Authorization: Bearer <admin token>``,
compared in constant time, as in ``serve``; with no token configured they answer 503
naming the variable to set.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .._errors import LifespanMissing
from ._service import STATE_KEY, FleetService

__all__ = ["STATE_KEY", "fleet_of", "routes"]


def fleet_of(request: Request) -> FleetService:
    """The fleet service serving ``request``; raises ``LifespanMissing`` without one."""
    state = request.scope.get("state")
    found = state.get(STATE_KEY) if isinstance(state, Mapping) else None
    if not isinstance(found, FleetService):
        raise LifespanMissing(
            "the fleet routes found no fleet service in the app's lifespan state: build "
            "the app with lifespan=service.lifespan() (or plugin.lifespan(service."
            "lifespan()) beside the plugin), and run it with its lifespan"
        )
    return found


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _refused(service: FleetService, request: Request) -> Response | None:
    """The answer refusing an admin request, or None when it carries the token."""
    token = service.admin_token
    if not token:
        variable = service.admin_token_env or "RECONCILE_ADMIN_TOKEN"
        return _error(503, f"no admin token is configured: set {variable}")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return None
    return JSONResponse(
        {"error": "a valid 'Authorization: Bearer <admin token>' is required"},
        status_code=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def health(request: Request) -> Response:
    """200 while the process runs."""
    return JSONResponse({"status": "ok"})


async def status(request: Request) -> Response:
    """Enabled, running, the last cycle with its per-phase results, the next cycle's time."""
    return JSONResponse(fleet_of(request).status())


async def repos(request: Request) -> Response:
    """Each repository found, with its state."""
    return JSONResponse({"repos": await anyio.to_thread.run_sync(fleet_of(request).repos)})


async def trigger(request: Request) -> Response:
    """Admin: a cycle now; 202 with its id (a cycle queued or running is joined). With
    ``wait=true``, 200 once it has finished."""
    service = fleet_of(request)
    refused = _refused(service, request)
    if refused is not None:
        return refused
    cycle_id, joined = service.trigger()
    if request.query_params.get("wait", "").lower() in ("1", "true", "yes"):
        await service.finished(cycle_id)
        last = service.last
        body = last.to_dict() if last is not None and last.cycle_id == cycle_id else {}
        return JSONResponse({"cycle_id": cycle_id, "joined": joined, "cycle": body})
    return JSONResponse({"cycle_id": cycle_id, "joined": joined}, status_code=202)


async def _switch(request: Request, enabled: bool) -> Response:
    service = fleet_of(request)
    refused = _refused(service, request)
    if refused is not None:
        return refused
    name = request.query_params.get("repo")
    try:
        path = service.set_enabled(enabled, name)
    except KeyError:
        return _error(404, f"no repository {name!r} in the fleet")
    if path is None:
        return JSONResponse({"enabled": enabled})
    return JSONResponse({"repo": path, "enabled": enabled})


async def enable(request: Request) -> Response:
    """Admin: resume the daemon's timer, or one repository (``?repo=``)."""
    return await _switch(request, True)


async def disable(request: Request) -> Response:
    """Admin: pause the daemon's timer, or leave one repository out (``?repo=``)."""
    return await _switch(request, False)


async def history(request: Request) -> Response:
    """The cycles, newest first, and what they did (the commits they made among it)."""
    service = fleet_of(request)
    try:
        limit = int(request.query_params.get("limit", "50"))
    except ValueError:
        return _error(400, "limit is a number")
    before = request.query_params.get("before")
    cycles = await anyio.to_thread.run_sync(lambda: service.history(max(1, limit), before))
    more = len(cycles) == max(1, limit)
    return JSONResponse({"cycles": cycles, "next": cycles[-1]["cycle_id"] if more else None})


async def metrics(request: Request) -> Response:
    """The fleet's Prometheus metrics."""
    body, content_type = fleet_of(request).metrics.render()
    return Response(body, media_type=content_type)


def routes() -> list[Route]:
    """The fleet's routes, to serve at ``/`` or mount under a prefix."""
    return [
        Route("/health", health),
        Route("/status", status),
        Route("/repos", repos),
        Route("/trigger", trigger, methods=["POST"]),
        Route("/enable", enable, methods=["POST"]),
        Route("/disable", disable, methods=["POST"]),
        Route("/history", history),
        Route("/metrics", metrics),
    ]
