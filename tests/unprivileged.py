"""Python run as an unprivileged user, for what a service running as non-root sees.

When the tests run as root, ``as_user`` runs code as the unprivileged account the
PostgreSQL server already runs as (``postgres``, see ``servers/pg.py``); otherwise
as the current user, who is unprivileged already. The code runs in a fresh
interpreter that imports this checkout's packages (``reconcile``, ``plugin``) and
the test helpers, with a blank git configuration of its own.

``Unprivileged.workspace`` is a directory that user owns, outside pytest's
``tmp_path`` (which only root may enter): repositories the user works in go there.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["USER", "Unprivileged", "unprivileged"]

USER = "postgres"  # the account servers/pg.py runs PostgreSQL as
ROOT = Path(__file__).resolve().parent.parent
_PRELUDE = """\
import os, sys
from pathlib import Path
from gitutil import isolate_git_config
isolate_git_config(Path(os.environ["UNPRIVILEGED_HOME"]))
"""


def _usable(path: Path) -> bool:
    """Whether any user may run ``path``: every folder above it searchable by others."""
    path = path.resolve()
    folders = all(p.stat().st_mode & 0o001 for p in path.parents)
    return folders and path.stat().st_mode & 0o005 == 0o005


def _python() -> str:
    """An interpreter of this minor version that the unprivileged user can run."""
    here = Path(getattr(sys, "_base_executable", sys.executable))
    if os.geteuid() != 0 or _usable(here):
        return str(here)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path("/usr/local/bin") / version, Path("/usr/bin") / version):
        if candidate.is_file() and _usable(candidate):
            return str(candidate)
    pytest.fail(f"no {version} that the unprivileged user {USER} can run", pytrace=False)


@dataclass
class Unprivileged:
    """An unprivileged user, a directory it owns, and a way to run Python as it."""

    uid: int
    gid: int
    workspace: Path
    python: str

    def own(self, path: Path) -> None:
        """Give ``path`` and everything below it to the user."""
        if os.geteuid() != 0:
            return
        for item in [path, *path.rglob("*")]:
            os.lchown(item, self.uid, self.gid)

    def _options(self) -> dict[str, Any]:
        paths = [str(ROOT), str(ROOT / "tests"), sysconfig.get_paths()["purelib"]]
        env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": os.pathsep.join(paths),
            "PYTHONDONTWRITEBYTECODE": "1",
            "UNPRIVILEGED_HOME": str(self.workspace / "home"),
        }
        options: dict[str, Any] = {"env": env, "cwd": self.workspace, "text": True}
        if os.geteuid() == 0:
            options |= {"user": self.uid, "group": self.gid, "extra_groups": []}
        return options

    def popen(self, code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start ``code`` (after a prelude that blanks the git configuration) as the user."""
        script = _PRELUDE + textwrap.dedent(code)
        return subprocess.Popen([self.python, "-c", script, *args], **(self._options() | kwargs))

    def run(self, code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``code`` as the user to its end; its output is captured."""
        script = _PRELUDE + textwrap.dedent(code)
        return subprocess.run(
            [self.python, "-c", script, *args],
            capture_output=True,
            timeout=timeout,
            check=False,
            **self._options(),
        )

    def command(self, *argv: str, **kwargs: Any) -> subprocess.Popen[str]:
        """Start a program as the user, with the same environment."""
        options = self._options()
        options["env"] = options["env"] | kwargs.pop("env", {})
        return subprocess.Popen(list(argv), **(options | kwargs))


@pytest.fixture
def unprivileged() -> Iterator[Unprivileged]:
    """The unprivileged user, with a fresh workspace it owns (removed afterwards)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(USER)
        uid, gid = entry.pw_uid, entry.pw_gid
    else:
        uid, gid = os.getuid(), os.getgid()
    workspace = Path(tempfile.mkdtemp(prefix="reconcile-unprivileged-"))
    workspace.chmod(0o755)
    (workspace / "home").mkdir()
    user = Unprivileged(uid, gid, workspace, _python())
    user.own(workspace)
    try:
        yield user
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
