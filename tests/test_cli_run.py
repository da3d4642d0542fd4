"""`git-reconcile run`'s messages and options: fix-it hints that work, JSON errors,
the summary's words, options refused or honoured, and the audit record."""

from __future__ import annotations

import json
import os
import pwd
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from gitutil import World, git, rev

from plugin.audit import AuditStore
from plugin.cli import ExitCode, main


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _suggested(line: str) -> list[str]:
    """The command a hint ends with (after "with: ")."""
    return shlex.split(line.rsplit("with: ", 1)[1])


# --- fix-it hints -----------------------------------------------------------------------


def test_a_typod_branch_gets_the_closest_name(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--branch mian` suggests `main`, and no command that would create `mian`."""
    app = path_world.clone("app")
    assert main(["run", str(app), "--branch", "mian"]) == ExitCode.BAD_INPUT
    line = _one_line(capsys)
    assert "did you mean 'main'?" in line
    assert "git " not in line


def test_a_typod_remote_gets_the_closest_name(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--remote orign` suggests `origin`."""
    app = path_world.clone("app")
    assert main(["run", str(app), "--remote", "orign"]) == ExitCode.BAD_INPUT
    assert _one_line(capsys).endswith("did you mean 'origin'?")


@pytest.mark.parametrize("single_branch", [False, True], ids=["fetched", "never-fetched"])
def test_a_branch_only_on_the_remote_gets_a_command_that_works(
    path_world: World, capsys: pytest.CaptureFixture[str], single_branch: bool
) -> None:
    """For a branch that exists only on the remote, whether git has fetched it or not
    (a single-branch clone), the hint's command creates it: run as given, the run
    then succeeds."""
    world = path_world
    theirs = world.remote_commit({"d.txt": "d\n"}, "data", branch="data")
    app = world.clone("app", single_branch=single_branch)
    assert main(["run", str(app), "--branch", "data"]) == ExitCode.BAD_INPUT
    command = _suggested(_one_line(capsys))
    assert command[:3] == ["git", "-C", str(app)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert main(["run", str(app), "--branch", "data"]) == ExitCode.OK
    assert capsys.readouterr().out.startswith("in-sync: ")
    assert rev(app, "data") == theirs


# --- JSON errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "{app}", "--json", "--branch", "nope"],
        ["run", "{app}", "--json", "--timeout", "abc"],
        ["history", "--json", "--limit", "0"],
        ["demo", "--json", "--no-such-flag"],
    ],
    ids=["run-bad-branch", "run-malformed-option", "history-bad-limit", "demo-unknown-flag"],
)
def test_bad_input_under_json_prints_one_json_object(
    path_world: World, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Under --json bad input prints {"error", "code"} on stdout, beside the stderr line."""
    app = path_world.clone("app")
    code = main([word.format(app=app) for word in argv])
    captured = capsys.readouterr()
    assert code == ExitCode.BAD_INPUT
    [line] = captured.out.splitlines()
    shown = json.loads(line)
    assert set(shown) == {"error", "code"}
    assert shown["code"] == 2
    assert shown["error"] in captured.err


# --- the summary ----------------------------------------------------------------------------


def test_a_detached_head_says_so(path_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """With HEAD detached and no --branch, the summary says it is a detached HEAD and
    how to name a branch, not `at (none)`."""
    app = path_world.clone("app")
    git(app, "checkout", "-q", "--detach")
    assert main(["run", str(app)]) == ExitCode.BLOCKED
    head = capsys.readouterr().out.splitlines()[0]
    assert head == f"blocked: {app} (detached HEAD: name a branch with --branch)"
    assert "(none)" not in head


# --- options refused or honoured ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lock-timeout", "-5"], "--lock-timeout must be a number of seconds from 0"),
        (["--timeout", "0"], "--timeout must be a positive number of seconds"),
        (["--retries", "0"], "--retries must be at least 1, not 0"),
        (["--fingerprint", "notafp"], "--fingerprint 'notafp' is not a host key fingerprint"),
        (
            ["--timeout", "0", "--deadline", "0", "--lock-timeout", "-1"],
            "--timeout must be a positive number of seconds, at most a day, not 0.0; "
            "--deadline must be a positive number of seconds, at most a day, not 0.0; "
            "--lock-timeout must be a number of seconds from 0",
        ),
    ],
)
def test_options_out_of_range_are_refused(
    path_world: World, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """An option out of range or a malformed fingerprint is refused in one line that
    names the option, exit 2, and nothing runs."""
    world = path_world
    app = world.clone("app")
    before = rev(app, "main")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    assert main(["run", str(app), *args]) == ExitCode.BAD_INPUT
    assert message in _one_line(capsys)
    assert rev(app, "main") == before


def test_trust_opens_another_users_repository(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clone another user owns is refused in one line naming `--trust`; with
    `--trust` that path is reconciled."""
    if os.geteuid() != 0:
        pytest.skip("only root can give a repository to another account")
    world = path_world
    app = world.clone("app")
    other = pwd.getpwnam("postgres")
    for path in [app, *app.rglob("*")]:
        os.lchown(path, other.pw_uid, other.pw_gid)
    tip = world.remote_commit({"data.txt": "2\n"}, "remote")
    assert main(["run", str(app)]) == ExitCode.BAD_INPUT
    line = _one_line(capsys)
    assert "dubious ownership" in line
    assert "--trust" in line
    assert main(["run", str(app), "--trust", "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["outcome"] == "fast-forwarded"
    assert rev(app, "main") == tip


def test_known_hosts_refuses_a_malformed_fingerprint(capsys: pytest.CaptureFixture[str]) -> None:
    """`known-hosts add --fingerprint notafp` is refused in one line before connecting."""
    argv = ["known-hosts", "add", "127.0.0.1:9", "--fingerprint", "notafp"]
    assert main(argv) == ExitCode.BAD_INPUT
    assert "is not a host key fingerprint" in _one_line(capsys)


def test_log_format_json_turns_logging_on(path_world: World) -> None:
    """`--log-format json` without -v logs JSON lines on stderr."""
    app = path_world.clone("app")
    done = subprocess.run(
        [sys.executable, "-m", "plugin", "run", str(app), "--log-format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(record.get("outcome") == "in-sync" for record in records), done.stderr


# --- the audit store ---------------------------------------------------------------------


def test_run_is_recorded_with_a_database_url(
    path_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --database-url the run is recorded with trigger cli, its result and its
    network operations; `history` shows it."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    assert main(["run", str(app), "--database-url", url]) == ExitCode.OK
    with AuditStore(url) as store:
        [record] = store.runs()
    assert (record.repo, record.triggers) == ("app", ["cli"])
    assert record.result is not None
    assert record.result.outcome.value == "fast-forwarded"
    assert [op.kind for op in record.result.operations] == ["fetch"]
    capsys.readouterr()
    assert main(["history", "--database-url", url, "--json"]) == ExitCode.OK
    [row] = json.loads(capsys.readouterr().out)
    assert row["triggers"] == ["cli"]


def test_run_is_recorded_with_the_environment_variable(
    path_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RECONCILE_DATABASE_URL alone also records the run."""
    app = path_world.clone("app")
    url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    monkeypatch.setenv("RECONCILE_DATABASE_URL", url)
    assert main(["run", str(app)]) == ExitCode.OK
    with AuditStore(url) as store:
        assert [r.triggers for r in store.runs()] == [["cli"]]


NO_STORE = """
import sys
from plugin.cli import main
code = main(["run", sys.argv[1]])
print(code, " ".join(sorted({name.partition(".")[0] for name in sys.modules})))
"""


LOADED = """
import sys
from plugin.cli import main
code = main(["run", sys.argv[1]])
print(code, " ".join(sorted(sys.modules)))
"""


def test_without_a_url_nothing_is_recorded_or_loaded(path_world: World, tmp_path: Path) -> None:
    """Without a URL the run records nothing: no file appears in the data directory or
    anywhere in a fresh home, and the database stack is not even imported."""
    app = path_world.clone("app")
    home, data = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RECONCILE_DATABASE_URL"}
    env |= {"HOME": str(home), "XDG_DATA_HOME": str(data)}
    done = subprocess.run(
        [sys.executable, "-c", NO_STORE, str(app)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    code, loaded = done.stdout.splitlines()[-1].split(" ", 1)
    assert int(code) == ExitCode.OK
    assert set(loaded.split()) & {"sqlalchemy", "sqlmodel", "alembic", "psycopg"} == set()
    assert list(home.rglob("*")) == []
    assert list(data.rglob("*")) == []


def test_a_run_over_a_path_loads_no_credential_or_web_stack(path_world: World) -> None:
    """A run with no GitHub App loads neither PyJWT and cryptography (GitHub App tokens)
    nor httpx, the webhooks package, pydantic, the web stack or the plugin's
    configuration."""
    app = path_world.clone("app")
    env = {k: v for k, v in os.environ.items() if k != "RECONCILE_DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-c", LOADED, str(app)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    code, loaded = done.stdout.splitlines()[-1].split(" ", 1)
    assert int(code) == ExitCode.OK
    modules = set(loaded.split())
    packages = {name.partition(".")[0] for name in modules}
    heavy = {"jwt", "cryptography", "httpx", "webhooks", "pydantic", "starlette", "uvicorn"}
    assert packages & heavy == set()
    assert {"plugin._config", "plugin._load", "plugin._tables"} & modules == set()
    assert {"pygit2", "reconcile"} <= packages


def test_an_unusable_url_is_refused_before_the_run(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A URL naming no supported database is bad input, and nothing runs."""
    world = path_world
    app = world.clone("app")
    before = rev(app, "main")
    world.remote_commit({"data.txt": "2\n"}, "remote")
    assert main(["run", str(app), "--database-url", "nosuch://x"]) == ExitCode.BAD_INPUT
    assert "unsupported audit database" in _one_line(capsys)
    assert rev(app, "main") == before


def test_a_store_that_cannot_be_written_leaves_the_run_as_it_was(
    path_world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """When the database cannot be opened after the run (here its file is a folder),
    one line says the run was not recorded, and the run's outcome and exit code stand."""
    world = path_world
    app = world.clone("app")
    new = world.remote_commit({"data.txt": "2\n"}, "remote")
    folder = tmp_path / "not-a-file"
    folder.mkdir()
    assert main(["run", str(app), "--database-url", f"sqlite:///{folder}"]) == ExitCode.OK
    captured = capsys.readouterr()
    assert captured.out.startswith("fast-forwarded: ")
    assert "the run was not recorded" in captured.err
    assert rev(app, "main") == new
