"""The repository's own commit hooks, run as git runs them (libgit2 runs none).

A hook is the executable file of its name in ``core.hooksPath`` (``~`` expanded; a
relative path is relative to the top of the working tree), else in the ``hooks``
folder of the repository's common git directory. A file there that is not
executable is skipped, as git skips it. It runs in the top of the working tree,
with git's environment for commit hooks (``GIT_INDEX_FILE`` names the index that
holds what is being committed; ``GIT_AUTHOR_NAME``, ``GIT_AUTHOR_EMAIL``,
``GIT_AUTHOR_DATE``; ``GIT_EDITOR=:``), no input, and its output (both streams)
captured. It is bounded by a timeout, after which its whole process group is
killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._redact import redact_text
from ._repo import GitRepo

__all__ = ["HookFailure", "hook_path", "hooks_dir", "run_hook"]

_OUTPUT_KEPT = 2000  # characters of a failing hook's output kept for the reason


@dataclass(frozen=True)
class HookFailure:
    """A hook that failed: its name, its exit status (None: it timed out) and the end
    of its output (credentials masked)."""

    name: str
    status: int | None
    output: str

    def describe(self, timeout: float) -> str:
        why = (
            f"did not finish within {timeout:g} s"
            if self.status is None
            else f"failed (exit status {self.status})"
        )
        shown = f": {self.output}" if self.output else " (no output)"
        return f"the {self.name} hook {why}{shown}; nothing was committed"


def _common_dir(repo: GitRepo) -> Path:
    """The git directory shared by every working tree of the repository."""
    marker = repo.gitdir / "commondir"
    with contextlib.suppress(OSError):
        return (repo.gitdir / marker.read_text().strip()).resolve()
    return repo.gitdir


def hooks_dir(repo: GitRepo) -> Path:
    """Where the repository's hooks are: ``core.hooksPath``, else ``hooks`` in its
    common git directory."""
    config = repo.raw.config
    if "core.hooksPath" in config:
        configured = Path(os.path.expanduser(str(config["core.hooksPath"])))
        if not configured.is_absolute() and repo.workdir is not None:
            configured = repo.workdir / configured
        return configured
    return _common_dir(repo) / "hooks"


def hook_path(repo: GitRepo, name: str) -> Path | None:
    """The hook ``name`` git would run (an executable file), or None."""
    hook = hooks_dir(repo) / name
    return hook if hook.is_file() and os.access(hook, os.X_OK) else None


def _clip(output: bytes) -> str:
    text = redact_text(output.decode("utf-8", "replace").strip())
    return text if len(text) <= _OUTPUT_KEPT else "..." + text[-_OUTPUT_KEPT:]


def run_hook(
    repo: GitRepo,
    name: str,
    args: Sequence[str],
    env: Mapping[str, str],
    timeout: float,
) -> HookFailure | None:
    """Run the hook ``name`` with ``args`` and ``env`` added to the environment; the
    failure, or None when it passed or there is no such hook."""
    hook = hook_path(repo, name)
    if hook is None:
        return None
    cwd = repo.workdir if repo.workdir is not None else repo.gitdir
    with subprocess.Popen(
        [str(hook), *args],
        cwd=cwd,
        env={**os.environ, "GIT_EDITOR": ":", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return HookFailure(name, None, _clip(output))
    if process.returncode != 0:
        return HookFailure(name, process.returncode, _clip(output))
    return None
