"""Signatures and credentials: how hosts sign deliveries, and constant-time checks of them.

Every check compares the received value with *every* configured secret, each with
``hmac.compare_digest``, and only then looks at the result: how long it takes
does not depend on which secret matched, nor on how much of a guess was right.
Comparisons are on bytes, since ``compare_digest`` refuses non-ASCII ``str``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable

__all__ = ["sign_sha256", "sign_standard_webhook"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


def sign_sha256(secret: str | bytes, body: bytes) -> str:
    """The ``sha256=<hex>`` signature header GitHub, Gitea, Bitbucket and generic-hmac send.

    >>> sign_sha256("It's a Secret to Everybody", b"Hello, World!")[:20]
    'sha256=757107ea0eb25'
    """
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def sign_standard_webhook(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` value of a Standard-Webhooks ``webhook-signature`` header.

    ``secret`` is a ``whsec_<base64>`` key, as GitLab shows it.
    """
    if not secret.startswith("whsec_"):
        raise ValueError("a Standard-Webhooks key starts with whsec_")
    key = base64.b64decode(secret[len("whsec_") :], validate=True)
    return (
        "v1," + base64.b64encode(_standard_digest(key, webhook_id, str(timestamp), body)).decode()
    )


def encode(text: str) -> bytes:
    """``text`` as bytes, whatever it holds (lone surrogates included)."""
    return text.encode("utf-8", "surrogatepass")


def header_forms(value: str) -> tuple[bytes, ...]:
    """The bytes a header value may have been sent as.

    Servers decode header bytes as latin-1 (Starlette does), so a non-ASCII
    token arrives as mojibake whose latin-1 encoding is the bytes on the wire;
    a caller passing real text wants its UTF-8. Both are tried.
    """
    utf8 = encode(value)
    try:
        wire = value.encode("latin-1")
    except UnicodeEncodeError:
        return (utf8,)
    return (utf8,) if wire == utf8 else (utf8, wire)


def token_matches(value: str, tokens: Iterable[bytes]) -> bool:
    """Whether the header ``value`` is one of ``tokens``, comparing with every one."""
    candidates = tuple(tokens)
    found = False
    for form in header_forms(value):
        found = matches_any(form, candidates) | found
    return found


def matches_any(received: bytes, candidates: Iterable[bytes]) -> bool:
    """Whether ``received`` equals one of ``candidates``, comparing with every one of them."""
    found = False
    for candidate in candidates:
        found = hmac.compare_digest(received, candidate) | found
    return found


def hex_signature_matches(received_hex: str, body: bytes, keys: Iterable[bytes]) -> bool:
    """Whether ``received_hex`` is HMAC-SHA256(key, body) in hex for one of ``keys``."""
    if not _HEX64.fullmatch(received_hex):
        return False
    received = received_hex.lower().encode("ascii")
    return matches_any(
        received, (hmac.new(key, body, hashlib.sha256).hexdigest().encode() for key in keys)
    )


def standard_signature_matches(
    signatures: str, webhook_id: str, timestamp: str, body: bytes, keys: Iterable[bytes]
) -> bool:
    """Whether one of the space-separated ``v1,<base64>`` entries signs the message
    with one of ``keys``; entries of other versions or malformed ones are skipped."""
    received: list[bytes] = []
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        try:
            received.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not received:
        return False
    expected = [_standard_digest(key, webhook_id, timestamp, body) for key in keys]
    found = False
    for signature in received:
        found = matches_any(signature, expected) | found
    return found


def _standard_digest(key: bytes, webhook_id: str, timestamp: str, body: bytes) -> bytes:
    message = encode(webhook_id) + b"." + encode(timestamp) + b"." + body
    return hmac.new(key, message, hashlib.sha256).digest()
