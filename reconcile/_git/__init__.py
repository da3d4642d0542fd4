"""The git layer: the only package that imports pygit2.

``_translate.translate()`` is the one place where pygit2's exceptions become
git-reconcile's; ``_network`` runs fetches and pushes; ``_repo`` does the rest.
"""

from __future__ import annotations

from ._network import ZERO, NetOptions, scan_host_key
from ._repo import JOURNAL, GitRepo, PushOutcome, RemoteState, Replay

__all__ = [
    "JOURNAL",
    "ZERO",
    "GitRepo",
    "NetOptions",
    "PushOutcome",
    "RemoteState",
    "Replay",
    "scan_host_key",
]
