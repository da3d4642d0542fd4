"""Fixtures: isolated git config, remotes by path and over a loopback SSH server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import World, isolate_git_config
from servers.sshgit import SSHGitServer


@pytest.fixture(scope="session", autouse=True)
def _git_config(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test sees the same blank git configuration, whatever the machine has."""
    isolate_git_config(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real SSH git server on loopback, serving repositories under the test tree."""

    root = tmp_path_factory.getbasetemp()
    with SSHGitServer(root, tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(params=["path", "ssh"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> World:
    """A bare remote with one commit, reached by path or over SSH."""
    ssh = request.getfixturevalue("ssh_server") if request.param == "ssh" else None
    w = World(tmp_path, transport=request.param, ssh=ssh)
    w.seed()
    return w


@pytest.fixture
def path_world(tmp_path: Path) -> World:
    """A bare remote with one commit, reached by path."""
    w = World(tmp_path)
    w.seed()
    return w


@pytest.fixture
def ssh_world(tmp_path: Path, ssh_server: object) -> World:
    """A bare remote with one commit, reached over the SSH server."""
    w = World(tmp_path, transport="ssh", ssh=ssh_server)
    w.seed()
    return w
