"""The README's examples work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import World
from starlette.testclient import TestClient

from plugin import load_config
from plugin.cli import EXIT_CODES

README = Path(__file__).resolve().parent.parent / "README.md"


# A Python block whose first line names a test file is a whole file, run by pytest.
TEST_FILE = re.compile(r"# (test_\w+\.py)\b")


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def _test_files() -> dict[str, str]:
    """The README's Python blocks that are test files, by the file name they start with."""
    files = {}
    for block in _blocks("python"):
        named = TEST_FILE.match(block)
        if named:
            files[named.group(1)] = block
    return files


def test_setup_commands_come_first() -> None:
    """The README opens with exactly the two set-up commands: the demo and the tests."""
    first = _blocks("sh")[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].startswith("pip install . && git-reconcile serve")
    assert first[1].startswith("pip install -e '.[test]' && python -m pytest")


def test_python_examples_run(
    path_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's Python examples run in order, as one session, against a real clone;
    the Starlette and FastAPI apps they build serve with their lifespans running."""

    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "s3cret")
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
    blocks = [block for block in _blocks("python") if not TEST_FILE.match(block)]
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

    world.remote_commit({"note.txt": "from the remote\n"}, "remote note")
    with TestClient(namespace["app"]) as client:  # type: ignore[arg-type]
        assert client.get("/").json()["note.txt"] == "from the remote\n"
        assert client.get("/reconcile/ready").status_code == 200
    world.remote_commit({"more.txt": "more\n"}, "another note")
    with TestClient(namespace["api"]) as client:  # type: ignore[arg-type]
        assert client.get("/records").json()["more.txt"] == "more\n"
        assert client.get("/reconcile/status").json()["ready"] is True


def test_test_file_examples_pass_as_pasted(tmp_path: Path) -> None:
    """The README's example test files, written out as they stand, pass under pytest,
    and the unittest one under unittest alone too."""
    files = _test_files()
    assert sorted(files) == ["test_app.py", "test_app_unittest.py"]
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
    assert re.search(r"\b5 passed\b", tests.stdout), tests.stdout
    unit = run("-m", "unittest", "test_app_unittest")
    assert unit.returncode == 0, unit.stderr
    assert "Ran 1 test" in unit.stderr


def test_toml_example_loads(tmp_path: Path) -> None:
    """The configuration file example in the README loads."""

    [example] = _blocks("toml")
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


def test_documented_commands_parse() -> None:
    """Every subcommand and flag in the README's usage block is known to the parser."""
    helptext = ""
    for command in ("run", "clone", "known-hosts", "serve", "db", "history", "diagram", "demo"):
        done = subprocess.run(
            [sys.executable, "-m", "plugin", command, "--help"],
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
    """The README's exit-code table lists exactly the codes the command defines."""

    section = README.read_text(encoding="utf-8").split("Exit codes:", 1)[1].split("\n\n")[1]
    codes = [int(row.split("|")[1]) for row in section.splitlines()[2:]]
    assert codes == [int(code) for code in EXIT_CODES]
