"""`git-reconcile commit`: commit, then reconcile; its JSON and exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from commitutil import hook, status, trailers, write
from gitutil import World, git

from plugin.cli import ExitCode, main

RUN_KEYS = {
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
    "conflict_paths",
    "escaped_commits",
    "operations",
}


def _commit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["commit", *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return code, json.loads(out[0])


def _ssh_args(world: World) -> list[str]:
    if world.transport != "ssh":
        return []
    return [
        "--ssh-key",
        str(world.ssh.client_key_path),
        "--known-hosts",
        str(world.ssh.known_hosts_path),
    ]


def test_commit_prints_the_run_object_with_the_commit(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """`commit --json` prints run's object plus commit and skipped_paths, commits with
    the message, author, co-authors and trailers given, pushes, and exits 0."""
    app = world.clone("app")
    write(app, {"readings.csv": "1\n", ".env": "SECRET=1\n"})
    code, data = _commit(
        capsys,
        str(app),
        *_ssh_args(world),
        "-m",
        "Record readings",
        "--author",
        "Ada Lovelace <ada@example.invalid>",
        "--co-author",
        "Grace Hopper <grace@example.invalid>",
        "--trailer",
        "Ticket=DATA-3",
        "--trailer",
        "Source: cli",
    )
    assert code == ExitCode.OK
    assert set(data) == RUN_KEYS | {"commit", "skipped_paths"}
    assert data["outcome"] == "pushed-ahead"
    commit = data["commit"]
    assert {"sha", "paths", "message", "message_source", "author", "committer"} <= set(commit)
    assert commit["sha"] == data["new_commit"] == git(app, "rev-parse", "HEAD")
    assert commit["paths"] == ["readings.csv"]
    assert commit["message_source"] == "explicit"
    assert commit["author"] == "Ada Lovelace <ada@example.invalid>"
    assert commit["committer"] == "Test User <test@example.invalid>"
    assert data["skipped_paths"] == [".env"]
    assert trailers(app) == [
        "Ticket: DATA-3",
        "Source: cli",
        "Co-authored-by: Grace Hopper <grace@example.invalid>",
    ]
    assert world.remote_tip() == commit["sha"]


def test_nothing_to_commit_is_no_error(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A clean tree: the run goes on, commit is null, and the exit code is run's."""
    code, data = _commit(capsys, str(path_world.clone("app")))
    assert code == ExitCode.OK
    assert (data["commit"], data["skipped_paths"], data["outcome"]) == (None, [], "in-sync")


def test_paths_and_no_push(path_world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """--path limits the commit; --no-push leaves the remote as it was."""
    app = path_world.clone("app")
    before = path_world.remote_tip()
    write(app, {"data/a.txt": "a\n", "other.txt": "o\n"})
    code, data = _commit(capsys, str(app), "--path", "data", "--no-push")
    assert code == ExitCode.OK
    assert data["commit"]["paths"] == ["data/a.txt"]
    assert data["push"]["status"] == "skipped"
    assert path_world.remote_tip() == before
    assert status(app) == "?? other.txt"


def test_a_refused_commit_exits_blocked(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failing pre-commit hook ends the run blocked: exit 6, nothing committed."""
    app = path_world.clone("app")
    hook(app, "pre-commit", "echo no\nexit 1\n")
    write(app, {"a.txt": "a\n"})
    code, data = _commit(capsys, str(app))
    assert code == ExitCode.BLOCKED
    assert data["outcome"] == "blocked"
    assert data["commit"] is None
    assert "the pre-commit hook failed" in data["reason"]


def test_a_commit_whose_remote_cannot_be_read_stays_local(
    path_world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The commit is made before the fetch: with the remote gone the run exits 4, and
    the commit is in the object and on the local branch for the next run to push."""
    app = path_world.clone("app")
    git(app, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    write(app, {"a.txt": "a\n"})
    code, data = _commit(capsys, str(app))
    assert code == ExitCode.FETCH_FAILED
    assert data["commit"]["sha"] == git(app, "rev-parse", "HEAD")


@pytest.mark.parametrize(
    "flags",
    [["--author", "nobody"], ["--co-author", "x"], ["--trailer", "nothing"], ["--path", "../up"]],
)
def test_malformed_flags_are_bad_input(
    path_world: World, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    """A malformed identity, trailer or path exits 2 with one line on stderr."""
    app = path_world.clone("app")
    assert main(["commit", str(app), *flags]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("git-reconcile: ")


def test_the_summary_names_the_commit(
    path_world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --json, the summary names the commit and what was left out."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n", "key.pem": "x\n"})
    assert main(["commit", str(app), "-m", "Add a"]) == ExitCode.OK
    out = capsys.readouterr().out
    assert f"  commit: {git(app, 'rev-parse', 'HEAD')[:10]} Add a" in out
    assert "  left out (exclude): key.pem" in out


def test_git_reconcile_commit_runs_as_git_reconcile_commit(path_world: World) -> None:
    """The installed command runs as `git reconcile commit` too."""
    assert shutil.which("git-reconcile")
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    done = subprocess.run(
        ["git", "reconcile", "commit", "--json", "-m", "From git"],
        cwd=app,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["commit"]["message"] == "From git\n"
