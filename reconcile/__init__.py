"""git-reconcile: keep git-backed data repos reconciled with their remotes.

>>> from reconcile import RepoSpec, reconcile
>>> result = reconcile(RepoSpec("/srv/data"))          # doctest: +SKIP
>>> result.outcome                                      # doctest: +SKIP
<Outcome.IN_SYNC: 'in-sync'>

The names are loaded on first use: ``import reconcile`` costs nothing until a name
is asked for, so a command that only needs a value object (the command line building
its ``--help``) does not load pygit2. Every name below is importable as usual.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._clone import Provision, Provisioned, ensure_clone
    from ._commit import (
        DEFAULT_EXCLUDE,
        DEFAULT_TEMPLATE,
        CommitInfo,
        CommitPolicy,
        CommitRequest,
        CommitSigner,
        MessageGenerator,
        MessageSkipped,
        Trailer,
        parse_trailer,
    )
    from ._commit_context import FileChange, MessageContext
    from ._commit_llm import CircuitBreaker, LLMConfig, LLMGenerator
    from ._committing import CommitPreview
    from ._control import CancelToken, Progress
    from ._diagram import state_diagram
    from ._engine import (
        RepoInfo,
        commit_reachable,
        git_directory,
        inspect_repo,
        push_with_lease,
        reconcile,
    )
    from ._errors import (
        AuthenticationError,
        BadInputError,
        CancelledError,
        CheckoutBlockedError,
        DubiousOwnershipError,
        GitError,
        HostKeyError,
        InvalidSpecError,
        LockLostError,
        NetworkError,
        NotARepositoryError,
        PathInUseError,
        ReconcileError,
        RefMovedError,
        RepoLockTimeout,
        UnknownBranchError,
        UnknownRemoteError,
    )
    from ._git import GPGSigner, IgnoreRules, SigningError, SSHSigner, make_signer, scan_host_key
    from ._github_app import GitHubApp
    from ._guard import RunGuard
    from ._hostkeys import (
        HostKey,
        HostKeyVerdict,
        check_fingerprint,
        check_host_key,
        default_known_hosts,
        known_hosts_line,
    )
    from ._identity import Identity
    from ._local import LocalCommit, LocalState, commit_only, local_state
    from ._lock import RepoLock
    from ._logging import configure_logging
    from ._preview import preview_commit
    from ._redact import redact_text, redact_url
    from ._result import NetworkOperation, Outcome, PushResult, PushStatus, Result
    from ._spec import Credentials, HTTPAuth, RepoSpec, Retry, SSHKey

__version__ = "0.1.0"

# A library logs; the application decides where the lines go.
logging.getLogger("reconcile").addHandler(logging.NullHandler())

# Each public name, and the module that defines it.
_WHERE = {
    "DEFAULT_EXCLUDE": "_commit",
    "DEFAULT_TEMPLATE": "_commit",
    "AuthenticationError": "_errors",
    "BadInputError": "_errors",
    "CancelledError": "_errors",
    "CancelToken": "_control",
    "check_fingerprint": "_hostkeys",
    "check_host_key": "_hostkeys",
    "CheckoutBlockedError": "_errors",
    "CircuitBreaker": "_commit_llm",
    "CommitPreview": "_committing",
    "GPGSigner": "_git",
    "LLMConfig": "_commit_llm",
    "LLMGenerator": "_commit_llm",
    "make_signer": "_git",
    "MessageSkipped": "_commit",
    "preview_commit": "_preview",
    "SigningError": "_git",
    "SSHSigner": "_git",
    "commit_only": "_local",
    "commit_reachable": "_engine",
    "CommitInfo": "_commit",
    "CommitPolicy": "_commit",
    "CommitRequest": "_commit",
    "CommitSigner": "_commit",
    "configure_logging": "_logging",
    "Credentials": "_spec",
    "default_known_hosts": "_hostkeys",
    "DubiousOwnershipError": "_errors",
    "ensure_clone": "_clone",
    "FileChange": "_commit_context",
    "git_directory": "_engine",
    "GitError": "_errors",
    "GitHubApp": "_github_app",
    "HostKey": "_hostkeys",
    "HostKeyError": "_errors",
    "HostKeyVerdict": "_hostkeys",
    "HTTPAuth": "_spec",
    "Identity": "_identity",
    "IgnoreRules": "_git",
    "inspect_repo": "_engine",
    "InvalidSpecError": "_errors",
    "known_hosts_line": "_hostkeys",
    "LockLostError": "_errors",
    "local_state": "_local",
    "LocalCommit": "_local",
    "LocalState": "_local",
    "MessageContext": "_commit_context",
    "MessageGenerator": "_commit",
    "NetworkError": "_errors",
    "NetworkOperation": "_result",
    "NotARepositoryError": "_errors",
    "Outcome": "_result",
    "parse_trailer": "_commit",
    "PathInUseError": "_errors",
    "Progress": "_control",
    "Provision": "_clone",
    "Provisioned": "_clone",
    "push_with_lease": "_engine",
    "PushResult": "_result",
    "PushStatus": "_result",
    "reconcile": "_engine",
    "ReconcileError": "_errors",
    "redact_text": "_redact",
    "redact_url": "_redact",
    "RefMovedError": "_errors",
    "RepoInfo": "_engine",
    "RepoLock": "_lock",
    "RepoLockTimeout": "_errors",
    "RepoSpec": "_spec",
    "Result": "_result",
    "Retry": "_spec",
    "RunGuard": "_guard",
    "scan_host_key": "_git",
    "SSHKey": "_spec",
    "state_diagram": "_diagram",
    "Trailer": "_commit",
    "UnknownBranchError": "_errors",
    "UnknownRemoteError": "_errors",
}

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_TEMPLATE",
    "AuthenticationError",
    "BadInputError",
    "CancelToken",
    "CancelledError",
    "CheckoutBlockedError",
    "CircuitBreaker",
    "CommitInfo",
    "CommitPolicy",
    "CommitPreview",
    "CommitRequest",
    "CommitSigner",
    "Credentials",
    "DubiousOwnershipError",
    "FileChange",
    "GPGSigner",
    "GitError",
    "GitHubApp",
    "HTTPAuth",
    "HostKey",
    "HostKeyError",
    "HostKeyVerdict",
    "Identity",
    "IgnoreRules",
    "InvalidSpecError",
    "LLMConfig",
    "LLMGenerator",
    "LocalCommit",
    "LocalState",
    "LockLostError",
    "MessageContext",
    "MessageGenerator",
    "MessageSkipped",
    "NetworkError",
    "NetworkOperation",
    "NotARepositoryError",
    "Outcome",
    "PathInUseError",
    "Progress",
    "Provision",
    "Provisioned",
    "PushResult",
    "PushStatus",
    "ReconcileError",
    "RefMovedError",
    "RepoInfo",
    "RepoLock",
    "RepoLockTimeout",
    "RepoSpec",
    "Result",
    "Retry",
    "RunGuard",
    "SSHKey",
    "SSHSigner",
    "SigningError",
    "Trailer",
    "UnknownBranchError",
    "UnknownRemoteError",
    "__version__",
    "check_fingerprint",
    "check_host_key",
    "commit_only",
    "commit_reachable",
    "configure_logging",
    "default_known_hosts",
    "ensure_clone",
    "git_directory",
    "inspect_repo",
    "known_hosts_line",
    "local_state",
    "make_signer",
    "parse_trailer",
    "preview_commit",
    "push_with_lease",
    "reconcile",
    "redact_text",
    "redact_url",
    "scan_host_key",
    "state_diagram",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'reconcile' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
