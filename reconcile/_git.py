"""The git layer: the only module that imports pygit2.

Every pygit2 call that can fail runs inside ``_translate()``, the one place where
pygit2's exceptions become git-reconcile's own (with URLs redacted). The rest of
the library sees hex commit ids, paths and our exceptions, never pygit2 objects.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pygit2
from pygit2.enums import (
    CheckoutStrategy,
    CredentialType,
    FileStatus,
    RepositoryOpenFlag,
    RepositoryState,
    SortMode,
)

from ._errors import (
    AuthenticationError,
    CheckoutBlockedError,
    GitError,
    HostKeyError,
    NetworkError,
    NotARepositoryError,
    ReconcileError,
    RefMovedError,
    UnknownRemoteError,
)
from ._redact import redact_text, redact_url, url_secrets
from ._spec import Identity, SSHKey

__all__ = [
    "ZERO",
    "GitRepo",
    "PushOutcome",
    "RemoteState",
    "Replay",
    "known_host_entries",
]

ZERO = "0" * 40
_MAX_CREDENTIAL_ATTEMPTS = 3
# Messages receive-pack sends when the ref moved under us: the remote raced.
_RACE_MESSAGES = (
    "non-fast-forward",
    "fetch first",
    "failed to update ref",
    "failed to lock",
    "stale info",
    "already exists",
    "cannot lock ref",
)

_IN_PROGRESS = {
    RepositoryState.MERGE: "a merge",
    RepositoryState.REVERT: "a revert",
    RepositoryState.REVERT_SEQUENCE: "a revert",
    RepositoryState.CHERRYPICK: "a cherry-pick",
    RepositoryState.CHERRYPICK_SEQUENCE: "a cherry-pick",
    RepositoryState.BISECT: "a bisect",
    RepositoryState.REBASE: "a rebase",
    RepositoryState.REBASE_INTERACTIVE: "a rebase",
    RepositoryState.REBASE_MERGE: "a rebase",
    RepositoryState.APPLY_MAILBOX: "an am",
    RepositoryState.APPLY_MAILBOX_OR_REBASE: "an am or rebase",
}


@dataclass(frozen=True)
class RemoteState:
    """What the remote advertised: the branch tip (None when absent) and its heads."""

    tip: str | None
    heads: frozenset[str]
    received_bytes: int = 0
    received_objects: int = 0


@dataclass(frozen=True)
class Replay:
    """An in-memory rebase: the new tip, or the paths of the first conflict."""

    tip: str | None
    conflict_paths: tuple[str, ...] = ()
    conflict_commit: str | None = None
    replayed: int = 0
    dropped: int = 0


@dataclass(frozen=True)
class PushOutcome:
    """The server's answer for one ref: accepted, raced, or refused with a message."""

    ok: bool
    raced: bool = False
    message: str | None = None


# --- network environment ----------------------------------------------------------
#
# libgit2 reads SSH known hosts from <homedir>/.ssh/known_hosts and its timeouts from
# process-wide options. Operations that need the same (known_hosts, timeout) share the
# setting and run concurrently; one that needs another waits until they finish.


class _NetworkEnv:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._key: tuple[str, int] | None = None
        self._users = 0
        self._homes: dict[str, Path] = {}
        self._root = Path(tempfile.mkdtemp(prefix="git-reconcile-home-"))

    def _home_for(self, known_hosts: Path) -> Path:
        key = str(known_hosts)
        home = self._homes.get(key)
        if home is None:
            digest = hashlib.sha256(key.encode()).hexdigest()[:16]
            home = self._root / digest
            (home / ".ssh").mkdir(parents=True, exist_ok=True)
            link = home / ".ssh" / "known_hosts"
            if not link.is_symlink():
                link.symlink_to(known_hosts)
            self._homes[key] = home
        return home

    @contextlib.contextmanager
    def use(self, known_hosts: Path, timeout_ms: int) -> Iterator[None]:
        key = (str(known_hosts), timeout_ms)
        with self._cond:
            while self._users and self._key != key:
                self._cond.wait()
            if self._key != key:
                pygit2.settings.homedir = str(self._home_for(known_hosts))
                pygit2.settings.server_connect_timeout = timeout_ms
                pygit2.settings.server_timeout = timeout_ms
                self._key = key
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()


_ENV = _NetworkEnv()


def known_host_entries(known_hosts: Path, host: str, port: int | None) -> list[str]:
    """Key types recorded for ``host`` (and port) in a known_hosts file."""
    names = {host if port in (None, 22) else f"[{host}]:{port}"}
    try:
        lines = known_hosts.read_text().splitlines()
    except OSError:
        return []
    found: list[str] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 3 or line.startswith("#"):
            continue
        patterns, keytype = fields[0], fields[1]
        if patterns.startswith("@"):
            if len(fields) < 4:
                continue
            patterns, keytype = fields[1], fields[2]
        for pattern in patterns.split(","):
            if pattern.startswith("|1|"):
                salt_b64, _, hash_b64 = pattern[3:].partition("|")
                try:
                    salt = base64.b64decode(salt_b64)
                    expected = base64.b64decode(hash_b64)
                except ValueError:
                    continue
                if any(
                    hmac.compare_digest(hmac.new(salt, n.encode(), "sha1").digest(), expected)
                    for n in names
                ):
                    found.append(keytype)
            elif pattern in names:
                found.append(keytype)
    return found


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials with a bounded number of attempts, strict host keys, push status."""

    def __init__(
        self,
        url: str,
        key: SSHKey | None,
        known_hosts: Path,
        expected: dict[str, str | None] | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.key = key
        self.known_hosts = known_hosts
        self.expected = expected or {}
        self.credential_attempts = 0
        self.rejected_host: str | None = None
        self.lease_lost: dict[str, str | None] = {}
        self.ref_status: dict[str, str | None] = {}

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.Keypair | pygit2.KeypairFromMemory:
        self.credential_attempts += 1
        if self.credential_attempts > _MAX_CREDENTIAL_ATTEMPTS:
            raise AuthenticationError(
                f"the server refused the credentials {_MAX_CREDENTIAL_ATTEMPTS} times; "
                "check that the key is authorized for this repository",
                kind="auth",
            )
        key = self.key
        username = (key.username if key and key.username else None) or username_from_url or "git"
        if allowed_types & CredentialType.SSH_KEY:
            if key is None:
                raise AuthenticationError(
                    "the server asks for an SSH key and none is configured; "
                    "set credentials=SSHKey(...) in the spec (or --ssh-key on the command line)",
                    kind="auth",
                )
            if key.private_key is not None:
                priv = Path(os.path.expanduser(key.private_key))
                if not priv.is_file():
                    raise AuthenticationError(f"SSH key file {priv} does not exist", kind="auth")
                pub = key.public_key
                if pub is None and priv.with_name(priv.name + ".pub").is_file():
                    pub = priv.with_name(priv.name + ".pub")
                return pygit2.Keypair(
                    username, str(pub) if pub else None, str(priv), key.passphrase
                )
            return pygit2.KeypairFromMemory(username, None, key.private_key_data, key.passphrase)
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(username)
        raise AuthenticationError(
            f"the server asks for credentials of a kind not configured ({allowed_types!r})",
            kind="auth",
        )

    def certificate_check(self, certificate: None, valid: bool, host: bytes | str) -> bool:
        if valid:
            return True
        self.rejected_host = host.decode() if isinstance(host, bytes) else host
        return False

    def push_negotiation(self, updates: list[pygit2.remotes.PushUpdate]) -> None:
        for update in updates:
            if update.dst_refname in self.expected:
                want = self.expected[update.dst_refname] or ZERO
                have = str(update.src)
                if have != want:
                    self.lease_lost[update.dst_refname] = None if have == ZERO else have
        if self.lease_lost:
            raise _LeaseLost()

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.ref_status[refname] = message


class _LeaseLost(Exception):
    """Raised from push negotiation: a remote ref is not where we expected it."""


@contextlib.contextmanager
def _translate(kind: str, url: str = "", callbacks: _Callbacks | None = None) -> Iterator[None]:
    """The one place where pygit2's exceptions become git-reconcile's."""
    try:
        yield
    except ReconcileError:
        raise
    except _LeaseLost:
        raise
    except (pygit2.GitError, KeyError, ValueError, OSError) as exc:
        secrets = url_secrets(url)
        message = redact_text(str(exc) or type(exc).__name__, secrets)
        shown = redact_url(url)
        if isinstance(exc, pygit2.GitError) and "unsupported URL protocol" in str(exc):
            if "://" not in url and not Path(url).exists():
                raise NetworkError(f"there is no repository at {shown}", kind=kind) from None
            raise NetworkError(
                f"cannot reach {shown}: unsupported URL protocol", kind=kind
            ) from None
        if callbacks is not None and callbacks.rejected_host is not None:
            raise _host_key_error(callbacks, kind) from None
        if kind in ("fetch", "push"):
            if "authentication" in message.lower() or (
                "auth" in message.lower() and "fail" in message.lower()
            ):
                raise AuthenticationError(
                    f"{shown}: authentication failed: {message}", kind=kind
                ) from None
            raise NetworkError(f"{shown}: {message}", kind=kind) from None
        raise GitError(message, kind=kind) from None


def _host_key_error(callbacks: _Callbacks, kind: str) -> HostKeyError:
    host = callbacks.rejected_host or "?"
    url = callbacks.url
    port: int | None = None
    with contextlib.suppress(ValueError):
        from urllib.parse import urlsplit

        port = urlsplit(url).port
    known = callbacks.known_hosts
    recorded = known_host_entries(known, host, port)
    where = host if port in (None, 22) else f"[{host}]:{port}"
    if recorded:
        return HostKeyError(
            f"host key for {where} does not match the one recorded in {known} "
            f"({', '.join(sorted(set(recorded)))}): it changed, or someone is in between. "
            "Verify the new key with the host's operator before replacing the entry",
            kind=kind,
        )
    return HostKeyError(
        f"host key for {where} is unknown: no entry in {known}. Record it after verifying "
        f"its fingerprint (e.g. ssh-keyscan -p {port or 22} {host} >> {known})",
        kind=kind,
    )


def _status_blocks(flags: int) -> bool:
    return flags != FileStatus.CURRENT


class GitRepo:
    """A repository opened for one run."""

    def __init__(self, path: Path) -> None:
        try:
            with _translate("open"):
                self._repo = pygit2.Repository(str(path), RepositoryOpenFlag.NO_SEARCH)
        except GitError:
            hint = "" if path.exists() else " (the path does not exist)"
            raise NotARepositoryError(
                f"{path} is not a git repository{hint}; "
                "give the path of a clone or of a bare repository"
            ) from None
        self.path = path

    # --- local state ------------------------------------------------------------

    @property
    def is_bare(self) -> bool:
        return bool(self._repo.is_bare)

    def head_branch(self) -> str | None:
        """The short name of the branch HEAD names (even if unborn), or None if detached."""
        with _translate("open"):
            head = self._repo.references.get("HEAD")
            if head is None:
                return None
            target = head.target
            if isinstance(target, str) and target.startswith("refs/heads/"):
                return target[len("refs/heads/") :]
            return None

    def in_progress(self) -> str | None:
        """Names an operation git left in progress (merge, rebase, ...), if any."""
        state = RepositoryState(self._repo.state())
        if state != RepositoryState.NONE:
            return _IN_PROGRESS.get(state, "an operation")
        return None

    def remote_url(self, name: str) -> str:
        try:
            with _translate("open"):
                remote = self._repo.remotes[name]
        except GitError:
            known = ", ".join(r.name or "" for r in self._repo.remotes) or "none"
            raise UnknownRemoteError(
                f"{self.path} has no remote named {name!r} (remotes: {known}); "
                f"add one with: git -C {self.path} remote add {name} URL"
            ) from None
        return remote.url or ""

    def branch_tip(self, branch: str) -> str | None:
        with _translate("ref"):
            ref = self._repo.references.get(f"refs/heads/{branch}")
            return None if ref is None else str(ref.resolve().target)

    def ref_exists(self, refname: str) -> bool:
        with _translate("ref"):
            return self._repo.references.get(refname) is not None

    @staticmethod
    def valid_branch_name(branch: str) -> bool:
        """True when ``refs/heads/<branch>`` is a well-formed ref name."""
        return bool(pygit2.reference_is_valid_name(f"refs/heads/{branch}"))

    def branches(self) -> list[str]:
        return sorted(self._repo.branches.local)

    def is_checked_out(self, branch: str) -> bool:
        """True when ``branch`` is HEAD's branch in a working tree."""
        return not self.is_bare and self.head_branch() == branch

    def ahead_behind(self, local: str, upstream: str) -> tuple[int, int]:
        with _translate("compare"):
            ahead, behind = self._repo.ahead_behind(local, upstream)
            return int(ahead), int(behind)

    def merge_base(self, a: str, b: str) -> str | None:
        with _translate("compare"):
            base = self._repo.merge_base(a, b)
            return None if base is None else str(base)

    def commits_not_in(self, tip: str, hidden: str | None) -> list[str]:
        """Commits reachable from ``tip`` and not from ``hidden``, oldest first."""
        with _translate("compare"):
            walker = self._repo.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE)
            if hidden is not None:
                walker.hide(hidden)
            return [str(c.id) for c in walker]

    def changed_paths(self, a: str | None, b: str) -> tuple[str, ...]:
        """Paths that differ between the trees of commits ``a`` and ``b``."""
        with _translate("compare"):
            new = self._repo[b].peel(pygit2.Tree)
            old = _empty_tree(self._repo) if a is None else self._repo[a].peel(pygit2.Tree)
            diff = old.diff_to_tree(new)
            paths: set[str] = set()
            for delta in diff.deltas:
                paths.add(delta.old_file.path)
                paths.add(delta.new_file.path)
            return tuple(sorted(paths))

    # --- moving refs ------------------------------------------------------------

    def blocking_paths(self, old: str | None, new: str) -> tuple[str, ...]:
        """Local changes (staged, unstaged, untracked or ignored) that moving the
        checked-out branch from ``old`` to ``new`` would overwrite."""
        touched = set(self.changed_paths(old, new))
        if not touched:
            return ()
        with _translate("checkout"):
            status = self._repo.status(untracked_files="all", ignored=True)
        blocked = set()
        for path, flags in status.items():
            if not _status_blocks(flags):
                continue
            # A path in the way, or a file inside a directory the update replaces.
            if path in touched or any(
                path.startswith(t + "/") or t.startswith(path.rstrip("/") + "/") for t in touched
            ):
                blocked.add(path)
        return tuple(sorted(blocked))

    def move_branch(self, branch: str, old: str | None, new: str, *, message: str) -> None:
        """Move ``branch`` from ``old`` to ``new``.

        The ref is locked first and compared with ``old`` (compare-and-swap), so no
        other writer can move it meanwhile; when the branch is checked out, a SAFE
        checkout follows, and the ref moves last. Raises CheckoutBlockedError or
        RefMovedError, and then nothing was written.
        """
        refname = f"refs/heads/{branch}"
        checkout = self.is_checked_out(branch)
        try:
            # The transaction commits when its block ends; a failure there (the lock
            # or the write) arrives through _translate as a GitError.
            with _translate("ref"), self._repo.transaction() as txn:
                txn.lock_ref(refname)
                current = self.branch_tip(branch)
                if current != old:
                    raise RefMovedError(
                        f"{refname} moved during the run (now {current}, expected {old})",
                        kind="ref",
                    )
                if checkout:
                    paths = self.blocking_paths(old, new)
                    if paths:
                        raise CheckoutBlockedError(_blocked_message(paths), paths=paths)
                    self._checkout(old, new)
                txn.set_target(refname, pygit2.Oid(hex=new), message=message)
        except (CheckoutBlockedError, RefMovedError):
            raise
        except GitError as exc:
            raise RefMovedError(f"could not move {refname}: {exc}", kind="ref") from None

    def _checkout(self, old: str | None, new: str) -> None:
        strategy = CheckoutStrategy.SAFE | CheckoutStrategy.DONT_OVERWRITE_IGNORED
        try:
            with _translate("checkout"):
                tree = self._repo[new].peel(pygit2.Tree)
                self._repo.checkout_tree(tree, strategy=strategy)  # type: ignore[no-untyped-call]
        except GitError as exc:
            raise CheckoutBlockedError(
                f"local changes are in the way of the checkout: {exc}"
            ) from None

    def create_ref(self, refname: str, target: str, message: str) -> bool:
        """Create ``refname`` at ``target`` unless it exists; True when created."""
        try:
            with _translate("ref"):
                self._repo.create_reference_direct(
                    refname, pygit2.Oid(hex=target), False, message=message
                )
        except GitError:
            if self.ref_exists(refname):
                return False
            raise
        return True

    def delete_ref(self, refname: str, expected: str) -> None:
        """Delete ``refname`` if it still points at ``expected``."""
        with _translate("ref"):
            ref = self._repo.references.get(refname)
            if ref is not None and str(ref.target) == expected:
                ref.delete()

    # --- rebase -------------------------------------------------------------------

    def replay(self, commits: list[str], onto: str, committer: Identity | None) -> Replay:
        """Replay ``commits`` (oldest first) onto ``onto`` in memory. Writes objects
        only; refs, index and working tree are untouched. Merge commits are skipped
        (their changes come with the commits they merged), as ``git rebase`` does;
        commits that become empty are dropped."""
        repo = self._repo
        with _translate("rebase"):
            tip = repo[onto].peel(pygit2.Commit)
            replayed = dropped = 0
            for hexid in commits:
                commit = repo[hexid].peel(pygit2.Commit)
                if len(commit.parents) > 1:
                    continue
                base_tree = commit.parents[0].tree if commit.parents else _empty_tree(repo)
                index = repo.merge_trees(base_tree, tip.tree, commit.tree)
                if index.conflicts is not None:
                    paths = sorted(
                        {
                            entry.path
                            for triple in index.conflicts
                            for entry in triple
                            if entry is not None
                        }
                    )
                    return Replay(
                        tip=None,
                        conflict_paths=tuple(paths),
                        conflict_commit=hexid,
                        replayed=replayed,
                        dropped=dropped,
                    )
                tree_id = index.write_tree(repo)
                if tree_id == tip.tree_id:
                    dropped += 1
                    continue
                new_id = repo.create_commit(
                    None,
                    commit.author,
                    self._committer(commit, committer),
                    commit.message,
                    tree_id,
                    [tip.id],
                )
                tip = repo[new_id].peel(pygit2.Commit)
                replayed += 1
            return Replay(tip=str(tip.id), replayed=replayed, dropped=dropped)

    def _committer(self, commit: pygit2.Commit, committer: Identity | None) -> pygit2.Signature:
        if committer is not None:
            return pygit2.Signature(committer.name, committer.email)
        try:
            with _translate("rebase"):
                return self._repo.default_signature
        except GitError:
            return pygit2.Signature(commit.committer.name, commit.committer.email)

    def commit_summary(self, hexid: str) -> str:
        with _translate("compare"):
            commit = self._repo[hexid].peel(pygit2.Commit)
            return f"{hexid[:10]} {commit.message.splitlines()[0] if commit.message else ''}"

    # --- network ----------------------------------------------------------------

    def fetch(
        self,
        remote_name: str,
        branch: str,
        *,
        key: SSHKey | None,
        known_hosts: Path,
        timeout: float,
    ) -> RemoteState:
        """One connection: read the remote's heads, and download the branch only when
        its tip is not already here. The tip lands in refs/remotes/<remote>/<branch>
        through an explicit refspec, never in a local branch."""
        url = self.remote_url(remote_name)
        callbacks = _Callbacks(url, key, known_hosts)
        refname = f"refs/heads/{branch}"
        tracking = f"refs/remotes/{remote_name}/{branch}"
        with _ENV.use(known_hosts, _ms(timeout)), _translate("fetch", url, callbacks):
            remote = self._repo.remotes[remote_name]
            heads = {h.name: str(h.oid) for h in remote.list_heads(callbacks=callbacks) if h.name}
            tip = heads.get(refname)
            received = objects = 0
            if tip is not None and pygit2.Oid(hex=tip) not in self._repo:
                stats = remote.fetch(
                    [f"+{refname}:{tracking}"],
                    callbacks=callbacks,
                    message=f"git-reconcile: fetch {branch}",
                )
                received, objects = int(stats.received_bytes), int(stats.received_objects)
            if tip is not None:
                self._repo.create_reference_direct(
                    tracking, pygit2.Oid(hex=tip), True, message=f"git-reconcile: fetch {branch}"
                )
        return RemoteState(
            tip=tip, heads=frozenset(heads), received_bytes=received, received_objects=objects
        )

    def push(
        self,
        remote_name: str,
        refs: dict[str, str | None],
        *,
        key: SSHKey | None,
        known_hosts: Path,
        timeout: float,
    ) -> dict[str, PushOutcome]:
        """Push local refs to the same names on the remote. ``refs`` maps each ref to
        the value the remote must hold for the push to proceed (None: must not
        exist), checked in push negotiation; the server's compare-and-swap guards the
        rest. Returns the server's answer per ref; a network failure raises."""
        url = self.remote_url(remote_name)
        callbacks = _Callbacks(url, key, known_hosts, expected=refs)
        specs = [f"{name}:{name}" for name in refs]
        try:
            with _ENV.use(known_hosts, _ms(timeout)), _translate("push", url, callbacks):
                self._repo.remotes[remote_name].push(specs, callbacks=callbacks)
        except _LeaseLost:
            return {
                name: PushOutcome(
                    ok=False,
                    raced=name in callbacks.lease_lost,
                    message=(
                        f"remote moved: {name} is at {callbacks.lease_lost[name] or 'nothing'}"
                        if name in callbacks.lease_lost
                        else "not pushed"
                    ),
                )
                for name in refs
            }
        except NetworkError as exc:
            if "non-fastforwardable" in str(exc) or "not present locally" in str(exc):
                return {name: PushOutcome(ok=False, raced=True, message=str(exc)) for name in refs}
            raise
        result: dict[str, PushOutcome] = {}
        for name in refs:
            if name not in callbacks.ref_status:
                result[name] = PushOutcome(
                    ok=False, message="the server sent no status for the ref"
                )
                continue
            message = callbacks.ref_status[name]
            if message is None:
                result[name] = PushOutcome(ok=True)
            else:
                raced = any(m in message for m in _RACE_MESSAGES)
                result[name] = PushOutcome(
                    ok=False, raced=raced, message=redact_text(message, url_secrets(url))
                )
        return result


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _empty_tree(repo: pygit2.Repository) -> pygit2.Tree:
    return repo[repo.TreeBuilder().write()].peel(pygit2.Tree)


def _blocked_message(paths: tuple[str, ...]) -> str:
    shown = ", ".join(paths[:10]) + (f" and {len(paths) - 10} more" if len(paths) > 10 else "")
    return (
        f"uncommitted changes would be overwritten: {shown}; commit or stash them, then run again"
    )
