"""The pull-request sink: on ``conflict-escaped`` only, and only when the conflict
branch was pushed, it opens a pull request (GitHub, Gitea/Forgejo) or merge request
(GitLab) from the conflict branch into the data branch, so the conflict can be
resolved in the host's UI. Its token is read when it sends (from the environment or a
file, so a rotated file needs no restart) and is never logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Final, Literal, cast, get_args
from urllib.parse import quote, urlsplit

import httpx

from .._errors import SinkError
from ._events import AlertEvent
from ._sinks import MIN_SEVERITY, SendVerdict, Sink, json_body, read_secret
from ._text import one_line

__all__ = ["PR_PROVIDERS", "PullRequestProvider", "PullRequestSink", "pull_request_text"]

PullRequestProvider = Literal["github", "gitlab", "gitea"]
PR_PROVIDERS: Final[tuple[str, ...]] = get_args(PullRequestProvider)
#: The API of the public instance, where there is one (Gitea has none).
DEFAULT_API: Final[Mapping[str, str]] = {
    "github": "https://api.github.com",
    "gitlab": "https://gitlab.com/api/v4",
}
_LISTED_MAX = 100  # conflict paths / commits listed in a body


def _md_code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _listed(title: str, items: Sequence[str], shown: Callable[[str], str] = str) -> list[str]:
    if not items:
        return []
    lines = [f"- {title}:"] + [f"  - {shown(i)}" for i in items[:_LISTED_MAX]]
    if len(items) > _LISTED_MAX:
        lines.append(f"  - and {len(items) - _LISTED_MAX} more")
    return lines


def pull_request_text(event: AlertEvent, base: str) -> tuple[str, str]:
    """The title and (Markdown) body of the pull request for an escape."""
    d = event.details
    branch = d.conflict_branch or "?"
    title = one_line(f"Resolve conflict in {event.repo}: {branch} into {base}", 250)
    lines = [
        f"git-reconcile could not replay local commits of **{event.repo}** onto "
        f"{_md_code(base)}: they conflicted with commits pushed in the meantime. "
        f"They were moved to {_md_code(branch)}, and {_md_code(base)} was reset to "
        "the remote's head. Nothing was lost.",
        "",
    ]
    if d.old_commit:
        lines.append(f"- Old local head: {_md_code(d.old_commit)}")
    if d.remote_commit:
        lines.append(f"- Remote head: {_md_code(d.remote_commit)}")
    lines += _listed("Files in conflict", d.conflict_paths, _md_code)
    lines += _listed("Escaped commits (oldest first)", d.escaped_commits)
    lines += [
        "",
        "Resolve the conflicts here (or locally) and merge; git-reconcile pulls the "
        "result into the application on its next run.",
        "",
        f"<sub>{event.timestamp} · run {d.run_id or '?'} · alert {event.id}</sub>",
    ]
    return title, "\n".join(lines)


def _problems(provider: str, api_url: str | None, project: str, tokens: int) -> list[str]:
    """Everything wrong with a pull-request sink's settings, one line each."""
    found = []
    if provider not in PR_PROVIDERS:
        found.append(f"provider: expected one of {', '.join(PR_PROVIDERS)}, not {provider!r}")
    api = api_url or DEFAULT_API.get(provider)
    if not api:
        if provider in PR_PROVIDERS:
            found.append(f"api_url: required for {provider}")
    else:
        parts = urlsplit(api)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            found.append("api_url: expected an http(s) URL")
    if not project or (provider != "gitlab" and project.count("/") != 1):
        found.append(f"project: expected owner/repo, not {project!r}")
    if tokens != 1:
        found.append("token: give token, token_env or token_file (exactly one)")
    return found


class PullRequestSink(Sink):
    """Opens a pull request (GitHub, Gitea/Forgejo) or merge request (GitLab) from a
    pushed conflict branch into the data branch (``base_branch``, else the event's).

    ``project`` is ``owner/repo`` (GitLab: the project's path or numeric id). The token
    is ``token``, or read at send time from ``token_env`` or ``token_file``; it is sent
    as ``Authorization: Bearer`` (GitHub), ``PRIVATE-TOKEN`` (GitLab) or
    ``Authorization: token`` (Gitea), and never logged. A request that already exists
    (409, or GitHub's 422 "already exists") counts as delivered.
    """

    kind = "pull-request"

    def __init__(
        self,
        provider: str,
        api_url: str | None,
        project: str,
        *,
        token: str | None = None,
        token_env: str | None = None,
        token_file: Path | None = None,
        base_branch: str | None = None,
        min_severity: str = MIN_SEVERITY,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        tokens = sum(x is not None for x in (token, token_env, token_file))
        super().__init__(
            min_severity=min_severity, problems=_problems(provider, api_url, project, tokens)
        )
        self.provider = cast(PullRequestProvider, provider)
        self.api_url = str(api_url or DEFAULT_API[provider]).rstrip("/")
        self.project = project.strip("/")
        self._token = token
        self.token_env = token_env
        self.token_file = token_file
        self.base_branch = base_branch
        self._environ = environ
        self._seen = token

    def describe(self) -> str:
        return f"{self.provider} pull requests on {urlsplit(self.api_url).hostname} {self.project}"

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._token, self._seen) if s)

    async def _token_now(self) -> str:
        if self._token is not None:
            return self._token
        if self.token_env is not None:
            environ = os.environ if self._environ is None else self._environ
            value = environ.get(self.token_env)
            if not value:
                raise SinkError(f"environment variable {self.token_env} is not set")
            self._seen = value
            return value
        assert self.token_file is not None
        self._seen = await read_secret(self.token_file, "token")
        return self._seen

    async def request(self, event: AlertEvent) -> httpx.Request | None:
        d = event.details
        if event.kind != "conflict-escaped" or not d.conflict_branch or d.push_status != "ok":
            return None  # nothing to open: no escape, or its branch is not on the host
        base = self.base_branch or event.branch
        if not base:
            raise SinkError("the data branch is unknown: set base_branch")
        title, body = pull_request_text(event, base)
        token = await self._token_now()
        if self.provider == "gitlab":
            return self._merge_request(token, d.conflict_branch, base, title, body)
        return self._pull_request(token, d.conflict_branch, base, title, body)

    def _merge_request(
        self, token: str, head: str, base: str, title: str, body: str
    ) -> httpx.Request:
        """GitLab's ``POST /projects/:id/merge_requests``."""
        url = f"{self.api_url}/projects/{quote(self.project, safe='')}/merge_requests"
        payload = {
            "source_branch": head,
            "target_branch": base,
            "title": title,
            "description": body,
            "remove_source_branch": False,
        }
        headers = _json_headers() | {"PRIVATE-TOKEN": token}
        return httpx.Request("POST", url, content=json_body(payload), headers=headers)

    def _pull_request(
        self, token: str, head: str, base: str, title: str, body: str
    ) -> httpx.Request:
        """GitHub's and Gitea's ``POST /repos/:owner/:repo/pulls``."""
        url = f"{self.api_url}/repos/{self.project}/pulls"
        payload = {"title": title, "head": head, "base": base, "body": body}
        headers = _json_headers()
        if self.provider == "github":
            headers["Authorization"] = f"Bearer {token}"
            headers["Accept"] = "application/vnd.github+json"
            headers["X-GitHub-Api-Version"] = "2022-11-28"
        else:
            headers["Authorization"] = f"token {token}"
        return httpx.Request("POST", url, content=json_body(payload), headers=headers)

    def verdict(self, response: httpx.Response) -> SendVerdict:
        if response.status_code == 409 or (
            response.status_code == 422 and "already exists" in response.text
        ):
            return "ok"
        return super().verdict(response)


def _json_headers() -> dict[str, str]:
    return {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json"}
