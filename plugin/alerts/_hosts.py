"""Links to the git host: the web address of a remote, which software serves it, and
the page of a branch on it (GitHub, GitLab, Gitea/Forgejo, Bitbucket Cloud)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal, get_args
from urllib.parse import quote, urlsplit

__all__ = ["HOST_KINDS", "HostKind", "branch_url", "host_kind", "web_url"]

HostKind = Literal["github", "gitlab", "gitea", "bitbucket"]
HOST_KINDS: Final[tuple[str, ...]] = get_args(HostKind)

_SCP = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]{2,}):(?!//)(?P<path>[^\s]+)$")
_SSH_SCHEMES: Final = ("ssh", "git", "git+ssh", "ssh+git")
_BRANCH_PATHS: Final[Mapping[str, str]] = {
    "github": "tree/",
    "gitlab": "-/tree/",
    "gitea": "src/branch/",
    "bitbucket": "branch/",
}


def _host_and_path(url: str) -> tuple[str, str, str] | None:
    """(scheme, host, path) of the web side of a remote URL, or None."""
    scp = _SCP.match(url)
    if scp is not None and "://" not in url:
        return "https", scp.group("host"), scp.group("path")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    if parts.scheme in ("http", "https"):
        return parts.scheme, parts.hostname + (f":{port}" if port else ""), parts.path
    if parts.scheme in _SSH_SCHEMES:
        return "https", parts.hostname, parts.path  # the SSH port is not the web's
    return None


def web_url(remote_url: str) -> str | None:
    """The web address of the repository a remote URL names: user-info, ``.git`` and
    the SSH port dropped, SSH and scp-like forms turned into https; None for a local
    path or a URL that is not a host's.

    >>> web_url("git@github.com:org/data.git")
    'https://github.com/org/data'
    >>> web_url("https://***@gitlab.com/group/sub/data.git")
    'https://gitlab.com/group/sub/data'
    """
    found = _host_and_path(remote_url.strip())
    if found is None:
        return None
    scheme, host, path = found
    path = path.strip("/").removesuffix(".git").strip("/")
    if not path or path.startswith("~"):
        return None
    return f"{scheme}://{host.lower()}/{path}"


def _kind_by_name(host: str) -> HostKind | None:
    if "github" in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if host == "bitbucket.org":
        return "bitbucket"
    if "gitea" in host or "forgejo" in host or host == "codeberg.org":
        return "gitea"
    return None


def host_kind(url: str, hosts: Mapping[str, HostKind] | None = None) -> HostKind | None:
    """Which host software serves ``url`` (a web or remote URL): ``hosts`` first (host
    name to kind, for self-hosted instances), then the name: github, gitlab, gitea
    (also Forgejo and Codeberg) or bitbucket.org; None when unknown."""
    web = web_url(url) or url
    host = (urlsplit(web).hostname or "").lower()
    if not host:
        return None
    for name, kind in (hosts or {}).items():
        if name.lower() == host:
            return kind
    return _kind_by_name(host)


def branch_url(
    remote_url: str, branch: str, hosts: Mapping[str, HostKind] | None = None
) -> str | None:
    """The page of ``branch`` on the host of ``remote_url`` (GitHub, GitLab, Gitea or
    Bitbucket Cloud), or None.

    >>> branch_url("git@github.com:org/data.git", "conflicts/2026-01-02T03-04-05Z")
    'https://github.com/org/data/tree/conflicts/2026-01-02T03-04-05Z'
    """
    web = web_url(remote_url)
    kind = None if web is None else host_kind(web, hosts)
    if web is None or kind is None:
        return None
    return f"{web}/{_BRANCH_PATHS[kind]}{quote(branch, safe='/')}"
