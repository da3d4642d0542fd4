"""First boot for real, over SSH: `serve` with a `url` clones into an empty volume
directory and serves; a changed `url` rewrites the remote at the next start; a
non-empty directory that is not a repository is refused in one line. And the
`git-reconcile clone` command, with its exit codes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from gitutil import World, git, rev
from servers._process import free_port, started_server
from servers.sshgit import generate_ed25519, write_known_hosts

from plugin.cli import main


def _config(world: World, path: Path, url: str, tmp_path: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[identity]
name = "data-sync"
email = "data-sync@example.invalid"

[[repos]]
name = "data"
path = "{path}"
url = "{url}"
branch = "main"
poll_interval = 0
timeout = 10
ssh_key = "{world.ssh.client_key_path}"
known_hosts = "{world.ssh.known_hosts_path}"
""",
        encoding="utf-8",
    )
    return config


@contextmanager
def _serving(config: Path, tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "plugin",
        "serve",
        "--config",
        str(config),
        "--data-dir",
        str(tmp_path / "state"),
        "--log-format",
        "console",
        "--port",
        str(port),
    ]
    with started_server(argv, dict(os.environ), name="serve") as (_proc, lines):
        yield f"http://127.0.0.1:{port}", lines


def test_serve_clones_an_empty_volume_and_follows_a_rotated_url(
    ssh_world: World, tmp_path: Path
) -> None:
    """An empty volume directory and a `url` over SSH: serve clones, boots and serves
    the clone; at the next start with another `url` it rewrites the remote (saying so)
    instead of cloning again, and keeps serving."""
    world = ssh_world
    volume = tmp_path / "volume"
    volume.mkdir()
    path = volume / "data"
    config = _config(world, path, world.url, tmp_path)
    with _serving(config, tmp_path) as (base, lines):
        status = httpx.get(f"{base}/status", timeout=10).json()
        assert httpx.get(f"{base}/ready", timeout=10).status_code == 200
    run = status["repos"]["data"]["last_run"]["result"]
    assert (run["outcome"], run["new_commit"]) == ("in-sync", world.remote_tip())
    assert rev(path, "main") == world.remote_tip()
    assert any("cloned " in line for line in lines)

    moved = tmp_path / "moved.git"
    shutil.copytree(world.remote, moved)
    pushed = world.remote_commit({"data.txt": "old remote\n"}, "stays behind")
    new_url = world.ssh.url(moved)
    config = _config(world, path, new_url, tmp_path)
    with _serving(config, tmp_path) as (base, lines):
        status = httpx.get(f"{base}/status", timeout=10).json()
    assert git(path, "remote", "get-url", "origin") == new_url
    assert any("remote URL changed" in line for line in lines)
    assert status["repos"]["data"]["last_run"]["result"]["outcome"] == "in-sync"
    assert rev(path, "main") != pushed  # it follows the new remote, not the old one


def test_serve_refuses_a_directory_that_holds_something_else(
    ssh_world: World, tmp_path: Path
) -> None:
    """A `url` whose path is a non-empty directory that is no repository stops serve
    with exit code 2 and one line, and leaves the directory as it was."""
    world = ssh_world
    path = tmp_path / "data"
    path.mkdir()
    (path / "notes.txt").write_text("mine\n")
    config = _config(world, path, world.url, tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "plugin", "serve", "--config", str(config), "--log-level", "ERROR"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "exists, is not empty and is not a git repository" in line
    assert [p.name for p in path.iterdir()] == ["notes.txt"]


def test_clone_command_clones_then_reports_what_is_there(
    ssh_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`git-reconcile clone` clones over SSH (exit 0), says so again without cloning,
    refuses a directory that holds something else (exit 2), and exits 4 when the host
    key is unknown."""
    world = ssh_world
    key = ["--ssh-key", str(world.ssh.client_key_path)]
    hosts = ["--known-hosts", str(world.ssh.known_hosts_path)]
    path = tmp_path / "data"
    assert main(["clone", world.url, str(path), *key, *hosts]) == 0
    assert "cloned ssh://" in capsys.readouterr().out
    assert main(["clone", world.url, str(path), *key, *hosts]) == 0
    assert "already a clone of" in capsys.readouterr().out
    assert main(["clone", "--bare", world.url, str(tmp_path / "bare.git"), *key, *hosts]) == 0
    assert (tmp_path / "bare.git" / "HEAD").is_file()

    other = tmp_path / "other"
    other.mkdir()
    (other / "x").write_text("x\n")
    assert main(["clone", world.url, str(other), *key, *hosts]) == 2
    assert "is not a git repository" in capsys.readouterr().err

    wrong = write_known_hosts(
        tmp_path / "wrong", world.ssh.port, generate_ed25519(tmp_path / "other-host")
    )
    fresh = tmp_path / "fresh"
    assert main(["clone", world.url, str(fresh), *key, "--known-hosts", str(wrong)]) == 4
    assert "host key" in capsys.readouterr().err.lower()
    assert not fresh.exists()
