"""Turning an authentic delivery into a ``Delivery``, per provider.

Only called after ``authenticate`` succeeded, so every error here is a
``MalformedPayload`` from an authentic sender. Events other than pushes are
returned as ``ping`` or ``other`` without requiring their body to be JSON; the
repository is read from it when it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ._delivery import Delivery, Kind, RefChange
from ._errors import MalformedPayload
from ._payload import (
    Object,
    delivery_id,
    get,
    load_object,
    optional_sha,
    optional_str,
    required_ref,
    required_sha,
    url_list,
)
from ._provider import Provider

__all__ = ["parse"]

Headers = Mapping[str, str]  # lower-cased names
Identity = tuple[tuple[str, ...], str | None]  # clone URLs, full name
Change = tuple[str, str | None, str | None]  # ref, after, before


def parse(provider: Provider, headers: Headers, body: bytes) -> Delivery:
    """The delivery ``body`` describes, for a request already authenticated."""
    return _PARSERS[provider](provider, headers, body)


# --- shared pieces -------------------------------------------------------------------


def _event(headers: Headers, *names: str) -> str:
    for name in names:
        if value := headers.get(name):
            return value
    raise MalformedPayload(f"no {names[0]} header")


@dataclass(frozen=True, slots=True)
class _Envelope:
    """What the request says about itself before the body is read."""

    provider: Provider
    event: str | None
    delivery_id: str | None

    def not_a_push(self, kind: Kind, identity: Identity) -> Delivery:
        """A ping or an ignored event."""
        urls, full_name = identity
        return Delivery(
            provider=self.provider,
            kind=kind,
            event=self.event,
            delivery_id=self.delivery_id,
            clone_urls=urls,
            full_name=full_name,
        )

    def push(self, changes: Sequence[Change], identity: Identity) -> Delivery:
        """A push from its (ref, after, before) changes; the first branch change leads."""
        if not changes:
            raise MalformedPayload("the push names no ref change")
        ref, after, before = next(
            (change for change in changes if change[0].startswith("refs/heads/")), changes[0]
        )
        urls, full_name = identity
        return Delivery(
            provider=self.provider,
            kind=Kind.PUSH,
            event=self.event,
            delivery_id=self.delivery_id,
            ref=ref,
            after=after,
            before=before,
            changes=tuple(RefChange(r, a) for r, a, _ in changes),
            clone_urls=urls,
            full_name=full_name,
        )

    def single_push(self, data: Object, identity: Identity) -> Delivery:
        """The GitHub-shaped push (GitHub, GitLab, Gitea, Forgejo): top-level ref/after/before."""
        ref = required_ref(data.get("ref"), "ref")
        after = required_sha(data.get("after"), "after")
        before = optional_sha(data.get("before"), "before")
        return self.push([(ref, after, before)], identity)


def _lenient(body: bytes, identity: Callable[[Object], Identity]) -> Identity:
    """The repository named by a body that need not be JSON (for events we ignore)."""
    try:
        return identity(load_object(body))
    except MalformedPayload:
        return (), None


def _full_name(*parts: object) -> str | None:
    if all(isinstance(part, str) and part for part in parts):
        return "/".join(str(part) for part in parts)
    return None


# --- GitHub, Gitea, Forgejo ----------------------------------------------------------


def _github_identity(data: Object) -> Identity:
    repo = data.get("repository")
    urls = url_list(*(get(repo, key) for key in ("clone_url", "ssh_url", "git_url", "html_url")))
    return urls, optional_str(repo, "full_name")


def _github_like(event_headers: tuple[str, ...], delivery_headers: tuple[str, ...]) -> _Parser:
    """GitHub and the hosts that copy its payloads, under their own header names."""

    def parse_github_like(provider: Provider, headers: Headers, body: bytes) -> Delivery:
        event = _event(headers, *event_headers)
        envelope = _Envelope(provider, event, delivery_id(*map(headers.get, delivery_headers)))
        if event != "push":
            kind = Kind.PING if event == "ping" else Kind.OTHER
            return envelope.not_a_push(kind, _lenient(body, _github_identity))
        data = load_object(body)
        return envelope.single_push(data, _github_identity(data))

    return parse_github_like


# --- GitLab --------------------------------------------------------------------------

_GITLAB_PUSHES = {"Push Hook", "Tag Push Hook"}
_GITLAB_SYSTEM_PUSHES = {"push", "tag_push"}


def _gitlab_identity(data: Object) -> Identity:
    project, repo = data.get("project"), data.get("repository")
    urls = url_list(
        *(get(project, key) for key in ("git_http_url", "git_ssh_url", "http_url", "ssh_url")),
        *(get(repo, key) for key in ("git_http_url", "git_ssh_url", "url")),
        get(project, "web_url"),
        get(repo, "homepage"),
    )
    return urls, optional_str(project, "path_with_namespace")


def _gitlab(provider: Provider, headers: Headers, body: bytes) -> Delivery:
    event = _event(headers, "x-gitlab-event")
    envelope = _Envelope(
        provider,
        event,
        delivery_id(
            headers.get("idempotency-key"),
            headers.get("x-gitlab-event-uuid"),
            headers.get("webhook-id"),
        ),
    )
    if event == "System Hook":
        # A system hook says in its body what it is about; its pushes look like
        # project pushes.
        try:
            data = load_object(body)
        except MalformedPayload:
            data = {}
        in_body = optional_str(data, "event_name") or optional_str(data, "object_kind")
        if in_body not in _GITLAB_SYSTEM_PUSHES:
            return envelope.not_a_push(Kind.OTHER, _gitlab_identity(data))
    elif event in _GITLAB_PUSHES:
        data = load_object(body)
    else:
        # GitLab's "Test" button sends an ordinary Push Hook: there is no ping.
        return envelope.not_a_push(Kind.OTHER, _lenient(body, _gitlab_identity))
    return envelope.single_push(data, _gitlab_identity(data))


# --- Bitbucket Cloud -----------------------------------------------------------------

_BITBUCKET_KINDS = {
    "branch": "refs/heads/",
    "named_branch": "refs/heads/",
    "tag": "refs/tags/",
    "annotated_tag": "refs/tags/",
}


def _bitbucket_cloud_identity(data: Object) -> Identity:
    repo = data.get("repository")
    urls = url_list(get(repo, "links", "html", "href"))
    return urls, optional_str(repo, "full_name")


def _bitbucket_cloud(provider: Provider, headers: Headers, body: bytes) -> Delivery:
    event = _event(headers, "x-event-key")
    envelope = _Envelope(provider, event, delivery_id(headers.get("x-request-uuid")))
    if event != "repo:push":
        return envelope.not_a_push(Kind.OTHER, _lenient(body, _bitbucket_cloud_identity))
    data = load_object(body)
    raw = get(data, "push", "changes")
    if not isinstance(raw, list):
        raise MalformedPayload("push.changes is not a list")
    changes: list[Change] = []
    for index, change in enumerate(raw):
        where = f"push.changes[{index}]"
        new, old = get(change, "new"), get(change, "old")
        side = new if isinstance(new, dict) else old  # new is null when the ref was deleted
        if not isinstance(side, dict):
            raise MalformedPayload(f"{where} has neither new nor old")
        kind = side.get("type")
        prefix = _BITBUCKET_KINDS.get(kind) if isinstance(kind, str) else None
        if prefix is None:
            continue  # a Mercurial bookmark, or a kind of ref we do not follow
        name = side.get("name")
        if not isinstance(name, str):
            raise MalformedPayload(f"{where} has no ref name")
        ref = required_ref(prefix + name, f"{where} name")
        after = (
            required_sha(get(new, "target", "hash"), f"{where}.new.target.hash")
            if isinstance(new, dict)
            else None
        )
        before = optional_sha(get(old, "target", "hash"), f"{where}.old.target.hash")
        changes.append((ref, after, before))
    return envelope.push(changes, _bitbucket_cloud_identity(data))


# --- Bitbucket Data Center -----------------------------------------------------------


def _bitbucket_dc_identity(data: Object) -> Identity:
    repo = data.get("repository")
    groups = [get(repo, "links", "clone"), get(repo, "links", "self")]
    hrefs = [get(link, "href") for group in groups if isinstance(group, list) for link in group]
    return url_list(*hrefs), _full_name(get(repo, "project", "key"), get(repo, "slug"))


def _bitbucket_dc(provider: Provider, headers: Headers, body: bytes) -> Delivery:
    event = _event(headers, "x-event-key")
    envelope = _Envelope(provider, event, delivery_id(headers.get("x-request-id")))
    if event != "repo:refs_changed":
        kind = Kind.PING if event == "diagnostics:ping" else Kind.OTHER
        return envelope.not_a_push(kind, _lenient(body, _bitbucket_dc_identity))
    data = load_object(body)
    raw = data.get("changes")
    if not isinstance(raw, list):
        raise MalformedPayload("changes is not a list")
    changes: list[Change] = []
    for index, change in enumerate(raw):
        where = f"changes[{index}]"
        ref = required_ref(get(change, "ref", "id") or get(change, "refId"), f"{where}.ref.id")
        after = required_sha(get(change, "toHash"), f"{where}.toHash")
        if get(change, "type") == "DELETE":
            after = None
        before = optional_sha(get(change, "fromHash"), f"{where}.fromHash")
        changes.append((ref, after, before))
    return envelope.push(changes, _bitbucket_dc_identity(data))


# --- Azure DevOps --------------------------------------------------------------------


def _azure_identity(data: Object) -> Identity:
    repo = get(data, "resource", "repository")
    urls = url_list(get(repo, "remoteUrl"), get(repo, "sshUrl"), get(repo, "webUrl"))
    return urls, _full_name(get(repo, "project", "name"), get(repo, "name"))


def _azure(provider: Provider, headers: Headers, body: bytes) -> Delivery:
    # Azure DevOps names the event and the delivery in the body, not in headers.
    # It has no ping: its "Test" button sends a sample git.push for a made-up repository.
    data = load_object(body)
    event = optional_str(data, "eventType")
    if event is None:
        raise MalformedPayload("no eventType")
    envelope = _Envelope(provider, event, delivery_id(data.get("id")))
    if event != "git.push":
        return envelope.not_a_push(Kind.OTHER, _azure_identity(data))
    raw = get(data, "resource", "refUpdates")
    if not isinstance(raw, list):
        raise MalformedPayload("resource.refUpdates is not a list")
    changes: list[Change] = []
    for index, update in enumerate(raw):
        where = f"resource.refUpdates[{index}]"
        ref = required_ref(get(update, "name"), f"{where}.name")
        after = required_sha(get(update, "newObjectId"), f"{where}.newObjectId")
        before = optional_sha(get(update, "oldObjectId"), f"{where}.oldObjectId")
        changes.append((ref, after, before))
    return envelope.push(changes, _azure_identity(data))


# --- generic-hmac and generic-bearer -------------------------------------------------


def _generic(provider: Provider, headers: Headers, body: bytes) -> Delivery:
    """``{"ref": "refs/heads/main", "after": sha}`` or ``{"branch": "main", "commitHash": sha}``;
    optional ``before``, ``repository`` (a URL) and ``deliveryId`` (or ``X-Delivery-Id``)."""
    data = load_object(body)
    if "ref" in data:
        ref = required_ref(data.get("ref"), "ref")
    else:
        branch = data.get("branch")
        if not isinstance(branch, str) or not branch:
            raise MalformedPayload("neither ref nor branch is given")
        full = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
        ref = required_ref(full, "branch")
    after_field = "after" if "after" in data else "commitHash"
    after = required_sha(data.get(after_field), after_field)
    before = optional_sha(data.get("before"), "before")
    envelope = _Envelope(
        provider, "push", delivery_id(headers.get("x-delivery-id"), data.get("deliveryId"))
    )
    return envelope.push([(ref, after, before)], (url_list(data.get("repository")), None))


_Parser = Callable[[Provider, Headers, bytes], Delivery]

_PARSERS: dict[Provider, _Parser] = {
    Provider.GITHUB: _github_like(("x-github-event",), ("x-github-delivery",)),
    Provider.GITLAB: _gitlab,
    Provider.GITEA: _github_like(("x-gitea-event", "x-gogs-event"), ("x-gitea-delivery",)),
    Provider.FORGEJO: _github_like(
        ("x-forgejo-event", "x-gitea-event"), ("x-forgejo-delivery", "x-gitea-delivery")
    ),
    Provider.BITBUCKET_CLOUD: _bitbucket_cloud,
    Provider.BITBUCKET_DC: _bitbucket_dc,
    Provider.AZURE_DEVOPS: _azure,
    Provider.GENERIC_HMAC: _generic,
    Provider.GENERIC_BEARER: _generic,
}
