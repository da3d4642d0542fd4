"""Keep credentials out of everything git-reconcile writes: logs, errors, results."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redact_text", "redact_url", "url_secrets"]

_MASK = "***"
# scheme://userinfo@host... anywhere in a text; userinfo is everything up to the last '@'
# before the host part, so a password containing '@' is masked whole.
_SECRET_PARAM = re.compile(
    r"([?&](?:[a-z_]*token|access_key|key|secret|password|sig|signature|auth))=[^&#\s]+",
    re.IGNORECASE,
)
_URL_WITH_USERINFO = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@]+(?:@[^/\s@]+)*)@"
)


def redact_url(url: str) -> str:
    """Return ``url`` with any password or token replaced by ``***``.

    For ``http``/``https`` every user-info part is masked, since hosts accept a
    bare token as the user name. For ``ssh`` the user name is kept (it is
    ``git`` by convention) and only a password is masked. Scp-like addresses
    (``git@host:path``) carry no secret and are returned unchanged.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    if parts.query:
        parts = parts._replace(query=redact_text("?" + parts.query)[1:])
    if not parts.scheme or "@" not in parts.netloc:
        return urlunsplit(parts) if parts.query else url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme.startswith("http"):
        masked = _MASK
    else:
        user, sep, _password = userinfo.partition(":")
        masked = f"{user}:{_MASK}" if sep else user
    return urlunsplit(parts._replace(netloc=f"{masked}@{hostport}"))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Mask every URL's credentials in ``text`` (user-info, and query parameters named
    like a token), and every string of ``secrets``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={_MASK}", text)

    def _mask(match: re.Match[str]) -> str:
        scheme = match.group("scheme")
        userinfo = match.group("userinfo")
        if scheme.startswith("http"):
            return f"{scheme}{_MASK}@"
        user, sep, _ = userinfo.partition(":")
        return f"{scheme}{user}:{_MASK}@" if sep else match.group(0)

    return _URL_WITH_USERINFO.sub(_mask, text)


def url_secrets(url: str) -> tuple[str, ...]:
    """The secret parts of ``url`` (password, or the whole user-info of http)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return ()
    if "@" not in parts.netloc:
        return ()
    userinfo = parts.netloc.rpartition("@")[0]
    found: list[str] = []
    if parts.scheme.startswith("http"):
        found.append(userinfo)
    if parts.password:
        found.append(parts.password)
    return tuple(s for s in found if s)
