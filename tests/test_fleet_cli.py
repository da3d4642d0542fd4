"""git-reconcile fleet --once: one cycle, its summary, its exit code, and the lock."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fleetutil import Tree
from gitutil import rev

from plugin.audit import AuditStore
from plugin.cli import main
from plugin.cli._fleet import fleet_config
from plugin.cli._main import build_parser
from plugin.fleet import FleetAudit, hold_data_dir

SECRET = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def test_once_json_has_exactly_the_summary_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One cycle prints one object with the summary's keys, each result carrying the
    write path's commit and the run, exits 0 when every repository ended well, and is
    kept in the data directory's audit store."""
    tree = Tree(tmp_path)
    a = tree.repo("base/a")
    tree.repo("base/b")
    (a / "data.txt").write_text("2\n")
    code = main(
        ["fleet", str(tmp_path / "base"), "--once", "--json", "--data-dir", str(tmp_path / "d")]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(out) == {
        "cycle_id",
        "repos",
        "committed",
        "pushed",
        "failed",
        "results",
        "duration_ms",
    }
    assert (out["repos"], out["committed"], out["pushed"], out["failed"]) == (2, 1, 1, 0)
    first = out["results"][0]
    assert first["commit"]["sha"] == rev(a, "HEAD") == tree.remote_tip(a)
    assert first["run"]["outcome"] == "pushed-ahead"
    assert out["results"][1]["run"] is None
    store = AuditStore(f"sqlite:///{tmp_path / 'd' / 'audit.sqlite3'}")
    try:
        (cycle,) = FleetAudit(store).history()
    finally:
        store.close()
    assert cycle["cycle_id"] == out["cycle_id"]
    assert cycle["trigger"] == "cli"
    assert [r["commit"]["sha"] for r in cycle["results"]] == [first["commit"]["sha"]]


def test_once_exits_6_when_a_repository_did_not_end_well(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused commit is named in the summary with its reason, and the exit code is 6."""
    tree = Tree(tmp_path)
    bad = tree.repo("base/bad")
    (bad / "key.txt").write_text(SECRET)
    code = main(["fleet", str(tmp_path / "base"), "--once", "--data-dir", str(tmp_path / "d")])
    out = capsys.readouterr().out
    assert code == 6
    assert "1 repositories, 0 committed, 0 pushed, 1 failed" in out
    assert f"refused: {bad}: key.txt line 1" in out


def test_a_second_fleet_on_one_data_directory_says_so_and_exits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While one fleet holds the data directory's lock, another exits 7 naming it."""
    Tree(tmp_path).repo("base/a")
    fd = hold_data_dir(tmp_path / "d")
    try:
        code = main(["fleet", str(tmp_path / "base"), "--once", "--data-dir", str(tmp_path / "d")])
    finally:
        os.close(fd)
    assert code == 7
    assert f"another fleet service (pid {os.getpid()})" in capsys.readouterr().err


def test_no_base_path_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without a base path or a file naming one, fleet exits 2 and says what to give."""
    assert main(["fleet", "--once", "--data-dir", str(tmp_path)]) == 2
    assert "give a base path" in capsys.readouterr().err


def test_depth_and_exclude_flags_narrow_the_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--depth and --exclude decide which repositories a cycle covers."""
    tree = Tree(tmp_path)
    tree.repo("base/a")
    tree.repo("base/deep/er/b")
    tree.repo("base/skipped/c")
    args = ["fleet", str(tmp_path / "base"), "--once", "--json", "--data-dir", str(tmp_path / "d")]
    assert main([*args, "--depth", "2", "--exclude", "skipped"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)["results"]]
    assert names == ["base/a"]


def test_flags_win_over_the_file(tmp_path: Path) -> None:
    """--interval, --depth, --exclude and base paths on the command line change the
    file's [fleet] section: the base paths and numbers replace, the globs add."""
    (tmp_path / "f.toml").write_text('[fleet]\nbase_paths = ["a"]\nexclude = ["x"]\n')
    args = build_parser().parse_args(
        [
            "fleet",
            "b",
            "--config",
            str(tmp_path / "f.toml"),
            "--interval",
            "5",
            "--depth",
            "1",
            "--exclude",
            "y",
        ]
    )
    config = fleet_config(args, {})
    assert config.base_paths == (Path("b"),)
    assert (config.cycle_interval, config.recursive_depth) == (5, 1)
    assert config.exclude == ("x", "y")
