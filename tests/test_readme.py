"""The README's examples work."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from gitutil import World

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_setup_commands_come_first() -> None:
    """The README opens with exactly the two set-up commands: the demo and the tests."""
    first = _blocks("sh")[0].strip().splitlines()
    assert len(first) == 2
    assert first[0].startswith("pip install . && git-reconcile demo")
    assert first[1].startswith("pip install -e '.[test]' && python -m pytest")


def test_python_example_runs(path_world: World) -> None:
    """The Python API example runs against a real clone (its path substituted)."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "r")
    world.commit(app, {"data.txt": "local\n"}, "l")
    [example] = _blocks("python")
    alerts: list[str] = []
    namespace = {"alert": alerts.append}
    exec(compile(example.replace("/srv/data", str(app)), "README.md", "exec"), namespace)
    assert len(alerts) == 1
    assert "conflicts/" in alerts[0]


def test_documented_commands_parse() -> None:
    """Every subcommand and flag in the README's usage block is known to the parser."""
    helptext = ""
    for command in ("run", "diagram", "demo"):
        done = subprocess.run(
            [sys.executable, "-m", "reconcile", command, "--help"],
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
