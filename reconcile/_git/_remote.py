"""The remote of a run: fetch, push and the remote's heads, one network session each.

Each operation takes a fresh pygit2 ``Remote`` (a reused one reports stale transfer
statistics; the first takes the one ``GitRepo.remote_url`` looked up, unused so far)
and a fresh ``Session``. A fetch lists the heads on the connection it opened and
downloads only a tip that is not here yet, into the remote-tracking ref
and never into a local branch. A push goes under a lease per ref, and reads the
server's answer per ref: a server's refusal does not raise.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pygit2

from .._classify import classify_rejection
from .._errors import HostKeyError, NetworkError, RefMovedError
from .._hostkeys import HostKey
from .._redact import redact_text
from ._repo import GitRepo
from ._session import AlreadyLanded, NetOptions, Session
from ._translate import translate

__all__ = ["GitRemote", "PushOutcome", "RemoteState", "scan_host_key"]

# libgit2's own refusals before anything is sent: the remote moved since the fetch.
_REFUSED_LOCALLY = ("non-fastforwardable", "not present locally")


@dataclass(frozen=True)
class RemoteState:
    """What the remote advertised: the branch tip (None when absent) and its heads."""

    tip: str | None
    heads: Mapping[str, str]
    received_bytes: int = 0
    received_objects: int = 0


@dataclass(frozen=True)
class PushOutcome:
    """The server's answer for one ref: accepted, raced, or refused with a message."""

    ok: bool
    raced: bool = False
    message: str | None = None
    code: str | None = None
    hint: str = ""


class GitRemote:
    """One remote of an opened repository, with the options of its network operations.

    ``url`` is the remote's URL as ``GitRepo.remote_url`` read it (credentials
    included: redact it before showing it).
    """

    def __init__(self, repo: GitRepo, name: str, url: str, net: NetOptions) -> None:
        self.repo = repo
        self.name = name
        self.url = url
        self.net = net

    def heads(self) -> dict[str, str]:
        """The remote's heads, from one connection and no pack."""
        session = Session(self.url, self.net, "fetch")
        with translate("fetch", self.url, session):
            remote = self.repo.unused_remote(self.name)
            with session.running(remote):
                session.connect(remote)
                return _listed(remote)

    def fetch(self, branch: str) -> RemoteState:
        """One connection: read the remote's heads, and download the branch only when
        its tip is not already here. The tip lands in refs/remotes/<remote>/<branch>
        through an explicit refspec, never in a local branch."""
        raw = self.repo.raw
        session = Session(self.url, self.net, "fetch")
        session.pack_dir = pack_dir = self.repo.gitdir / "objects" / "pack"
        refname = f"refs/heads/{branch}"
        tracking = f"refs/remotes/{self.name}/{branch}"
        message = f"git-reconcile: fetch {branch}"
        received = objects = 0
        with translate("fetch", self.url, session):
            remote = self.repo.unused_remote(self.name)
            with session.running(remote):
                session.connect(remote)
                heads = _listed(remote)
                tip = heads.get(refname)
                if tip is not None and pygit2.Oid(hex=tip) not in raw:
                    received, objects = session.fetch(
                        remote, [f"+{refname}:{tracking}"], message, pack_dir
                    )
            current = raw.references.get(tracking)
            if tip is not None and (current is None or str(current.target) != tip):
                raw.create_reference_direct(tracking, pygit2.Oid(hex=tip), True, message=message)
        return RemoteState(tip=tip, heads=heads, received_bytes=received, received_objects=objects)

    def push(
        self, refs: dict[str, str | None], *, force: bool = False, again: bool = False
    ) -> tuple[dict[str, PushOutcome], int]:
        """Push local refs to the same names on the remote, each under a lease.

        ``refs`` maps each ref to the value the remote must hold (None: must not
        exist), checked in push negotiation before anything is sent; the server's
        own compare-and-swap guards the rest. With ``force`` the update need not be
        a fast-forward, but the lease still holds. ``again``: a try after a transient
        failure; when the remote already holds our value for every ref, the try
        before landed (its answer was lost) and nothing is sent. Returns the server's
        answer per ref and the bytes sent; a network failure raises ``NetworkError``.
        """
        session = Session(self.url, self.net, "push")
        session.expected = dict(refs)
        session.again = again
        specs = [f"{'+' if force else ''}{name}:{name}" for name in refs]
        try:
            with translate("push", self.url, session):
                remote = self.repo.unused_remote(self.name)
                with session.running(remote):
                    session.upload(remote, specs)
        except AlreadyLanded:  # push negotiation found the try before landed; nothing sent
            return dict.fromkeys(refs, PushOutcome(ok=True)), 0
        except RefMovedError:  # push negotiation found a lease lost; nothing was sent
            return _lease_lost(refs, session.lease_lost), session.pushed_bytes
        except NetworkError as exc:
            text = str(exc)
            if not any(words in text for words in _REFUSED_LOCALLY):
                raise
            raced = PushOutcome(ok=False, raced=True, message=text)
            return dict.fromkeys(refs, raced), session.pushed_bytes
        return {name: _answer(session, name) for name in refs}, session.pushed_bytes


def _listed(remote: pygit2.Remote) -> dict[str, str]:
    """The heads a connected remote advertised."""
    return {h.name: str(h.oid) for h in remote.list_heads(connect=False) if h.name}


def _lease_lost(refs: dict[str, str | None], lost: dict[str, str | None]) -> dict[str, PushOutcome]:
    return {
        name: PushOutcome(
            ok=False,
            raced=name in lost,
            message=(
                f"remote moved: {name} is at {lost[name] or 'nothing'}, "
                f"expected {refs[name] or 'nothing'}"
                if name in lost
                else "not pushed: another ref's lease was lost"
            ),
        )
        for name in refs
    }


def _answer(session: Session, name: str) -> PushOutcome:
    """The server's answer for ``name``, with its own words and a classification."""
    if name not in session.ref_status:
        return PushOutcome(ok=False, message="the server sent no status for it")
    message = session.ref_status[name]
    if message is None:
        return PushOutcome(ok=True)
    said = " ".join(session.remote_messages)
    if said:
        message = f"{message}: {said}"
    found = classify_rejection(message)
    return PushOutcome(
        ok=False,
        raced=found.code == "non-fast-forward",
        message=redact_text(message, session.secrets),
        code=found.code,
        hint=found.hint,
    )


def scan_host_key(url: str, timeout: float) -> HostKey:
    """Connect to an SSH server only as far as its host key, and return the key.

    The connection stops at the certificate check, before any authentication, so
    no credential is offered and nothing is read or written.
    """
    net = NetOptions(credentials=None, known_hosts=Path(os.devnull), timeout=timeout)
    session = Session(url, net, "connect")
    session.scan_only = True
    failure: NetworkError | None = None
    with tempfile.TemporaryDirectory(prefix="git-reconcile-scan-") as scratch:
        repo = pygit2.init_repository(scratch, bare=True)
        try:
            with translate("connect", url, session):
                remote = repo.remotes.create_anonymous(url)
                with session.running(remote):
                    session.connect(remote)
        except NetworkError as exc:
            failure = exc
    if session.presented_key is None:
        if failure is not None and not isinstance(failure, HostKeyError):
            raise failure
        raise NetworkError(
            f"{url}: the server presented no SSH host key (is it an SSH server?)",
            kind="connect",
            code="connection",
            transient=True,
        )
    return session.presented_key
