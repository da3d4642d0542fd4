"""The one place where pygit2's exceptions become git-reconcile's own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pygit2

from .._classify import classify_network_error
from .._errors import (
    AuthenticationError,
    CancelledError,
    GitError,
    HostKeyError,
    NetworkError,
    ReconcileError,
)
from .._redact import redact_text, redact_url

__all__ = ["NetworkContext", "translate"]


class NetworkContext(Protocol):
    """What a network operation knows that makes its errors clearer."""

    @property
    def secrets(self) -> tuple[str, ...]: ...

    @property
    def host_key_problem(self) -> str | None: ...

    @property
    def auth_problem(self) -> str | None: ...

    @property
    def cancelled(self) -> bool: ...


@contextlib.contextmanager
def translate(kind: str, url: str = "", context: NetworkContext | None = None) -> Iterator[None]:
    """Run a block of pygit2 calls; its errors come out as ``GitError`` subclasses.

    Messages are redacted: URL credentials and the operation's secrets are masked.
    Network errors are classified (``code``, ``transient``) by ``_classify``.
    """
    try:
        yield
    except ReconcileError:
        raise
    except (pygit2.GitError, KeyError, ValueError, OSError) as exc:
        secrets = context.secrets if context is not None else ()
        message = redact_text(str(exc) or type(exc).__name__, secrets)
        if kind not in ("fetch", "push", "connect"):
            raise GitError(message, kind=kind) from None
        raise _network_error(kind, url, message, context) from None


def _network_error(
    kind: str, url: str, message: str, context: NetworkContext | None
) -> NetworkError:
    shown = redact_url(url)
    if context is not None:
        if context.cancelled:
            return CancelledError(f"{kind} from {shown} was cancelled", kind=kind)
        if context.host_key_problem is not None:
            return HostKeyError(context.host_key_problem, kind=kind)
        if context.auth_problem is not None:
            return AuthenticationError(f"{shown}: {context.auth_problem}", kind=kind)
    if "unsupported URL protocol" in message and "://" not in url and not Path(url).exists():
        return NetworkError(
            f"there is no repository at {shown}", kind=kind, code="not-found", transient=False
        )
    found = classify_network_error(message)
    text = f"{shown}: {message}"
    if found.hint and not found.transient:
        text += f" ({found.hint})"
    if found.code == "auth":
        return AuthenticationError(text, kind=kind)
    return NetworkError(text, kind=kind, code=found.code, transient=found.transient)
