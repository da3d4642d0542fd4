"""The commit's guards: excluded paths, secrets in the content, file sizes, and paths
with a filter attribute (Git LFS)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import subprocess
import uuid
from pathlib import Path

import pytest
from commitutil import commit, files_at, show, status, write
from gitutil import World, git, rev

from reconcile import DEFAULT_EXCLUDE, CommitPolicy, Outcome

# Secrets are built at run time, so this file holds none itself.
PRIVATE_KEY = "-----BEGIN " + "OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" + "K1l2M3n4O5p6Q7r8"
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"


def _policy(**kwargs: object) -> CommitPolicy:
    return CommitPolicy(**kwargs)  # type: ignore[arg-type]


# --- exclude -------------------------------------------------------------------------


def test_the_default_exclude_list_keeps_secret_files_out(world: World) -> None:
    """Changes to the usual secret files are never committed: they are listed in
    skipped_paths and stay untracked in the tree; everything else is committed."""
    app = world.clone("app")
    secret_files = [
        ".env",
        ".env.local",
        "config/.env",
        "tls/server.pem",
        "server.key",
        "id_rsa",
        "keys/id_ed25519.pub",
        "cert.p12",
        "cert.pfx",
    ]
    write(app, dict.fromkeys(secret_files, "NOT=committed\n"))
    write(app, {"records.json": "[]\n", "environment.md": "notes\n"})
    result = commit(world.spec(app))
    assert result.commit is not None
    assert set(result.commit.paths) == {"records.json", "environment.md"}
    assert sorted(result.skipped_paths) == sorted(secret_files)
    assert result.to_dict()["skipped_paths"] == list(result.skipped_paths)
    assert files_at(app) == {"data.txt", "records.json", "environment.md"}
    assert sorted(status(app).splitlines()) == sorted(f"?? {p}" for p in secret_files)
    assert "left out (exclude): " in result.reason
    assert DEFAULT_EXCLUDE == (
        ".env",
        ".env.*",
        "*.pem",
        "*.key",
        "id_rsa*",
        "id_ed25519*",
        "*.p12",
        "*.pfx",
    )


def test_an_excluded_change_staged_by_hand_stays_staged_and_uncommitted(
    path_world: World,
) -> None:
    """A secret file added with git add is left out of the commit and stays staged."""
    app = path_world.clone("app")
    write(app, {".env": "TOKEN=local\n", "a.txt": "a\n"})
    git(app, "add", ".env")
    result = commit(path_world.spec(app))
    assert result.commit is not None
    assert result.commit.paths == ("a.txt",)
    assert ".env" not in files_at(app)
    assert status(app) == "A  .env"


def test_exclude_can_be_replaced_and_extended(path_world: World) -> None:
    """A policy's exclude list replaces the defaults; patterns with a slash match from
    the top, and a trailing slash means everything under a folder."""
    app = path_world.clone("app")
    write(app, {".env": "PLAIN=1\n", "db.sqlite": "x", "cache/a/b.txt": "c\n", "top/x.csv": "1\n"})
    write(app, {"deep/top/x.csv": "2\n"})
    policy = _policy(exclude=(*DEFAULT_EXCLUDE, "*.sqlite", "cache/", "top/*.csv"))
    result = commit(path_world.spec(app, commit_policy=policy))
    assert result.commit is not None
    assert set(result.skipped_paths) == {".env", "db.sqlite", "cache/a/b.txt", "top/x.csv"}
    assert "deep/top/x.csv" in result.commit.paths
    replaced = _policy(exclude=("*.sqlite",))
    assert commit(path_world.spec(app, commit_policy=replaced)).commit is not None
    assert ".env" in files_at(app)


# --- secrets -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (PRIVATE_KEY + "\n", "a Private Key"),
        (f"token = {GITHUB_TOKEN}\n", "a GitHub Token"),
        (f"aws: {AWS_KEY}\n", "an AWS Access Key"),
    ],
    ids=["private-key", "github-token", "aws-key"],
)
def test_a_secret_in_new_content_is_blocked_and_never_shown(
    world: World, content: str, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A new line holding a private key or a known token format ends the run blocked,
    naming the path, the line and the kind; the secret is in no reason, log line or
    JSON, and no object holding it is written."""
    app = world.clone("app")
    write(app, {"notes/today.txt": "an ordinary line\n" + content, "clean.txt": "fine\n"})
    head = rev(app, "HEAD")
    with caplog.at_level(logging.DEBUG):
        result = commit(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert f"notes/today.txt line 2 holds what looks like {kind}" in result.reason
    secret = content.strip().split()[-1]
    assert secret not in json.dumps(result.to_dict())
    assert secret not in caplog.text
    assert rev(app, "HEAD") == head
    blob = git(app, "hash-object", "notes/today.txt")
    found = subprocess.run(["git", "cat-file", "-e", blob], cwd=app, check=False)
    assert found.returncode != 0
    assert world.remote_tip() == head


def test_a_secret_already_committed_does_not_block_other_edits(path_world: World) -> None:
    """Only lines the commit adds are scanned: a key line already at HEAD (someone
    committed it before) does not block an edit elsewhere in the file."""
    app = path_world.clone("app")
    path_world.commit(app, {"legacy.txt": PRIVATE_KEY + "\nvalue 1\n"}, "old mistake")
    write(app, {"legacy.txt": PRIVATE_KEY + "\nvalue 2\n"})
    result = commit(path_world.spec(app))
    assert result.commit is not None, result.reason


def test_ordinary_data_files_are_not_taken_for_secrets(path_world: World) -> None:
    """Hashes, UUIDs, base64 blobs, public addresses and password-like field names in
    data files commit without a false alarm."""
    app = path_world.clone("app")
    rows = [
        f"{n},{uuid.uuid4()},{hashlib.sha1(str(n).encode()).hexdigest()},"
        f"{hashlib.sha256(str(n).encode()).hexdigest()},93.184.216.{n % 250}"
        for n in range(500)
    ]
    blobs = [
        json.dumps(
            {"id": n, "thumb": base64.b64encode(hashlib.sha512(str(n).encode()).digest()).decode()}
        )
        for n in range(200)
    ]
    write(app, {"table.csv": "\n".join(rows) + "\n", "images.jsonl": "\n".join(blobs) + "\n"})
    write(app, {"users.yaml": "- name: ada\n  password_hint: 'first pet'\n  password: null\n"})
    write(app, {"links.md": "https://github.com/org/repo/commit/" + "a" * 40 + "\n"})
    result = commit(path_world.spec(app))
    assert result.commit is not None, result.reason


def test_the_scan_can_be_turned_off(path_world: World) -> None:
    """With scan_secrets off, what looks like a secret is committed (a test fixture)."""
    app = path_world.clone("app")
    write(app, {"fixture.txt": f"{GITHUB_TOKEN}\n"})
    result = commit(path_world.spec(app, commit_policy=_policy(scan_secrets=False)))
    assert result.commit is not None


def test_binary_files_are_not_scanned(path_world: World) -> None:
    """A binary file (a NUL byte near its start) is committed without a scan."""
    app = path_world.clone("app")
    write(app, {"blob.bin": b"\0\1\2" + GITHUB_TOKEN.encode()})
    assert commit(path_world.spec(app)).commit is not None


# --- sizes ---------------------------------------------------------------------------


def test_a_file_over_max_file_size_is_blocked(world: World) -> None:
    """A file over max_file_size ends the run blocked with its path and size, before
    it is read; under the limit it commits."""
    app = world.clone("app")
    write(app, {"big.bin": b"x" * 2048, "small.txt": "s\n"})
    result = commit(world.spec(app, commit_policy=_policy(max_file_size=1024)))
    assert result.outcome is Outcome.BLOCKED
    assert "big.bin is 2,048 bytes, over max_file_size (1,024)" in result.reason
    assert git(app, "rev-list", "--count", "HEAD") == "1"
    assert commit(world.spec(app, commit_policy=_policy(max_file_size=4096))).commit


# --- filters -------------------------------------------------------------------------


def test_a_path_with_a_filter_attribute_is_blocked(world: World) -> None:
    """A changed path whose attributes name a filter (Git LFS) ends the run blocked,
    naming the path and the filter: libgit2 would store the raw file."""
    app = world.clone("app")
    write(app, {".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n"})
    write(app, {"model.bin": b"\x89raw model bytes"})
    result = commit(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "model.bin has the attribute filter=lfs" in result.reason
    assert git(app, "rev-list", "--count", "HEAD") == "1"


def test_a_filter_allowed_to_be_bypassed_commits_the_raw_file(path_world: World) -> None:
    """With the filter named in bypass_filters, the raw file is committed."""
    app = path_world.clone("app")
    write(app, {".gitattributes": "*.bin filter=lfs -text\n", "model.bin": b"raw"})
    policy = _policy(bypass_filters=("lfs",))
    result = commit(path_world.spec(app, commit_policy=policy))
    assert result.commit is not None
    assert show(app, "HEAD", "model.bin") == "raw"


def test_deleting_a_filtered_file_needs_no_filter(path_world: World, tmp_path: Path) -> None:
    """Deleting a path with a filter attribute stores nothing through the filter: it
    is committed."""
    app = path_world.clone("app")
    path_world.commit(app, {".gitattributes": "*.bin filter=lfs\n", "old.bin": "ptr\n"}, "lfs")
    write(app, {"old.bin": None})
    result = commit(path_world.spec(app))
    assert result.commit is not None
    assert result.commit.paths == ("old.bin",)
