"""The optional watcher (``RepoConfig(watch=True)``): changes in a working tree become
``notify_changed`` calls, so an application that writes files needs to call nothing.

watchfiles reports changes from the operating system's file events. Changes inside
``.git`` (the tool's own commits, fetches and index writes among them) and to paths
git ignores are dropped before they wake anything. A checkout by a fast-forward is
a change too: it costs one commit run that finds nothing to commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from watchfiles import Change, awatch

from reconcile import GitError, IgnoreRules

__all__ = ["WatchFilter", "watch"]

logger = logging.getLogger("plugin")


class WatchFilter:
    """Keeps the changes a commit could pick up: not in ``.git``, not ignored."""

    def __init__(self, tree: Path) -> None:
        self.tree = tree.absolute()
        self.rules = IgnoreRules(self.tree)

    def __call__(self, change: Change, path: str) -> bool:
        try:
            relative = Path(path).absolute().relative_to(self.tree)
        except ValueError:
            return False
        if not relative.parts or ".git" in relative.parts:
            return False
        try:
            return not self.rules.ignored(relative.as_posix())
        except GitError:
            return True  # unsure: a commit run that finds nothing costs little


async def watch(tree: Path, notify: Callable[[], None]) -> None:
    """Call ``notify`` for each batch of changes in ``tree`` until cancelled."""
    watch_filter = WatchFilter(tree)
    async for _changes in awatch(tree, watch_filter=watch_filter, debounce=50, step=20):
        notify()
