"""Push webhooks from git hosts, verified and parsed without I/O (standard library only).

>>> from webhooks import Provider, Secrets, verify_and_parse, sign_sha256
>>> body = b'{"ref": "refs/heads/main", "after": "' + b"a" * 40 + b'"}'
>>> headers = {"X-Signature": sign_sha256("s3cret", body)}
>>> delivery = verify_and_parse("generic-hmac", headers, body, Secrets("s3cret"))
>>> delivery.kind, delivery.branch, delivery.after == "a" * 40
(<Kind.PUSH: 'push'>, 'main', True)
"""

from __future__ import annotations

from ._api import MAX_BODY, verify_and_parse
from ._cache import DeliveryCache
from ._delivery import ZERO_SHA, Delivery, Kind, RefChange, is_deleted
from ._errors import (
    AuthenticationFailed,
    MalformedPayload,
    NotConfigured,
    PayloadTooLarge,
    SignatureMismatch,
    SignatureMissing,
    StaleTimestamp,
    UnknownProvider,
    WebhookError,
)
from ._provider import Provider
from ._secrets import Secrets
from ._signing import sign_sha256, sign_standard_webhook
from ._urls import normalise_repo_url

__all__ = [
    "MAX_BODY",
    "ZERO_SHA",
    "AuthenticationFailed",
    "Delivery",
    "DeliveryCache",
    "Kind",
    "MalformedPayload",
    "NotConfigured",
    "PayloadTooLarge",
    "Provider",
    "RefChange",
    "Secrets",
    "SignatureMismatch",
    "SignatureMissing",
    "StaleTimestamp",
    "UnknownProvider",
    "WebhookError",
    "is_deleted",
    "normalise_repo_url",
    "sign_sha256",
    "sign_standard_webhook",
    "verify_and_parse",
]
