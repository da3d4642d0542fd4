"""The secrets a receiver accepts: several at once, so a rotation never drops a delivery."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

__all__ = ["Secrets"]

_WHSEC = "whsec_"


class Secrets:
    """Every secret currently accepted for one hook; any of them may match.

    ``Secrets("new", "old")`` accepts deliveries signed with either while a
    rotation is under way. How a secret is used depends on the provider:

    - HMAC providers (GitHub, Gitea, Forgejo, Bitbucket, generic-hmac): each
      secret is an HMAC-SHA256 key, used as its UTF-8 bytes.
    - GitLab: a secret of the form ``whsec_<base64>`` is a Standard-Webhooks
      signing key (the base64 part, decoded); any other secret is a plain token
      compared with ``X-Gitlab-Token``.
    - generic-bearer: each secret is a token compared with ``Authorization: Bearer``.
    - Azure DevOps: ``basic_auth`` holds ``(user, password)`` pairs compared with
      ``Authorization: Basic``; the positional secrets are not used.

    Empty secrets are refused (``ValueError``): an empty HMAC key would let
    anyone sign. ``repr`` and ``str`` show how many secrets there are, never
    their values.
    """

    __slots__ = ("_basic", "_keys", "_signing", "_tokens")

    def __init__(self, *secrets: str | bytes, basic_auth: Iterable[tuple[str, str]] = ()) -> None:
        keys: list[bytes] = []
        tokens: list[bytes] = []
        signing: list[bytes] = []
        for index, secret in enumerate(secrets):
            if isinstance(secret, str):
                raw = secret.encode("utf-8")
            elif isinstance(secret, bytes):
                raw = secret
            else:
                raise TypeError(f"secret #{index} is a {type(secret).__name__}, not str or bytes")
            if not raw.strip():
                raise ValueError(f"secret #{index} is empty")
            keys.append(raw)
            if isinstance(secret, str) and secret.startswith(_WHSEC):
                signing.append(_signing_key(secret, index))
            else:
                tokens.append(raw)
        basic: list[bytes] = []
        for index, (user, password) in enumerate(basic_auth):
            if not isinstance(user, str) or not isinstance(password, str):
                raise TypeError(f"basic-auth pair #{index} must be two str")
            if ":" in user:
                raise ValueError(f"basic-auth pair #{index}: a user name cannot contain ':'")
            if not password:
                raise ValueError(f"basic-auth pair #{index} has an empty password")
            basic.append(f"{user}:{password}".encode())
        self._keys = tuple(keys)
        self._tokens = tuple(tokens)
        self._signing = tuple(signing)
        self._basic = tuple(basic)

    # The views below are for the verifiers of this package.

    @property
    def hmac_keys(self) -> tuple[bytes, ...]:
        """Every positional secret as an HMAC key (its UTF-8 bytes)."""
        return self._keys

    @property
    def tokens(self) -> tuple[bytes, ...]:
        """The positional secrets that are not ``whsec_`` signing keys, as bytes."""
        return self._tokens

    @property
    def signing_keys(self) -> tuple[bytes, ...]:
        """The decoded keys of the ``whsec_`` secrets (Standard Webhooks)."""
        return self._signing

    @property
    def basic_auth(self) -> tuple[bytes, ...]:
        """Each basic-auth pair as the bytes ``user:password``."""
        return self._basic

    def __repr__(self) -> str:
        parts = [_count(len(self._keys), "secret")]
        if self._basic:
            parts.append(_count(len(self._basic), "basic-auth pair"))
        return f"Secrets({', '.join(parts)})"

    __str__ = __repr__


def _count(n: int, noun: str) -> str:
    return f"<{n} {noun}{'' if n == 1 else 's'}>"


def _signing_key(secret: str, index: int) -> bytes:
    try:
        key = base64.b64decode(secret[len(_WHSEC) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"secret #{index} starts with whsec_ but is not base64 after it") from None
    if not key:
        raise ValueError(f"secret #{index} is an empty whsec_ key")
    return key
