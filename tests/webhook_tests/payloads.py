"""Realistic webhook payloads and signed requests, one builder per provider.

The payloads follow the shapes each host documents (trimmed of fields the parser
never reads, but keeping enough of them that a parser confusing two fields would
be caught). ``signed`` wraps a payload into the headers and body the host sends.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from webhooks import Provider, Secrets, sign_sha256, sign_standard_webhook

OLD = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
NEW = "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5"
OTHER = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
ZERO = "0" * 40
AZURE_USER = "reconcile-hook"

Json = dict[str, object]


@dataclass(frozen=True)
class Request:
    """What a host sends: its headers and the raw body."""

    provider: Provider
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Expected:
    """What the parser must read from a provider's default push."""

    delivery_id: str
    clone_urls: tuple[str, ...]
    full_name: str | None
    event: str
    auth_headers: tuple[str, ...] = field(default=())


# --- payloads ------------------------------------------------------------------------


def github_push(
    *, ref: str = "refs/heads/main", after: str = NEW, before: str = OLD, deleted: bool = False
) -> Json:
    """A GitHub push event (Gitea and Forgejo send the same shape)."""
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": before == ZERO,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/Acme/Data/compare/{before[:12]}...{after[:12]}",
        "commits": [
            {
                "id": after,
                "tree_id": OTHER,
                "distinct": True,
                "message": "Update data",
                "timestamp": "2024-05-01T10:00:00Z",
                "url": f"https://github.com/Acme/Data/commit/{after}",
                "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
                "added": [],
                "removed": [],
                "modified": ["data.json"],
            }
        ],
        "head_commit": None if deleted else {"id": after, "message": "Update data"},
        "repository": {
            "id": 186853002,
            "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
            "name": "Data",
            "full_name": "Acme/Data",
            "private": True,
            "owner": {"name": "Acme", "login": "Acme", "id": 21031067},
            "html_url": "https://github.com/Acme/Data",
            "url": "https://github.com/Acme/Data",
            "git_url": "git://github.com/Acme/Data.git",
            "ssh_url": "git@github.com:Acme/Data.git",
            "clone_url": "https://github.com/Acme/Data.git",
            "default_branch": "main",
            "master_branch": "main",
        },
        "pusher": {"name": "ada", "email": "ada@example.com"},
        "sender": {"login": "ada", "id": 21031067, "type": "User"},
    }


def gitea_push(*, ref: str = "refs/heads/main", after: str = NEW, before: str = OLD) -> Json:
    """A Gitea or Forgejo push event."""
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "compare_url": f"https://git.example.org/acme/data/compare/{before}...{after}",
        "commits": [{"id": after, "message": "Update data\n", "url": "https://git.example.org/c"}],
        "total_commits": 1,
        "head_commit": {"id": after, "message": "Update data\n"},
        "repository": {
            "id": 1,
            "owner": {"id": 1, "login": "acme", "username": "acme"},
            "name": "data",
            "full_name": "acme/data",
            "private": True,
            "html_url": "https://git.example.org/acme/data",
            "ssh_url": "ssh://git@git.example.org:2222/acme/data.git",
            "clone_url": "https://git.example.org/acme/data.git",
            "default_branch": "main",
        },
        "pusher": {"id": 1, "login": "ada"},
        "sender": {"id": 1, "login": "ada"},
    }


def gitlab_push(
    *,
    ref: str = "refs/heads/main",
    after: str = NEW,
    before: str = OLD,
    object_kind: str = "push",
) -> Json:
    """A GitLab Push Hook (and, with ``object_kind="tag_push"``, a Tag Push Hook)."""
    return {
        "object_kind": object_kind,
        "event_name": object_kind,
        "before": before,
        "after": after,
        "ref": ref,
        "ref_protected": True,
        "checkout_sha": None if after == ZERO else after,
        "user_id": 4,
        "user_name": "Ada Lovelace",
        "user_username": "ada",
        "project_id": 15,
        "project": {
            "id": 15,
            "name": "Data",
            "web_url": "https://gitlab.example.com/acme/platform/data",
            "git_ssh_url": "git@gitlab.example.com:acme/platform/data.git",
            "git_http_url": "https://gitlab.example.com/acme/platform/data.git",
            "namespace": "Platform",
            "visibility_level": 0,
            "path_with_namespace": "acme/platform/data",
            "default_branch": "main",
            "ssh_url": "git@gitlab.example.com:acme/platform/data.git",
            "http_url": "https://gitlab.example.com/acme/platform/data.git",
        },
        "commits": [{"id": after, "message": "Update data", "timestamp": "2024-05-01T10:00:00Z"}],
        "total_commits_count": 1,
        "repository": {
            "name": "Data",
            "url": "git@gitlab.example.com:acme/platform/data.git",
            "homepage": "https://gitlab.example.com/acme/platform/data",
            "git_http_url": "https://gitlab.example.com/acme/platform/data.git",
            "git_ssh_url": "git@gitlab.example.com:acme/platform/data.git",
            "visibility_level": 0,
        },
    }


def bitbucket_cloud_push(
    changes: list[tuple[str, str, str | None, str | None]] | None = None,
) -> Json:
    """A Bitbucket Cloud repo:push; each change is (name, type, new hash, old hash),
    a ``None`` new hash meaning the ref was deleted (``new`` is null)."""
    if changes is None:
        changes = [("main", "branch", NEW, OLD)]

    def side(name: str, kind: str, sha: str | None) -> Json | None:
        if sha is None:
            return None
        return {
            "type": kind,
            "name": name,
            "target": {"type": "commit", "hash": sha, "message": "Update data\n"},
            "links": {"html": {"href": f"https://bitbucket.org/acme/data/branch/{name}"}},
        }

    return {
        "actor": {"display_name": "Ada", "type": "user"},
        "repository": {
            "type": "repository",
            "name": "data",
            "full_name": "acme/data",
            "uuid": "{1cd3b7f4-7fd5-4e0a-a62f-7a0a2d5f9d17}",
            "is_private": True,
            "links": {
                "self": {"href": "https://api.bitbucket.org/2.0/repositories/acme/data"},
                "html": {"href": "https://bitbucket.org/acme/data"},
                "avatar": {"href": "https://bytebucket.org/ravatar/x"},
            },
        },
        "push": {
            "changes": [
                {
                    "new": side(name, kind, new),
                    "old": side(name, kind, old),
                    "created": old is None,
                    "closed": new is None,
                    "forced": False,
                    "truncated": False,
                    "commits": [],
                }
                for name, kind, new, old in changes
            ]
        },
    }


def bitbucket_dc_push(changes: list[tuple[str, str, str, str]] | None = None) -> Json:
    """A Bitbucket Data Center repo:refs_changed; each change is (ref, from, to, type)."""
    if changes is None:
        changes = [("refs/heads/main", OLD, NEW, "UPDATE")]
    return {
        "eventKey": "repo:refs_changed",
        "date": "2024-05-01T10:00:00+0000",
        "actor": {"name": "ada", "emailAddress": "ada@example.com", "id": 2, "slug": "ada"},
        "repository": {
            "slug": "data",
            "id": 84,
            "name": "Data",
            "scmId": "git",
            "state": "AVAILABLE",
            "forkable": True,
            "project": {"key": "ACME", "id": 84, "name": "Acme", "public": False, "type": "NORMAL"},
            "public": False,
            "links": {
                "clone": [
                    {"href": "ssh://git@bitbucket.example.com:7999/acme/data.git", "name": "ssh"},
                    {"href": "https://bitbucket.example.com/scm/acme/data.git", "name": "http"},
                ],
                "self": [{"href": "https://bitbucket.example.com/projects/ACME/repos/data/browse"}],
            },
        },
        "changes": [
            {
                "ref": {"id": ref, "displayId": ref.rpartition("/")[2], "type": "BRANCH"},
                "refId": ref,
                "fromHash": from_hash,
                "toHash": to_hash,
                "type": kind,
            }
            for ref, from_hash, to_hash, kind in changes
        ],
    }


def azure_push(
    updates: list[tuple[str, str, str]] | None = None,
    *,
    event_id: str = "03c164c2-8912-4d5e-8009-3707d5f83734",
    event_type: str = "git.push",
) -> Json:
    """An Azure DevOps git.push service-hook event; each update is (ref, old, new)."""
    if updates is None:
        updates = [("refs/heads/main", OLD, NEW)]
    return {
        "subscriptionId": "00000000-0000-0000-0000-000000000000",
        "notificationId": 3,
        "id": event_id,
        "eventType": event_type,
        "publisherId": "tfs",
        "message": {"text": "Ada pushed updates to Data:main."},
        "resource": {
            "commits": [{"commitId": NEW, "comment": "Update data"}],
            "refUpdates": [
                {"name": ref, "oldObjectId": old, "newObjectId": new} for ref, old, new in updates
            ],
            "repository": {
                "id": "278d5cd2-584d-4b63-824a-2ba458937249",
                "name": "Data",
                "url": "https://dev.azure.com/acme/_apis/git/repositories/278d5cd2",
                "project": {"id": "6ce954b1", "name": "Platform", "state": "wellFormed"},
                "defaultBranch": "refs/heads/main",
                "remoteUrl": "https://acme@dev.azure.com/acme/Platform/_git/Data",
                "sshUrl": "git@ssh.dev.azure.com:v3/acme/Platform/Data",
                "webUrl": "https://dev.azure.com/acme/Platform/_git/Data",
            },
            "pushedBy": {"displayName": "Ada", "uniqueName": "ada@example.com"},
            "pushId": 14,
            "date": "2024-05-01T10:00:00Z",
        },
        "resourceVersion": "1.0",
        "createdDate": "2024-05-01T10:00:01Z",
    }


def generic_push(*, branch: str = "main", commit: str = NEW, **extra: object) -> Json:
    """The generic body: ``{"branch", "commitHash"}`` plus any extra fields."""
    return {"branch": branch, "commitHash": commit, **extra}


DEFAULT_PUSH: dict[Provider, Callable[[], Json]] = {
    Provider.GITHUB: github_push,
    Provider.GITLAB: gitlab_push,
    Provider.GITEA: gitea_push,
    Provider.FORGEJO: gitea_push,
    Provider.BITBUCKET_CLOUD: bitbucket_cloud_push,
    Provider.BITBUCKET_DC: bitbucket_dc_push,
    Provider.AZURE_DEVOPS: azure_push,
    Provider.GENERIC_HMAC: lambda: generic_push(repository="https://git.example.net/acme/data"),
    Provider.GENERIC_BEARER: lambda: generic_push(repository="https://git.example.net/acme/data"),
}

GITEA_URLS = (
    "https://git.example.org/acme/data.git",
    "ssh://git@git.example.org:2222/acme/data.git",
    "https://git.example.org/acme/data",
)
EXPECTED: dict[Provider, Expected] = {
    Provider.GITHUB: Expected(
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        (
            "https://github.com/Acme/Data.git",
            "git@github.com:Acme/Data.git",
            "git://github.com/Acme/Data.git",
            "https://github.com/Acme/Data",
        ),
        "Acme/Data",
        "push",
        ("X-Hub-Signature-256",),
    ),
    Provider.GITLAB: Expected(
        "5b4bd9a2-2f6e-4a43-a3a2-8a4c4cf10a56",
        (
            "https://gitlab.example.com/acme/platform/data.git",
            "git@gitlab.example.com:acme/platform/data.git",
            "https://gitlab.example.com/acme/platform/data",
        ),
        "acme/platform/data",
        "Push Hook",
        ("X-Gitlab-Token",),
    ),
    Provider.GITEA: Expected(
        "f6a5d7a1-7d2b-4a47-9a3c-2c5e4f2b1a00",
        GITEA_URLS,
        "acme/data",
        "push",
        ("X-Gitea-Signature", "X-Gogs-Signature", "X-Hub-Signature-256"),
    ),
    Provider.FORGEJO: Expected(
        "0b8e5c61-3f1a-4c0e-8e59-0c3b1f6f2d11",
        GITEA_URLS,
        "acme/data",
        "push",
        ("X-Forgejo-Signature", "X-Gitea-Signature", "X-Gogs-Signature", "X-Hub-Signature-256"),
    ),
    Provider.BITBUCKET_CLOUD: Expected(
        "3c8a2e35-6e71-4b36-a2a4-4a8f8a0b1c2d",
        ("https://bitbucket.org/acme/data",),
        "acme/data",
        "repo:push",
        ("X-Hub-Signature",),
    ),
    Provider.BITBUCKET_DC: Expected(
        "a4c2c8b0-5f0c-4f0e-9e77-2d8d1b1f3e44",
        (
            "ssh://git@bitbucket.example.com:7999/acme/data.git",
            "https://bitbucket.example.com/scm/acme/data.git",
            "https://bitbucket.example.com/projects/ACME/repos/data/browse",
        ),
        "ACME/data",
        "repo:refs_changed",
        ("X-Hub-Signature",),
    ),
    Provider.AZURE_DEVOPS: Expected(
        "03c164c2-8912-4d5e-8009-3707d5f83734",
        (
            "https://acme@dev.azure.com/acme/Platform/_git/Data",
            "git@ssh.dev.azure.com:v3/acme/Platform/Data",
            "https://dev.azure.com/acme/Platform/_git/Data",
        ),
        "Platform/Data",
        "git.push",
        ("Authorization",),
    ),
    Provider.GENERIC_HMAC: Expected(
        "run-42", ("https://git.example.net/acme/data",), None, "push", ("X-Signature",)
    ),
    Provider.GENERIC_BEARER: Expected(
        "run-42", ("https://git.example.net/acme/data",), None, "push", ("Authorization",)
    ),
}


# --- requests ------------------------------------------------------------------------


def encode(payload: Json | bytes) -> bytes:
    """The body a host sends for ``payload`` (already bytes: as it is)."""
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def basic(user: str, password: str) -> str:
    """An ``Authorization: Basic`` value."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def signed(
    provider: Provider,
    payload: Json | bytes,
    secret: str,
    *,
    event: str | None = None,
    delivery_id: str | None = None,
) -> Request:
    """The request the host sends for ``payload`` with ``secret`` configured on its side.

    ``event`` defaults to the provider's push event; ``delivery_id`` to the one in
    ``EXPECTED``. For Azure DevOps ``secret`` is the password of ``AZURE_USER``.
    """
    body = encode(payload)
    expected = EXPECTED[provider]
    event = expected.event if event is None else event
    delivery = expected.delivery_id if delivery_id is None else delivery_id
    signature = sign_sha256(secret, body)
    bare = signature.removeprefix("sha256=")
    common = {"Content-Type": "application/json", "User-Agent": f"{provider}-hookshot"}
    headers: dict[str, str]
    match provider:
        case Provider.GITHUB:
            headers = {
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery,
                "X-GitHub-Hook-ID": "292430182",
                "X-Hub-Signature": "sha1=0000000000000000000000000000000000000000",
                "X-Hub-Signature-256": signature,
            }
        case Provider.GITLAB:
            headers = {
                "X-Gitlab-Event": event,
                "X-Gitlab-Token": secret,
                "X-Gitlab-Event-UUID": delivery,
                "X-Gitlab-Instance": "https://gitlab.example.com",
            }
        case Provider.GITEA:
            headers = {
                "X-Gitea-Event": event,
                "X-Gitea-Event-Type": event,
                "X-Gitea-Delivery": delivery,
                "X-Gitea-Signature": bare,
                "X-Gogs-Signature": bare,
                "X-Hub-Signature-256": signature,
                "X-GitHub-Event": event,
            }
        case Provider.FORGEJO:
            headers = {
                "X-Forgejo-Event": event,
                "X-Forgejo-Delivery": delivery,
                "X-Forgejo-Signature": bare,
                "X-Gitea-Event": event,
                "X-Gitea-Delivery": delivery,
                "X-Gitea-Signature": bare,
                "X-Gogs-Signature": bare,
                "X-Hub-Signature-256": signature,
            }
        case Provider.BITBUCKET_CLOUD:
            headers = {
                "X-Event-Key": event,
                "X-Request-UUID": delivery,
                "X-Hook-UUID": "{c3f2a1e0-0000-4000-8000-000000000000}",
                "X-Attempt-Number": "1",
                "X-Hub-Signature": signature,
            }
        case Provider.BITBUCKET_DC:
            headers = {"X-Event-Key": event, "X-Request-Id": delivery, "X-Hub-Signature": signature}
        case Provider.AZURE_DEVOPS:
            headers = {"Authorization": basic(AZURE_USER, secret)}
        case Provider.GENERIC_HMAC:
            headers = {"X-Signature": signature, "X-Delivery-Id": delivery}
        case Provider.GENERIC_BEARER:
            headers = {"Authorization": f"Bearer {secret}", "X-Delivery-Id": delivery}
    return Request(provider, {**common, **headers}, body)


def standard_signed(
    payload: Json | bytes,
    key: str,
    *,
    timestamp: int,
    webhook_id: str = "msg_2fXb6zYk3T0kG4aVx9d1",
    event: str = "Push Hook",
) -> Request:
    """A GitLab delivery signed the Standard-Webhooks way with the ``whsec_`` ``key``."""
    body = encode(payload)
    headers = {
        "Content-Type": "application/json",
        "X-Gitlab-Event": event,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard_webhook(key, webhook_id, timestamp, body),
    }
    return Request(Provider.GITLAB, headers, body)


def secrets_for(provider: Provider, *values: str) -> Secrets:
    """The ``Secrets`` a receiver configures to accept ``values`` for ``provider``."""
    if provider is Provider.AZURE_DEVOPS:
        return Secrets(basic_auth=[(AZURE_USER, value) for value in values])
    return Secrets(*values)


def without(headers: dict[str, str], *names: str) -> dict[str, str]:
    """``headers`` without ``names`` (compared without regard to case)."""
    drop = {name.lower() for name in names}
    return {key: value for key, value in headers.items() if key.lower() not in drop}
