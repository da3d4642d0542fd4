"""Which paths of a working tree git ignores, for a watcher that must not wake for them."""

from __future__ import annotations

from pathlib import Path

from ._repo import GitRepo
from ._translate import translate

__all__ = ["IgnoreRules"]


class IgnoreRules:
    """The ignore rules of the repository at ``path`` (``.gitignore`` files,
    ``.git/info/exclude``, ``core.excludesFile``), read as they are when asked.
    Raises ``NotARepositoryError``."""

    def __init__(self, path: Path | str) -> None:
        self._repo = GitRepo(Path(path).expanduser().absolute())

    def ignored(self, path: str) -> bool:
        """Whether ``path`` (relative to the top of the tree) is ignored."""
        with translate("attributes"):
            return bool(self._repo.raw.path_is_ignored(path))
