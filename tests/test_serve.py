"""`git-reconcile serve` as a real uvicorn process, and its configuration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from gitutil import World, rev
from servers._process import free_port

from plugin import ConfigError, load_config
from webhooks import sign_sha256


@contextmanager
def _serving(args: list[str], env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Run `git-reconcile serve` until its startup completes; yield its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "plugin", "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "Application startup complete" in line:
                break
        else:
            raise AssertionError("serve exited early:\n" + "".join(lines))
        yield f"http://127.0.0.1:{port}", lines
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        proc.stdout.close()


def test_serve_boots_and_a_signed_webhook_fast_forwards(path_world: World) -> None:
    """A real uvicorn process: boot reconcile, then a signed webhook pulls a new commit."""
    world = path_world
    app = world.clone("app")
    booted = world.remote_commit({"data.txt": "boot\n"}, "before boot")
    env = {"RECONCILE_WEBHOOK_SECRET": "s3cret", "RECONCILE_ADMIN_TOKEN": "adm1n"}
    with _serving(["--repo", str(app), "--poll-interval", "0"], env) as (base, _lines):
        assert rev(app, "main") == booted
        assert httpx.get(f"{base}/ready").status_code == 200
        new = world.remote_commit({"data.txt": "hook\n"}, "pushed")
        body = json.dumps({"ref": "refs/heads/main", "after": new}).encode()
        answer = httpx.post(
            f"{base}/webhooks/generic-hmac",
            content=body,
            headers={"X-Signature": sign_sha256("s3cret", body)},
        )
        assert answer.status_code == 202, answer.text
        waited = httpx.post(
            f"{base}/trigger?wait=true", timeout=30, headers={"Authorization": "Bearer adm1n"}
        )
        assert waited.status_code == 200
        assert rev(app, "main") == new
        forged = httpx.post(
            f"{base}/webhooks/generic-hmac",
            content=body,
            headers={"X-Signature": sign_sha256("wrong", body)},
        )
        assert forged.status_code == 401


def test_serve_without_a_repository_serves_a_demo(tmp_path: Path) -> None:
    """With no --repo and no --config, serve builds and serves a throwaway demo repository."""
    with _serving([], {}) as (base, lines):
        assert "serving a demo repository" in "".join(lines)
        status = httpx.get(f"{base}/status").json()
        [repo] = status["repos"].values()
        assert repo["last_run"]["result"]["outcome"] == "in-sync"
        assert httpx.get(f"{base}/ready").status_code == 200


def test_bad_config_is_one_clear_line(tmp_path: Path) -> None:
    """A malformed config file exits 2 with the key and the problem, and no traceback."""
    config = tmp_path / "reconcile.toml"
    config.write_text('[[repos]]\nname = "data"\npath = "/srv/data"\npoll_interval = "often"\n')
    done = subprocess.run(
        [sys.executable, "-m", "plugin", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "repos[0].poll_interval" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_config_file_reads_secrets_from_the_environment(tmp_path: Path) -> None:
    """The TOML names environment variables; the values come from the environment given."""
    config = tmp_path / "reconcile.toml"
    config.write_text(
        'admin_token_env = "MY_ADMIN"\n'
        '[webhooks.github]\nsecret_envs = ["GH_OLD", "GH_NEW"]\n'
        '[[repos]]\nname = "data"\npath = "data"\nbranch = "main"\npoll_interval = 30\n'
        'token_file = "/run/secrets/token"\nbearer = true\n'
    )
    env = {"MY_ADMIN": "adm1n-zz", "GH_OLD": "old-zz", "GH_NEW": "new-zz"}
    loaded = load_config(config, env)
    assert loaded.admin_token == "adm1n-zz"
    assert loaded.secrets_for("github") == ("old-zz", "new-zz")
    [repo] = loaded.repos
    assert (repo.name, repo.path, repo.branch, repo.poll_interval) == (
        "data",
        tmp_path / "data",
        "main",
        30.0,
    )
    assert "-zz" not in repr(loaded)
    with pytest.raises(ConfigError, match="GH_NEW is not set"):
        load_config(config, {"MY_ADMIN": "adm1n-zz", "GH_OLD": "old-zz"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[repos]]\npath = 3\n", "repos[0].path: expected a string"),
        ("[[repos]]\nname = 'x'\n", "repos[0].path: required key is missing"),
        ("repos = []\n", "repos: configure at least one repository"),
        ("[[repos]]\npath = '/a'\nfoo = 1\n", "repos[0].foo: unknown key"),
        ("[[repos]]\npath = '/a'\n[webhooks.gitlub]\nsecret_env = 'X'\n", "webhooks.gitlub"),
        ("[[repos]]\npath = '/a'\nboot_policy = 'x'\n", "repos[0].boot_policy: unknown key"),
        ("boot_policy = 'x'\n[[repos]]\npath = '/a'\n", "boot_policy: 'x' is not one of"),
        ("[[repos\n", "not valid TOML"),
    ],
)
def test_config_errors_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    """Every malformed config raises ConfigError naming the key and the problem."""
    config = tmp_path / "reconcile.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(config, {"X": "x"})
    assert message in str(info.value)


def test_serve_refuses_a_path_that_is_not_a_repository(tmp_path: Path) -> None:
    """`serve --repo` with a path that is not a repository exits 2 before serving."""
    done = subprocess.run(
        [sys.executable, "-m", "plugin", "serve", "--repo", str(tmp_path / "nothing")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert "not a git repository" in done.stderr
    assert "Traceback" not in done.stderr


def test_config_limits_are_checked(tmp_path: Path) -> None:
    """Out-of-range numbers in the config are ConfigErrors naming the key."""
    config = tmp_path / "reconcile.toml"
    config.write_text("history_size = -1\n[[repos]]\npath = '/a'\n")
    with pytest.raises(ConfigError, match="history_size: must be at least 1"):
        load_config(config, {})
