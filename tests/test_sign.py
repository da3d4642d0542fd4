"""Signed commits with ssh-keygen and gpg, verified by git itself: the commits a run
makes, the ones a rebase replays, and no unsigned commit when signing fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from commitutil import commit, write
from gitutil import World, git

from reconcile import (
    CommitPolicy,
    GPGSigner,
    InvalidSpecError,
    Outcome,
    SSHSigner,
    make_signer,
    reconcile,
)

needs_ssh = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
needs_gpg = pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg")
EMAIL = "test@example.invalid"  # the isolated git config's user


def ssh_key(where: Path, passphrase: str = "") -> Path:
    key = where / "signing"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(key)], check=True
    )
    return key


def trust_ssh(repo: Path, key: Path) -> None:
    """Make git verify SSH signatures of ``key`` in ``repo``."""
    allowed = key.parent / "allowed_signers"
    allowed.write_text(f"{EMAIL} {key.with_suffix('.pub').read_text()}")
    git(repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))


def verify(repo: Path, rev: str = "HEAD", env: dict[str, str] | None = None) -> str:
    """``git verify-commit``'s report; fails the test when git does not accept it."""
    done = subprocess.run(
        ["git", "verify-commit", "--raw", rev],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env=None if env is None else os.environ | env,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.fixture
def gnupg() -> Iterator[tuple[Path, str]]:
    """A throwaway GNUPGHOME with a key and no passphrase: (home, fingerprint)."""
    home = Path(tempfile.mkdtemp(prefix="gpg", dir="/tmp"))  # short: the agent's socket
    home.chmod(0o700)
    env = os.environ | {"GNUPGHOME": str(home)}
    uid = f"Test User <{EMAIL}>"
    subprocess.run(
        ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign", "never"],
        env=env,
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        ["gpg", "--batch", "--with-colons", "--list-secret-keys"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr"))
    try:
        yield home, fingerprint
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False)
        shutil.rmtree(home, ignore_errors=True)


@needs_ssh
def test_an_ssh_signed_commit_verifies_with_git(path_world: World, tmp_path: Path) -> None:
    """sign = "ssh": git verify-commit accepts the commit's SSH signature, and the
    result says it is signed, with ssh."""
    key = ssh_key(tmp_path)
    app = path_world.clone("app")
    trust_ssh(app, key)
    write(app, {"a.txt": "a\n"})
    spec = path_world.spec(app, commit_policy=CommitPolicy(signer=make_signer("ssh", key)))
    result = commit(spec)
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.commit is not None
    assert (result.commit.signed, result.commit.signature) == (True, "ssh")
    assert result.commit.to_dict()["signature"] == "ssh"
    assert 'Good "git" signature for test@example.invalid' in verify(app)
    assert path_world.remote_tip() == result.commit.sha


@needs_gpg
def test_a_gpg_signed_commit_verifies_with_git(path_world: World, gnupg: tuple[Path, str]) -> None:
    """sign = "gpg" with gpg_home: git verify-commit (with that GNUPGHOME) accepts the
    commit's detached armoured signature."""
    home, fingerprint = gnupg
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    signer = make_signer("gpg", fingerprint, home)
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(signer=signer)))
    assert result.commit is not None
    assert (result.commit.signed, result.commit.signature) == (True, "gpg")
    report = verify(app, env={"GNUPGHOME": str(home)})
    assert f"VALIDSIG {fingerprint}" in report
    assert "-----BEGIN PGP SIGNATURE-----" in git(app, "cat-file", "commit", "HEAD")


@needs_ssh
def test_replayed_commits_are_signed_again(path_world: World, tmp_path: Path) -> None:
    """After a real rebase (the remote moved on), every replayed commit carries a new
    signature git accepts."""
    key = ssh_key(tmp_path)
    app = path_world.clone("app")
    trust_ssh(app, key)
    spec = path_world.spec(app, commit_policy=CommitPolicy(signer=SSHSigner(key)), push=False)
    for name in ("a.txt", "b.txt"):
        write(app, {name: f"{name}\n"})
        assert commit(spec).commit is not None
    before = git(app, "rev-parse", "HEAD")
    path_world.remote_commit({"remote.txt": "theirs\n"}, "their change")
    result = reconcile(path_world.spec(app, commit_policy=CommitPolicy(signer=SSHSigner(key))))
    assert result.outcome is Outcome.REBASED
    assert git(app, "rev-parse", "HEAD") != before
    assert git(app, "log", "-1", "--format=%s", "HEAD~2") == "their change"
    for rev in ("HEAD", "HEAD~1"):
        assert 'Good "git" signature' in verify(app, rev)
    assert path_world.remote_tip() == git(app, "rev-parse", "HEAD")


@needs_ssh
def test_a_broken_key_makes_no_commit(path_world: World, tmp_path: Path) -> None:
    """A key ssh-keygen cannot use: the run ends blocked saying why, no commit is made,
    and nothing of the key is in the reason."""
    key = tmp_path / "broken"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nbm90LWEta2V5LW1hdGVyaWFs\n")
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(signer=SSHSigner(key))))
    assert result.outcome is Outcome.BLOCKED
    assert "signing the commit failed: ssh-keygen failed (exit 255)" in result.reason
    assert "bm90LWEta2V5" not in result.reason
    assert result.commit is None
    assert git(app, "rev-list", "--count", "HEAD") == "1"
    assert git(app, "status", "--porcelain") == "?? a.txt"


@needs_ssh
def test_a_key_that_needs_a_passphrase_fails_at_once(path_world: World, tmp_path: Path) -> None:
    """A key with a passphrase is not asked for it (no terminal): blocked, quickly."""
    key = ssh_key(tmp_path, passphrase="correct horse")
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(signer=SSHSigner(key))))
    assert result.outcome is Outcome.BLOCKED
    assert "signing the commit failed" in result.reason
    assert "correct horse" not in result.reason


@needs_ssh
def test_a_replay_that_cannot_be_signed_is_not_made(path_world: World, tmp_path: Path) -> None:
    """When the replayed commits cannot be signed, the run ends blocked and the
    branch stays where it was: no unsigned commit replaces a signed one."""
    key = ssh_key(tmp_path)
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    signed = CommitPolicy(signer=SSHSigner(key))
    assert commit(path_world.spec(app, commit_policy=signed, push=False)).commit is not None
    before = git(app, "rev-parse", "HEAD")
    path_world.remote_commit({"remote.txt": "theirs\n"}, "their change")
    key.write_text("no longer a key\n")
    result = reconcile(path_world.spec(app, commit_policy=signed))
    assert result.outcome is Outcome.BLOCKED
    assert f"signing the replayed commit {before[:10]} failed" in result.reason
    assert git(app, "rev-parse", "HEAD") == before


@needs_gpg
def test_an_unknown_gpg_key_makes_no_commit(path_world: World, gnupg: tuple[Path, str]) -> None:
    """A GPG key id the keyring does not have: blocked, with gpg's complaint."""
    home, _fingerprint = gnupg
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    signer = GPGSigner("0000000000000000DEADBEEF", home)
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(signer=signer)))
    assert result.outcome is Outcome.BLOCKED
    assert "signing the commit failed: gpg failed (exit 2)" in result.reason
    assert git(app, "rev-list", "--count", "HEAD") == "1"


@needs_ssh
def test_a_squash_is_signed_too(path_world: World, tmp_path: Path) -> None:
    """With squash_unpushed, the squashed commit is signed, and git accepts it."""
    key = ssh_key(tmp_path)
    app = path_world.clone("app")
    trust_ssh(app, key)
    policy = CommitPolicy(signer=SSHSigner(key), squash_unpushed=True)
    write(app, {"a.txt": "a\n"})
    commit(path_world.spec(app, commit_policy=policy, push=False))
    write(app, {"b.txt": "b\n"})
    result = commit(path_world.spec(app, commit_policy=policy))
    assert result.commit is not None
    assert result.commit.squashed == 1
    assert (result.commit.signed, result.commit.signature) == (True, "ssh")
    assert 'Good "git" signature' in verify(app)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("ssh", "/nonexistent/key"), "signing_key /nonexistent/key: no such file"),
        (("gpg", "-x"), "signing_key '-x': give a GPG key id"),
        (("gpg", "ABC", "/nonexistent/home"), "gpg_home /nonexistent/home: no such directory"),
        (("x509", "k"), 'sign must be "ssh" or "gpg"'),
    ],
)
def test_a_bad_signing_setting_is_refused(args: tuple[str, ...], problem: str) -> None:
    """Each bad signing setting is refused when the signer is made, naming the key."""
    with pytest.raises(InvalidSpecError, match=problem):
        make_signer(*args)


class FailsAfter:
    """Signs with ``key`` ``good`` times, then fails (a key revoked meanwhile)."""

    format = "ssh"

    def __init__(self, key: Path, good: int) -> None:
        self.signer, self.good = SSHSigner(key), good

    def sign(self, payload: str) -> str:
        if self.good <= 0:
            raise RuntimeError("the signing key was revoked")
        self.good -= 1
        return self.signer.sign(payload)


@needs_ssh
def test_a_squash_that_cannot_be_signed_pushes_the_signed_commits(
    path_world: World, tmp_path: Path
) -> None:
    """When the squashed commit cannot be signed, nothing is squashed: the commits,
    each signed already, are pushed as they are, and no unsigned commit is made."""
    key = ssh_key(tmp_path)
    app = path_world.clone("app")
    trust_ssh(app, key)
    signer = FailsAfter(key, good=2)
    policy = CommitPolicy(signer=signer, squash_unpushed=True)
    write(app, {"a.txt": "a\n"})
    commit(path_world.spec(app, commit_policy=policy, push=False))
    write(app, {"b.txt": "b\n"})
    result = commit(path_world.spec(app, commit_policy=policy))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.commit is not None
    assert result.commit.squashed == 0
    assert path_world.remote_tip() == git(app, "rev-parse", "HEAD")
    for rev in ("HEAD", "HEAD~1"):
        assert 'Good "git" signature' in verify(app, rev)


def test_a_signing_tool_that_hangs_is_stopped(
    path_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signing tool that does not finish is stopped at the signer's timeout and the
    commit is not made."""
    tools = tmp_path / "bin"
    tools.mkdir()
    hanging = tools / "ssh-keygen"
    hanging.write_text("#!/bin/sh\nexec sleep 30\n")
    hanging.chmod(0o755)
    key = tmp_path / "key"
    key.write_text("unused\n")
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    signer = SSHSigner(key, timeout=0.5)
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(signer=signer)))
    assert result.outcome is Outcome.BLOCKED
    assert "ssh-keygen took more than 0.5 s to sign" in result.reason
    assert git(app, "rev-list", "--count", "HEAD") == "1"
