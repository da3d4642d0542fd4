"""The webhook intake: a delivery goes through named steps, each of which hands the
next one its input or ends with the delivery's final :class:`Disposition`.

    known_provider  the provider named in the URL is one of ``webhooks.Provider``
    read_body       the body, read up to ``max_body``
    verify          its signature or token checks out; parsed into a ``Delivery``
        (a refusal so far is recorded as an unverified delivery)
    not_closing     refused while shutting down, unrecorded: the redelivery must count
    push_only       pings and other events are ignored
    match           the configured repository it names (in the URL path, or by URL)
    on_branch       the push moved that repository's branch
    not_present     a commit already on the local branch needs no run
    enabled         a disabled repository takes no webhook runs
    dedupe          a delivery id seen before is a duplicate, and nothing is done;
        a new one is recorded, with what becomes of it
    queue           a run is queued

A push that moved a configured repository's branch is then told to the other
replicas (``plugin.replicas``), whether it was queued here, present or disabled:
their clones are their own.

Every delivery ends in one disposition: the answer, and the ``DeliveryResult`` the
route counts once in the metrics and that is recorded once in the audit store, with
the matched repository. The steps before dedupe decide without acting, so a delivery
is recorded in one write: with a store, dedupe is the store's atomic insert of the
delivery id with its final result (shared by replicas, kept across restarts), and a
duplicate adds no row (the row of its first delivery stands); without one, it is the
plugin's in-memory ``DeliveryCache``. Only then is a run queued, so a duplicate
never queues one.

The store's writes run in a worker thread, one at a time per store (SQLite lets one
writer in at a time, and writers it turns away sleep in its busy handler in growing
steps; waiting on the event loop's side instead, each write starts as soon as the
one before it ends), and the verified deliveries that arrived meanwhile are written
together, in one transaction (``_Batches``).
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

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
    from .audit._store import DeliveryRow

__all__ = ["Disposition", "intake"]

logger = logging.getLogger("plugin")
_T = TypeVar("_T")


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
    closing = not_closing(plugin, delivery)
    if isinstance(closing, Disposition):
        return closing
    decided, push = _dispatched(plugin, delivery, request.path_params.get("repo"))
    if isinstance(decided, Disposition):
        result, repo = decided.result, decided.repo
    else:
        result, repo = "queued", decided.runner.name
    duplicate = await dedupe(plugin, delivery, result, repo)
    if duplicate is not None:
        return duplicate
    answer = decided if isinstance(decided, Disposition) else queue(decided)
    if push is not None:  # a new delivery that moved the branch: the replicas hear of it
        trigger_id = delivery.delivery_id or uuid.uuid4().hex
        await plugin.publish(push.runner.name, push.after, trigger_id, "webhook")
    return answer


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


def _dispatched(
    plugin: PluginView, delivery: Delivery, name: str | None
) -> tuple[_Push | Disposition, _Push | None]:
    """Where a verified delivery goes: ignored, already present, or (a push to queue)
    on; and the push, when it moved a configured repository's branch (the other
    replicas are told of it, whatever became of it here: their clones may lack the
    commit)."""
    push = push_only(delivery)
    if isinstance(push, Disposition):
        return push, None
    target = match(plugin, push, name)
    if isinstance(target, Disposition):
        return target, None
    moved = on_branch(target)
    if isinstance(moved, Disposition):
        return moved, None
    missing = not_present(moved)
    if isinstance(missing, Disposition):
        return missing, moved
    return enabled(missing), moved


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


async def dedupe(
    plugin: PluginView, delivery: Delivery, result: DeliveryResult, repo: str | None
) -> Disposition | None:
    """The duplicate's answer when this delivery's id came before (in the audit store,
    which survives restarts and is shared by replicas, or else in memory); otherwise
    None, once the delivery is recorded with its ``result`` and ``repo``."""
    delivery_id = delivery.delivery_id
    store = plugin.store
    if store is None:
        seen = plugin.deliveries.seen(delivery.provider, delivery_id)
        return _duplicate(delivery_id) if seen and delivery_id else None
    provider, event, ref = delivery.provider.value, delivery.event, delivery.ref
    since = datetime.now(UTC) - timedelta(seconds=plugin.config.delivery_ttl)
    try:
        new = await _Batches.of(store).record(
            (provider, delivery_id, repo, event, ref, result), since
        )
    except Exception:
        logger.exception("recording a webhook delivery failed")
        # Still recorded, without the id (which is what failed to be claimed).
        await _audit(
            plugin,
            lambda store: store.record_delivery(provider, None, repo, event, ref, True, result),
        )
        return None
    return None if new or not delivery_id else _duplicate(delivery_id)


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


async def _audit(plugin: PluginView, write: Callable[[AuditStore], object]) -> None:
    """Run ``write(store)`` in a worker thread, if there is a store; its failure is
    logged, never raised into the answer."""
    store = plugin.store
    if store is None:
        return
    try:
        await _write(plugin, lambda: write(store))
    except Exception:
        logger.exception("recording a webhook delivery failed")


async def _write(plugin: PluginView, write: Callable[[], _T]) -> _T:
    """``write()`` in a worker thread, after the intake's audit writes before it."""
    assert plugin.store is not None
    return await anyio.to_thread.run_sync(write, limiter=_Batches.of(plugin.store).limiter)


class _Batch:
    """Deliveries waiting to be recorded together, and then what became of them."""

    def __init__(self) -> None:
        self.rows: list[DeliveryRow] = []
        self.since: datetime | None = None
        self.answers: list[bool] | None = None
        self.error: Exception | None = None


class _Batches:
    """Group commit of a store's verified deliveries: each delivery joins the batch
    that is filling up; the first of them to find the store free writes the whole
    batch in one transaction (``AuditStore.record_deliveries``), while the next batch
    fills up behind it. Alone, a delivery is a batch of one; under load one commit
    records many, where a commit each would be the intake's ceiling."""

    _of: ClassVar[weakref.WeakKeyDictionary[AuditStore, _Batches]] = weakref.WeakKeyDictionary()

    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._filling = _Batch()
        self._turn = anyio.Lock()
        self.limiter = anyio.CapacityLimiter(1)  # the intake's writes, one at a time

    @classmethod
    def of(cls, store: AuditStore) -> _Batches:
        batches = cls._of.get(store)
        if batches is None:
            batches = cls._of[store] = cls(store)
        return batches

    async def record(self, row: DeliveryRow, since: datetime) -> bool:
        """What ``record_delivery`` would answer for ``row``, recorded with a batch."""
        batch, index = self._filling, len(self._filling.rows)
        batch.rows.append(row)
        batch.since = since if batch.since is None else min(batch.since, since)
        async with self._turn:
            if batch.answers is None and batch.error is None:
                self._filling = _Batch()
                await self._write(batch)
        if batch.error is not None:
            raise batch.error
        assert batch.answers is not None
        return batch.answers[index]

    async def _write(self, batch: _Batch) -> None:
        store, rows, since = self._store, batch.rows, batch.since
        assert since is not None
        try:
            batch.answers = await anyio.to_thread.run_sync(
                lambda: store.record_deliveries(rows, since), limiter=self.limiter
            )
        except Exception as exc:
            batch.error = exc
