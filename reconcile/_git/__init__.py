"""The git layer: the only package that imports pygit2.

- ``_repo``: opening a repository, its local state, comparing commits (``GitRepo``).
- ``_move``: moving a branch (ref lock, compare-and-swap, SAFE checkout, the
  local changes in the way); creating and deleting the conflict branches' refs.
- ``_note``: the move note, the journal of a checked-out branch's move.
- ``_resume``: a move a crash cut short, finished from its note (or set aside).
- ``_cut_short``: the paths of such a move: whose each one is, and writing them new.
- ``_replay``: the in-memory rebase, commit by commit, agreeing with ``git rebase``;
  with ``_patch_ids`` (local commits whose patch is already upstream), ``_modes``
  (modes merged apart from contents), ``_renames`` (file renames as git finds them),
  ``_dir_renames`` (files added into a directory the other side renamed) and
  ``_file_dir`` (file/directory conflicts; no file of a local commit dropped).
- ``_stage``: staging a commit from the working tree under the index's lock
  (snapshots of each file, the new index and the commit's tree).
- ``_entries``: index entries with their stat data, past pygit2's ``IndexEntry``.
- ``_commit``: writing a commit (signed, when asked) and moving the branch to it.
- ``_sign``: SSH and GPG signatures, made by ``ssh-keygen`` and ``gpg`` as git does.
- ``_hooks``: the repository's ``pre-commit`` and ``commit-msg`` hooks, run as git
  runs them.
- ``_ignore``: which paths git ignores (``IgnoreRules``), for watchers.
- ``_remote``: fetch, push and the remote's heads, one network session each
  (``GitRemote``); reading a server's SSH host key.
- ``_session``: what one network session answers libgit2: credentials, the
  host-key check, the lease in push negotiation, the server's answer per ref;
  bounded waits, cancelling, progress.
- ``_libgit2``: what reaches into libgit2 past pygit2's API: connect, fetch and
  push without per-object callbacks into Python, ``git_remote_stop``, the layout
  of ``git_cert_hostkey``, the process-wide timeouts, index entries with stat data.
- ``_clone``: a clone made through the same sessions (host keys verified), and a
  remote's URL rewritten.
- ``_trust``: trusting one path owned by another user (``safe.directory``).
- ``_stale_locks``: lock files and temporaries a crashed git process left, found
  and cleared safely, deciding who holds them as any user (also in a remote reached
  by path, which libgit2 writes from this process).
- ``_translate``: the one place where pygit2's exceptions become git-reconcile's.
- ``_status``: whether a working tree has changes (``git status``).
- ``_sandbox``: the plumbing behind ``reconcile.testing``'s sandboxes.

Each name loads its module on first use (``_WHERE``), so a run loads only the
modules its steps use: an in-sync run stages, signs, replays and clones nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clone import Cloned, clone_into, set_remote_url
    from ._commit import (
        StoredCommit,
        configured_identity,
        contains,
        read_commit,
        update_branch,
        write_commit,
    )
    from ._hooks import HookFailure, hook_path, hooks_dir, run_hook
    from ._ignore import IgnoreRules
    from ._move import Blockers, blocking_paths, create_ref, delete_ref, move_branch
    from ._note import JOURNAL
    from ._remote import GitRemote, PushOutcome, RemoteState, scan_host_key
    from ._replay import Replay, replay
    from ._repo import GitRepo
    from ._resume import Resumed, finish_interrupted_move
    from ._session import NetOptions
    from ._sign import GPGSigner, SigningError, SSHSigner, make_signer
    from ._stage import IndexBusy, Pending, Snapshot, Staging
    from ._stale_locks import Locks, clear_stale_locks, local_repository
    from ._status import worktree_dirty

# Each name, and the module that defines it: a name loads its module on first use,
# so a run that never stages, signs or replays does not import those modules.
_WHERE = {
    "Cloned": "_clone",
    "clone_into": "_clone",
    "set_remote_url": "_clone",
    "StoredCommit": "_commit",
    "configured_identity": "_commit",
    "contains": "_commit",
    "read_commit": "_commit",
    "update_branch": "_commit",
    "write_commit": "_commit",
    "HookFailure": "_hooks",
    "hook_path": "_hooks",
    "hooks_dir": "_hooks",
    "run_hook": "_hooks",
    "IgnoreRules": "_ignore",
    "Blockers": "_move",
    "blocking_paths": "_move",
    "create_ref": "_move",
    "delete_ref": "_move",
    "move_branch": "_move",
    "JOURNAL": "_note",
    "GitRemote": "_remote",
    "PushOutcome": "_remote",
    "RemoteState": "_remote",
    "scan_host_key": "_remote",
    "Replay": "_replay",
    "replay": "_replay",
    "GitRepo": "_repo",
    "Resumed": "_resume",
    "finish_interrupted_move": "_resume",
    "NetOptions": "_session",
    "GPGSigner": "_sign",
    "SSHSigner": "_sign",
    "SigningError": "_sign",
    "make_signer": "_sign",
    "IndexBusy": "_stage",
    "Pending": "_stage",
    "Snapshot": "_stage",
    "Staging": "_stage",
    "Locks": "_stale_locks",
    "clear_stale_locks": "_stale_locks",
    "local_repository": "_stale_locks",
    "worktree_dirty": "_status",
}

__all__ = [
    "JOURNAL",
    "Blockers",
    "Cloned",
    "GPGSigner",
    "GitRemote",
    "GitRepo",
    "HookFailure",
    "IgnoreRules",
    "IndexBusy",
    "Locks",
    "NetOptions",
    "Pending",
    "PushOutcome",
    "RemoteState",
    "Replay",
    "Resumed",
    "SSHSigner",
    "SigningError",
    "Snapshot",
    "Staging",
    "StoredCommit",
    "blocking_paths",
    "clear_stale_locks",
    "clone_into",
    "configured_identity",
    "contains",
    "create_ref",
    "delete_ref",
    "finish_interrupted_move",
    "hook_path",
    "hooks_dir",
    "local_repository",
    "make_signer",
    "move_branch",
    "read_commit",
    "replay",
    "run_hook",
    "scan_host_key",
    "set_remote_url",
    "update_branch",
    "worktree_dirty",
    "write_commit",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
