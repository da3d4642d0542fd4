"""git-reconcile: keep git-backed data repos reconciled with their remotes.

>>> from reconcile import RepoSpec, reconcile
>>> result = reconcile(RepoSpec("/srv/data"))          # doctest: +SKIP
>>> result.outcome                                      # doctest: +SKIP
<Outcome.IN_SYNC: 'in-sync'>
"""

from __future__ import annotations

import logging

from ._engine import reconcile
from ._errors import (
    AuthenticationError,
    BadInputError,
    CheckoutBlockedError,
    GitError,
    HostKeyError,
    InvalidSpecError,
    NetworkError,
    NotARepositoryError,
    ReconcileError,
    RefMovedError,
    UnknownBranchError,
    UnknownRemoteError,
)
from ._redact import redact_text, redact_url
from ._result import Outcome, PushResult, PushStatus, Result
from ._spec import Identity, RepoSpec, SSHKey

__version__ = "0.1.0"

# A library logs; the application decides where the lines go.
logging.getLogger("reconcile").addHandler(logging.NullHandler())

__all__ = [
    "AuthenticationError",
    "BadInputError",
    "CheckoutBlockedError",
    "GitError",
    "HostKeyError",
    "Identity",
    "InvalidSpecError",
    "NetworkError",
    "NotARepositoryError",
    "Outcome",
    "PushResult",
    "PushStatus",
    "ReconcileError",
    "RefMovedError",
    "RepoSpec",
    "Result",
    "SSHKey",
    "UnknownBranchError",
    "UnknownRemoteError",
    "__version__",
    "reconcile",
    "redact_text",
    "redact_url",
]
