"""TCP_NODELAY on libgit2's sockets: set on every connection when on, nothing when off.

The option is what removes the ~40 ms delayed-ACK stall of libgit2's SSH handshake
(``reconcile/_git/_nodelay.py`` says why). These tests read the option back from the
socket of a live libgit2 connection, found through ``/proc/self/fd`` from inside the
certificate check, which libgit2 calls while the connection is open.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pygit2
import pytest
from gitutil import World
from servers.sshgit import KeypairCallbacks

from reconcile import Outcome, reconcile
from reconcile._git import _nodelay

pytestmark = pytest.mark.skipif(
    _nodelay.refusal({}, sys.platform, os.uname().machine, "glibc") is not None
    or not os.confstr("CS_GNU_LIBC_VERSION"),
    reason="the hook is for Linux with glibc on x86_64 or aarch64",
)


def _nodelay_of_sockets_to(port: int) -> list[int]:
    """TCP_NODELAY of each TCP socket of this process connected to 127.0.0.1:``port``."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if not os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                continue
            peer = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue
        with peer:
            try:
                if peer.type != socket.SOCK_STREAM or peer.getpeername()[1] != port:
                    continue
            except (OSError, IndexError, TypeError):
                continue
            found.append(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    return found


class _Audit(KeypairCallbacks):
    """Key-pair callbacks that read TCP_NODELAY off the live connection's socket."""

    def __init__(self, world: World) -> None:
        ssh = world.ssh
        super().__init__(ssh.client_pubkey_path, ssh.client_key_path, accept_any_host_key=True)
        self.port = ssh.port
        self.seen: list[int] = []

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        self.seen += _nodelay_of_sockets_to(self.port)
        return super().certificate_check(certificate, valid, host)


def _list_heads(world: World, clone: Path) -> list[int]:
    audit = _Audit(world)
    pygit2.Repository(str(clone)).remotes["origin"].list_heads(callbacks=audit)
    return audit.seen


def test_libgit2_sockets_get_tcp_nodelay(ssh_world: World) -> None:
    """Once installed, every libgit2 connection's socket has TCP_NODELAY, also from
    several threads at once, and the hook counts one socket per server connection."""
    world = ssh_world
    app = world.clone("app")
    assert reconcile(world.spec(app)).outcome is Outcome.IN_SYNC  # installs it
    assert _nodelay.install()
    before, sockets = world.ssh.connections, _nodelay.status()["sockets"]
    with ThreadPoolExecutor(4) as pool:
        flags = list(pool.map(lambda _n: _list_heads(world, app), range(8)))
    seen = [flag for each in flags for flag in each]
    assert len(seen) >= 8
    assert all(seen), seen
    assert _nodelay.status() == {
        "active": True,
        "reason": "",
        "sockets": sockets + world.ssh.connections - before,
    }


PROBE = """
import json, os, resource, sys
sys.path.insert(0, sys.argv[2])
import pygit2
from test_nodelay import _nodelay_of_sockets_to
from reconcile._git import _nodelay

key, port = sys.argv[1], int(os.environ["PROBE_PORT"])
seen = []

class Audit(pygit2.RemoteCallbacks):
    def credentials(self, url, username, allowed):
        return pygit2.Keypair("git", key + ".pub", key, "")

    def certificate_check(self, certificate, valid, host):
        seen.extend(_nodelay_of_sockets_to(port))
        return True

_nodelay.install()
repo = pygit2.init_repository(os.environ["PROBE_DIR"], bare=True)
repo.remotes.create_anonymous(os.environ["PROBE_URL"]).list_heads(callbacks=Audit())
# With every file descriptor taken, libgit2's socket() fails: its error keeps errno.
refused = repo.remotes.create_anonymous("ssh://git@127.0.0.1:1/x.git")
held = []
resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
try:
    while True:
        held.append(os.dup(0))
except OSError:
    pass
try:
    refused.list_heads()
    error = None
except pygit2.GitError as exc:
    error = str(exc)
for fd in held:
    os.close(fd)
print(json.dumps({"seen": seen, "status": _nodelay.status(), "error": error}))
"""


def _probe(world: World, tmp_path: Path, switch: str | None) -> dict[str, object]:
    """Run PROBE in a fresh process (the hook is per process), with the switch set or not."""
    env = {k: v for k, v in os.environ.items() if k != _nodelay.ENV_SWITCH}
    if switch is not None:
        env[_nodelay.ENV_SWITCH] = switch
    env["PROBE_DIR"] = str(tmp_path / f"probe-{switch}")
    env["PROBE_URL"] = world.url
    env["PROBE_PORT"] = str(world.ssh.port)
    tests = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(world.ssh.client_key_path), tests],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_turned_off_by_the_switch_sets_nothing(ssh_world: World, tmp_path: Path) -> None:
    """With GIT_RECONCILE_NODELAY=0 libgit2's socket keeps Nagle on and the hook says
    why it is off; with it unset, the same probe finds the option set. Both processes
    exit cleanly, and a socket() that fails reports the same error either way."""
    off = _probe(ssh_world, tmp_path, "0")
    on = _probe(ssh_world, tmp_path, None)
    assert off["seen"] == [0]
    assert off["status"] == {
        "active": False,
        "reason": "turned off by GIT_RECONCILE_NODELAY=0",
        "sockets": 0,
    }
    assert on["seen"] == [1]
    assert on["status"] == {"active": True, "reason": "", "sockets": 1}
    assert off["error"] == on["error"]
    assert "Too many open files" in str(on["error"])


@pytest.mark.parametrize(
    ("environ", "system", "machine", "libc", "reason"),
    [
        ({}, "linux", "x86_64", "glibc", None),
        ({}, "linux", "aarch64", "glibc", None),
        ({"GIT_RECONCILE_NODELAY": "1"}, "linux", "x86_64", "glibc", None),
        ({"GIT_RECONCILE_NODELAY": "0"}, "linux", "x86_64", "glibc", "turned off"),
        ({}, "darwin", "arm64", "", "only on Linux"),
        ({}, "win32", "AMD64", "", "only on Linux"),
        ({}, "linux", "armv7l", "glibc", "only on x86_64 and aarch64"),
        ({}, "linux", "x86_64", "", "only with glibc"),
    ],
)
def test_other_systems_get_nothing(
    environ: dict[str, str], system: str, machine: str, libc: str, reason: str | None
) -> None:
    """The hook goes in only on Linux with glibc on x86_64 or aarch64, and not when
    turned off; elsewhere (macOS, Windows, musl, 32-bit ARM) it says why not."""
    found = _nodelay.refusal(environ, system, machine, libc)
    if reason is None:
        assert found is None
    else:
        assert found is not None
        assert reason in found
