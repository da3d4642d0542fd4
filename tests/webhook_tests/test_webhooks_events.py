"""What each provider's events become: pushes, pings, ignored events, deletions, tags."""

from __future__ import annotations

import json

import pytest
from payloads import (
    NEW,
    OLD,
    OTHER,
    ZERO,
    Json,
    azure_push,
    bitbucket_cloud_push,
    bitbucket_dc_push,
    generic_push,
    gitea_push,
    github_push,
    gitlab_push,
    secrets_for,
    signed,
    without,
)

from webhooks import (
    ZERO_SHA,
    Delivery,
    Kind,
    MalformedPayload,
    Provider,
    RefChange,
    Secrets,
    SignatureMismatch,
    SignatureMissing,
    is_deleted,
    sign_sha256,
    verify_and_parse,
)

SECRET = "hook-secret"
GITHUB_VECTOR_SECRET = "It's a Secret to Everybody"
GITHUB_VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def _deliver(provider: Provider, payload: Json | bytes, *, event: str | None = None) -> Delivery:
    request = signed(provider, payload, SECRET, event=event)
    return verify_and_parse(provider, request.headers, request.body, secrets_for(provider, SECRET))


# --- GitHub's documented test vector ----------------------------------------------------


def test_github_test_vector() -> None:
    """The signature function reproduces GitHub's documented example exactly."""
    assert sign_sha256(GITHUB_VECTOR_SECRET, b"Hello, World!") == GITHUB_VECTOR_SIGNATURE


def test_github_test_vector_verifies_then_fails_to_parse() -> None:
    """GitHub's example verifies (the body is authentic) and only then fails as not JSON."""
    headers = {"X-Hub-Signature-256": GITHUB_VECTOR_SIGNATURE, "X-GitHub-Event": "push"}
    with pytest.raises(MalformedPayload) as caught:
        verify_and_parse(Provider.GITHUB, headers, b"Hello, World!", Secrets(GITHUB_VECTOR_SECRET))
    assert caught.value.authenticated


def test_github_test_vector_with_another_secret_is_refused() -> None:
    """The same example checked against another secret is a mismatch, not a parse error."""
    headers = {"X-Hub-Signature-256": GITHUB_VECTOR_SIGNATURE, "X-GitHub-Event": "push"}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.GITHUB, headers, b"Hello, World!", Secrets("It's a secret"))


# --- GitHub ---------------------------------------------------------------------------


def test_github_ping() -> None:
    """GitHub's ping is a ping, with its delivery id and repository."""
    ping: Json = {
        "zen": "Design for failure.",
        "hook_id": 1,
        "repository": github_push()["repository"],
    }
    delivery = _deliver(Provider.GITHUB, ping, event="ping")
    assert delivery.kind == Kind.PING
    assert delivery.full_name == "Acme/Data"
    assert delivery.ref is None
    assert delivery.changes == ()


def test_github_other_event_is_other() -> None:
    """A valid event that is not a push (an issue comment) is returned as ``other``."""
    delivery = _deliver(Provider.GITHUB, {"action": "created"}, event="issue_comment")
    assert delivery.kind == Kind.OTHER
    assert delivery.event == "issue_comment"


def test_github_other_event_need_not_be_json() -> None:
    """An ignored event is returned even when its body is not JSON."""
    delivery = _deliver(Provider.GITHUB, b"payload=%7B%7D", event="star")
    assert delivery.kind == Kind.OTHER
    assert delivery.clone_urls == ()


def test_github_legacy_sha1_alone_is_refused() -> None:
    """Only the legacy SHA-1 signature is not enough: SHA-256 is required."""
    request = signed(Provider.GITHUB, github_push(), SECRET)
    headers = without(request.headers, "X-Hub-Signature-256")
    with pytest.raises(SignatureMissing, match="SHA-1"):
        verify_and_parse(Provider.GITHUB, headers, request.body, Secrets(SECRET))


def test_github_branch_deletion() -> None:
    """A deleted branch has ``after`` None and ``deleted`` true."""
    delivery = _deliver(Provider.GITHUB, github_push(after=ZERO, deleted=True))
    assert delivery.kind == Kind.PUSH
    assert delivery.after is None
    assert delivery.deleted
    assert delivery.touches("main")
    assert delivery.after_for("main") is None


def test_github_branch_creation() -> None:
    """A created branch has ``before`` None."""
    delivery = _deliver(Provider.GITHUB, github_push(before=ZERO))
    assert delivery.before is None
    assert delivery.after == NEW


def test_github_tag_push_has_no_branch() -> None:
    """A tag push names its full ref and no branch."""
    delivery = _deliver(Provider.GITHUB, github_push(ref="refs/tags/v1.0"))
    assert delivery.ref == "refs/tags/v1.0"
    assert delivery.branch is None
    assert delivery.after_for("v1.0") is None


def test_push_to_another_branch_is_returned_for_the_caller_to_filter() -> None:
    """A push to another branch parses; ``after_for`` says it does not move ours."""
    delivery = _deliver(Provider.GITHUB, github_push(ref="refs/heads/feature/x"))
    assert delivery.branch == "feature/x"
    assert delivery.after_for("feature/x") == NEW
    assert delivery.after_for("main") is None
    assert not delivery.touches("main")


def test_sha256_object_ids_are_accepted() -> None:
    """A repository using SHA-256 object ids sends 64-hex commits; they are accepted."""
    after = "ab" * 32
    delivery = _deliver(Provider.GITHUB, github_push(after=after, before="0" * 64))
    assert after == delivery.after
    assert delivery.before is None


def test_commit_ids_are_lower_cased() -> None:
    """Commit ids are returned in lower case whatever the sender used."""
    delivery = _deliver(Provider.GITEA, gitea_push(after=NEW.upper()))
    assert delivery.after == NEW


@pytest.mark.parametrize(
    "change",
    [
        {"ref": "main"},
        {"ref": "refs/heads/bad..name"},
        {"ref": "refs/heads/with space"},
        {"ref": "refs/heads/"},
        {"ref": 42},
        {"after": "not-a-sha"},
        {"after": NEW[:39]},
        {"after": None},
        {"before": "xyz"},
    ],
)
def test_push_with_a_bad_field_is_malformed(change: Json) -> None:
    """A verified push whose ref or commit id is not valid is MalformedPayload (400)."""
    with pytest.raises(MalformedPayload) as caught:
        _deliver(Provider.GITHUB, {**github_push(), **change})
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'"string"', b"\xff\xfe\x00garbage", b"[" * 100_000, b"1" * 5000],
)
def test_push_body_that_is_not_a_json_object_is_malformed(body: bytes) -> None:
    """A verified push body that is not a JSON object (or too deep, or a huge number) is
    MalformedPayload."""
    with pytest.raises(MalformedPayload):
        _deliver(Provider.GITHUB, body)


def test_missing_event_header_is_malformed() -> None:
    """An authentic GitHub request without X-GitHub-Event cannot be classified."""
    request = signed(Provider.GITHUB, github_push(), SECRET)
    headers = without(request.headers, "X-GitHub-Event")
    with pytest.raises(MalformedPayload, match=r"(?i)x-github-event"):
        verify_and_parse(Provider.GITHUB, headers, request.body, Secrets(SECRET))


def test_malformed_payload_may_be_answered_202_to_gitlab() -> None:
    """MalformedPayload says it came from an authentic sender; GitLab gets a 202."""
    error = MalformedPayload("x")
    assert error.status_for(disables_on_4xx=Provider.GITLAB.disables_hooks_on_4xx) == 202
    assert error.status_for(disables_on_4xx=Provider.GITHUB.disables_hooks_on_4xx) == 400
    assert SignatureMismatch("x").status_for(disables_on_4xx=True) == 401


# --- GitLab ---------------------------------------------------------------------------


def test_gitlab_tag_push_hook_is_a_push() -> None:
    """A Tag Push Hook is a push of a tag."""
    payload = gitlab_push(ref="refs/tags/v2", object_kind="tag_push")
    delivery = _deliver(Provider.GITLAB, payload, event="Tag Push Hook")
    assert delivery.kind == Kind.PUSH
    assert delivery.ref == "refs/tags/v2"
    assert delivery.branch is None


def test_gitlab_system_hook_push_is_a_push() -> None:
    """A system hook carrying a push event is a push."""
    delivery = _deliver(Provider.GITLAB, gitlab_push(), event="System Hook")
    assert delivery.kind == Kind.PUSH
    assert delivery.after == NEW
    assert delivery.full_name == "acme/platform/data"


def test_gitlab_system_hook_of_another_kind_is_other() -> None:
    """A system hook about something else (a project created) is ``other``."""
    delivery = _deliver(
        Provider.GITLAB, {"event_name": "project_create", "name": "x"}, event="System Hook"
    )
    assert delivery.kind == Kind.OTHER


def test_gitlab_merge_request_hook_is_other() -> None:
    """A merge request event is ``other``, with the repository read from it."""
    payload: Json = {"object_kind": "merge_request", "project": gitlab_push()["project"]}
    delivery = _deliver(Provider.GITLAB, payload, event="Merge Request Hook")
    assert delivery.kind == Kind.OTHER
    assert delivery.full_name == "acme/platform/data"


def test_gitlab_delivery_id_prefers_the_idempotency_key() -> None:
    """Idempotency-Key, the same on every retry, is the delivery id when sent."""
    request = signed(Provider.GITLAB, gitlab_push(), SECRET)
    headers = {**request.headers, "Idempotency-Key": "retry-stable-key"}
    delivery = verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(SECRET))
    assert delivery.delivery_id == "retry-stable-key"


def test_gitlab_wrong_token_is_refused() -> None:
    """A wrong X-Gitlab-Token is refused."""
    request = signed(Provider.GITLAB, gitlab_push(), SECRET)
    headers = {**request.headers, "X-Gitlab-Token": SECRET + "x"}
    with pytest.raises(SignatureMismatch):
        verify_and_parse(Provider.GITLAB, headers, request.body, Secrets(SECRET))


# --- Gitea and Forgejo ----------------------------------------------------------------


@pytest.mark.parametrize("provider", [Provider.GITEA, Provider.FORGEJO])
def test_gitea_like_other_events_are_other(provider: Provider) -> None:
    """A Gitea or Forgejo event other than push (a new branch's create event) is ``other``."""
    payload: Json = {
        "ref": "feature",
        "ref_type": "branch",
        "repository": gitea_push()["repository"],
    }
    delivery = _deliver(provider, payload, event="create")
    assert delivery.kind == Kind.OTHER
    assert delivery.full_name == "acme/data"


# --- Bitbucket Cloud ------------------------------------------------------------------


def test_bitbucket_cloud_several_changes() -> None:
    """A push moving a tag, a feature branch and main leads with the first branch;
    ``after_for`` finds each branch's new commit."""
    payload = bitbucket_cloud_push(
        [
            ("v1", "tag", OTHER, None),
            ("feature", "branch", OTHER, OLD),
            ("main", "branch", NEW, OLD),
        ]
    )
    delivery = _deliver(Provider.BITBUCKET_CLOUD, payload)
    assert (
        RefChange("refs/tags/v1", OTHER),
        RefChange("refs/heads/feature", OTHER),
        RefChange("refs/heads/main", NEW),
    ) == delivery.changes
    assert delivery.ref == "refs/heads/feature"
    assert delivery.after == OTHER
    assert delivery.after_for("main") == NEW
    assert delivery.after_for("feature") == OTHER
    assert delivery.after_for("develop") is None
    assert delivery.touches("main")
    assert not delivery.touches("develop")


def test_bitbucket_cloud_deleted_branch() -> None:
    """A change whose ``new`` is null is a deletion of the ``old`` ref."""
    payload = bitbucket_cloud_push(
        [("old-branch", "branch", None, OLD), ("main", "branch", NEW, OLD)]
    )
    delivery = _deliver(Provider.BITBUCKET_CLOUD, payload)
    assert RefChange("refs/heads/old-branch", None) == delivery.changes[0]
    assert delivery.deleted
    assert delivery.touches("old-branch")
    assert delivery.after_for("old-branch") is None
    assert delivery.after_for("main") == NEW


def test_bitbucket_cloud_push_without_changes_is_malformed() -> None:
    """A repo:push naming no ref change cannot be acted on."""
    with pytest.raises(MalformedPayload):
        _deliver(Provider.BITBUCKET_CLOUD, bitbucket_cloud_push([]))


def test_bitbucket_cloud_other_event_is_other() -> None:
    """A pull request event is ``other``."""
    delivery = _deliver(Provider.BITBUCKET_CLOUD, {"pullrequest": {}}, event="pullrequest:created")
    assert delivery.kind == Kind.OTHER


# --- Bitbucket Data Center ------------------------------------------------------------


def test_bitbucket_dc_ping() -> None:
    """Bitbucket Data Center's "Test connection" (diagnostics:ping) is a ping."""
    delivery = _deliver(Provider.BITBUCKET_DC, {"test": True}, event="diagnostics:ping")
    assert delivery.kind == Kind.PING
    assert delivery.delivery_id == EXPECTED_DC_ID


EXPECTED_DC_ID = "a4c2c8b0-5f0c-4f0e-9e77-2d8d1b1f3e44"


def test_bitbucket_dc_several_changes_and_a_delete() -> None:
    """refs_changed with an update and a DELETE: the deleted ref has no ``after``."""
    payload = bitbucket_dc_push(
        [
            ("refs/heads/gone", OLD, ZERO, "DELETE"),
            ("refs/heads/main", OLD, NEW, "UPDATE"),
            ("refs/heads/new", ZERO, OTHER, "ADD"),
        ]
    )
    delivery = _deliver(Provider.BITBUCKET_DC, payload)
    assert (
        RefChange("refs/heads/gone", None),
        RefChange("refs/heads/main", NEW),
        RefChange("refs/heads/new", OTHER),
    ) == delivery.changes
    assert delivery.ref == "refs/heads/gone"
    assert delivery.deleted
    assert delivery.after_for("main") == NEW
    assert delivery.after_for("new") == OTHER


def test_bitbucket_dc_other_event_is_other() -> None:
    """A Data Center event other than refs_changed is ``other``."""
    delivery = _deliver(Provider.BITBUCKET_DC, {"pullRequest": {}}, event="pr:opened")
    assert delivery.kind == Kind.OTHER


# --- Azure DevOps ---------------------------------------------------------------------


def test_azure_several_ref_updates() -> None:
    """A git.push with several ref updates lists them all."""
    payload = azure_push([("refs/heads/main", OLD, NEW), ("refs/heads/release", ZERO, OTHER)])
    delivery = _deliver(Provider.AZURE_DEVOPS, payload)
    assert delivery.after_for("main") == NEW
    assert delivery.after_for("release") == OTHER
    assert len(delivery.changes) == 2


def test_azure_other_event_is_other() -> None:
    """An Azure DevOps event other than git.push is ``other``, with its id."""
    delivery = _deliver(
        Provider.AZURE_DEVOPS, azure_push(event_type="git.pullrequest.created", event_id="pr-1")
    )
    assert delivery.kind == Kind.OTHER
    assert delivery.delivery_id == "pr-1"
    assert delivery.full_name == "Platform/Data"


def test_azure_without_event_type_is_malformed() -> None:
    """An authentic Azure DevOps body without eventType cannot be classified."""
    payload = azure_push()
    del payload["eventType"]
    with pytest.raises(MalformedPayload):
        _deliver(Provider.AZURE_DEVOPS, payload)


# --- generic --------------------------------------------------------------------------


@pytest.mark.parametrize("provider", [Provider.GENERIC_HMAC, Provider.GENERIC_BEARER])
def test_generic_accepts_ref_and_after(provider: Provider) -> None:
    """The generic body may use the GitHub names ``ref`` and ``after``."""
    delivery = _deliver(provider, {"ref": "refs/heads/data", "after": NEW, "before": OLD})
    assert delivery.branch == "data"
    assert delivery.after == NEW
    assert delivery.before == OLD
    assert delivery.clone_urls == ()


@pytest.mark.parametrize("provider", [Provider.GENERIC_HMAC, Provider.GENERIC_BEARER])
def test_generic_accepts_branch_and_commit_hash(provider: Provider) -> None:
    """The generic body may use ``branch`` and ``commitHash``, as the reference implementation."""
    delivery = _deliver(provider, generic_push(branch="data", commit=NEW))
    assert delivery.ref == "refs/heads/data"
    assert delivery.after == NEW


def test_generic_delivery_id_from_the_body() -> None:
    """Without an X-Delivery-Id header, a ``deliveryId`` in the body is used."""
    request = signed(Provider.GENERIC_HMAC, generic_push(deliveryId="body-id"), SECRET)
    headers = without(request.headers, "X-Delivery-Id")
    delivery = verify_and_parse(Provider.GENERIC_HMAC, headers, request.body, Secrets(SECRET))
    assert delivery.delivery_id == "body-id"


def test_generic_without_a_delivery_id() -> None:
    """A generic push may carry no delivery id at all."""
    request = signed(Provider.GENERIC_BEARER, generic_push(), SECRET)
    headers = without(request.headers, "X-Delivery-Id")
    delivery = verify_and_parse(Provider.GENERIC_BEARER, headers, request.body, Secrets(SECRET))
    assert delivery.delivery_id is None


@pytest.mark.parametrize(
    "payload",
    [{}, {"branch": ""}, {"branch": "main"}, {"commitHash": NEW}, {"branch": 3, "commitHash": NEW}],
)
def test_generic_without_branch_or_commit_is_malformed(payload: Json) -> None:
    """A generic body must name a branch (or ref) and a commit."""
    with pytest.raises(MalformedPayload):
        _deliver(Provider.GENERIC_HMAC, payload)


def test_over_long_delivery_id_is_malformed() -> None:
    """A delivery id of thousands of characters is refused rather than cached."""
    request = signed(Provider.GENERIC_HMAC, generic_push(), SECRET, delivery_id="x" * 5000)
    with pytest.raises(MalformedPayload):
        verify_and_parse(Provider.GENERIC_HMAC, request.headers, request.body, Secrets(SECRET))


# --- ZERO_SHA and is_deleted ------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "deleted"),
    [(None, True), (ZERO_SHA, True), ("0" * 64, True), (NEW, False), ("", False)],
)
def test_is_deleted(after: str | None, deleted: bool) -> None:
    """``is_deleted`` is true for None and all-zero ids only."""
    assert deleted == is_deleted(after)


def test_payloads_round_trip_through_json() -> None:
    """The builders produce JSON-serialisable payloads (a guard on the test helpers)."""
    for build in (github_push, gitlab_push, gitea_push, bitbucket_cloud_push, bitbucket_dc_push):
        assert build() == json.loads(json.dumps(build()))
