"""git-reconcile: keep git-backed data repos reconciled with their remotes.

>>> from reconcile import RepoSpec, reconcile
>>> result = reconcile(RepoSpec("/srv/data"))          # doctest: +SKIP
>>> result.outcome                                      # doctest: +SKIP
<Outcome.IN_SYNC: 'in-sync'>
"""

from __future__ import annotations

import logging

from ._commit import (
    DEFAULT_EXCLUDE,
    DEFAULT_TEMPLATE,
    CommitInfo,
    CommitPolicy,
    CommitRequest,
    CommitSigner,
    FileChange,
    MessageContext,
    MessageGenerator,
    Trailer,
    parse_trailer,
)
from ._control import CancelToken, Progress
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
    GitError,
    HostKeyError,
    InvalidSpecError,
    NetworkError,
    NotARepositoryError,
    ReconcileError,
    RefMovedError,
    RepoLockTimeout,
    UnknownBranchError,
    UnknownRemoteError,
)
from ._git import IgnoreRules
from ._identity import Identity
from ._lock import RepoLock
from ._logging import configure_logging
from ._redact import redact_text, redact_url
from ._result import NetworkOperation, Outcome, PushResult, PushStatus, Result
from ._spec import HTTPAuth, RepoSpec, Retry, SSHKey

__version__ = "0.1.0"

# A library logs; the application decides where the lines go.
logging.getLogger("reconcile").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_EXCLUDE",
    "DEFAULT_TEMPLATE",
    "AuthenticationError",
    "BadInputError",
    "CancelToken",
    "CancelledError",
    "CheckoutBlockedError",
    "CommitInfo",
    "CommitPolicy",
    "CommitRequest",
    "CommitSigner",
    "FileChange",
    "GitError",
    "HTTPAuth",
    "HostKeyError",
    "Identity",
    "IgnoreRules",
    "InvalidSpecError",
    "MessageContext",
    "MessageGenerator",
    "NetworkError",
    "NetworkOperation",
    "NotARepositoryError",
    "Outcome",
    "Progress",
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
    "SSHKey",
    "Trailer",
    "UnknownBranchError",
    "UnknownRemoteError",
    "__version__",
    "commit_reachable",
    "configure_logging",
    "git_directory",
    "inspect_repo",
    "parse_trailer",
    "push_with_lease",
    "reconcile",
    "redact_text",
    "redact_url",
]
