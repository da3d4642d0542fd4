"""Trees of real repositories for the fleet's tests: each a clone of its own bare
remote, reached by path or over the loopback SSH server."""

from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitutil import git, rev

from plugin.fleet import FleetConfig
from reconcile import SSHKey


@dataclass
class Tree:
    """Repositories under ``root``: each clone's path, and its bare remote."""

    root: Path
    ssh: Any = None
    remotes: dict[Path, Path] = field(default_factory=dict)

    def repo(self, where: str, *, ssh: bool = False) -> Path:
        """A clone at ``root/where`` of a new bare remote with one commit."""
        remote = self.root / "remotes" / f"{where.replace('/', '_')}.git"
        git(self.root, "init", "-q", "--bare", "-b", "main", str(remote))
        path = self.root / where
        path.parent.mkdir(parents=True, exist_ok=True)
        git(self.root, "init", "-q", "-b", "main", str(path))
        (path / "data.txt").write_text("1\n")
        git(path, "add", "data.txt")
        git(path, "commit", "-q", "-m", "seed")
        git(path, "remote", "add", "origin", str(remote))
        git(path, "push", "-q", "origin", "main")
        if ssh:
            git(path, "remote", "set-url", "origin", str(self.ssh.url(remote)))
        self.remotes[path] = remote
        return path

    def remote_tip(self, clone: Path) -> str | None:
        return rev(self.remotes[clone], "refs/heads/main")

    def config(self, *bases: Path, **kwargs: Any) -> FleetConfig:
        """A fleet over ``bases`` (default: the root), with the SSH server's key."""
        if self.ssh is not None:
            kwargs.setdefault("credentials", SSHKey(private_key=self.ssh.client_key_path))
            kwargs.setdefault("known_hosts", self.ssh.known_hosts_path)
            kwargs.setdefault("timeout", 10.0)
        return FleetConfig(base_paths=bases or (self.root / "base",), **kwargs)


def hook(folder: Path, name: str, text: str) -> None:
    """An executable hook ``name`` in ``folder`` (a bare remote's or a clone's hooks)."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def backdate(*trees: Path, seconds: float = 60.0) -> None:
    """Set every modification time under ``trees`` back by ``seconds``, as if the
    repositories had been written a while before the cycle (the change check counts a
    time just before its watermark as a change)."""
    then = time.time() - seconds
    for top in trees:
        for folder, _dirs, files in os.walk(top):
            for name in files:
                os.utime(os.path.join(folder, name), (then, then), follow_symlinks=False)
            os.utime(folder, (then, then))
