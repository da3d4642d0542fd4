"""Fuzzing: whatever the headers and body, only a Delivery or a WebhookError comes out,
and nothing unsigned is ever accepted."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from payloads import (
    AZURE_USER,
    DEFAULT_PUSH,
    EXPECTED,
    Json,
    Request,
    basic,
    signed,
    standard_signed,
)

from webhooks import (
    AuthenticationFailed,
    Delivery,
    Kind,
    Provider,
    Secrets,
    WebhookError,
    verify_and_parse,
)

SECRET = "fuzz-secret-9f8e7d"
KEY = "whsec_ZnV6ei1zaWduaW5nLWtleS0wMTIzNDU2Nzg5YWJjZGVm"
NOW = 1_714_557_600
SECRETS = Secrets(SECRET, KEY, basic_auth=[(AZURE_USER, SECRET)])
COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

HEADER_NAMES = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "X-Delivery-Id",
    "X-Event-Key",
    "X-Forgejo-Delivery",
    "X-Forgejo-Event",
    "X-Forgejo-Signature",
    "X-Gitea-Delivery",
    "X-Gitea-Event",
    "X-Gitea-Signature",
    "X-GitHub-Delivery",
    "X-GitHub-Event",
    "X-Gitlab-Event",
    "X-Gitlab-Event-UUID",
    "X-Gitlab-Token",
    "X-Gogs-Event",
    "X-Hub-Signature",
    "X-Hub-Signature-256",
    "X-Request-Id",
    "X-Request-UUID",
    "X-Signature",
]
EVENTS = [
    "push",
    "ping",
    "create",
    "Push Hook",
    "Tag Push Hook",
    "System Hook",
    "Merge Request Hook",
    "repo:push",
    "repo:refs_changed",
    "diagnostics:ping",
    "git.push",
    "",
]
PAYLOAD_KEYS = [
    "ref",
    "after",
    "before",
    "branch",
    "commitHash",
    "deliveryId",
    "repository",
    "project",
    "push",
    "changes",
    "new",
    "old",
    "name",
    "type",
    "target",
    "hash",
    "id",
    "toHash",
    "fromHash",
    "refId",
    "eventType",
    "resource",
    "refUpdates",
    "newObjectId",
    "oldObjectId",
    "links",
    "clone",
    "href",
    "html",
    "full_name",
    "clone_url",
    "event_name",
    "object_kind",
    "slug",
]

hexes = st.text(alphabet="0123456789abcdefABCDEF", min_size=0, max_size=70)
header_values = st.one_of(
    st.sampled_from(EVENTS),
    st.text(max_size=40),
    hexes,
    hexes.map("sha256={}".format),
    st.text(max_size=20).map(lambda text: basic(AZURE_USER, text)),
    st.text(max_size=20).map("Bearer {}".format),
    st.integers(-(10**20), 10**20).map(str),
    st.lists(st.text(max_size=20).map("v1,{}".format), max_size=3).map(" ".join),
)
headers_strategy = st.dictionaries(st.sampled_from(HEADER_NAMES), header_values, max_size=8)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    hexes,
    st.sampled_from(["refs/heads/main", "refs/tags/v1", "branch", "tag", "DELETE", "0" * 40]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(PAYLOAD_KEYS) | st.text(max_size=6), children, max_size=5),
    ),
    max_leaves=25,
)


def _json_bytes(value: object) -> bytes:
    return json.dumps(value).encode()


def _mutate(data: st.DataObject, value: object, depth: int = 0) -> object:
    """``value`` with one node somewhere inside replaced by random JSON."""
    children: list[object]
    if isinstance(value, dict) and value and depth < 8:
        key = data.draw(st.sampled_from(sorted(value)))
        if data.draw(st.booleans()):
            return {**value, key: _mutate(data, value[key], depth + 1)}
        return {**value, key: data.draw(json_values)}
    if isinstance(value, list) and value and depth < 8:
        index = data.draw(st.integers(0, len(value) - 1))
        children = list(value)
        children[index] = _mutate(data, children[index], depth + 1)
        return children
    return data.draw(json_values)


def _body(data: st.DataObject, provider: Provider) -> bytes:
    shape = data.draw(st.sampled_from(["bytes", "json", "mutated", "intact"]))
    payload: Json = DEFAULT_PUSH[provider]()
    if shape == "bytes":
        return data.draw(st.binary(max_size=200))
    if shape == "json":
        return _json_bytes(data.draw(json_values))
    if shape == "mutated":
        return _json_bytes(_mutate(data, payload))
    return _json_bytes(payload)


def _request(data: st.DataObject, provider: Provider, body: bytes) -> tuple[Request, bool]:
    """The request, and whether it carries valid credentials."""
    noise = data.draw(headers_strategy)
    if not data.draw(st.booleans()):
        return Request(provider, noise, body), False
    event = data.draw(st.sampled_from([*EVENTS, EXPECTED[provider].event]))
    if provider is Provider.GITLAB and data.draw(st.booleans()):
        request = standard_signed(body, KEY, timestamp=NOW, event=event or "Push Hook")
    else:
        request = signed(provider, body, SECRET, event=event)
    # The valid credentials override the noise, so the parser is reached.
    return Request(provider, {**noise, **request.headers}, body), True


def _check(delivery: Delivery) -> None:
    """The invariants of every Delivery that comes out."""
    if delivery.kind is Kind.PUSH:
        assert delivery.changes
        assert delivery.ref is not None
        assert delivery.ref.startswith("refs/")
        for ref, after in delivery.changes:
            assert ref.startswith("refs/")
            assert after is None or COMMIT.fullmatch(after)
    else:
        assert delivery.ref is None
        assert delivery.changes == ()
    assert all(isinstance(url, str) for url in delivery.clone_urls)


@pytest.mark.parametrize("provider", list(Provider))
@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_only_deliveries_or_webhook_errors_come_out(
    provider: Provider, data: st.DataObject
) -> None:
    """Arbitrary headers and bodies, signed with the real secret half of the time, give a
    Delivery or a WebhookError, and never a Delivery without valid credentials."""
    body = _body(data, provider)
    request, authentic = _request(data, provider, body)
    outcome: Delivery | WebhookError
    try:
        outcome = verify_and_parse(
            provider, request.headers, request.body, SECRETS, now=lambda: NOW
        )
    except WebhookError as error:
        outcome = error
    if not authentic:
        assert isinstance(outcome, AuthenticationFailed), "accepted without valid credentials"
    elif isinstance(outcome, Delivery):
        _check(outcome)
