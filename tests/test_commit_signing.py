"""Signed commits through the CommitSigner seam: an SSH signature git verifies."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from commitutil import commit, write
from gitutil import World, git

from reconcile import CommitPolicy, Outcome

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")


class SSHSigner:
    """Signs as `git commit -S` does with gpg.format=ssh."""

    def __init__(self, key: Path) -> None:
        self.key = key

    def sign(self, payload: str) -> str:
        done = subprocess.run(
            ["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", str(self.key)],
            input=payload.encode(),
            capture_output=True,
            check=True,
        )
        return done.stdout.decode()


class Broken:
    def sign(self, payload: str) -> str:
        raise RuntimeError("the signing key is locked")


def _key(tmp_path: Path) -> Path:
    key = tmp_path / "signing"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


def test_a_signed_commit_verifies_with_git(path_world: World, tmp_path: Path) -> None:
    """With a signer, the commit carries its signature where git looks for it, and
    `git verify-commit` accepts it; the result says it is signed."""
    key = _key(tmp_path)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"test@example.invalid {(tmp_path / 'signing.pub').read_text()}")
    app = path_world.clone("app")
    git(app, "config", "gpg.format", "ssh")
    git(app, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(signer=SSHSigner(key))))
    assert result.commit is not None
    assert result.commit.signed
    done = subprocess.run(
        ["git", "verify-commit", "HEAD"], cwd=app, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert 'Good "git" signature' in done.stderr
    assert path_world.remote_tip() == result.commit.sha


def test_a_signer_that_fails_blocks_the_commit(path_world: World) -> None:
    """A signer's failure ends the run blocked, saying so; nothing is committed."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=CommitPolicy(signer=Broken())))
    assert result.outcome is Outcome.BLOCKED
    assert "signing the commit failed: the signing key is locked" in result.reason
    assert git(app, "rev-list", "--count", "HEAD") == "1"
