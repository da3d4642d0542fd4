"""OpenSSH's sshd as a git remote for pygit2, with ed25519 and RSA client keys.

What these tests pin down (pygit2 1.21, libgit2 1.9.7, bundled libssh2 1.11.1):

* RSA client keys (2048 and 3072 bits, OpenSSH and PEM private key formats)
  authenticate, fetch and push against OpenSSH's sshd and leave the heap
  intact.  libssh2 signs with rsa-sha2-512.
* The crash seen with RSA keys against the asyncssh server of ``sshgit`` is
  a heap overflow in libssh2's ``_libssh2_key_sign_algorithm()``: it copies
  every entry of the server's ``server-sig-algs`` that the key supports into a
  buffer sized for the key's own list ("rsa-sha2-512,rsa-sha2-256,ssh-rsa"),
  so a server that lists an RSA algorithm twice overruns it (fixed upstream
  by libssh2 PR #1885, after 1.11.1).  asyncssh's default ``server-sig-algs``
  lists every algorithm twice.  The process then dies at a later heap
  operation, before the exec request, during the fetch or after it (in the
  push that follows, or when the remote is freed) depending on the heap
  layout, even on the length of the temporary paths; by SIGABRT from glibc
  ("free(): invalid next size (fast)", "corrupted double-linked list", ...)
  or by SIGSEGV, which of the two varying from run to run.  Sometimes it
  first writes gigabytes, hence the memory cap of the child.  With the
  repeats removed, RSA keys work against asyncssh too.  ed25519 and ECDSA
  keys never take that code path.

Every RSA attempt runs in a child interpreter, since it may crash.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
import pygit2
import pytest
from gitutil import commit_plumbing, git, rev
from servers.opensshd import OpenSSHServer, pubkey_path, ssh_keygen, sshd_binary
from servers.sshgit import KeypairCallbacks, SSHGitServer, make_ssh_home, pygit2_homedir

if sshd_binary() is None:
    pytest.skip(
        "OpenSSH sshd is not installed (apt-get install openssh-server)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.ssh

# name -> (bits, PEM private key format instead of OpenSSH's)
RSA_KEYS = {
    "rsa2048-openssh": (2048, False),
    "rsa3072-openssh": (3072, False),
    "rsa2048-pem": (2048, True),
    "rsa3072-pem": (3072, True),
}
RSA_SIG_ALGS = frozenset({"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"})
CHILD_TIMEOUT = 60.0
CHILD_MEMORY = 1 << 30  # address space limit of the child, bytes
STDERR_TAIL = 1500

# Run in a fresh interpreter: fetch main, commit on top of it and push that to
# refs/heads/BRANCH, free the remote and repository (and with them the libssh2
# session), then fetch once more over a new session.  Prints a "stage: ..."
# line after each step and a JSON summary last.
CHILD = r"""
import gc
import json
import resource
import sys

url, pub, priv, home, user, branch, scratch, max_memory = sys.argv[1:9]
# The corrupted heap sometimes sends libssh2 into writing gigabytes before it
# segfaults; cap the address space so that fails fast instead.
resource.setrlimit(resource.RLIMIT_AS, (int(max_memory), int(max_memory)))

import pygit2

pygit2.settings.homedir = home


class Callbacks(pygit2.RemoteCallbacks):
    def __init__(self):
        super().__init__()
        self.attempts = 0
        self.cert_checks = []
        self.rejected = []

    def credentials(self, url, username_from_url, allowed_types):
        self.attempts += 1
        if self.attempts > 3:
            raise pygit2.GitError("ssh authentication failed after 3 attempts")
        return pygit2.Keypair(username_from_url or user, pub, priv, "")

    def certificate_check(self, certificate, valid, host):
        self.cert_checks.append(bool(valid))
        return bool(valid)

    def push_update_reference(self, refname, message):
        if message is not None:
            self.rejected.append([refname, message])


def stage(name):
    print("stage:", name, flush=True)


summary = {"attempts": [], "cert_checks": []}


def run(operation, callbacks):
    operation(callbacks)
    summary["attempts"].append(callbacks.attempts)
    summary["cert_checks"].extend(callbacks.cert_checks)
    return callbacks


refspec = "+refs/heads/main:refs/remotes/origin/main"
repo = pygit2.init_repository(scratch + "/first.git", bare=True)
remote = repo.remotes.create("origin", url)
run(lambda cb: remote.fetch([refspec], callbacks=cb), Callbacks())
fetched = repo.references["refs/remotes/origin/main"].peel(pygit2.Commit)
summary["fetched"] = str(fetched.id)
stage("fetched")

builder = repo.TreeBuilder(fetched.tree)
builder.insert(branch + ".txt", repo.create_blob(branch.encode()), pygit2.enums.FileMode.BLOB)
sig = pygit2.Signature("Child", "child@example.invalid")
ref = "refs/heads/" + branch
summary["pushed"] = str(repo.create_commit(ref, sig, sig, branch, builder.write(), [fetched.id]))
pushed = run(lambda cb: remote.push([ref + ":" + ref], callbacks=cb), Callbacks())
summary["rejected"] = pushed.rejected
stage("pushed")

del remote, repo, fetched, builder
gc.collect()
stage("freed")

again = pygit2.init_repository(scratch + "/second.git", bare=True)
run(lambda cb: again.remotes.create("origin", url).fetch([refspec], callbacks=cb), Callbacks())
summary["refetched"] = str(again.references["refs/remotes/origin/main"].target)
stage("refetched")
print(json.dumps(summary), flush=True)
"""


@dataclass(frozen=True)
class ChildRun:
    """What became of one child interpreter running :data:`CHILD`."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def signal(self) -> signal.Signals | None:
        """The signal that killed the child, if one did."""
        return signal.Signals(-self.returncode) if self.returncode < 0 else None

    @property
    def stages(self) -> list[str]:
        """The steps the child completed, in order."""
        prefix = "stage: "
        return [ln[len(prefix) :] for ln in self.stdout.splitlines() if ln.startswith(prefix)]

    @property
    def summary(self) -> dict[str, Any]:
        """The JSON summary the child printed last."""
        lines = self.stdout.strip().splitlines()
        data: dict[str, Any] = json.loads(lines[-1])
        return data

    def describe(self) -> str:
        """Exit status or signal, completed steps and the tail of stderr."""
        how = f"killed by {self.signal.name}" if self.signal else f"exit {self.returncode}"
        return f"{how} after {self.stages}; stderr tail:\n{self.stderr[-STDERR_TAIL:]}"


def run_child(
    url: str, key: Path, home: Path, *, user: str, branch: str, scratch: Path
) -> ChildRun:
    """Fetch, push, free and fetch again with ``key`` in a child interpreter."""
    scratch.mkdir(parents=True, exist_ok=True)
    argv = [
        str(pubkey_path(key)),
        str(key),
        str(home),
        user,
        branch,
        str(scratch),
        str(CHILD_MEMORY),
    ]
    done = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", CHILD, url, *argv],
        cwd=scratch,
        env={**os.environ, "LIBC_FATAL_STDERR_": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    return ChildRun(done.returncode, done.stdout, done.stderr)


def seed_origin(bare: Path) -> Path:
    """A bare repository with one commit on main."""
    git(bare.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    commit_plumbing(bare, {"seed.txt": "seed\n"}, "seed")
    return bare


def assert_round_trip(run: ChildRun, origin: Path, branch: str) -> None:
    """The child exited cleanly after fetching main, pushing ``branch`` and fetching again."""
    assert run.returncode == 0, run.describe()
    summary = run.summary
    assert summary["fetched"] == rev(origin, "main")
    assert summary["refetched"] == rev(origin, "main")
    assert summary["pushed"] == rev(origin, f"refs/heads/{branch}")
    assert summary["rejected"] == []
    assert summary["attempts"] == [1, 1, 1]
    assert summary["cert_checks"] == [True, True, True]


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSSHServer]:
    """A running OpenSSH sshd for this module."""
    with OpenSSHServer(tmp_path_factory.mktemp("opensshd")) as server:
        yield server


@pytest.fixture(scope="module")
def sshd_origin(sshd: OpenSSHServer) -> Path:
    """A bare repository with one commit on main, next to the sshd's files."""
    return seed_origin(sshd.workdir / "origin.git")


@pytest.fixture(scope="module")
def rsa_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One RSA client key per entry of :data:`RSA_KEYS`, by name."""
    keydir = tmp_path_factory.mktemp("rsa-keys")
    return {
        name: ssh_keygen(keydir / name, "rsa", bits=bits, pem=pem)
        for name, (bits, pem) in RSA_KEYS.items()
    }


def asyncssh_server(
    workdir: Path, keys: dict[str, Path], signature_algs: list[str] | None
) -> Iterator[SSHGitServer]:
    """An :class:`SSHGitServer` accepting ``keys``, advertising ``signature_algs``
    as server-sig-algs (None: asyncssh's default) while it starts."""
    with pytest.MonkeyPatch.context() as mp:
        if signature_algs is not None:
            listen = asyncssh.listen

            async def listen_with_sig_algs(*args: Any, **kwargs: Any) -> asyncssh.SSHAcceptor:
                return await listen(*args, signature_algs=signature_algs, **kwargs)

            mp.setattr(asyncssh, "listen", listen_with_sig_algs)
        server = SSHGitServer(workdir, workdir / "server")
        for key in keys.values():
            server.authorize(pubkey_path(key))
        server.start()
    try:
        yield server
    finally:
        server.stop()


def default_signature_algs() -> list[str]:
    """asyncssh's default server-sig-algs, as it sends them."""
    options = asyncssh.SSHServerConnectionOptions(
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")]
    )
    return [alg.decode("ascii") for alg in options.signature_algs]


@pytest.fixture(scope="module")
def asyncssh_default(
    tmp_path_factory: pytest.TempPathFactory, rsa_keys: dict[str, Path]
) -> Iterator[SSHGitServer]:
    """The asyncssh git server as ``sshgit`` configures it."""
    yield from asyncssh_server(tmp_path_factory.mktemp("asyncssh-default"), rsa_keys, None)


@pytest.fixture(scope="module")
def asyncssh_unique(
    tmp_path_factory: pytest.TempPathFactory, rsa_keys: dict[str, Path]
) -> Iterator[SSHGitServer]:
    """The asyncssh git server with each of its default server-sig-algs listed once."""
    unique = list(dict.fromkeys(default_signature_algs()))
    yield from asyncssh_server(tmp_path_factory.mktemp("asyncssh-unique"), rsa_keys, unique)


def client_home(server: OpenSSHServer | SSHGitServer) -> Path:
    """A libgit2 home whose known_hosts trusts ``server``'s host key."""
    return make_ssh_home(server.workdir / "client-home", server.known_hosts_path)


# --------------------------------------------------------------------------
# the fixture itself
# --------------------------------------------------------------------------


def test_url_and_known_hosts_name_the_listening_port(sshd: OpenSSHServer) -> None:
    """url() and the known_hosts line use 127.0.0.1, the port sshd listens on and its host key."""
    assert sshd.port > 0
    assert f"Server listening on 127.0.0.1 port {sshd.port}." in sshd.log
    assert sshd.url(Path("/srv/x.git")) == f"ssh://{sshd.user}@127.0.0.1:{sshd.port}/srv/x.git"
    keytype, blob = pubkey_path(sshd.host_key_path).read_text().split()[:2]
    assert keytype == "ssh-ed25519"
    assert sshd.known_hosts_path.read_text() == f"[127.0.0.1]:{sshd.port} {keytype} {blob}\n"


def test_stop_ends_sshd_and_frees_the_port(tmp_path: Path) -> None:
    """After stop() the sshd process is gone and its port refuses connections."""
    server = OpenSSHServer(tmp_path / "sshd")
    with server:
        port, pid = server.port, server.pid
        assert pid is not None
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert server.pid is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_ed25519_key_fetches_and_pushes(
    sshd: OpenSSHServer, sshd_origin: Path, tmp_path: Path
) -> None:
    """pygit2 fetches and pushes over sshd with an ed25519 key, the host key checking as valid."""
    key = ssh_keygen(tmp_path / "id_ed25519")
    sshd.authorize(pubkey_path(key))
    repo = pygit2.init_repository(str(tmp_path / "local.git"), bare=True)
    remote = repo.remotes.create("origin", sshd.url(sshd_origin))

    with pygit2_homedir(client_home(sshd)):
        fetching = KeypairCallbacks(pubkey_path(key), key, username=sshd.user)
        remote.fetch(["+refs/heads/main:refs/remotes/origin/main"], callbacks=fetching)
        parent = repo.references["refs/remotes/origin/main"].peel(pygit2.Commit)
        assert str(parent.id) == rev(sshd_origin, "main")

        builder = repo.TreeBuilder(parent.tree)
        builder.insert("ed.txt", repo.create_blob(b"ed25519\n"), pygit2.enums.FileMode.BLOB)
        sig = pygit2.Signature("Test", "test@example.invalid")
        ref = "refs/heads/ed25519"
        pushed = repo.create_commit(ref, sig, sig, "ed25519", builder.write(), [parent.id])
        pushing = KeypairCallbacks(pubkey_path(key), key, username=sshd.user)
        remote.push([f"{ref}:{ref}"], callbacks=pushing)

    assert rev(sshd_origin, ref) == str(pushed)
    assert pushing.push_updates == [(ref, None)]
    assert (fetching.attempts, pushing.attempts) == (1, 1)
    assert fetching.cert_checks == pushing.cert_checks == [True]
    assert f"Accepted publickey for {sshd.user} from 127.0.0.1" in sshd.log


# --------------------------------------------------------------------------
# RSA client keys
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", RSA_KEYS)
def test_rsa_key_works_against_openssh_sshd(
    name: str,
    sshd: OpenSSHServer,
    sshd_origin: Path,
    rsa_keys: dict[str, Path],
    tmp_path: Path,
) -> None:
    """An RSA key fetches, pushes and fetches again over sshd, and the child exits cleanly."""
    key = rsa_keys[name]
    sshd.authorize(pubkey_path(key))
    branch = f"sshd-{name}"
    run = run_child(
        sshd.url(sshd_origin),
        key,
        client_home(sshd),
        user=sshd.user,
        branch=branch,
        scratch=tmp_path,
    )
    assert_round_trip(run, sshd_origin, branch)


@pytest.mark.parametrize("name", RSA_KEYS)
def test_rsa_key_crashes_client_iff_asyncssh_repeats_server_sig_algs(
    name: str, asyncssh_default: SSHGitServer, rsa_keys: dict[str, Path], tmp_path: Path
) -> None:
    """Against asyncssh's default server-sig-algs, which repeat RSA algorithms, the child
    using an RSA key dies by a signal of the heap libssh2 corrupted."""
    server = asyncssh_default
    origin = seed_origin(server.root / f"{name}.git")
    branch = f"asyncssh-{name}"
    run = run_child(
        server.url(origin),
        rsa_keys[name],
        client_home(server),
        user="git",
        branch=branch,
        scratch=tmp_path,
    )
    rsa_algs = [alg for alg in default_signature_algs() if alg in RSA_SIG_ALGS]
    if len(rsa_algs) == len(set(rsa_algs)):  # a future asyncssh without the repeats
        assert_round_trip(run, origin, branch)
        return
    assert run.signal in {signal.SIGSEGV, signal.SIGABRT}, run.describe()


@pytest.mark.parametrize("name", RSA_KEYS)
def test_rsa_key_works_against_asyncssh_with_unique_server_sig_algs(
    name: str, asyncssh_unique: SSHGitServer, rsa_keys: dict[str, Path], tmp_path: Path
) -> None:
    """With each server-sig-alg listed once, an RSA key works against asyncssh too."""
    server = asyncssh_unique
    origin = seed_origin(server.root / f"{name}.git")
    branch = f"asyncssh-{name}"
    run = run_child(
        server.url(origin),
        rsa_keys[name],
        client_home(server),
        user="git",
        branch=branch,
        scratch=tmp_path,
    )
    assert_round_trip(run, origin, branch)
