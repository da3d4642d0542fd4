"""RSA client keys, end to end through git-reconcile, against OpenSSH's own sshd.

libssh2 1.11.1 overflows a buffer when a server advertises an RSA signature
algorithm twice (asyncssh does); OpenSSH does not, and RSA keys work against it.
Each run happens in a child process, so a crash would fail the test, not the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from gitutil import World, git, rev
from servers.opensshd import OpenSSHServer, ssh_keygen, sshd_binary

pytestmark = pytest.mark.skipif(
    sshd_binary() is None, reason="OpenSSH's sshd is not installed (apt-get install openssh-server)"
)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSSHServer]:
    """OpenSSH's sshd on loopback, as the current user."""
    with OpenSSHServer(tmp_path_factory.mktemp("opensshd")) as server:
        yield server


@pytest.mark.parametrize(("bits", "pem"), [(2048, False), (3072, True)])
def test_rsa_key_reconciles_against_openssh(
    sshd: OpenSSHServer, path_world: World, tmp_path: Path, bits: int, pem: bool
) -> None:
    """With an RSA key (OpenSSH or PEM format) a run fetches and pushes over OpenSSH's sshd."""
    world = path_world
    key = ssh_keygen(tmp_path / f"rsa{bits}", "rsa", bits=bits, pem=pem)
    sshd.authorize(Path(str(key) + ".pub"))
    app = world.clone("app")
    git(app, "remote", "set-url", "origin", sshd.url(world.remote))
    world.remote_commit({"r.txt": "r\n"}, "remote")
    world.commit(app, {"l.txt": "l\n"}, "local")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "plugin",
            "run",
            str(app),
            "--json",
            "--ssh-key",
            str(key),
            "--known-hosts",
            str(sshd.known_hosts_path),
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, (done.returncode, done.stderr, sshd.log[-2000:])
    result = json.loads(done.stdout)
    assert result["outcome"] == "rebased"
    assert result["push"]["status"] == "ok"
    assert world.remote_tip() == rev(app, "main")
