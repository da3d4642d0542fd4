"""Proving a delivery comes from the host, per provider. Fails closed at every step.

The order is fixed: a provider with no usable secret configured refuses
everything (``NotConfigured``), a request without the provider's signature or
credentials is refused (``SignatureMissing``), then the signature is checked
against every configured secret (``SignatureMismatch``). Nothing here reads
the body except to hash it.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping

from ._errors import NotConfigured, SignatureMismatch, SignatureMissing, StaleTimestamp
from ._provider import Provider
from ._secrets import Secrets
from ._signing import (
    hex_signature_matches,
    matches_any,
    standard_signature_matches,
    token_matches,
)

__all__ = ["authenticate"]

Headers = Mapping[str, str]  # lower-cased names

# Signature headers per HMAC provider, most preferred first, with the prefix each
# value carries. The first header present is the one checked.
_HMAC_HEADERS: dict[Provider, tuple[tuple[str, str], ...]] = {
    Provider.GITHUB: (("x-hub-signature-256", "sha256="),),
    Provider.GITEA: (("x-gitea-signature", ""), ("x-hub-signature-256", "sha256=")),
    Provider.FORGEJO: (
        ("x-forgejo-signature", ""),
        ("x-gitea-signature", ""),
        ("x-hub-signature-256", "sha256="),
    ),
    Provider.BITBUCKET_CLOUD: (("x-hub-signature", "sha256="),),
    Provider.BITBUCKET_DC: (("x-hub-signature", "sha256="),),
    Provider.GENERIC_HMAC: (("x-signature", "sha256="),),
}

_TIMESTAMP = re.compile(r"[0-9]{1,15}")


def authenticate(
    provider: Provider,
    headers: Headers,
    body: bytes,
    secrets: Secrets | None,
    *,
    now: Callable[[], float],
    tolerance: float,
) -> None:
    """Return when the request is proven to come from the host; raise otherwise."""
    if not isinstance(secrets, Secrets):
        raise NotConfigured(f"no secret is configured for {provider}: refusing every delivery")
    if provider in _HMAC_HEADERS:
        _hmac(provider, headers, body, secrets)
    elif provider is Provider.GITLAB:
        _gitlab(headers, body, secrets, now=now, tolerance=tolerance)
    elif provider is Provider.AZURE_DEVOPS:
        _basic(headers, secrets)
    else:
        _bearer(headers, secrets)


def _hmac(provider: Provider, headers: Headers, body: bytes, secrets: Secrets) -> None:
    keys = secrets.hmac_keys
    if not keys:
        raise NotConfigured(f"no secret is configured for {provider}: refusing every delivery")
    for name, prefix in _HMAC_HEADERS[provider]:
        value = headers.get(name)
        if value is None:
            continue
        if prefix:
            if value[: len(prefix)].lower() != prefix:
                raise SignatureMismatch(f"{name} is not a {prefix}<hex> signature")
            value = value[len(prefix) :]
        if not hex_signature_matches(value, body, keys):
            raise SignatureMismatch(f"{name} matches no configured secret")
        return
    if provider is Provider.GITHUB and "x-hub-signature" in headers:
        # GitHub sends X-Hub-Signature-256 with every signed delivery; a request
        # with only the SHA-1 one did not come from GitHub, or was stripped.
        raise SignatureMissing("only the legacy SHA-1 X-Hub-Signature was sent: SHA-256 required")
    names = ", ".join(name for name, _ in _HMAC_HEADERS[provider])
    raise SignatureMissing(f"no signature header ({names})")


def _gitlab(
    headers: Headers,
    body: bytes,
    secrets: Secrets,
    *,
    now: Callable[[], float],
    tolerance: float,
) -> None:
    tokens, keys = secrets.tokens, secrets.signing_keys
    if not tokens and not keys:
        raise NotConfigured("no secret is configured for gitlab: refusing every delivery")
    signature = headers.get("webhook-signature")
    if keys and signature is not None:
        # Standard Webhooks takes precedence: a failed signature is not rescued
        # by a plain token sent alongside it.
        _standard_webhook(headers, signature, body, keys, now=now, tolerance=tolerance)
        return
    token = headers.get("x-gitlab-token")
    if tokens and token is not None:
        if not token_matches(token, tokens):
            raise SignatureMismatch("X-Gitlab-Token matches no configured token")
        return
    wanted = " or ".join(
        name
        for name, configured in (("webhook-signature", keys), ("X-Gitlab-Token", tokens))
        if configured
    )
    raise SignatureMissing(f"no {wanted} header")


def _standard_webhook(
    headers: Headers,
    signature: str,
    body: bytes,
    keys: tuple[bytes, ...],
    *,
    now: Callable[[], float],
    tolerance: float,
) -> None:
    webhook_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    if not webhook_id or timestamp is None:
        raise SignatureMissing("webhook-signature without webhook-id and webhook-timestamp")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureMismatch("webhook-timestamp is not a number of seconds")
    if not standard_signature_matches(signature, webhook_id, timestamp, body, keys):
        raise SignatureMismatch("webhook-signature matches no configured key")
    # Checked after the signature, so that a stale timestamp is only ever reported
    # for a delivery that is authentic (a replay, or a clock that is off).
    skew = float(now()) - int(timestamp)
    if not math.isfinite(skew) or abs(skew) > tolerance:
        raise StaleTimestamp(
            f"webhook-timestamp is {skew:.0f} s away from now (tolerance {tolerance} s)"
        )


def _basic(headers: Headers, secrets: Secrets) -> None:
    pairs = secrets.basic_auth
    if not pairs:
        raise NotConfigured(
            "no basic-auth user is configured for azure-devops: refusing every delivery"
        )
    scheme, _, credentials = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        raise SignatureMissing("no Authorization: Basic header")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureMismatch("Authorization: Basic is not base64") from None
    if not matches_any(decoded, pairs):
        raise SignatureMismatch("Authorization: Basic matches no configured user and password")


def _bearer(headers: Headers, secrets: Secrets) -> None:
    tokens = secrets.hmac_keys
    if not tokens:
        raise NotConfigured("no token is configured for generic-bearer: refusing every delivery")
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        raise SignatureMissing("no Authorization: Bearer header")
    if not token_matches(token.strip(), tokens):
        raise SignatureMismatch("Authorization: Bearer matches no configured token")
