"""`git-reconcile db` and `history` as real processes: their errors, each one line with
its exit code, and the history table at 80 columns."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from builders import run_record
from gitutil import World
from servers._process import free_port

from plugin.audit import AuditStore
from plugin.cli import ExitCode
from reconcile import Outcome, reconcile


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plugin", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _one_line(done: subprocess.CompletedProcess[str], code: ExitCode, *words: str) -> None:
    """The command exited ``code`` with one line on stderr holding ``words``, no traceback."""
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("git-reconcile: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in done.stderr
    assert "unexpected" not in done.stderr


def test_db_upgrade_of_an_unreachable_database_is_unavailable() -> None:
    """A PostgreSQL URL nothing answers at exits 7 in one line, its password redacted."""
    url = f"postgresql://reconcile:pw-s3cret@127.0.0.1:{free_port()}/audit"
    done = _cli("db", "upgrade", "--database-url", url)
    _one_line(done, ExitCode.UNAVAILABLE, "cannot use the audit database", "Connection refused")
    assert "pw-s3cret" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://reconcile@db/audit", ("unsupported audit database 'mysql'", "sqlite:///")),
        ("not a url", ("is not a database URL", "postgresql://")),
        ("sqlite://", ("must be a file",)),
    ],
)
def test_db_upgrade_of_a_url_it_cannot_use_is_bad_input(url: str, words: tuple[str, ...]) -> None:
    """An unknown scheme, a string that is no URL, or an in-memory SQLite exit 2 in one
    line that says which URLs work."""
    _one_line(_cli("db", "upgrade", "--database-url", url), ExitCode.BAD_INPUT, *words)


def test_db_upgrade_into_a_folder_it_cannot_make_is_unavailable(tmp_path: Path) -> None:
    """A data directory below a file, or where this user may not write, exits 7 in one line
    naming the folder."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    below = _cli("db", "upgrade", "--data-dir", str(a_file / "data"))
    _one_line(below, ExitCode.UNAVAILABLE, str(a_file / "data"), "Not a directory")
    if os.geteuid() == 0:  # root writes anywhere a permission bit would stop others
        forbidden = Path("/sys/fs/git-reconcile-test")
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        forbidden = locked / "data"
    done = _cli("db", "upgrade", "--data-dir", str(forbidden))
    _one_line(done, ExitCode.UNAVAILABLE, str(forbidden))
    assert not forbidden.exists()


def test_db_upgrade_creates_the_store(tmp_path: Path) -> None:
    """`db upgrade` makes the data directory and the SQLite file in it."""
    done = _cli("db", "upgrade", "--data-dir", str(tmp_path / "new" / "data"))
    assert done.returncode == ExitCode.OK, done.stderr
    assert (tmp_path / "new" / "data" / "audit.sqlite3").is_file()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--limit", "0"], ("--limit must be at least 1, not 0",)),
        (["--limit", "-3"], ("--limit must be at least 1, not -3",)),
        (["--outcome", "conflicted"], ("'conflicted' is not an outcome", "conflict-escaped")),
    ],
)
def test_history_refuses_bad_filters(
    tmp_path: Path, args: list[str], words: tuple[str, ...]
) -> None:
    """A limit below 1 or an unknown outcome exits 2 in one line, before any store is
    opened or made."""
    data = tmp_path / "data"
    done = _cli("history", "--data-dir", str(data), *args)
    _one_line(done, ExitCode.BAD_INPUT, *words)
    assert not data.exists()


def test_history_makes_no_store(tmp_path: Path) -> None:
    """A --data-dir that is not there, or holds no store, exits 2 and is left as it was."""
    missing = tmp_path / "nowhere"
    _one_line(_cli("history", "--data-dir", str(missing)), ExitCode.BAD_INPUT, str(missing))
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    done = _cli("history", "--data-dir", str(empty))
    _one_line(done, ExitCode.BAD_INPUT, "no audit store at", "nothing was recorded there")
    assert list(empty.iterdir()) == []


def test_history_of_an_unreachable_database_is_unavailable() -> None:
    """History from a PostgreSQL server that does not answer exits 7 in one line."""
    url = f"postgresql://reconcile@127.0.0.1:{free_port()}/audit"
    _one_line(_cli("history", "--database-url", url), ExitCode.UNAVAILABLE, "Connection refused")


def test_history_table_fits_80_columns(path_world: World, tmp_path: Path) -> None:
    """At 80 columns the table keeps every time, outcome and conflict branch whole, each
    on one line, and shows the conflict branch of an escape."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "2\n"}, "remote writer")
    forwarded = reconcile(world.spec(app))
    world.remote_commit({"data.txt": "theirs\n"}, "remote writer")
    world.commit(app, {"data.txt": "mine\n"}, "local writer")
    escaped = reconcile(world.spec(app))
    assert (forwarded.outcome, escaped.outcome) == (
        Outcome.FAST_FORWARDED,
        Outcome.CONFLICT_ESCAPED,
    )
    assert escaped.conflict_branch is not None
    url = f"sqlite:///{tmp_path / 'audit.sqlite3'}"
    with AuditStore(url) as store:
        store.upgrade()
        store.record_run(run_record(forwarded, run_id="data-1", finished=1_800_000_000.0))
        store.record_run(
            run_record(
                escaped, run_id="data-2", triggers=("webhook", "poll"), finished=1_800_000_060.0
            )
        )
    done = _cli("history", "--database-url", url, env={"COLUMNS": "80"})
    assert done.returncode == ExitCode.OK, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, done.stdout
    for whole in (
        "2027-01-15 08:00:00",
        "2027-01-15 08:01:00",
        "conflict-escaped",
        "fast-forwarded",
        escaped.conflict_branch,
        "webhook, poll",
    ):
        assert any(whole in line for line in lines), (whole, done.stdout)
    assert done.stdout.index("conflict-escaped") < done.stdout.index("fast-forwarded")
