"""Limits checked before any work: body size first, then the provider name."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import cast

import pytest
from payloads import NEW, github_push, signed

from webhooks import (
    MAX_BODY,
    NotConfigured,
    PayloadTooLarge,
    Provider,
    Secrets,
    UnknownProvider,
    verify_and_parse,
)


class Untouchable(Mapping[str, str]):
    """Headers that fail the test if anything reads them."""

    def __getitem__(self, key: str) -> str:
        raise AssertionError("headers were read")

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("headers were read")

    def __len__(self) -> int:
        raise AssertionError("headers were read")


class UntouchableSecrets(Secrets):
    """Secrets that fail the test if any verifier asks for them."""

    @property
    def hmac_keys(self) -> tuple[bytes, ...]:
        raise AssertionError("secrets were used: the body was about to be hashed")


def test_oversize_body_is_refused_before_anything_else() -> None:
    """A body one byte over max_body raises PayloadTooLarge without reading headers or
    secrets, so nothing was hashed or parsed."""
    body = b"{" + b" " * 1023
    with pytest.raises(PayloadTooLarge) as caught:
        verify_and_parse(
            Provider.GITHUB, Untouchable(), body + b"}", UntouchableSecrets("s"), max_body=1024
        )
    assert caught.value.http_status == 413


def test_the_untouchable_doubles_do_catch_a_verifier() -> None:
    """At exactly max_body the same call reaches the verifier, which trips the double:
    the test above would fail if the size were checked after verification."""
    request = signed(Provider.GITHUB, github_push(), "s")
    with pytest.raises(AssertionError, match="hashed"):
        verify_and_parse(
            Provider.GITHUB,
            request.headers,
            request.body,
            UntouchableSecrets("s"),
            max_body=len(request.body),
        )


def test_size_is_checked_before_the_provider_name() -> None:
    """An oversize body to an unknown provider is still a 413: size comes first."""
    with pytest.raises(PayloadTooLarge):
        verify_and_parse("nonesuch", Untouchable(), b"xx", None, max_body=1)


def test_default_limit_is_githubs_25_mib() -> None:
    """The default max_body is 25 MiB: one byte more is refused."""
    assert MAX_BODY == 25 * 1024 * 1024
    with pytest.raises(PayloadTooLarge):
        verify_and_parse(Provider.GITHUB, {}, bytes(MAX_BODY + 1), Secrets("s"))


def test_body_at_the_limit_is_verified() -> None:
    """A body of exactly max_body bytes goes on to verification (and here parses)."""
    request = signed(Provider.GITHUB, github_push(), "s")
    delivery = verify_and_parse(
        Provider.GITHUB, request.headers, request.body, Secrets("s"), max_body=len(request.body)
    )
    assert delivery.after == NEW


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_bytes_like_bodies_are_accepted(wrap: type) -> None:
    """A bytearray or memoryview body is verified like bytes."""
    request = signed(Provider.GITHUB, github_push(), "s")
    delivery = verify_and_parse(
        Provider.GITHUB, request.headers, cast(bytes, wrap(request.body)), Secrets("s")
    )
    assert delivery.after == NEW


def test_str_body_is_a_programming_error() -> None:
    """A decoded str body cannot be verified (signatures cover bytes): TypeError."""
    with pytest.raises(TypeError):
        verify_and_parse(Provider.GITHUB, {}, cast(bytes, "{}"), Secrets("s"))


@pytest.mark.parametrize("name", ["gogs", "", "github ", "GitHub", "bitbucket"])
def test_provider_names(name: str) -> None:
    """Known names are matched without regard to case or spaces; others are 404."""
    request = signed(Provider.GITHUB, github_push(), "s")
    if name.strip().lower() == "github":
        assert verify_and_parse(name, request.headers, request.body, Secrets("s")).after == NEW
    else:
        with pytest.raises(UnknownProvider) as caught:
            verify_and_parse(name, request.headers, request.body, Secrets("s"))
        assert caught.value.http_status == 404


def test_unknown_provider_comes_before_authentication() -> None:
    """An unknown provider is a 404 even with no secret configured."""
    with pytest.raises(UnknownProvider):
        verify_and_parse("svn", {}, b"{}", None)
    with pytest.raises(NotConfigured):
        verify_and_parse("github", {}, b"{}", None)
