"""GitLab's Standard-Webhooks signing: the spec's vector, timestamps, several signatures."""

from __future__ import annotations

import base64

import pytest
from payloads import NEW, gitlab_push, standard_signed

from webhooks import (
    Kind,
    Provider,
    Secrets,
    SignatureMismatch,
    SignatureMissing,
    StaleTimestamp,
    sign_standard_webhook,
    verify_and_parse,
)

# The Standard Webhooks specification's published test vector.
SPEC_KEY = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

KEY = "whsec_" + base64.b64encode(b"gitlab-signing-key-32-bytes-long").decode()
OTHER_KEY = "whsec_" + base64.b64encode(b"an-older-signing-key-before-rot").decode()
T0 = 1_714_557_600


class Clock:
    """A wall clock that says what the test wants."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def test_standard_webhooks_spec_vector() -> None:
    """The signing function reproduces the specification's published signature."""
    assert sign_standard_webhook(SPEC_KEY, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_spec_vector_verifies() -> None:
    """The specification's example is accepted as authentic (then ignored: no event header)."""
    headers = {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
        "X-Gitlab-Event": "Job Hook",
    }
    delivery = verify_and_parse(
        Provider.GITLAB, headers, SPEC_BODY, Secrets(SPEC_KEY), now=Clock(SPEC_TIMESTAMP + 5)
    )
    assert delivery.kind == Kind.OTHER
    assert delivery.delivery_id == SPEC_ID


def test_signed_push_is_accepted() -> None:
    """A push signed with the configured whsec_ key parses; webhook-id is its delivery id."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    delivery = verify_and_parse(
        Provider.GITLAB, request.headers, request.body, Secrets(KEY), now=Clock(T0 + 1)
    )
    assert delivery.after == NEW
    assert delivery.delivery_id == "msg_2fXb6zYk3T0kG4aVx9d1"


def test_tampered_body_is_refused() -> None:
    """A body changed after signing does not verify."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    with pytest.raises(SignatureMismatch):
        verify_and_parse(
            Provider.GITLAB, request.headers, request.body + b" ", Secrets(KEY), now=Clock(T0)
        )


def test_timestamp_is_signed() -> None:
    """Moving the timestamp forward (to dodge the staleness check) breaks the signature."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    headers = {**request.headers, "webhook-timestamp": str(T0 + 3600)}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(KEY), now=Clock(T0 + 3600))


@pytest.mark.parametrize("offset", [-301, 301, 86_400, -86_400])
def test_stale_timestamp_is_refused(offset: int) -> None:
    """A valid signature more than the tolerance away from now (past or future) is refused."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    with pytest.raises(StaleTimestamp) as caught:
        verify_and_parse(
            Provider.GITLAB, request.headers, request.body, Secrets(KEY), now=Clock(T0 + offset)
        )
    assert caught.value.http_status == 401


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamp_within_tolerance_is_accepted(offset: int) -> None:
    """A timestamp up to the tolerance away from now, either way, is accepted."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    delivery = verify_and_parse(
        Provider.GITLAB, request.headers, request.body, Secrets(KEY), now=Clock(T0 + offset)
    )
    assert delivery.kind == Kind.PUSH


def test_tolerance_is_configurable() -> None:
    """A smaller tolerance refuses what the default accepts."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    with pytest.raises(StaleTimestamp):
        verify_and_parse(
            Provider.GITLAB,
            request.headers,
            request.body,
            Secrets(KEY),
            now=Clock(T0 + 60),
            tolerance=30,
        )


def test_several_signatures_one_matching() -> None:
    """Of several space-separated signatures (the sender rotating), one matching is enough."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    right = request.headers["webhook-signature"]
    wrong = sign_standard_webhook(OTHER_KEY, "msg_2fXb6zYk3T0kG4aVx9d1", T0, request.body)
    headers = {**request.headers, "webhook-signature": f"v1a,abc {wrong} v1,@@@ {right}"}
    delivery = verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(KEY), now=Clock(T0))
    assert delivery.after == NEW


def test_several_signatures_none_matching() -> None:
    """Several signatures, none of them by a configured key, are refused."""
    request = standard_signed(gitlab_push(), OTHER_KEY, timestamp=T0)
    headers = {
        **request.headers,
        "webhook-signature": request.headers["webhook-signature"] + " v2,AAAA",
    }
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(KEY), now=Clock(T0))


def test_second_key_matches_during_rotation() -> None:
    """With two whsec_ keys configured, a delivery signed with the second is accepted."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    delivery = verify_and_parse(
        Provider.GITLAB, request.headers, request.body, Secrets(OTHER_KEY, KEY), now=Clock(T0)
    )
    assert delivery.after == NEW


def test_failed_signature_is_not_rescued_by_a_token() -> None:
    """When a signature is sent and keys are configured, a right plain token does not
    make up for a wrong signature."""
    request = standard_signed(gitlab_push(), OTHER_KEY, timestamp=T0)
    headers = {**request.headers, "X-Gitlab-Token": "plain-token"}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(
            Provider.GITLAB, headers, request.body, Secrets(KEY, "plain-token"), now=Clock(T0)
        )


def test_plain_token_still_works_alongside_keys() -> None:
    """A receiver configured with a key and a token accepts a token-only delivery."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    headers = {
        "X-Gitlab-Event": "Push Hook",
        "X-Gitlab-Token": "plain-token",
    }
    delivery = verify_and_parse(
        Provider.GITLAB, headers, request.body, Secrets(KEY, "plain-token"), now=Clock(T0)
    )
    assert delivery.after == NEW


def test_token_only_request_with_only_keys_configured_is_missing_its_signature() -> None:
    """With only whsec_ keys configured, a plain token is not a signature."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    headers = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": KEY}
    with pytest.raises(SignatureMissing):
        verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(KEY), now=Clock(T0))


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp"])
def test_signature_without_id_or_timestamp_is_missing(header: str) -> None:
    """A webhook-signature without its id or timestamp cannot be checked."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    headers = {k: v for k, v in request.headers.items() if k != header}
    with pytest.raises(SignatureMissing):
        verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(KEY), now=Clock(T0))


@pytest.mark.parametrize("timestamp", ["soon", "-5", "1e9", "", "١٢٣", "9" * 40])
def test_timestamp_that_is_not_seconds_is_refused(timestamp: str) -> None:
    """A webhook-timestamp that is not plain decimal seconds is refused."""
    request = standard_signed(gitlab_push(), KEY, timestamp=T0)
    headers = {**request.headers, "webhook-timestamp": timestamp}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(KEY), now=Clock(T0))


def test_whsec_secret_that_is_not_base64_is_refused_at_configuration() -> None:
    """A whsec_ secret with no valid base64 key after the prefix is a configuration error."""
    with pytest.raises(ValueError, match="base64"):
        Secrets("whsec_not base64!")
