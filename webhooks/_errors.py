"""Exceptions raised by ``verify_and_parse``.

Every failure is a ``WebhookError`` whose ``http_status`` is the answer to give
the sender; nothing else escapes ``verify_and_parse``, whatever the headers and
body hold. Messages name headers and fields, never a received or configured
secret, so they are safe to log::

    WebhookError                     base class; http_status, authenticated
    ├── UnknownProvider         404  the provider name is not one this package knows
    ├── PayloadTooLarge         413  the body is over max_body: nothing was hashed or parsed
    ├── AuthenticationFailed    401  the delivery is not proven to come from the host
    │   ├── NotConfigured            no secret for this provider is configured: fail closed
    │   ├── SignatureMissing         no signature, token or credentials in the request
    │   ├── SignatureMismatch        they match no configured secret, or are malformed
    │   └── StaleTimestamp           a valid Standard-Webhooks signature, too old or too new
    └── MalformedPayload        400  authentic, but not JSON or without a required field

Which status to answer
----------------------
A valid delivery that is merely ignored (a ``ping``, an ``other`` event, a push
to another branch or another repository) is not an error: ``verify_and_parse``
returns it, and the caller answers 202 so that no host ever disables the hook.

``MalformedPayload`` is the only error raised *after* the sender proved it holds
the secret, which its ``authenticated`` attribute says (``True`` there, ``False``
on every other error). Its ``http_status`` is 400, the right answer for a person
testing a generic hook by hand. A host that disables a hook after a 4xx (GitLab
may do so permanently) is better answered 202 and the error logged: the periodic
poll picks the push up, and the hook survives a payload format we do not know
yet. ``status_for`` encodes that recommendation.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthenticationFailed",
    "MalformedPayload",
    "NotConfigured",
    "PayloadTooLarge",
    "SignatureMismatch",
    "SignatureMissing",
    "StaleTimestamp",
    "UnknownProvider",
    "WebhookError",
]


class WebhookError(Exception):
    """Base class of every exception ``verify_and_parse`` raises."""

    #: The HTTP status to answer the sender with.
    http_status: ClassVar[int] = 400
    #: Whether the request was proven to come from the host before this error.
    authenticated: ClassVar[bool] = False

    def status_for(self, *, disables_on_4xx: bool) -> int:
        """The status to answer: ``http_status``, or 202 for an authentic delivery
        sent by a host that disables hooks answered with a 4xx."""
        if self.authenticated and disables_on_4xx:
            return 202
        return self.http_status


class UnknownProvider(WebhookError):
    """The provider name is not one of ``Provider``'s values."""

    http_status = 404


class PayloadTooLarge(WebhookError):
    """The body is larger than ``max_body``; it was neither hashed nor parsed."""

    http_status = 413


class AuthenticationFailed(WebhookError):
    """The delivery could not be proven to come from the host."""

    http_status = 401


class NotConfigured(AuthenticationFailed):
    """No secret usable by this provider is configured, so nothing is accepted."""


class SignatureMissing(AuthenticationFailed):
    """The request carries no signature, token or credentials this provider uses."""


class SignatureMismatch(AuthenticationFailed):
    """The signature, token or credentials match no configured secret, or are malformed."""


class StaleTimestamp(AuthenticationFailed):
    """A Standard-Webhooks signature is valid but its timestamp is outside the tolerance."""


class MalformedPayload(WebhookError):
    """An authentic delivery whose body is not JSON or lacks a required field."""

    http_status = 400
    authenticated = True
