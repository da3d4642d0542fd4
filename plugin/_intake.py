"""The webhook intake: a delivery goes through named steps, each of which hands the
next one its input or ends with the delivery's final :class:`Disposition`.

    known_provider  the provider named in the URL is one of ``webhooks.Provider``
    read_body       the body, read up to ``max_body``
    verify          its signature or token checks out; parsed into a ``Delivery``
        (a refusal so far is recorded as an unverified delivery)
    not_closing     refused while shutting down, unrecorded: the redelivery must count
    dedupe          a delivery id seen before is a duplicate; a new one is claimed
    push_only       pings and other events are ignored
    match           the configured repository it names (in the URL path, or by URL)
    on_branch       the push moved that repository's branch
    not_present     a commit already on the local branch needs no run
    enabled         a disabled repository takes no webhook runs
    queue           a run is queued

Every delivery ends in one disposition: the answer, and the ``DeliveryResult`` the
route counts once in the metrics and that is recorded once in the audit store, with
the matched repository. With a store, dedupe is the store's atomic claim of the
delivery id (shared by replicas, kept across restarts), and the claimed row is then
given the final result; without one, it is the plugin's in-memory ``DeliveryCache``.
A duplicate adds no row: the row of its first delivery stands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse

from reconcile import commit_reachable
from webhooks import (
    Delivery,
    Kind,
    PayloadTooLarge,
    Provider,
    Secrets,
    UnknownProvider,
    WebhookError,
    verify_and_parse,
)

from ._config import PluginConfig
from ._metrics import DeliveryResult, delivery_result
from ._runner import Runner
from ._view import PluginView

if TYPE_CHECKING:
    from .audit import AuditStore

__all__ = ["Disposition", "intake"]

logger = logging.getLogger("plugin")


@dataclass(frozen=True, slots=True)
class Disposition:
    """What became of a delivery: the result counted and recorded, the answer, and the
    repository it was matched to."""

    result: DeliveryResult
    status_code: int
    body: Mapping[str, Any]
    repo: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        return JSONResponse(dict(self.body), status_code=self.status_code, headers=self.headers)


def _ignored(why: str, repo: str | None = None) -> Disposition:
    return Disposition("ignored", 202, {"status": "ignored", "why": why}, repo)


@dataclass(frozen=True, slots=True)
class _Claim:
    """A delivery let in past dedupe, with its audit row when the store claimed one."""

    delivery: Delivery
    row: int | None


@dataclass(frozen=True, slots=True)
class _Target:
    """A push matched to the runner of a configured repository."""

    delivery: Delivery
    runner: Runner


@dataclass(frozen=True, slots=True)
class _Push:
    """A push that moved the matched repository's branch (to ``after``; None when
    deleted)."""

    runner: Runner
    branch: str
    after: str | None


# --- the intake --------------------------------------------------------------------------


async def intake(plugin: PluginView, request: Request) -> Disposition:
    """Take one delivery through the steps; its final disposition, recorded."""
    delivery = await _received(plugin, request)
    if isinstance(delivery, Disposition):
        return delivery
    claim = await _admitted(plugin, delivery)
    if isinstance(claim, Disposition):
        return claim
    disposition = _dispatched(plugin, delivery, request.path_params.get("repo"))
    await _record(plugin, claim, disposition)
    return disposition


async def _received(plugin: PluginView, request: Request) -> Delivery | Disposition:
    """The verified delivery, or the refusal (recorded as an unverified delivery)."""
    provider = known_provider(request.path_params["provider"])
    if isinstance(provider, Disposition):
        return provider
    body = await read_body(request, plugin.config.max_body)
    delivery = body if isinstance(body, Disposition) else verify(plugin, provider, request, body)
    if isinstance(delivery, Disposition):
        await _audit(
            plugin,
            lambda store: store.record_delivery(
                provider.value, None, None, None, None, False, delivery.result
            ),
        )
    return delivery


async def _admitted(plugin: PluginView, delivery: Delivery) -> _Claim | Disposition:
    closing = not_closing(plugin, delivery)
    if isinstance(closing, Disposition):
        return closing
    return await dedupe(plugin, delivery)


def _dispatched(plugin: PluginView, delivery: Delivery, name: str | None) -> Disposition:
    """Where a verified, new delivery goes: ignored, already present, or queued."""
    push = push_only(delivery)
    if isinstance(push, Disposition):
        return push
    target = match(plugin, push, name)
    if isinstance(target, Disposition):
        return target
    moved = on_branch(target)
    if isinstance(moved, Disposition):
        return moved
    missing = not_present(moved)
    if isinstance(missing, Disposition):
        return missing
    wanted = enabled(missing)
    if isinstance(wanted, Disposition):
        return wanted
    return queue(wanted)


# --- the steps ---------------------------------------------------------------------------


def known_provider(name: str) -> Provider | Disposition:
    try:
        return Provider.parse(name)
    except UnknownProvider as exc:
        return Disposition("unknown-provider", 404, {"error": str(exc)})


async def read_body(request: Request, cap: int) -> bytes | Disposition:
    """The body, or ``too-large`` as soon as it (or its declared length) passes ``cap``."""
    too_large = PayloadTooLarge(f"the body is over {cap} bytes")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        return _refused(too_large, None)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            return _refused(too_large, None)
        chunks.append(chunk)
    return b"".join(chunks)


def verify(
    plugin: PluginView, provider: Provider, request: Request, body: bytes
) -> Delivery | Disposition:
    config = plugin.config
    try:
        return verify_and_parse(
            provider,
            dict(request.headers),
            body,
            secrets_for(config, provider),
            max_body=config.max_body,
        )
    except WebhookError as exc:
        return _refused(exc, provider)


def secrets_for(config: PluginConfig, provider: Provider) -> Secrets | None:
    """The configured secrets of ``provider`` (user:password pairs for Azure DevOps)."""
    values = config.secrets_for(provider.value)
    if not values:
        return None
    if provider is Provider.AZURE_DEVOPS:
        pairs = [tuple(v.split(":", 1)) for v in values if ":" in v]
        return Secrets(basic_auth=[(u, p) for u, p in pairs]) if pairs else None
    return Secrets(*values)


def _refused(error: WebhookError, provider: Provider | None) -> Disposition:
    status = error.http_status
    if error.authenticated and provider is not None:
        # never a 4xx a host would disable the hook for
        status = error.status_for(disables_on_4xx=provider.disables_hooks_on_4xx)
    return Disposition(delivery_result(error), status, {"error": str(error)})


def not_closing(plugin: PluginView, delivery: Delivery) -> Delivery | Disposition:
    if any(r.closed for r in plugin.runners.values()):
        # Not recorded, so not seen: the host's redelivery after the restart must count.
        return Disposition("shutting-down", 503, {"error": "shutting down; deliver again later"})
    return delivery


async def dedupe(plugin: PluginView, delivery: Delivery) -> _Claim | Disposition:
    """A delivery whose id came before (in the audit store, which survives restarts
    and is shared by replicas, or else in memory) is a duplicate."""
    delivery_id = delivery.delivery_id
    if not delivery_id:
        return _Claim(delivery, None)
    store = plugin.store
    if store is None:
        seen = plugin.deliveries.seen(delivery.provider, delivery_id)
        return _duplicate(delivery_id) if seen else _Claim(delivery, None)
    since = datetime.now(UTC) - timedelta(seconds=plugin.config.delivery_ttl)
    try:
        row = await anyio.to_thread.run_sync(
            lambda: store.claim_delivery(
                delivery.provider.value, delivery_id, delivery.event, delivery.ref, since
            )
        )
    except Exception:
        logger.exception("recording a webhook delivery failed")
        return _Claim(delivery, None)
    return _duplicate(delivery_id) if row is None else _Claim(delivery, row)


def _duplicate(delivery_id: str) -> Disposition:
    return Disposition("duplicate", 200, {"status": "duplicate", "delivery": delivery_id})


def push_only(delivery: Delivery) -> Delivery | Disposition:
    if delivery.kind is Kind.PING:
        return Disposition("ignored", 200, {"status": "pong"})
    if delivery.kind is not Kind.PUSH:
        return _ignored(f"event {delivery.event}")
    return delivery


def match(plugin: PluginView, delivery: Delivery, name: str | None) -> _Target | Disposition:
    """The runner of the repository named in the URL path, else of the one whose remote
    URL the payload names, else of the only one configured."""
    if name is not None:
        named = plugin.runners.get(name)
        if named is None:
            return Disposition(
                "ignored",
                404,
                {"error": f"no repository {name!r}", "repos": sorted(plugin.runners)},
            )
        return _Target(delivery, named)
    for runner in plugin.runners.values():
        url = runner.remote_url()
        if url is not None and delivery.matches(url):
            return _Target(delivery, runner)
    only = plugin.runner(None)
    if only is None:
        return _ignored("no configured repository matches")
    return _Target(delivery, only)


def on_branch(target: _Target) -> _Push | Disposition:
    runner = target.runner
    branch = runner.branch()
    if branch is None or not target.delivery.touches(branch):
        return _ignored(f"not branch {branch}", runner.name)
    return _Push(runner, branch, target.delivery.after_for(branch))


def not_present(push: _Push) -> _Push | Disposition:
    runner, after = push.runner, push.after
    if after is not None and commit_reachable(runner.spec.resolved_path, push.branch, after):
        body = {"status": "present", "repo": runner.name, "commit": after}
        return Disposition("present", 200, body, runner.name)
    return push


def enabled(push: _Push) -> _Push | Disposition:
    if not push.runner.enabled:
        return _ignored("the repository is disabled", push.runner.name)
    return push


def queue(push: _Push) -> Disposition:
    runner = push.runner
    ticket = runner.trigger("webhook")
    body = {"status": "queued", "repo": runner.name, "run_id": ticket.run_id}
    return Disposition("queued", 202, body, runner.name)


# --- the audit store ---------------------------------------------------------------------


async def _record(plugin: PluginView, claim: _Claim, disposition: Disposition) -> None:
    """Record the final disposition of a verified delivery: on its claimed row, or in
    a row of its own when it has none (no id to claim, or the claim itself failed)."""
    delivery, row = claim.delivery, claim.row
    result, repo = disposition.result, disposition.repo
    if row is not None:
        await _audit(plugin, lambda store: store.settle_delivery(row, result, repo))
    else:
        provider, event, ref = delivery.provider.value, delivery.event, delivery.ref
        await _audit(
            plugin,
            lambda store: store.record_delivery(provider, None, repo, event, ref, True, result),
        )


async def _audit(plugin: PluginView, write: Callable[[AuditStore], object]) -> None:
    """Run ``write(store)`` in a worker thread, if there is a store; its failure is
    logged, never raised into the answer."""
    store = plugin.store
    if store is None:
        return
    try:
        await anyio.to_thread.run_sync(lambda: write(store))
    except Exception:
        logger.exception("recording a webhook delivery failed")
