"""HTTP routes of the plugin: health, readiness, status, history, triggers, webhooks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from reconcile import commit_reachable
from webhooks import (
    Kind,
    PayloadTooLarge,
    Provider,
    Secrets,
    UnknownProvider,
    WebhookError,
    verify_and_parse,
)

from ._metrics import DeliveryResult, delivery_result

if TYPE_CHECKING:
    from ._plugin import ReconcilePlugin
    from ._runner import Runner

__all__ = ["build_routes"]

logger = logging.getLogger("plugin")


def build_routes(plugin: ReconcilePlugin) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(request: Request) -> Response:
        body = {"ready": plugin.ready, "booted": plugin.booted, "boot_errors": plugin.boot_errors}
        return JSONResponse(body, status_code=200 if plugin.ready else 503)

    async def status(request: Request) -> Response:
        return JSONResponse(
            {
                "ready": plugin.ready,
                "repos": {name: r.status() for name, r in plugin.runners.items()},
            }
        )

    async def repos(request: Request) -> Response:
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
                for name, r in plugin.runners.items()
            ]
        )

    async def history(request: Request) -> Response:
        repo = request.query_params.get("repo")
        outcome = request.query_params.get("outcome")
        try:
            limit = max(1, min(1000, int(request.query_params.get("limit", "50"))))
            before = request.query_params.get("before_id")
            before_id = int(before) if before else None
            since_text = request.query_params.get("since")
            since = datetime.fromisoformat(since_text) if since_text else None
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
        except ValueError:
            return _error(400, "limit and before_id are numbers; since is an ISO 8601 time")
        if plugin.store is not None:
            store = plugin.store
            rows = await anyio.to_thread.run_sync(
                lambda: store.history(
                    repo=repo, outcome=outcome, since=since, limit=limit, before_id=before_id
                )
            )
            following = rows[-1]["id"] if len(rows) == limit else None
            payload = json.loads(
                json.dumps({"runs": rows, "next_before_id": following}, default=str)
            )
            return JSONResponse(payload)
        rows = []
        for record in reversed(plugin.history):
            if since is not None and (record.finished_at or 0) < since.timestamp():
                continue
            if repo and record.repo != repo:
                continue
            got = record.result.outcome.value if record.result else None
            if outcome and got != outcome:
                continue
            rows.append(record.to_dict())
            if len(rows) >= limit:
                break
        return JSONResponse({"runs": rows})

    async def metrics(request: Request) -> Response:
        body, content_type = plugin.metrics.render()
        return Response(body, media_type=content_type)

    async def trigger(request: Request) -> Response:
        runner, denied = _admin_runner(plugin, request)
        if denied is not None:
            return denied
        assert runner is not None
        if runner.closed:
            return _error(503, "shutting down")
        ticket = runner.trigger("manual")
        if request.query_params.get("wait", "").lower() in ("1", "true", "yes"):
            record = await ticket.wait()
            return JSONResponse(record.to_dict(), status_code=200)
        return JSONResponse({"run_id": ticket.run_id, "repo": runner.name}, status_code=202)

    def switch(enabled: bool) -> Any:
        async def handler(request: Request) -> Response:
            runner, denied = _admin_runner(plugin, request)
            if denied is not None:
                return denied
            assert runner is not None
            runner.enabled = enabled
            return JSONResponse(runner.status())

        return handler

    async def webhook(request: Request) -> Response:
        return await _webhook(plugin, request)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
        Route("/status", status, methods=["GET"]),
        Route("/repos", repos, methods=["GET"]),
        Route("/history", history, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/trigger", trigger, methods=["POST"]),
        Route("/enable", switch(True), methods=["POST"]),
        Route("/disable", switch(False), methods=["POST"]),
        Route("/webhooks/{provider}", webhook, methods=["POST"]),
        Route("/webhooks/{provider}/{repo}", webhook, methods=["POST"]),
    ]


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _admin_runner(
    plugin: ReconcilePlugin, request: Request
) -> tuple[Runner | None, Response | None]:
    allowed = plugin.admin_allowed(request.headers.get("authorization"))
    if allowed is None:
        return None, _error(503, "no admin token is configured (RECONCILE_ADMIN_TOKEN)")
    if not allowed:
        return None, JSONResponse(
            {"error": "a valid 'Authorization: Bearer <admin token>' is required"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    name = request.query_params.get("repo")
    runner = plugin.runner(name)
    if runner is None:
        known = sorted(plugin.runners)
        return None, _error(
            404 if name else 400,
            f"no repository {name!r}" if name else "name one with ?repo=",
            repos=known,
        )
    return runner, None


async def _read_capped(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise PayloadTooLarge(f"the body is over {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise PayloadTooLarge(f"the body is over {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _secrets(plugin: ReconcilePlugin, provider: Provider) -> Secrets | None:
    values = plugin.config.secrets_for(provider.value)
    if not values:
        return None
    if provider is Provider.AZURE_DEVOPS:
        pairs = [tuple(v.split(":", 1)) for v in values if ":" in v]
        return Secrets(basic_auth=[(u, p) for u, p in pairs]) if pairs else None
    return Secrets(*values)


def _match(plugin: ReconcilePlugin, delivery: Any, name: str | None) -> Runner | None:
    if name is not None:
        return plugin.runners.get(name)
    for runner in plugin.runners.values():
        url = runner.remote_url()
        if url is None:
            continue
        try:
            if delivery.matches(url):
                return runner
        except ValueError:
            continue
    return plugin.runner(None)


async def _audit(
    plugin: ReconcilePlugin,
    provider: str,
    *,
    delivery_id: str | None,
    delivery: Any,
    verified: bool,
    result: str,
) -> bool:
    """Record a delivery in the audit store (if any); False when its id was seen."""
    store = plugin.store
    if store is None:
        return True
    since = datetime.now(UTC) - timedelta(seconds=plugin.config.delivery_ttl)
    event = getattr(delivery, "event", None)
    ref = getattr(delivery, "ref", None)
    try:
        return await anyio.to_thread.run_sync(
            lambda: store.record_delivery(
                provider, delivery_id, None, event, ref, verified, result, since=since
            )
        )
    except Exception:
        logger.exception("recording a webhook delivery failed")
        return True


async def _seen(plugin: ReconcilePlugin, provider: Provider, delivery: Any) -> bool:
    """Whether this delivery id came before: in the audit store, which survives
    restarts and is shared by replicas, or else in memory."""
    if plugin.store is None:
        return plugin.deliveries.seen(provider, delivery.delivery_id)
    fresh = await _audit(
        plugin,
        provider.value,
        delivery_id=delivery.delivery_id,
        delivery=delivery,
        verified=True,
        result="received",
    )
    return not fresh


async def _webhook(plugin: ReconcilePlugin, request: Request) -> Response:
    provider_name = request.path_params["provider"]

    def counted(result: DeliveryResult, response: Response) -> Response:
        plugin.metrics.observe_delivery(provider_name, result)
        return response

    repo_name = request.path_params.get("repo")
    try:
        provider = Provider.parse(provider_name)
        body = await _read_capped(request, plugin.config.max_body)
        delivery = verify_and_parse(
            provider,
            dict(request.headers),
            body,
            _secrets(plugin, provider),
            max_body=plugin.config.max_body,
        )
    except UnknownProvider as exc:
        return counted("unknown-provider", _error(404, str(exc)))
    except WebhookError as exc:
        status = exc.http_status
        if exc.authenticated:  # never a 4xx a host would disable the hook for
            status = exc.status_for(disables_on_4xx=provider.disables_hooks_on_4xx)
        await _audit(
            plugin,
            provider.value,
            delivery_id=None,
            delivery=None,
            verified=False,
            result=delivery_result(exc),
        )
        return counted(delivery_result(exc), _error(status, str(exc)))
    if any(r.closed for r in plugin.runners.values()):
        # Not marked as seen: the host's redelivery after the restart must count.
        return counted("shutting-down", _error(503, "shutting down; deliver again later"))
    if delivery.delivery_id and await _seen(plugin, provider, delivery):
        return counted(
            "duplicate", JSONResponse({"status": "duplicate", "delivery": delivery.delivery_id})
        )
    if delivery.kind is Kind.PING:
        return counted("ignored", JSONResponse({"status": "pong"}))
    if delivery.kind is not Kind.PUSH:
        return counted(
            "ignored",
            JSONResponse({"status": "ignored", "why": f"event {delivery.event}"}, status_code=202),
        )
    runner = _match(plugin, delivery, repo_name)
    if runner is None:
        if repo_name is not None:
            return counted(
                "ignored",
                _error(404, f"no repository {repo_name!r}", repos=sorted(plugin.runners)),
            )
        return counted(
            "ignored",
            JSONResponse(
                {"status": "ignored", "why": "no configured repository matches"}, status_code=202
            ),
        )
    branch = runner.branch()
    if branch is None or not delivery.touches(branch):
        return counted(
            "ignored",
            JSONResponse({"status": "ignored", "why": f"not branch {branch}"}, status_code=202),
        )
    after = delivery.after_for(branch)
    if after is not None and commit_reachable(runner.spec.resolved_path, branch, after):
        return counted(
            "present", JSONResponse({"status": "present", "repo": runner.name, "commit": after})
        )
    if not runner.enabled:
        return counted(
            "ignored",
            JSONResponse(
                {"status": "ignored", "why": "the repository is disabled"}, status_code=202
            ),
        )
    ticket = runner.trigger("webhook")
    return counted(
        "queued",
        JSONResponse(
            {"status": "queued", "repo": runner.name, "run_id": ticket.run_id}, status_code=202
        ),
    )
