"""The rows of a batch of webhook deliveries: which to insert, which take over a stale
claim, and each one's column values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ._schema import WebhookDelivery

__all__ = ["DELIVERIES", "DeliveryRow", "triage", "values"]


# The table itself, not the model: a Core insert of many rows, without the ORM's
# bookkeeping per row (nothing reads the inserted objects back).
DELIVERIES = WebhookDelivery.__table__  # type: ignore[attr-defined]

#: One verified delivery to record: provider, delivery id, repo, event, ref, result.
DeliveryRow = tuple[str, str | None, str | None, str | None, str | None, str]


def triage(
    deliveries: Sequence[DeliveryRow],
    stored: dict[tuple[str, str], datetime],
    since: datetime,
) -> tuple[list[bool], list[DeliveryRow], list[DeliveryRow]]:
    """Each delivery's answer, and which to insert and which take over an old claim."""
    answers: list[bool] = []
    new: list[DeliveryRow] = []
    old: list[DeliveryRow] = []
    seen: set[tuple[str, str]] = set()
    for delivery in deliveries:
        provider, delivery_id = delivery[0], delivery[1]
        if not delivery_id:
            answers.append(True)
            new.append(delivery)
            continue
        key = (provider, delivery_id)
        first = key not in seen
        seen.add(key)
        received = stored.get(key)
        answers.append(first and (received is None or received < since))
        if answers[-1]:
            (new if received is None else old).append(delivery)
    return answers, new, old


def values(delivery: DeliveryRow, now: datetime) -> dict[str, Any]:
    provider, delivery_id, repo, event, ref, result = delivery
    return {
        "provider": provider,
        "delivery_id": delivery_id or None,
        "repo": repo,
        "event": event,
        "ref": ref,
        "verified": True,
        "result": result,
        "received_at": now,
    }
