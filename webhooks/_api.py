"""The one entry point: a request in, a verified ``Delivery`` or a ``WebhookError`` out."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from ._auth import authenticate
from ._delivery import Delivery
from ._errors import PayloadTooLarge
from ._parse import parse
from ._provider import Provider
from ._secrets import Secrets

__all__ = ["MAX_BODY", "verify_and_parse"]

#: GitHub's own cap on payloads; the default ``max_body``.
MAX_BODY = 25 * 1024 * 1024


def verify_and_parse(
    provider: Provider | str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Secrets | None,
    *,
    max_body: int = MAX_BODY,
    now: Callable[[], float] = time.time,
    tolerance: float = 300,
) -> Delivery:
    """Verify a webhook request and say what it is about.

    ``headers`` may be any mapping (header names are looked up without regard
    to case; Starlette's ``request.headers`` works as it is); ``body`` is the
    raw body, exactly as received, since signatures cover its bytes. The steps,
    in order, each failing closed:

    1. a body over ``max_body`` bytes raises ``PayloadTooLarge``; nothing else
       is looked at, the body is neither hashed nor parsed;
    2. an unknown provider name raises ``UnknownProvider``;
    3. ``secrets`` is ``None`` or holds nothing this provider uses:
       ``NotConfigured``; no signature or credentials: ``SignatureMissing``;
       they match no configured secret: ``SignatureMismatch``; a GitLab
       Standard-Webhooks timestamp more than ``tolerance`` seconds from
       ``now()``: ``StaleTimestamp``;
    4. the authentic body is parsed: a push needs a JSON body with its ref and
       new commit, else ``MalformedPayload``; pings and other events are
       returned with ``kind`` ``ping`` or ``other``.

    No exception but a ``WebhookError`` comes out for any headers and body; a
    ``body`` that is not bytes-like is a programming error (``TypeError``).
    """
    if isinstance(body, memoryview):
        size = body.nbytes
    elif isinstance(body, bytes | bytearray):
        size = len(body)
    else:
        raise TypeError(f"body must be bytes, not {type(body).__name__}")
    if size > max_body:
        raise PayloadTooLarge(f"the body is {size} bytes, over the {max_body}-byte limit")
    kind = Provider.parse(provider)
    raw = bytes(body)
    lowered = _lower(headers)
    authenticate(kind, lowered, raw, secrets, now=now, tolerance=tolerance)
    return parse(kind, lowered, raw)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names lower-cased, values stripped; the first of repeated names wins,
    as with Starlette's ``Headers[...]``."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        if isinstance(name, str) and isinstance(value, str):
            lowered.setdefault(name.strip().lower(), value.strip())
    return lowered
