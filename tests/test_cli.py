"""The command line: run, its JSON and exit codes, bad input, diagram, demo, `git reconcile`."""

from __future__ import annotations

import json
import os
import pty
import random
import re
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import World, commit_plumbing, git, rev

from plugin import RepoConfig
from plugin.cli import COMMAND_NAMES, ExitCode, build_parser, codes_of, main, meaning
from plugin.cli._diagram import BEGIN, END
from plugin.cli._main import COMMANDS
from reconcile import HTTPAuth, RepoSpec, Retry

KEYS = {
    "repo",
    "remote",
    "branch",
    "outcome",
    "old_commit",
    "new_commit",
    "remote_commit",
    "ahead",
    "behind",
    "conflict_branch",
    "push",
    "reason",
    "duration_ms",
}


def _run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(["run", *args, "--json"])
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    return code, json.loads(lines[0])


def test_json_has_every_key_and_exit_0(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run --json` prints one object with the documented keys; in-sync exits 0."""
    app = path_world.clone("app")
    code, data = _run_json(capsys, str(app))
    assert code == 0
    assert set(data) >= KEYS
    assert data["outcome"] == "in-sync"
    assert data["push"] == {"status": "skipped", "attempts": 0, "error": None, "reason": None}
    assert data["repo"] == str(app)


def test_exit_code_3_on_conflict(path_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A conflict escape exits 3 and names the branch."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "r")
    world.commit(app, {"data.txt": "local\n"}, "l")
    code, data = _run_json(capsys, str(app))
    assert code == 3
    assert data["outcome"] == "conflict-escaped"
    assert str(data["conflict_branch"]).startswith("conflicts/")


def test_exit_code_4_on_fetch_failure(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unreadable remote exits 4."""
    app = path_world.clone("app")
    git(app, "remote", "set-url", "origin", str(path_world.root / "gone.git"))
    code, data = _run_json(capsys, str(app))
    assert (code, data["outcome"]) == (4, "fetch-failed")


def test_exit_code_6_when_blocked(path_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A dirty file in the way exits 6."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "r")
    (app / "data.txt").write_text("dirty\n")
    code, data = _run_json(capsys, str(app))
    assert (code, data["outcome"]) == (6, "blocked")


def test_no_push_flag(path_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """--no-push leaves the remote alone and reports the push skipped."""
    world = path_world
    app = world.clone("app")
    world.commit(app, {"a": "a"}, "local")
    before = world.remote_tip()
    code, data = _run_json(capsys, str(app), "--no-push")
    assert code == 0
    assert data["push"]["status"] == "skipped"  # type: ignore[index]
    assert world.remote_tip() == before


def test_no_push_summary_says_not_pushed(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json, commits left unpushed by --no-push head the summary as such."""
    world = path_world
    app = world.clone("app")
    world.commit(app, {"a": "a"}, "local")
    assert main(["run", str(app), "--no-push"]) == 0
    assert capsys.readouterr().out.startswith(f"ahead, not pushed: {app} ")


def test_human_summary(path_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json the command prints a short summary that starts with the outcome."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "r")
    assert main(["run", str(app)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fast-forwarded: ")
    assert len(out.splitlines()) <= 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{root}/not-a-repo"], "not a git repository"),
        (["{app}", "--remote", "upstream"], "no remote named 'upstream'"),
        (["{app}", "--branch", "nope"], "no branch 'nope'"),
        (["{app}", "--timeout", "0"], "timeout"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    path_world: World, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Bad input exits 2 with one clear line on stderr and no traceback."""
    app = path_world.clone("app")
    (path_world.root / "not-a-repo").mkdir()
    argv = [a.format(root=path_world.root, app=app) for a in args]
    code = main(["run", *argv])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_diagram_prints_mermaid(capsys: pytest.CaptureFixture[str]) -> None:
    """`diagram` prints the mermaid state diagram."""
    assert main(["diagram"]) == 0
    out = capsys.readouterr().out
    assert "stateDiagram-v2" in out
    assert "fetching --> fetch_failed: fetched [fetch_error]" in out


def test_diagram_write_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`diagram --write` rewrites the marked block and `--check` tells a stale one."""

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\noutro\n")
    assert main(["diagram", "--check", str(readme)]) == 1
    assert main(["diagram", "--write", str(readme)]) == 0
    assert main(["diagram", "--check", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n")
    assert text.endswith(f"{END}\noutro\n")
    assert "old" not in text


def test_demo_reaches_every_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo drives a throwaway remote and clone through all seven outcomes."""
    assert main(["demo", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["outcome"] for r in rows} == {
        "in-sync",
        "fast-forwarded",
        "pushed-ahead",
        "rebased",
        "conflict-escaped",
        "blocked",
        "fetch-failed",
    }
    assert all(r["outcome"] == r["expected"] for r in rows)


def test_git_reconcile_subcommand(path_world: World) -> None:
    """The installed console script also runs as `git reconcile`."""
    assert shutil.which("git-reconcile"), "install the package: pip install -e '.[test]'"
    world = path_world
    app = world.clone("app")
    world.commit(app, {"a": "a"}, "local")
    done = subprocess.run(
        ["git", "reconcile", "run", str(app), "--json"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["outcome"] == "pushed-ahead"


def test_short_version_flag_is_the_long_one() -> None:
    """`-V` prints the version line `--version` prints, and exits 0."""
    long, short = (
        subprocess.run(
            [sys.executable, "-m", "plugin", flag], capture_output=True, text=True, check=False
        )
        for flag in ("--version", "-V")
    )
    assert (short.returncode, long.returncode) == (0, 0)
    assert short.stdout == long.stdout
    assert short.stdout.startswith("git-reconcile ")
    assert len(short.stdout.splitlines()) == 1


def test_python_m_plugin(path_world: World) -> None:
    """`python -m plugin` is the same command."""
    app = path_world.clone("app")
    done = subprocess.run(
        [sys.executable, "-m", "plugin", "run", str(app)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("in-sync: ")


def _into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    """The command with its stdout a pipe nobody reads any more (``| head`` done)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "plugin", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)


def test_output_into_a_closed_pipe_exits_141_quietly(path_world: World, tmp_path: Path) -> None:
    """A reader that stopped early (`git-reconcile history | head`) is no unexpected
    error: the command exits 141 without a word, and what it did stands."""
    world = path_world
    app = world.clone("app")
    tip = world.remote_commit({"data.txt": "new\n"}, "remote")
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    for words in (["run", str(app), "--database-url", url], ["run", str(app), "--json"]):
        done = _into_a_closed_pipe(*words)
        assert (done.returncode, done.stderr) == (ExitCode.OUTPUT_CLOSED, "")
    assert rev(app, "main") == tip
    for words in (["history", "--database-url", url], ["history", "--json", "--database-url", url]):
        done = _into_a_closed_pipe(*words)
        assert (done.returncode, done.stderr) == (ExitCode.OUTPUT_CLOSED, "")
    done = subprocess.run(
        [sys.executable, "-m", "plugin", "history", "--json", "--database-url", url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [row["result"]["outcome"] for row in json.loads(done.stdout)] == ["fast-forwarded"]


def test_python_m_reconcile_names_the_command(path_world: World) -> None:
    """`python -m reconcile` runs nothing: one line names the command, and it exits 2."""
    app = path_world.clone("app")
    before = rev(app, "main")
    path_world.remote_commit({"data.txt": "new\n"}, "remote")
    done = subprocess.run(
        [sys.executable, "-m", "reconcile", "run", str(app)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == ExitCode.BAD_INPUT
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "git-reconcile" in done.stderr
    assert "python -m plugin" in done.stderr
    assert rev(app, "main") == before


def test_defaults_are_the_value_objects(path_world: World) -> None:
    """The flags' defaults, used and shown in --help, are those of RepoSpec, Retry and HTTPAuth."""

    parser = build_parser()
    args = parser.parse_args(["run"])
    spec = RepoSpec(".")
    assert (args.remote, args.timeout, args.lock_timeout, args.conflict_prefix) == (
        spec.remote,
        spec.timeout,
        spec.lock_timeout,
        spec.conflict_prefix,
    )
    assert args.retries == Retry().attempts == spec.retry.attempts
    assert args.http_user == HTTPAuth(password="x").username
    serve = parser.parse_args(["serve"])
    assert serve.poll_interval == RepoConfig("x", path_world.root).poll_interval
    helptext = subprocess.run(
        [sys.executable, "-m", "plugin", "run", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    assert f"(default: {spec.timeout:g})" in helptext
    assert f"(default: {spec.lock_timeout:g})" in helptext
    assert f"(default: {spec.retry.attempts})" in helptext
    assert f"(default: {spec.remote})" in helptext


@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_help_lists_the_commands_exit_codes(command: str) -> None:
    """Every command's `--help` ends with the exit codes it returns, one entry per code,
    each with what it means for that command."""
    out = subprocess.run(
        [sys.executable, "-m", "plugin", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "80"},
    ).stdout
    table = out.split("exit codes:\n", 1)[1]
    entries = re.findall(r"^  (\d+) +(.*(?:\n {6}.*)*)", table, re.M)
    assert [int(code) for code, _text in entries] == [int(code) for code in codes_of(command)]
    for code, text in entries:
        assert " ".join(text.split()) == meaning(command, ExitCode(int(code)))
    assert max(len(line) for line in table.splitlines()) <= 80
    assert [code.value for code in ExitCode] == [0, 1, 2, 3, 4, 5, 6, 7, 130, 141, 143]


def test_the_commands_are_those_exit_codes_name() -> None:
    """The exit-code table names exactly the commands the parser has, in its order."""
    assert tuple(COMMANDS) == COMMAND_NAMES


# The start-up imports nothing heavy: building the parser reads the defaults of the
# value objects, and `reconcile` loads its names on first use, so not even the engine.
HEAVY = {
    "starlette",
    "sqlmodel",
    "sqlalchemy",
    "httpx",
    "uvicorn",
    "rich",
    "alembic",
    "anyio",
    "pygit2",
    "transitions",
    "tenacity",
    "pydantic",
}
STARTUP = """
import sys
import plugin.cli
try:
    plugin.cli.main([{flag!r}])
except SystemExit:
    pass
print(" ".join(sorted({{name.partition(".")[0] for name in sys.modules}})))
"""


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_import_nothing_heavy(flag: str) -> None:
    """`--help` and `--version` load neither the web stack, the database, rich, nor the
    engine and pygit2."""
    done = subprocess.run(
        [sys.executable, "-c", STARTUP.format(flag=flag)],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert "argparse" in loaded
    assert loaded & HEAVY == set()


COMMAND_MODULES = [
    "_run",
    "_commit",
    "_clone",
    "_known_hosts",
    "_diagram",
    "_demo",
    "_serve",
    "_fleet",
    "_db",
    "_history",
]


def test_cli_package_imports_only_the_standard_library() -> None:
    """Importing plugin.cli and every command's module loads nothing outside the
    standard library and plugin.cli itself."""
    modules = "; ".join(f"import plugin.cli.{m}" for m in COMMAND_MODULES)
    code = (
        f"import sys; before = set(sys.modules); import plugin.cli; {modules}; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added = {name.partition(".")[0] for name in done.stdout.split()}
    assert "plugin" in added
    assert added - set(sys.stdlib_module_names) == {"plugin"}
    assert {name for name in done.stdout.split() if name.startswith("plugin")} >= {
        "plugin.cli._main",
        "plugin.cli._serve",
    }
    assert not any(
        name.startswith("plugin.") and not name.startswith("plugin.cli")
        for name in done.stdout.split()
    )


def test_a_command_loads_only_its_own_module() -> None:
    """`git-reconcile --help` loads no command's module; a command's parser loads its
    module alone (its flags and its run live there)."""
    code = (
        "import sys; import plugin.cli; from plugin.cli._main import COMMANDS, build_parser; "
        "print(' '.join(m for m in sys.modules if m.startswith('plugin.cli.')) or '-'); "
        "build_parser().parse_args(['diagram']); "
        "print(' '.join(m for m in sys.modules if m.startswith('plugin.cli.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, then = (set(line.split()) for line in done.stdout.splitlines())
    assert first & {f"plugin.cli.{m}" for m in COMMAND_MODULES} == set()
    assert then - first == {"plugin.cli._diagram"}


def _ssh_args(world: World) -> list[str]:
    return [
        "--ssh-key",
        str(world.ssh.client_key_path),
        "--known-hosts",
        str(world.ssh.known_hosts_path),
    ]


def _big_fetch(world: World) -> Path:

    app = world.clone("app", bare=True)
    rng = random.Random(3)
    for n in range(120):
        commit_plumbing(world.remote, {f"f{n % 8}": rng.randbytes(100_000).hex()}, f"c{n}")
    return app


def test_progress_bar_on_a_terminal_only(ssh_world: World) -> None:
    """On a terminal the command draws a progress bar for a large fetch; piped, it draws none."""

    world = ssh_world
    app = _big_fetch(world)
    argv = [sys.executable, "-m", "plugin", "run", str(app), *_ssh_args(world)]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, screen
    assert "fetch (" in screen
    assert "objects" in screen
    assert "fast-forwarded:" in screen

    world.remote_commit({"more": "x" * 100}, "one more")
    piped = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert piped.returncode == 0, piped.stderr
    assert "objects" not in piped.stdout + piped.stderr


def test_run_with_ssh_flags(ssh_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """--ssh-key, --known-hosts and --retries configure an SSH run from the command line."""
    world = ssh_world
    app = world.clone("app")
    world.commit(app, {"a": "a"}, "local")
    code, data = _run_json(capsys, str(app), *_ssh_args(world), "--retries", "2")
    assert code == 0
    assert data["outcome"] == "pushed-ahead"
    operations = data["operations"]
    assert isinstance(operations, list)
    assert [op["kind"] for op in operations] == ["fetch", "push"]


def test_ssh_key_and_token_file_together_are_bad_input(
    path_world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Two kinds of credentials at once are refused with exit 2."""
    app = path_world.clone("app")
    token = tmp_path / "t"
    token.write_text("x")
    assert main(["run", str(app), "--ssh-key", str(token), "--token-file", str(token)]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["ssh://[bad", "host:99999", "host:port", "https://h/x"])
def test_known_hosts_bad_target_is_bad_input(
    target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A target that names no SSH host and port exits 2 with one line."""
    assert main(["known-hosts", "show", target]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
