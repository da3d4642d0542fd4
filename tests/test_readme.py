"""The README's examples work."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from gitutil import World
from servers._process import free_port, started_server

from plugin import load_config
from plugin.cli._exit_table import BEGIN, END, markdown_table
from webhooks import sign_sha256

README = Path(__file__).resolve().parent.parent / "README.md"


# A Python block whose first line names a file (`# app.py: ...`) is a whole file:
# test files are run by pytest, the others are apps, served by uvicorn.
WHOLE_FILE = re.compile(r"# (\w+\.py)\b")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _whole_files() -> dict[str, str]:
    """The README's Python blocks that are whole files, by the file name they start with."""
    files = {}
    for block in _blocks("python"):
        named = WHOLE_FILE.match(block)
        if named:
            files[named.group(1)] = block
    return files


def _test_files() -> dict[str, str]:
    """The README's Python blocks that are test files."""
    return {name: text for name, text in _whole_files().items() if name.startswith("test_")}


def _app_files() -> dict[str, str]:
    """The README's Python blocks that are applications."""
    return {name: text for name, text in _whole_files().items() if not name.startswith("test_")}


def test_setup_commands_come_first() -> None:
    """The README opens with exactly the two set-up commands: the demo and the tests."""
    first = _blocks("sh")[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].startswith("pip install . && git-reconcile serve")
    assert first[1].startswith("pip install -e '.[test]' && python -m pytest")


def test_python_examples_run(path_world: World, tmp_path: Path) -> None:
    """The README's Python snippets run in order, as one session, against a real clone."""

    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "r")
    world.commit(app, {"data.txt": "local\n"}, "l")
    key = tmp_path / "id_ed25519"
    key.write_text("not used by a path remote\n")
    token = tmp_path / "git-token"
    token.write_text("not used by a path remote\n")
    alerts: list[str] = []
    namespace: dict[str, object] = {"alert": alerts.append}
    blocks = [block for block in _blocks("python") if not WHOLE_FILE.match(block)]
    assert len(blocks) >= 3
    for block in blocks:
        code = (
            block.replace("/srv/data", str(app))
            .replace("/etc/data-sync/id_ed25519", str(key))
            .replace("/etc/data-sync/known_hosts", str(tmp_path / "known_hosts"))
            .replace("/run/secrets/git-token", str(token))
            .replace("ssh://git@git.example.com/org/data.git", world.url)
        )
        exec(compile(code, "README.md", "exec"), namespace)
    assert len(alerts) == 1
    assert "conflicts/" in alerts[0]


@contextmanager
def _uvicorn(target: str, cwd: Path, env: dict[str, str]) -> Iterator[str]:
    """``uvicorn target`` as a real process in ``cwd``, until its startup completed;
    yields its base URL."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    with started_server(argv, {**os.environ, **env}, name=target, cwd=cwd):
        yield f"http://127.0.0.1:{port}"


APP_FILES = ["app.py", "fastapi_app.py"]


@pytest.mark.parametrize("name", APP_FILES)
def test_app_examples_serve_as_pasted(name: str, path_world: World, tmp_path: Path) -> None:
    """Each embedding example, written out as it stands and served by the uvicorn command
    its first lines give, with the environment they name: the boot reconcile loads what
    was pushed before, and a signed webhook brings a new push into the app's state."""
    text = _app_files()[name]
    (tmp_path / name).write_text(text)
    [command] = re.findall(r"^#\s+(.*uvicorn \S+)$", text, re.M)
    *assignments, _uvicorn_word, target = command.split()
    names = [a.partition("=")[0] for a in assignments]
    assert names == ["DATA_REPO", "WEBHOOK_SECRET", "ADMIN_TOKEN"]
    world = path_world
    data = world.clone("data")
    world.remote_commit({"boot.txt": "pushed before boot\n"}, "before boot")
    env = {"DATA_REPO": str(data), "WEBHOOK_SECRET": "hook-s3cret", "ADMIN_TOKEN": "adm1n"}
    with _uvicorn(target, tmp_path, env) as base:
        assert httpx.get(f"{base}/records").json()["boot.txt"] == "pushed before boot\n"
        new = world.remote_commit({"hook.txt": "pushed while serving\n"}, "pushed")
        body = json.dumps({"branch": "main", "commitHash": new}).encode()
        answer = httpx.post(
            f"{base}/reconcile/webhooks/generic-hmac",
            content=body,
            headers={"X-Signature": sign_sha256("hook-s3cret", body)},
        )
        assert answer.status_code == 202, answer.text
        # A trigger during the webhook's run joins the next one: waiting on it waits
        # for the webhook's run too.
        waited = httpx.post(
            f"{base}/reconcile/trigger?wait=true",
            headers={"Authorization": "Bearer adm1n"},
            timeout=60,
        )
        assert waited.status_code == 200, waited.text
        records = httpx.get(f"{base}/records").json()
        assert records["hook.txt"] == "pushed while serving\n"
        forged = httpx.post(
            f"{base}/reconcile/webhooks/github",
            content=body,
            headers={"X-Hub-Signature-256": sign_sha256("wrong", body)},
        )
        assert forged.status_code == 401


def test_every_app_example_is_served() -> None:
    """The README's application files are the ones the test above serves."""
    assert sorted(_app_files()) == APP_FILES


def test_test_file_examples_pass_as_pasted(tmp_path: Path) -> None:
    """The README's example test files, written out as they stand, pass under pytest,
    and the unittest one under unittest alone too."""
    files = _test_files()
    assert sorted(files) == ["test_app.py", "test_app_unittest.py", "test_writes.py"]
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", *sorted(files))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(r"\b7 passed\b", tests.stdout), tests.stdout
    unit = run("-m", "unittest", "test_app_unittest")
    assert unit.returncode == 0, unit.stderr
    assert "Ran 1 test" in unit.stderr


def test_toml_example_loads(tmp_path: Path) -> None:
    """The configuration file examples in the README load: serve's, and the fleet's."""

    [example, fleet] = [block for block in _blocks("toml") if "lock_database_url" not in block]
    config = tmp_path / "git-reconcile.toml"
    config.write_text(example)
    names = ("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET_NEXT", "GITLAB_WEBHOOK_TOKEN")
    env = dict.fromkeys(names, "x") | {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
        "ALERT_WEBHOOK_SECRET": "x",
        "GITHUB_TOKEN": "x",
        "NOTIFY_SECRET": "x",
    }
    loaded = load_config(config, env)
    assert [r.name for r in loaded.repos] == ["data", "catalog", "config"]
    assert loaded.secrets_for("github") == ("x", "x")
    assert loaded.alerts is not None
    assert [s.kind for s in loaded.alerts.sinks] == ["slack", "webhook", "pull-request"]
    config.write_text(fleet)
    loaded = load_config(config, {})
    assert loaded.fleet is not None
    assert loaded.repos == ()
    assert [o.path for o in loaded.fleet.overrides] == ["~/code/scratch*", "~/notes"]


def test_the_replicas_example_loads(tmp_path: Path) -> None:
    """The "Several replicas" example loads: the locks on the direct connection, the
    audit store on the pooled one."""
    [replicas] = [block for block in _blocks("toml") if "lock_database_url" in block]
    config = tmp_path / "replicas.toml"
    config.write_text(replicas)
    loaded = load_config(config, {})
    assert loaded.coordination_url == "postgresql://reconcile@db:5432/reconcile"
    assert loaded.database_url == "postgresql://reconcile@pgbouncer:6432/reconcile"
    assert loaded.lock_session_timeout == 15


def test_documented_commands_parse() -> None:
    """Every subcommand and flag in the README's usage block is known to the parser."""
    helptext = ""
    commands = ("", "run", "commit", "clone", "known-hosts", "serve", "fleet", "db", "history")
    for command in (*commands, "diagram", "demo"):
        done = subprocess.run(
            [sys.executable, "-m", "plugin", *filter(None, [command]), "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        helptext += done.stdout
    usage = _blocks("text")[0]
    flags = re.findall(r"--[a-z-]+", usage)
    assert flags
    for flag in flags:
        assert flag in helptext, flag


def test_exit_code_table_is_the_commands() -> None:
    """The README's exit-code table is the one made from plugin/cli/_exit.py (rewrite it
    with `python -m plugin.cli._exit_table --write README.md`)."""
    text = README.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1
    assert text.split(BEGIN, 1)[1].split(END, 1)[0] == "\n" + markdown_table()


def _keys(value: Any) -> Any:
    """The shape of a JSON value: its keys, all the way down (lists by their first item)."""
    if isinstance(value, dict):
        return {key: _keys(item) for key, item in value.items()}
    if isinstance(value, list) and value:
        return [_keys(value[0])]
    return None


def test_json_example_has_every_key_of_run_json(path_world: World) -> None:
    """The README's `run --json` example has exactly the keys a real `run --json` prints,
    nested ones included (a push, with its fetch and push operations)."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"theirs.txt": "remote\n"}, "remote writer")
    world.commit(app, {"mine.txt": "local\n"}, "local writer")
    done = subprocess.run(
        [sys.executable, "-m", "plugin", "run", str(app), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    real = json.loads(done.stdout)
    assert real["outcome"] == "rebased"
    section = README.read_text(encoding="utf-8").split("With `--json` it prints one object:", 1)[1]
    example = json.loads(re.search(r"```json\n(.*?)```", section, re.S).group(1))  # type: ignore[union-attr]
    assert _keys(example) == _keys(real)
    assert [op["kind"] for op in example["operations"]] == [op["kind"] for op in real["operations"]]
