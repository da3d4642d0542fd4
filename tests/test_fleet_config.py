"""The [fleet] section of the configuration file, and serve with it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fleetutil import Tree
from gitutil import rev
from starlette.testclient import TestClient

from plugin import ConfigError, load_config
from plugin.cli import main
from plugin.cli._serve import build_app
from plugin.fleet import FleetService, FleetSettings, hold_data_dir

FILE = """
[identity]
name = "Fleet Bot"
email = "fleet@example.invalid"

[commit]
template = "fleet: {num_files} file(s) in {repo}"

[fleet]
base_paths = ["base"]
recursive_depth = 2
exclude = ["skip*"]
cycle_interval = 30
push_policy = "all-or-none"
concurrency = 3
per_host_concurrency = 1

[[fleet.overrides]]
path = "*/base/off"
enabled = false

[[fleet.overrides]]
path = "*/base/special"
[fleet.overrides.commit]
template = "special: {files}"
[fleet.overrides.identity]
name = "Special Bot"
email = "special@example.invalid"
"""


def test_the_fleet_section_is_read_with_its_overrides(tmp_path: Path) -> None:
    """[fleet] sets the fleet's keys, relative base paths resolve from the file's folder,
    [identity] and [commit] apply, and an override's tables replace them for its paths;
    without [[repos]] the file is still whole."""
    path = tmp_path / "git-reconcile.toml"
    path.write_text(FILE)
    config = load_config(path, {})
    fleet = config.fleet
    assert fleet is not None
    assert config.repos == ()
    assert fleet.base_paths == (tmp_path / "base",)
    assert (fleet.recursive_depth, fleet.exclude, fleet.cycle_interval) == (2, ("skip*",), 30)
    assert (fleet.push_policy, fleet.concurrency, fleet.per_host_concurrency) == (
        "all-or-none",
        3,
        1,
    )
    special = fleet.spec_for(tmp_path / "base" / "special", "base/special")
    plain = fleet.spec_for(tmp_path / "base" / "plain", "base/plain")
    assert special.commit_policy.template == "special: {files}"
    assert special.committer is not None
    assert special.committer.name == "Special Bot"
    assert plain.commit_policy.template == "fleet: {num_files} file(s) in {repo}"
    assert plain.committer is not None
    assert plain.committer.name == "Fleet Bot"
    assert not fleet.enabled_for(tmp_path / "base" / "off")
    assert fleet.enabled_for(tmp_path / "base" / "plain")


def test_every_problem_of_the_fleet_section_names_its_key(tmp_path: Path) -> None:
    """Bad values and unknown keys of [fleet] and its overrides are refused together,
    each at its key."""
    path = tmp_path / "bad.toml"
    path.write_text(
        '[fleet]\nbase_paths = ["b"]\npush_policy = "some"\nconcurrency = 0\n'
        '[[fleet.overrides]]\npath = "*"\ncolour = 1\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    text = str(raised.value)
    assert "fleet.push_policy: 'some' is not one of each, all-or-none" in text
    assert "fleet.concurrency: must be 1 to 256, not 0" in text
    assert "fleet.overrides[0].colour: unknown key" in text
    path.write_text("[fleet]\nrecursive_depth = 2\n")
    with pytest.raises(ConfigError, match=r"fleet\.base_paths: required key is missing"):
        load_config(path, {})


def test_fleet_once_reads_its_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """git-reconcile fleet --config runs the file's fleet: its overrides turn a
    repository off and write another's message; its template writes the rest."""
    tree = Tree(tmp_path)
    plain = tree.repo("base/plain")
    special = tree.repo("base/special")
    off = tree.repo("base/off")
    for repo in (plain, special, off):
        (repo / "data.txt").write_text("2\n")
    (tmp_path / "git-reconcile.toml").write_text(FILE.replace('"all-or-none"', '"each"'))
    args = ["fleet", "--config", str(tmp_path / "git-reconcile.toml"), "--once", "--json"]
    assert main([*args, "--data-dir", str(tmp_path / "d")]) == 0
    results = {r["name"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    assert results["base/off"]["status"] == "disabled"
    assert results["base/plain"]["commit"]["message"] == "fleet: 1 file(s) in base/plain\n"
    assert results["base/special"]["commit"]["message"] == "special: data.txt\n"
    assert results["base/special"]["commit"]["committer"] == "Special Bot <special@example.invalid>"
    assert tree.remote_tip(special) == rev(special, "HEAD")


def test_serve_with_a_fleet_section_serves_both_route_sets(tmp_path: Path) -> None:
    """serve's app answers the plugin's routes at / and the fleet's under /fleet, and a
    fleet trigger there commits and pushes."""
    tree = Tree(tmp_path)
    data = tree.repo("served/data")
    member = tree.repo("base/member")
    (tmp_path / "s.toml").write_text(
        f'[[repos]]\npath = "{data}"\npoll_interval = 0\n[fleet]\nbase_paths = ["base"]\n'
    )
    config = load_config(tmp_path / "s.toml", {"RECONCILE_ADMIN_TOKEN": "tok"})
    assert config.fleet is not None
    settings = FleetSettings()
    settings.enabled = False
    service = FleetService(config.fleet, settings=settings, admin_token=config.admin_token)
    (member / "data.txt").write_text("2\n")
    with TestClient(build_app(config, service)) as client:
        assert client.get("/status").json()["repos"]["data"]["enabled"] is True
        assert client.get("/fleet/status").json()["repos"] == 1
        headers = {"Authorization": "Bearer tok"}
        cycle = client.post("/fleet/trigger", params={"wait": "1"}, headers=headers).json()
    assert cycle["cycle"]["results"][0]["status"] == "pushed"
    assert tree.remote_tip(member) == rev(member, "HEAD")


def test_serve_with_a_fleet_section_takes_the_fleet_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """serve --config with [fleet] refuses to start (exit 7) while another fleet holds the
    data directory, and says which."""
    Tree(tmp_path).repo("base/member")
    (tmp_path / "s.toml").write_text('[fleet]\nbase_paths = ["base"]\n')
    fd = hold_data_dir(tmp_path / "d")
    try:
        config, data = str(tmp_path / "s.toml"), str(tmp_path / "d")
        code = main(["serve", "--config", config, "--data-dir", data, "--port", "0"])
    finally:
        os.close(fd)
    assert code == 7
    assert "another fleet service" in capsys.readouterr().err
