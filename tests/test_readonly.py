"""A repository this user may not write: `blocked`, with what to do, never "unexpected".

Permissions mean nothing to root, so when the tests run as root the run runs as the
unprivileged ``postgres`` account (the one tests/servers/pg.py runs PostgreSQL as),
on a repository that account owns and may not write.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gitutil import World, git

from plugin.cli import ExitCode

ROOT = Path(__file__).resolve().parent.parent
USER = "postgres"


def _world_usable(path: Path) -> bool:
    """Whether any user may run ``path``: every folder above it searchable by others."""
    path = path.resolve()
    return all(p.stat().st_mode & 0o001 for p in path.parents) and bool(path.stat().st_mode & 0o001)


def _python() -> str:
    """This interpreter, or a system one of the same version when another user could
    not run this one (this machine keeps it under /root)."""
    if os.geteuid() != 0 or _world_usable(Path(sys.executable)):
        return sys.executable
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for folder in ("/usr/local/bin", "/usr/bin"):
        candidate = Path(folder) / version
        if candidate.is_file() and _world_usable(candidate):
            return str(candidate)
    pytest.fail(f"no {version} that the {USER} user can run")


@pytest.fixture
def shared_world() -> Iterator[World]:
    """A remote and its world, in a folder every user may enter (pytest's is root's)."""
    root = Path(tempfile.mkdtemp(prefix="git-reconcile-readonly-"))
    root.chmod(0o755)
    try:
        world = World(root)
        world.seed()
        yield world
    finally:
        for path in [root, *root.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o700)
        shutil.rmtree(root, ignore_errors=True)


def _as_user(app: Path) -> dict[str, Any]:
    """How to run as the unprivileged user (as root), on a clone it owns."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam(USER)
    for path in [app, *app.rglob("*")]:
        os.lchown(path, account.pw_uid, account.pw_gid)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _run(app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``git-reconcile run`` on ``app`` (``args`` after it), as the unprivileged user."""
    return _python_as_user(app, ["-m", "plugin", "run", str(app), *args])


def _python_as_user(app: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    home = app.parent / "home"
    home.mkdir(exist_ok=True)
    home.chmod(0o777)
    paths = sysconfig.get_paths()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), paths["purelib"], paths["platlib"]]),
    }
    user = _as_user(app)
    return subprocess.run(
        [_python(), *argv],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd=str(app.parent),
        **user,
    )


def _tip(app: Path) -> str:
    """main's commit, read as root reads another user's repository."""
    return git(app, "-c", "safe.directory=*", "rev-parse", "main")


def _read_only(*paths: Path) -> None:
    for top in paths:
        for path in [top, *top.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o222)


@pytest.mark.parametrize("where", ["git-directory", "objects-and-refs"])
def test_a_repository_this_user_may_not_write_is_blocked(shared_world: World, where: str) -> None:
    """A git directory the user may not write (all of it, or its objects and refs
    with the lock still writable) ends the run blocked, exit 6, with a reason naming
    the user and saying what to do; --json prints the result; nothing changed."""
    world = shared_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    before = _tip(app)
    _as_user(app)  # the account owns the clone, and still may not write it
    gitdir = app / ".git"
    if where == "git-directory":
        _read_only(gitdir)
    else:
        (gitdir / "git-reconcile.lock").touch()
        _read_only(gitdir / "objects", gitdir / "refs")
    done = _run(app, "--json")
    assert done.returncode == ExitCode.BLOCKED, done.stderr
    assert done.stderr == ""
    result = json.loads(done.stdout)
    assert result["outcome"] == "blocked"
    user = USER if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    assert f"this user ({user}) may not write" in result["reason"]
    assert f"give {user} write access to {gitdir}" in result["reason"]
    assert result["operations"] == []
    assert _tip(app) == before
    human = _run(app)
    assert human.returncode == ExitCode.BLOCKED
    assert human.stdout.startswith(f"blocked: {app} main at ")
    assert "unexpected" not in human.stdout + human.stderr


BOOT = """
import json, sys
from pathlib import Path
from starlette.applications import Starlette
from starlette.testclient import TestClient
from plugin import PluginConfig, ReconcilePlugin, RepoConfig

repo = RepoConfig("data", Path(sys.argv[1]), poll_interval=0)
plugin = ReconcilePlugin(PluginConfig(repos=(repo,)))
with TestClient(Starlette(routes=[plugin.mount("/r")], lifespan=plugin.lifespan())) as client:
    print(json.dumps(client.get("/r/status").json()["repos"]["data"]["last_run"]))
"""


def test_the_plugin_reports_an_unwritable_repository_blocked(shared_world: World) -> None:
    """The plugin's boot run of a repository it may not write ends blocked with the
    same reason (its runner takes the lock itself), not in an error."""
    world = shared_world
    app = world.clone("app")
    _as_user(app)
    _read_only(app / ".git")
    done = _python_as_user(app, ["-c", BOOT, str(app)])
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout.splitlines()[-1])
    assert run["error"] is None
    assert run["result"]["outcome"] == "blocked"
    assert "may not write" in run["result"]["reason"]
