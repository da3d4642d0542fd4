"""`git-reconcile serve` as a real uvicorn process, and its configuration."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from gitutil import World, git, rev
from servers._process import free_port, started_server

from plugin import ConfigError, load_config
from plugin.cli import ExitCode
from webhooks import sign_sha256


@contextmanager
def _started(
    args: list[str], env: dict[str, str], *, sigint_ignored: bool = False
) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """Run `git-reconcile serve` until its startup completes; yield the process, its base
    URL and the lines it printed so far. SIGTERM stops it afterwards, if it still runs.
    It starts with SIGINT's default action (as from a terminal) whatever this process's
    is, or ignored (``sigint_ignored``: as a shell starts a background job)."""
    port = free_port()
    argv = [sys.executable, "-m", "plugin", "serve", *args, "--port", str(port)]
    action = "SIG_IGN" if sigint_ignored else "SIG_DFL"  # an ignored signal stays so past exec
    wrapped = [
        sys.executable,
        "-c",
        f"import os, signal, sys; signal.signal(signal.SIGINT, signal.{action}); "
        "os.execv(sys.argv[1], sys.argv[1:])",
        *argv,
    ]
    with started_server(wrapped, {**os.environ, **env}, name="serve") as (proc, lines):
        yield proc, f"http://127.0.0.1:{port}", lines


@contextmanager
def _serving(args: list[str], env: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Run `git-reconcile serve` until its startup completes; yield its base URL."""
    with _started(args, env) as (_proc, base, lines):
        yield base, lines


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`git-reconcile serve` that is expected to stop before serving."""
    return subprocess.run(
        [sys.executable, "-m", "plugin", "serve", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _last_line(done: subprocess.CompletedProcess[str], code: ExitCode, *words: str) -> str:
    """``done`` exited ``code``, its last line on stderr names ``words``; no traceback
    unless uvicorn logged one (JSON lines) before it."""
    assert done.returncode == code, done.stdout + done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("git-reconcile: "), done.stderr
    for word in words:
        assert word in last, done.stderr
    return last


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


def test_a_port_out_of_range_is_bad_input(path_world: World) -> None:
    """`--port 99999` exits 2 with one line, before anything else happens."""
    app = path_world.clone("app")
    done = _serve("--repo", str(app), "--port", "99999")
    _last_line(done, ExitCode.BAD_INPUT, "--port 99999 is not a port")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_a_port_in_use_stops_serve_before_the_boot_reconcile(path_world: World) -> None:
    """A port another process listens on exits 7 with one line, and the boot reconcile
    has not run: the clone is where it was."""
    world = path_world
    app = world.clone("app")
    before = rev(app, "main")
    world.remote_commit({"data.txt": "new\n"}, "pushed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve("--repo", str(app), "--port", str(port), "--data-dir", str(world.root / "d"))
    _last_line(done, ExitCode.UNAVAILABLE, f"cannot listen on 127.0.0.1:{port}", "in use")
    assert len(done.stderr.strip().splitlines()) == 1
    assert rev(app, "main") == before
    assert not (world.root / "d").exists()


def test_an_unknown_branch_in_the_config_stops_serve(path_world: World, tmp_path: Path) -> None:
    """A configured branch the repository does not have exits 2 before serving, as an
    unknown remote does."""
    app = path_world.clone("app")
    config = tmp_path / "reconcile.toml"
    for key, value, words in (
        ("branch", "mian", ("repository 'data'", "no branch 'mian'")),
        ("remote", "upstream", ("repository 'data'", "no remote named 'upstream'")),
    ):
        config.write_text(f'[[repos]]\nname = "data"\npath = "{app}"\n{key} = "{value}"\n')
        done = _serve("--config", str(config), "--data-dir", str(tmp_path / "d"))
        _last_line(done, ExitCode.BAD_INPUT, *words)
        assert len(done.stderr.strip().splitlines()) == 1


def test_an_unreachable_database_stops_serve(path_world: World) -> None:
    """A database URL nothing answers at exits 7 with one line, before the boot reconcile."""
    world = path_world
    app = world.clone("app")
    before = rev(app, "main")
    world.remote_commit({"data.txt": "new\n"}, "pushed")
    url = f"postgresql://reconcile:pw-s3cret@127.0.0.1:{free_port()}/audit"
    done = _serve("--repo", str(app), "--port", "0", env={"RECONCILE_DATABASE_URL": url})
    _last_line(done, ExitCode.UNAVAILABLE, "cannot use the audit database")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "pw-s3cret" not in done.stderr
    assert rev(app, "main") == before


def test_a_boot_that_fails_under_the_fail_policy_is_unavailable(
    path_world: World, tmp_path: Path
) -> None:
    """boot_policy "fail" and a remote that cannot be read: serve exits 7, its last line
    naming the repository's problem."""
    app = path_world.clone("app")
    git(app, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    config = tmp_path / "reconcile.toml"
    config.write_text(f'boot_policy = "fail"\n[[repos]]\nname = "data"\npath = "{app}"\n')
    done = _serve("--config", str(config), "--port", "0", "--data-dir", str(tmp_path / "d"))
    _last_line(done, ExitCode.UNAVAILABLE, "boot reconcile failed", "data:")


def test_the_503_of_serve_names_the_variable_to_set(path_world: World, tmp_path: Path) -> None:
    """Without an admin token, serve's admin routes answer 503 naming the environment
    variable it reads: RECONCILE_ADMIN_TOKEN, or the one the file's admin_token_env names."""
    app = path_world.clone("app")
    env = {"RECONCILE_ADMIN_TOKEN": ""}
    with _serving(["--repo", str(app), "--poll-interval", "0"], env) as (base, _lines):
        refused = httpx.post(f"{base}/trigger")
        assert refused.status_code == 503
        assert "set the environment variable RECONCILE_ADMIN_TOKEN" in refused.json()["error"]
    config = tmp_path / "reconcile.toml"
    config.write_text(
        f'admin_token_env = "DATA_ADMIN"\n[[repos]]\npath = "{app}"\npoll_interval = 0\n'
    )
    with _serving(["--config", str(config)], env) as (base, _lines):
        error = httpx.post(f"{base}/trigger").json()["error"]
        assert "set the environment variable DATA_ADMIN" in error
        assert "RECONCILE_ADMIN_TOKEN" not in error


def _demo_root(lines: list[str]) -> Path:
    found = re.search(r"serving a demo repository: (\S+)/app ", "".join(lines))
    assert found, lines
    return Path(found.group(1))


def test_a_killed_serves_demo_is_removed_by_the_next(tmp_path: Path) -> None:
    """A demo directory whose serve was killed (its process gone) is removed when the
    next demo serve starts; one whose serve still runs, and any other folder, stay."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / "git-reconcile-serve-demo-killed"
    alive = tmp_path / "git-reconcile-serve-demo-running"
    unowned = tmp_path / "git-reconcile-serve-demo-older"
    for folder, owner in ((dead, gone.pid), (alive, os.getpid()), (unowned, None)):
        (folder / "app").mkdir(parents=True)
        if owner is not None:
            (folder / "serve.pid").write_text(f"{owner}\n")
    with _started([], {"TMPDIR": str(tmp_path)}) as (_proc, _base, lines):
        root = _demo_root(lines)
        assert root.parent == tmp_path
        assert (root / "serve.pid").read_text().strip().isdigit()
        assert not dead.exists()
        assert alive.is_dir()
        assert unowned.is_dir()
    assert not root.exists()


@pytest.mark.parametrize(
    ("stop", "sigint_ignored"),
    [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGINT, True)],
    ids=["SIGTERM", "SIGINT", "SIGINT-from-a-background-job"],
)
def test_the_demo_is_removed_when_serve_stops(stop: signal.Signals, sigint_ignored: bool) -> None:
    """SIGTERM and Ctrl-C stop the demo serve and remove its directory; SIGTERM ends the
    process by the signal, as before (a clean stop for a service manager), Ctrl-C with 130:
    also when serve started with SIGINT ignored, as a shell starts a background job."""
    with _started([], {}, sigint_ignored=sigint_ignored) as (proc, base, lines):
        root = _demo_root(lines)
        assert (root / "app" / ".git").is_dir()
        assert (root / "audit.sqlite3").is_file()
        assert httpx.get(f"{base}/ready").status_code == 200
        proc.send_signal(stop)
        code = proc.wait(timeout=30)
    assert code == (-signal.SIGTERM if stop is signal.SIGTERM else ExitCode.INTERRUPTED)
    assert not root.exists()
