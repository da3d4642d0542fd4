"""The fleet's first boot: a repository an override names with a ``url`` is cloned
where its path is missing or empty, then committed and pushed like the others."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fleetutil import Tree
from gitutil import git, rev

from plugin import ConfigError, load_config
from plugin.fleet import Fleet, FleetOverride


def _remote_only(tree: Tree, name: str) -> Path:
    """A bare remote with one commit, and no clone of it."""
    clone = tree.repo(f"seed/{name}")
    remote = tree.remotes[clone]
    shutil.rmtree(clone)
    return remote


def test_a_missing_repository_is_cloned_then_found_and_pushed(tmp_path: Path) -> None:
    """An override's url clones its missing path before discovery, with full history;
    the clone is found, and a change made in it afterwards is committed and pushed."""
    tree = Tree(tmp_path)
    remote = _remote_only(tree, "notes")
    target = tmp_path / "base" / "notes"
    (tmp_path / "base").mkdir()
    fleet = Fleet(tree.config(overrides=(FleetOverride(str(target), url=str(remote)),)))
    found = fleet.discover()
    assert [r.path for r in found.repos] == [target]
    assert found.problems == ()
    assert rev(target, "HEAD") == rev(remote, "refs/heads/main")
    assert git(target, "fsck", "--no-progress") == ""
    (target / "data.txt").write_text("2\n")
    report = fleet.cycle(trigger="test")
    assert report is not None
    assert [r.status for r in report.results] == ["pushed"]
    assert rev(remote, "refs/heads/main") == rev(target, "HEAD")
    again = fleet.discover()  # already a clone of that URL: left as it is
    assert [r.path for r in again.repos] == [target]
    assert again.problems == ()


def test_a_path_that_holds_something_else_is_reported_and_skipped(tmp_path: Path) -> None:
    """A non-empty folder that is not a repository is not cloned over: discovery says
    why, the folder is untouched, and the other repositories' cycle goes on."""
    tree = Tree(tmp_path)
    remote = _remote_only(tree, "notes")
    other = tree.repo("base/other")
    (other / "data.txt").write_text("2\n")
    target = tmp_path / "base" / "notes"
    target.mkdir()
    (target / "keep.txt").write_text("mine\n")
    fleet = Fleet(tree.config(overrides=(FleetOverride(str(target), url=str(remote)),)))
    found = fleet.discover()
    [(where, why)] = found.problems
    assert where == str(target)
    assert why.startswith(f"not cloned from {remote}: ")
    assert "is not a git repository" in why
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    report = fleet.cycle(trigger="test")
    assert report is not None
    assert [r.status for r in report.results] == ["pushed"]


def test_a_url_needs_a_path_without_a_wildcard(tmp_path: Path) -> None:
    """An override with a url and a glob for its path is refused at its url key."""
    path = tmp_path / "fleet.toml"
    path.write_text(
        '[fleet]\nbase_paths = ["base"]\n'
        '[[fleet.overrides]]\npath = "base/*"\nurl = "https://git.example.com/n.git"\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert raised.value.problems == (
        "fleet.overrides[0].url: clones one repository: give its path without a wildcard, "
        "not 'base/*'",
    )
