"""The write path in the configuration file: [commit], [repos.commit], and the
debounce and watch keys of [[repos]]."""

from __future__ import annotations

from pathlib import Path

import pytest

from plugin import ConfigError, load_config
from reconcile import DEFAULT_EXCLUDE, CommitPolicy, Identity

FILE = """
[commit]
template = "Save {num_files} file(s) on {branch}"
extend_exclude = ["*.sqlite"]
co_authors = ["Data Sync <sync@example.invalid>"]
trailers = ["Source: data-app"]
squash_unpushed = true
max_message_length = 200

[[repos]]
name = "data"
path = "/srv/data"
watch = true
commit_quiet_period = 0.5
commit_max_wait = 10

[repos.commit]
hooks = "skip"
max_file_size = 1048576
trailers = ["Source: sensors", "Ticket: DATA-1"]

[[repos]]
name = "catalog"
path = "/srv/catalog"
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "git-reconcile.toml"
    path.write_text(text)
    return load_config(path, {})


def test_commit_tables_set_the_policy_key_by_key(tmp_path: Path) -> None:
    """[commit] sets every repository's policy; [repos.commit] replaces its keys one by
    one; extend_exclude adds to the default list; the debounce keys set the repo."""
    config = _load(tmp_path, FILE)
    data, catalog = config.repos  # type: ignore[attr-defined]
    policy: CommitPolicy = data.to_spec().commit_policy
    assert policy.template == "Save {num_files} file(s) on {branch}"
    assert policy.exclude == (*DEFAULT_EXCLUDE, "*.sqlite")
    assert policy.co_authors == (Identity("Data Sync", "sync@example.invalid"),)
    assert policy.trailers == (("Source", "sensors"), ("Ticket", "DATA-1"))
    assert (policy.hooks, policy.max_file_size, policy.squash_unpushed) == ("skip", 1048576, True)
    assert policy.max_message_length == 200
    assert policy.repo_name == "data"
    assert (data.watch, data.commit_quiet_period, data.commit_max_wait) == (True, 0.5, 10.0)
    other: CommitPolicy = catalog.to_spec().commit_policy
    assert other.trailers == (("Source", "data-app"),)
    assert (other.hooks, other.max_file_size) == ("run", CommitPolicy().max_file_size)
    assert (catalog.watch, catalog.commit_quiet_period, catalog.commit_max_wait) == (
        False,
        2.0,
        30.0,
    )


def test_without_commit_tables_the_defaults_apply(tmp_path: Path) -> None:
    """A file without [commit] gives the value objects' defaults."""
    config = _load(tmp_path, '[[repos]]\npath = "/srv/data"\n')
    [repo] = config.repos  # type: ignore[attr-defined]
    assert repo.to_spec().commit_policy == CommitPolicy(repo_name="data")


def test_bad_commit_keys_are_reported_with_their_paths(tmp_path: Path) -> None:
    """The problems of the commit tables are reported at once, each at its key."""
    text = """
[commit]
co_authors = ["nobody"]
trailers = ["no separator"]
hooks = 1

[[repos]]
path = "/srv/data"
commit_quiet_period = 0
[repos.commit]
template = "{file}"
"""
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    problems = caught.value.problems
    assert "commit.co_authors[0]: 'nobody' is not of the form 'Name <email>'" in problems
    assert any(p.startswith("commit.trailers[0]: trailer 'no separator'") for p in problems)
    assert "commit.hooks: expected a string, got 1" in problems
    assert any(p.startswith("repos[0].commit_quiet_period: must be > 0") for p in problems)
    assert any(
        p.startswith("repos[0].commit.template: ") and "unknown placeholder(s) file" in p
        for p in problems
    )
