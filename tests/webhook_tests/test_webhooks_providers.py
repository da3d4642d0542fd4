"""Every provider: a signed push parses, and every way of failing authentication fails closed."""

from __future__ import annotations

import dataclasses

import pytest
from payloads import DEFAULT_PUSH, EXPECTED, NEW, OLD, Request, basic, secrets_for, signed, without

from webhooks import (
    Kind,
    NotConfigured,
    Provider,
    RefChange,
    Secrets,
    SignatureMismatch,
    SignatureMissing,
    verify_and_parse,
)

SECRET = "Tr0ub4dor&3-correct-horse"
ALL = list(Provider)
HMAC = [
    Provider.GITHUB,
    Provider.GITEA,
    Provider.FORGEJO,
    Provider.BITBUCKET_CLOUD,
    Provider.BITBUCKET_DC,
    Provider.GENERIC_HMAC,
]


def _push(provider: Provider, secret: str = SECRET) -> Request:
    return signed(provider, DEFAULT_PUSH[provider](), secret)


@pytest.mark.parametrize("provider", ALL)
def test_signed_push_parses(provider: Provider) -> None:
    """A push signed with the configured secret gives its ref, commits, id and repository."""
    request = _push(provider)
    expected = EXPECTED[provider]

    delivery = verify_and_parse(
        provider, request.headers, request.body, secrets_for(provider, SECRET)
    )

    assert delivery.kind == Kind.PUSH
    assert provider == delivery.provider
    assert expected.event == delivery.event
    assert delivery.ref == "refs/heads/main"
    assert delivery.branch == "main"
    assert delivery.after == NEW
    assert (None if provider.value.startswith("generic") else OLD) == delivery.before
    assert (RefChange("refs/heads/main", NEW),) == delivery.changes
    assert expected.delivery_id == delivery.delivery_id
    assert expected.clone_urls == delivery.clone_urls
    assert expected.full_name == delivery.full_name
    assert not delivery.deleted


@pytest.mark.parametrize("provider", ALL)
def test_provider_name_is_accepted_as_a_string(provider: Provider) -> None:
    """The provider may be given by its URL name, in any case."""
    request = _push(provider)
    delivery = verify_and_parse(
        provider.value.upper(), request.headers, request.body, secrets_for(provider, SECRET)
    )
    assert provider == delivery.provider


@pytest.mark.parametrize("provider", ALL)
def test_header_names_are_case_insensitive(provider: Provider) -> None:
    """Header names are found whatever their case, as HTTP requires."""
    request = _push(provider)
    secrets = secrets_for(provider, SECRET)
    lower = {key.lower(): value for key, value in request.headers.items()}
    upper = {key.upper(): value for key, value in request.headers.items()}
    assert verify_and_parse(provider, lower, request.body, secrets) == verify_and_parse(
        provider, upper, request.body, secrets
    )


@pytest.mark.parametrize("provider", ALL)
def test_wrong_secret_is_refused(provider: Provider) -> None:
    """A request signed (or authorised) with another secret is refused with 401."""
    request = _push(provider, secret="not-the-secret")
    with pytest.raises(SignatureMismatch) as caught:
        verify_and_parse(provider, request.headers, request.body, secrets_for(provider, SECRET))
    assert caught.value.http_status == 401
    assert not caught.value.authenticated


@pytest.mark.parametrize("provider", HMAC)
def test_body_changed_after_signing_is_refused(provider: Provider) -> None:
    """A body changed by one byte after signing no longer matches its signature."""
    request = _push(provider)
    tampered = request.body.replace(NEW.encode(), ("f" + NEW[1:]).encode())
    assert tampered != request.body
    with pytest.raises(SignatureMismatch):
        verify_and_parse(provider, request.headers, tampered, secrets_for(provider, SECRET))


@pytest.mark.parametrize("provider", ALL)
def test_missing_signature_is_refused(provider: Provider) -> None:
    """A request without the provider's signature or credentials is refused."""
    request = _push(provider)
    headers = without(request.headers, *EXPECTED[provider].auth_headers)
    with pytest.raises(SignatureMissing) as caught:
        verify_and_parse(provider, headers, request.body, secrets_for(provider, SECRET))
    assert caught.value.http_status == 401


@pytest.mark.parametrize("provider", ALL)
def test_no_secret_configured_fails_closed(provider: Provider) -> None:
    """With no secret configured, even a correctly signed request is refused."""
    request = _push(provider)
    with pytest.raises(NotConfigured) as caught:
        verify_and_parse(provider, request.headers, request.body, None)
    assert caught.value.http_status == 401


@pytest.mark.parametrize("provider", ALL)
def test_secrets_of_another_kind_count_as_not_configured(provider: Provider) -> None:
    """Secrets this provider cannot use (basic-auth pairs for an HMAC host, plain
    secrets for Azure DevOps) leave it unconfigured, so it refuses everything."""
    request = _push(provider)
    other_kind = (
        Secrets(SECRET)
        if provider is Provider.AZURE_DEVOPS
        else Secrets(basic_auth=[("user", SECRET)])
    )
    with pytest.raises(NotConfigured):
        verify_and_parse(provider, request.headers, request.body, other_kind)


@pytest.mark.parametrize("provider", ALL)
def test_unsigned_request_without_secret_is_not_configured(provider: Provider) -> None:
    """No secret and no signature is refused too: the gidgethub fail-open case."""
    request = _push(provider)
    headers = without(request.headers, *EXPECTED[provider].auth_headers)
    with pytest.raises(NotConfigured):
        verify_and_parse(provider, headers, request.body, None)


@pytest.mark.parametrize("provider", ALL)
def test_second_secret_matches_during_rotation(provider: Provider) -> None:
    """With two secrets configured, a request signed with the second is accepted."""
    request = _push(provider, secret="the-new-secret")
    secrets = secrets_for(provider, "the-old-secret", "the-new-secret")
    assert verify_and_parse(provider, request.headers, request.body, secrets).after == NEW


@pytest.mark.parametrize("provider", ALL)
def test_after_rotation_the_old_secret_is_refused(provider: Provider) -> None:
    """Once the old secret is removed, requests signed with it are refused."""
    request = _push(provider, secret="the-old-secret")
    with pytest.raises(SignatureMismatch):
        verify_and_parse(
            provider, request.headers, request.body, secrets_for(provider, "the-new-secret")
        )


def test_every_provider_has_a_builder_and_an_expectation() -> None:
    """The tables above cover every provider, so no provider goes untested."""
    assert set(Provider) == set(DEFAULT_PUSH) == set(EXPECTED)


def test_gitea_accepts_the_github_style_signature_alone() -> None:
    """Gitea's X-Hub-Signature-256 is enough when X-Gitea-Signature is absent."""
    request = _push(Provider.GITEA)
    headers = without(request.headers, "X-Gitea-Signature")
    delivery = verify_and_parse(Provider.GITEA, headers, request.body, Secrets(SECRET))
    assert delivery.after == NEW


def test_forgejo_checks_its_own_signature_first() -> None:
    """A wrong X-Forgejo-Signature is refused even if the Gitea one is right."""
    request = _push(Provider.FORGEJO)
    headers = {**request.headers, "X-Forgejo-Signature": "0" * 64}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.FORGEJO, headers, request.body, Secrets(SECRET))


def test_forgejo_reads_gitea_headers_when_its_own_are_absent() -> None:
    """An older Forgejo sending only the Gitea headers is understood."""
    request = _push(Provider.FORGEJO)
    headers = without(
        request.headers, "X-Forgejo-Signature", "X-Forgejo-Event", "X-Forgejo-Delivery"
    )
    delivery = verify_and_parse(Provider.FORGEJO, headers, request.body, Secrets(SECRET))
    assert EXPECTED[Provider.FORGEJO].delivery_id == delivery.delivery_id


def test_uppercase_hex_signature_is_accepted() -> None:
    """A signature in upper-case hex is the same signature."""
    request = _push(Provider.GITEA)
    headers = {
        **without(request.headers, "X-Hub-Signature-256"),
        "X-Gitea-Signature": request.headers["X-Gitea-Signature"].upper(),
    }
    assert verify_and_parse(Provider.GITEA, headers, request.body, Secrets(SECRET)).after == NEW


@pytest.mark.parametrize(
    "value", ["sha1=" + "0" * 40, "0" * 64, "sha256=", "sha256=" + "z" * 64, "sha256=" + "0" * 63]
)
def test_malformed_signature_header_is_a_mismatch(value: str) -> None:
    """A signature header of the wrong form is refused as a mismatch, not parsed further."""
    request = _push(Provider.BITBUCKET_CLOUD)
    headers = {**request.headers, "X-Hub-Signature": value}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.BITBUCKET_CLOUD, headers, request.body, Secrets(SECRET))


@pytest.mark.parametrize(
    "authorization", ["Basic !!!notbase64", "Basic " + "dXNlcg==", "basic ", "Basic"]
)
def test_malformed_basic_auth_is_refused(authorization: str) -> None:
    """Undecodable or incomplete Basic credentials never match."""
    request = _push(Provider.AZURE_DEVOPS)
    headers = {**request.headers, "Authorization": authorization}
    with pytest.raises((SignatureMismatch, SignatureMissing)):
        verify_and_parse(
            Provider.AZURE_DEVOPS, headers, request.body, secrets_for(Provider.AZURE_DEVOPS, SECRET)
        )


def test_bearer_token_for_azure_is_missing_basic() -> None:
    """Azure DevOps accepts only Basic credentials; a Bearer token is not one."""
    request = _push(Provider.AZURE_DEVOPS)
    headers = {**request.headers, "Authorization": f"Bearer {SECRET}"}
    with pytest.raises(SignatureMissing):
        verify_and_parse(
            Provider.AZURE_DEVOPS, headers, request.body, secrets_for(Provider.AZURE_DEVOPS, SECRET)
        )


def test_azure_user_name_must_match_too() -> None:
    """The right password under another user name is refused."""

    request = _push(Provider.AZURE_DEVOPS)
    headers = {**request.headers, "Authorization": basic("someone-else", SECRET)}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(
            Provider.AZURE_DEVOPS, headers, request.body, secrets_for(Provider.AZURE_DEVOPS, SECRET)
        )


def test_non_ascii_token_is_compared_not_crashed_on() -> None:
    """A token with non-ASCII characters is compared as bytes and refused, not a TypeError."""
    request = _push(Provider.GENERIC_BEARER)
    headers = {**request.headers, "Authorization": "Bearer clé-\udcff"}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.GENERIC_BEARER, headers, request.body, Secrets(SECRET))


@pytest.mark.parametrize("provider", [Provider.GITLAB, Provider.GENERIC_BEARER])
def test_non_ascii_token_decoded_as_latin1_by_the_server_matches(provider: Provider) -> None:
    """A non-ASCII token matches both as text and as the latin-1 str Starlette makes of
    its UTF-8 bytes on the wire."""
    token = "jeton-clé-密"
    request = _push(provider, secret=token)
    secrets = secrets_for(provider, token)
    assert verify_and_parse(provider, request.headers, request.body, secrets).after == NEW
    as_starlette = {key: value.encode().decode("latin-1") for key, value in request.headers.items()}
    assert verify_and_parse(provider, as_starlette, request.body, secrets).after == NEW


def test_non_ascii_secret_works() -> None:
    """A secret with non-ASCII characters signs and verifies as its UTF-8 bytes."""
    request = _push(Provider.GITHUB, secret="geheimnis-ß-密码")
    delivery = verify_and_parse(
        Provider.GITHUB, request.headers, request.body, Secrets("geheimnis-ß-密码")
    )
    assert delivery.after == NEW


def test_bytes_secret_works() -> None:
    """A secret given as bytes is used as is."""
    request = _push(Provider.GITHUB)
    assert (
        verify_and_parse(
            Provider.GITHUB, request.headers, request.body, Secrets(SECRET.encode())
        ).after
        == NEW
    )


def test_delivery_is_a_frozen_value() -> None:
    """A Delivery cannot be changed after parsing."""
    request = _push(Provider.GITHUB)
    delivery = verify_and_parse(Provider.GITHUB, request.headers, request.body, Secrets(SECRET))
    with pytest.raises(dataclasses.FrozenInstanceError):
        delivery.after = OLD  # type: ignore[misc]
