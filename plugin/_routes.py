"""HTTP routes of the plugin: health, readiness, status, history, triggers, commits,
webhooks.

Plain endpoints: each finds the plugin in the app's lifespan state
(:func:`plugin._view.plugin_of`), so one list of routes serves any app the plugin's
lifespan runs, mounted under any prefix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ._commits import CommitQuery, commit_request, statistics
from ._history import HistoryQuery, page
from ._intake import intake
from ._runner import Runner, Ticket
from ._view import PluginView, plugin_of

if TYPE_CHECKING:
    from ._record import RunRecord
    from .audit import AuditStore

T = TypeVar("T")

__all__ = [
    "commit",
    "commit_statistics",
    "commits",
    "disable",
    "enable",
    "health",
    "history",
    "metrics",
    "ready",
    "repos",
    "routes",
    "status",
    "trigger",
    "webhook",
]


async def health(request: Request) -> Response:
    """Liveness: 200 while the process runs (the plugin is not consulted)."""
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> Response:
    """503 until the boot reconcile finished (see ``boot_policy``), then 200."""
    plugin = plugin_of(request)
    body = {"ready": plugin.ready, "booted": plugin.booted, "boot_errors": plugin.boot_errors}
    return JSONResponse(body, status_code=200 if plugin.ready else 503)


async def status(request: Request) -> Response:
    """This replica, and per repository: the last run, running, queued, enabled, the
    failure streak, and whether this replica holds the repository's shared lock."""
    plugin = plugin_of(request)
    repos = {name: runner.status() for name, runner in plugin.runners.items()}
    replicas = plugin.replicas
    replica = {
        "id": replicas.replica_id,
        "coordinated": replicas.coordinated,
        "listening": replicas.listening if replicas.coordinated else None,
    }
    return JSONResponse({"ready": plugin.ready, "replica": replica, "repos": repos})


async def repos(request: Request) -> Response:
    """The configured repositories."""
    return JSONResponse(
        [
            {
                "name": name,
                "path": str(r.spec.resolved_path),
                "remote": r.spec.remote,
                "branch": r.branch(),
                "poll_interval": r.config.poll_interval,
                "enabled": r.enabled,
            }
            for name, r in plugin_of(request).runners.items()
        ]
    )


async def history(request: Request) -> Response:
    """Past runs, newest first, a page at a time: from the audit store when there is
    one, else from memory, in the same form."""
    plugin = plugin_of(request)
    try:
        query = HistoryQuery.parse(request.query_params)
    except ValueError:
        return _error(400, "limit is a number; since is an ISO 8601 time")
    runs = await _recorded(
        plugin,
        query.select,
        lambda store: store.runs(query.repo, query.outcome, query.since, query.limit, query.before),
    )
    return JSONResponse(page(runs, query))


async def metrics(request: Request) -> Response:
    """The Prometheus exposition."""
    body, content_type = plugin_of(request).metrics.render()
    return Response(body, media_type=content_type)


async def trigger(request: Request) -> Response:
    """Admin: reconcile now; 202 with the run id, or with ``wait=true`` 200 with the run."""
    plugin = plugin_of(request)
    runner = _open_runner(plugin, request)
    if isinstance(runner, Response):
        return runner
    ticket = runner.trigger("manual")
    await plugin.publish(runner.name, None, ticket.run_id, "manual")
    return await _answer(request, runner, ticket)


async def _answer(request: Request, runner: Runner, ticket: Ticket) -> Response:
    if request.query_params.get("wait", "").lower() in ("1", "true", "yes"):
        record = await ticket.wait()
        return JSONResponse(record.to_dict(), status_code=200)
    return JSONResponse({"run_id": ticket.run_id, "repo": runner.name}, status_code=202)


async def commit(request: Request) -> Response:
    """Admin: commit the working tree now, then reconcile; the answers of ``/trigger``.
    An optional JSON body gives the message, paths, author, co-authors and trailers."""
    plugin = plugin_of(request)
    runner = _open_runner(plugin, request)
    if isinstance(runner, Response):
        return runner
    raw = await request.body()
    try:
        wanted = commit_request(json.loads(raw) if raw.strip() else None)
    except ValueError as exc:  # json.JSONDecodeError is one
        return _error(400, f"bad commit request: {exc}")
    return await _answer(request, runner, runner.commit(wanted, kind="http"))


async def commits(request: Request) -> Response:
    """The commits runs made, newest first (``?repo=&since=&limit=``)."""
    plugin = plugin_of(request)
    try:
        query = CommitQuery.parse(request.query_params)
    except ValueError:
        return _error(400, "limit is a number; since is an ISO 8601 time")
    found = await _recorded(
        plugin, query.select, lambda store: store.commits(query.repo, query.since, query.limit)
    )
    return JSONResponse({"commits": [c.to_dict() for c in found]})


async def commit_statistics(request: Request) -> Response:
    """Commits per repository, author, day and message source (``?repo=&since=``)."""
    plugin = plugin_of(request)
    try:
        query = CommitQuery.parse(request.query_params)
    except ValueError:
        return _error(400, "since is an ISO 8601 time")

    def in_memory(history: Sequence[RunRecord]) -> dict[str, Any]:
        everything = CommitQuery(query.repo, query.since, len(history) or 1)
        return statistics(everything.select(history))

    counts = await _recorded(
        plugin, in_memory, lambda store: store.commit_statistics(query.repo, query.since)
    )
    return JSONResponse(counts)


async def enable(request: Request) -> Response:
    """Admin: resume webhook and poll runs of a repository."""
    return _switch(request, enabled=True)


async def disable(request: Request) -> Response:
    """Admin: pause webhook and poll runs of a repository."""
    return _switch(request, enabled=False)


async def webhook(request: Request) -> Response:
    """A push webhook: verified, deduplicated, matched, and queued or answered; its
    result is counted once."""
    plugin = plugin_of(request)
    disposition = await intake(plugin, request)
    plugin.metrics.observe_delivery(request.path_params["provider"], disposition.result)
    return disposition.response()


def routes() -> list[BaseRoute]:
    """The plugin's routes, to mount under any prefix of an app run by its lifespan."""
    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/repos", repos, methods=["GET"]),
        Route("/history", history, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/trigger", trigger, methods=["POST"]),
        Route("/commit", commit, methods=["POST"]),
        Route("/commits", commits, methods=["GET"]),
        Route("/commits/statistics", commit_statistics, methods=["GET"]),
        Route("/enable", enable, methods=["POST"]),
        Route("/disable", disable, methods=["POST"]),
        Route("/webhooks/{provider}", webhook, methods=["POST"]),
        Route("/webhooks/{provider}/{repo}", webhook, methods=["POST"]),
    ]


def _switch(request: Request, *, enabled: bool) -> Response:
    runner = _admin_runner(plugin_of(request), request)
    if isinstance(runner, Response):
        return runner
    runner.enabled = enabled
    return JSONResponse(runner.status())


def _error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _no_admin_token(variable: str | None) -> str:
    """What the admin routes' 503 says: where the token is configured."""
    if variable is not None:
        return f"no admin token is configured: set the environment variable {variable}"
    return (
        "no admin token is configured: the application gives one as PluginConfig(admin_token=...)"
    )


async def _recorded(
    plugin: PluginView,
    in_memory: Callable[[Sequence[RunRecord]], T],
    stored: Callable[[AuditStore], T],
) -> T:
    """What a read route answers: from the audit store (in a worker thread) when there
    is one, else from the runs kept in memory."""
    store = plugin.store
    if store is None:
        return in_memory(plugin.history)
    return await anyio.to_thread.run_sync(lambda: stored(store))


def _open_runner(plugin: PluginView, request: Request) -> Runner | Response:
    """``_admin_runner``, refusing a runner that is shutting down (503): for the routes
    that start a run."""
    runner = _admin_runner(plugin, request)
    if isinstance(runner, Runner) and runner.closed:
        return _error(503, "shutting down")
    return runner


def _admin_runner(plugin: PluginView, request: Request) -> Runner | Response:
    """The runner ``?repo=`` names, for a request carrying the admin token; else the
    answer refusing it."""
    allowed = plugin.admin_allowed(request.headers.get("authorization"))
    if allowed is None:
        return _error(503, _no_admin_token(plugin.config.admin_token_env))
    if not allowed:
        return JSONResponse(
            {"error": "a valid 'Authorization: Bearer <admin token>' is required"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    name = request.query_params.get("repo")
    runner = plugin.runner(name)
    if runner is None:
        return _error(
            404 if name else 400,
            f"no repository {name!r}" if name else "name one with ?repo=",
            repos=sorted(plugin.runners),
        )
    return runner
