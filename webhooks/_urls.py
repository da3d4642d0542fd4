"""Repository URLs reduced to one comparable key, so a delivery can be matched to a repo.

The payload is a hint, never a source of URLs to fetch from: these keys are only
compared with the URLs the application configured itself.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

__all__ = ["normalise_repo_url"]

# scheme://rest  (https, http, ssh, git, git+ssh, ssh+git, file...)
_SCHEME = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
# [user@]host:path, git's scp-like syntax: a colon before any slash.
_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^/:@\[\]]+|\[[^\]/]*\]):(?P<path>.*)$", re.DOTALL)
# Characters kept as they are when the path is re-quoted into its canonical form.
_SAFE = "/~!$&'()*+,;=:@"
_TRAILING = re.compile(r"[\s.]+$")


def normalise_repo_url(url: str) -> str:
    """Reduce a repository URL to a key ``host/path`` that compares equal across forms.

    ``git@github.com:Org/Repo.git``, ``ssh://git@github.com:22/Org/Repo``,
    ``https://user:token@github.com/Org/Repo.git/`` and ``github.com/org/repo``
    all give ``github.com/org/repo``: user-info (and so any credential) and the
    port are dropped, the scheme is ignored, trailing ``.git`` and slashes are
    stripped, percent-escapes take one canonical form, and the whole key is
    lower-cased. Every supported host (GitHub, GitLab, Gitea, Forgejo,
    Bitbucket, Azure DevOps) treats owner and repository names without regard to
    case, so lower-casing the path makes more true matches and no false ones
    there. Dropping the port lets ``ssh://git@host:2222/o/r`` match
    ``https://host/o/r``: two servers on one host serving the same path would
    collide, which we accept. A local path (``/srv/repo.git``, ``file:///srv/repo``)
    gives the path itself, ``/srv/repo``. The function is idempotent.

    Azure DevOps spells one repository five ways, and its deliveries carry only the
    https one: ``https://dev.azure.com/org/project/_git/repo``, the SSH forms
    ``git@ssh.dev.azure.com:v3/org/project/repo`` and
    ``org@vs-ssh.visualstudio.com:v3/org/project/repo``, and the older
    ``https://org.visualstudio.com[/DefaultCollection]/project/_git/repo``. All give
    ``dev.azure.com/org/project/_git/repo``; a path without the project
    (``org/_git/repo``, the repository named like its project) gives the repository's
    name as the project, and a ``DefaultCollection`` in the project's place (as in
    Microsoft's own sample delivery) is the collection, not a project.

    Raises ``ValueError`` when ``url`` has no host or no repository path.
    """
    if not isinstance(url, str):
        raise TypeError("url must be a str")
    text = url.strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not a repository URL: lone surrogates") from None

    host: str
    path: str
    if match := _SCHEME.match(text):
        scheme = match["scheme"].lower()
        authority, _, path = match["rest"].partition("/")
        path = re.split(r"[?#]", path, maxsplit=1)[0]
        host = "" if scheme == "file" else _host(authority)
        if scheme != "file" and not host:
            raise ValueError("not a repository URL: no host")
    elif text.startswith(("/", "./", "../")) or text in (".", ".."):
        host, path = "", text
    elif match := _SCP.match(text):
        host, path = _host(match["host"]), match["path"]
    else:
        authority, _, path = text.partition("/")
        host = _host(authority)
        if not host:
            raise ValueError("not a repository URL: no host")

    path = _canonical_path(path)
    if not path:
        raise ValueError("not a repository URL: no repository path")
    host, path = _azure(host, path)
    return f"{host}/{path}" if host else f"/{path}"


_AZURE = "dev.azure.com"
_AZURE_SSH = ("ssh.dev.azure.com", "vs-ssh.visualstudio.com")
_OLD_AZURE = ".visualstudio.com"
_COLLECTION = "defaultcollection"


def _azure(host: str, path: str) -> tuple[str, str]:
    """An Azure DevOps repository's one key, ``dev.azure.com`` and
    ``org/project/_git/repo``; any other ``host`` and ``path`` as they are."""
    parts = path.split("/")
    if host in _AZURE_SSH and len(parts) == 4 and parts[0] == "v3":
        return _AZURE, "/".join([parts[1], parts[2], "_git", parts[3]])
    if host == _AZURE and parts:
        org, rest = parts[0], parts[1:]
    elif host.endswith(_OLD_AZURE) and host not in _AZURE_SSH:
        org, rest = host[: -len(_OLD_AZURE)], parts
    else:
        return host, path
    if rest[:1] == [_COLLECTION] and "_git" in rest[1:3]:
        rest = rest[1:]
    if len(rest) == 2 and rest[0] == "_git":  # the project's own repository
        rest = [rest[1], *rest]
    if len(rest) != 3 or rest[1] != "_git" or not org or "." in org:
        return host, path
    return _AZURE, "/".join([org, *rest])


def _host(authority: str) -> str:
    """The host of ``[userinfo@]host[:port]``, lower-cased, without user-info or port."""
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):  # an IPv6 literal keeps its brackets and colons
        end = hostport.find("]")
        host = hostport if end < 0 else hostport[: end + 1]
    else:
        host = hostport.partition(":")[0]
    # Trailing dots and spaces go (``github.com.`` is ``github.com``), in one pass so
    # that normalising a key again gives the same key.
    return _TRAILING.sub("", host.strip()).lower()


def _canonical_path(path: str) -> str:
    """One spelling of a repository path: decoded once, lower-cased, re-quoted, trimmed."""
    decoded = unquote(path, errors="replace").lower()
    parts = [part for part in decoded.split("/") if part]
    while parts:
        last = parts[-1]
        if last.endswith(".git"):
            last = last[: -len(".git")]
        if last == parts[-1]:
            break
        if last:
            parts[-1] = last
        else:
            parts.pop()
    return quote("/".join(parts), safe=_SAFE)
