"""Self-test of the loopback SSH git server in ``sshgit``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import select
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pygit2
import pytest
from servers.sshgit import (
    HangingServer,
    KeypairCallbacks,
    SSHGitServer,
    generate_ecdsa,
    generate_ed25519,
    hanging_server_fixture,  # noqa: F401  (fixture "hanging_server")
    make_ssh_home,
    own_ssh_server_fixture,  # noqa: F401  (fixture "own_ssh_server")
    pubkey_path,
    pygit2_homedir,
    write_known_hosts,
)

pytestmark = pytest.mark.ssh

ZERO_OID = "0" * 40
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> str:
    """Run the git CLI and return its stdout (stripped)."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        env=GIT_ENV,
        capture_output=True,
        check=True,
    )
    return result.stdout.decode().strip()


def commit_file(work: Path, name: str, content: str) -> str:
    """Write a file in a work tree, commit it with the CLI, return the commit id."""
    (work / name).write_text(content)
    git("add", name, cwd=work)
    git("commit", "-q", "-m", f"write {name}", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def pygit2_commit(repo: pygit2.Repository, name: str, data: bytes) -> pygit2.Oid:
    """Commit a file on top of HEAD with pygit2, advancing refs/heads/main."""
    parent = repo.head.peel(pygit2.Commit)
    builder = repo.TreeBuilder(parent.tree)
    builder.insert(name, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    sig = pygit2.Signature("Test", "test@example.invalid")
    return repo.create_commit(
        "refs/heads/main", sig, sig, f"add {name}", builder.write(), [parent.id]
    )


@pytest.fixture
def origin(own_ssh_server: SSHGitServer) -> Path:
    """A bare repo under the server root with three commits on main."""
    bare = own_ssh_server.root / "origin.git"
    git("init", "-q", "--bare", "-b", "main", str(bare))
    work = own_ssh_server.root / "seed"
    git("init", "-q", "-b", "main", str(work))
    for i in range(3):
        commit_file(work, f"f{i}.txt", f"content {i}\n")
    git("push", "-q", str(bare), "main", cwd=work)
    return bare


@pytest.fixture
def ssh_home(own_ssh_server: SSHGitServer, tmp_path: Path) -> Iterator[Path]:
    """libgit2's HOME, holding a known_hosts that trusts the server's host key."""
    with pygit2_homedir(make_ssh_home(tmp_path / "home", own_ssh_server.known_hosts_path)) as home:
        yield home


@pytest.fixture
def callbacks(own_ssh_server: SSHGitServer) -> KeypairCallbacks:
    """Callbacks authenticating with the server's authorized client key."""
    return KeypairCallbacks(own_ssh_server.client_pubkey_path, own_ssh_server.client_key_path)


def clone(server: SSHGitServer, bare: Path, dest: Path, cb: KeypairCallbacks) -> pygit2.Repository:
    return pygit2.clone_repository(server.url(bare), str(dest), callbacks=cb)


def test_clone_fetch_push_roundtrip(
    own_ssh_server: SSHGitServer,
    origin: Path,
    ssh_home: Path,
    callbacks: KeypairCallbacks,
    tmp_path: Path,
) -> None:
    """pygit2 clones, fetches and pushes over SSH, and the host key checks as valid."""
    repo = clone(own_ssh_server, origin, tmp_path / "clone", callbacks)
    assert str(repo.head.target) == git("-C", str(origin), "rev-parse", "main")
    assert callbacks.cert_checks == [True]

    upstream = commit_file(own_ssh_server.root / "seed", "upstream.txt", "new\n")
    git("push", "-q", str(origin), "main", cwd=own_ssh_server.root / "seed")
    repo.remotes["origin"].fetch(callbacks=callbacks)
    assert str(repo.references["refs/remotes/origin/main"].target) == upstream

    repo.reset(pygit2.Oid(hex=upstream), pygit2.enums.ResetMode.HARD)
    local = pygit2_commit(repo, "local.txt", b"pushed over ssh\n")
    repo.remotes["origin"].push(["refs/heads/main:refs/heads/main"], callbacks=callbacks)
    assert callbacks.push_updates == [("refs/heads/main", None)]
    assert git("-C", str(origin), "rev-parse", "main") == str(local)
    assert any(cmd.startswith("git-receive-pack") for cmd in own_ssh_server.commands)


def test_pre_receive_hook_rejects_push(
    own_ssh_server: SSHGitServer,
    origin: Path,
    ssh_home: Path,
    callbacks: KeypairCallbacks,
    tmp_path: Path,
) -> None:
    """A pre-receive hook that exits 1 rejects the ref: push returns but reports a message."""
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'denied by policy' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = git("-C", str(origin), "rev-parse", "main")
    repo = clone(own_ssh_server, origin, tmp_path / "clone", callbacks)
    pygit2_commit(repo, "x.txt", b"x\n")

    repo.remotes["origin"].push(["refs/heads/main:refs/heads/main"], callbacks=callbacks)

    assert callbacks.rejected.keys() == {"refs/heads/main"}
    assert git("-C", str(origin), "rev-parse", "main") == before


def test_push_waits_for_post_receive_hook(
    own_ssh_server: SSHGitServer,
    origin: Path,
    ssh_home: Path,
    callbacks: KeypairCallbacks,
    tmp_path: Path,
) -> None:
    """A pygit2 push over SSH returns only after the post-receive hook has finished."""
    go = tmp_path / "go"
    os.mkfifo(go)
    marker = tmp_path / "marker"
    hook = origin / "hooks" / "post-receive"
    hook.write_text(f'#!/bin/sh\nread line < "{go}"\necho "$line" > "{marker}"\n')
    hook.chmod(0o755)
    repo = clone(own_ssh_server, origin, tmp_path / "clone", callbacks)
    pygit2_commit(repo, "x.txt", b"x\n")
    errors: list[pygit2.GitError] = []

    def push() -> None:
        try:
            repo.remotes["origin"].push(["refs/heads/main:refs/heads/main"], callbacks=callbacks)
        except pygit2.GitError as exc:  # asserted below
            errors.append(exc)

    pusher = threading.Thread(target=push, daemon=True)
    pusher.start()
    fd = os.open(go, os.O_WRONLY)  # returns once the hook opened the fifo: it is running
    try:
        assert pusher.is_alive()
        os.write(fd, b"finished\n")
    finally:
        os.close(fd)
    pusher.join(10)
    assert not pusher.is_alive()
    assert errors == []
    assert marker.read_text() == "finished\n"
    assert callbacks.rejected == {}


def _fast_import_history(bare: Path, commits: int, blob_size: int) -> None:
    """Fill ``bare`` with a linear main branch of incompressible commits."""
    rng = random.Random(1234)
    chunks: list[bytes] = []
    for i in range(1, commits + 1):
        msg = f"commit {i}\n".encode()
        chunks.append(
            b"commit refs/heads/main\n"
            + f"mark :{i}\ncommitter T <t@example.invalid> {1_700_000_000 + i} +0000\n".encode()
            + f"data {len(msg)}\n".encode()
            + msg
            + (f"from :{i - 1}\n".encode() if i > 1 else b"")
            + f"M 100644 inline blob{i % 7}.bin\ndata {blob_size}\n".encode()
            + rng.randbytes(blob_size)
            + b"\n"
        )
    git("fast-import", "--quiet", cwd=bare, stdin=b"".join(chunks))


def test_large_pack_round_trip(
    own_ssh_server: SSHGitServer,
    ssh_home: Path,
    callbacks: KeypairCallbacks,
    tmp_path: Path,
) -> None:
    """A ~15 MB pack is fetched and pushed over SSH completely (fsck passes on both ends)."""
    big = own_ssh_server.root / "big.git"
    git("init", "-q", "--bare", "-b", "main", str(big))
    _fast_import_history(big, commits=300, blob_size=50_000)
    tip = git("-C", str(big), "rev-parse", "main")

    repo = clone(own_ssh_server, big, tmp_path / "clone", callbacks)
    assert str(repo.head.target) == tip
    assert git("rev-list", "--count", "HEAD", cwd=tmp_path / "clone") == "300"
    git("fsck", "--full", "--strict", cwd=tmp_path / "clone")

    mirror = own_ssh_server.root / "mirror.git"
    git("init", "-q", "--bare", "-b", "main", str(mirror))
    remote = repo.remotes.create("mirror", own_ssh_server.url(mirror))
    remote.push(["refs/heads/main:refs/heads/main"], callbacks=callbacks)
    assert callbacks.rejected == {}
    assert git("-C", str(mirror), "rev-parse", "main") == tip
    git("-C", str(mirror), "fsck", "--full", "--strict")


def test_wrong_host_key_fails(
    own_ssh_server: SSHGitServer,
    origin: Path,
    callbacks: KeypairCallbacks,
    tmp_path: Path,
) -> None:
    """With another key in known_hosts libgit2 reports valid=False and the fetch fails."""
    other = generate_ed25519(tmp_path / "other_host_key")
    home = tmp_path / "home"
    write_known_hosts(home / ".ssh" / "known_hosts", own_ssh_server.port, pubkey_path(other))
    repo = pygit2.init_repository(str(tmp_path / "local"))
    remote = repo.remotes.create("origin", own_ssh_server.url(origin))
    with pygit2_homedir(home), pytest.raises(pygit2.GitError):
        remote.fetch(callbacks=callbacks)
    assert callbacks.cert_checks == [False]


def test_unauthorized_key_refused_until_authorized(
    own_ssh_server: SSHGitServer,
    origin: Path,
    ssh_home: Path,
    tmp_path: Path,
) -> None:
    """An unknown ecdsa client key is refused; after authorize() it is accepted."""
    key = generate_ecdsa(tmp_path / "id_ecdsa")
    repo = pygit2.init_repository(str(tmp_path / "local"))
    remote = repo.remotes.create("origin", own_ssh_server.url(origin))

    refused = KeypairCallbacks(pubkey_path(key), key)
    with pytest.raises(pygit2.GitError):
        remote.fetch(callbacks=refused)
    assert refused.attempts == refused.max_attempts + 1

    own_ssh_server.authorize(pubkey_path(key))
    remote.fetch(callbacks=KeypairCallbacks(pubkey_path(key), key))
    assert str(repo.references["refs/remotes/origin/main"].target) == git(
        "-C", str(origin), "rev-parse", "main"
    )


def test_fail_next_drops_connections(
    own_ssh_server: SSHGitServer,
    origin: Path,
    ssh_home: Path,
    tmp_path: Path,
) -> None:
    """fail_next=N makes the next N connections fail; the one after succeeds."""
    repo = pygit2.init_repository(str(tmp_path / "local"))
    remote = repo.remotes.create("origin", own_ssh_server.url(origin))
    own_ssh_server.fail_next = 2
    for _ in range(2):
        with pytest.raises(pygit2.GitError):
            remote.fetch(
                callbacks=KeypairCallbacks(
                    own_ssh_server.client_pubkey_path, own_ssh_server.client_key_path
                )
            )
    remote.fetch(
        callbacks=KeypairCallbacks(
            own_ssh_server.client_pubkey_path, own_ssh_server.client_key_path
        )
    )
    assert (own_ssh_server.connections, own_ssh_server.dropped, own_ssh_server.fail_next) == (
        3,
        2,
        0,
    )


def test_list_heads_then_fetch_reuses_connection(
    own_ssh_server: SSHGitServer,
    origin: Path,
    ssh_home: Path,
    callbacks: KeypairCallbacks,
    tmp_path: Path,
) -> None:
    """list_heads() then fetch() on the same Remote object share one SSH connection."""
    repo = pygit2.init_repository(str(tmp_path / "local"))
    remote = repo.remotes.create("origin", own_ssh_server.url(origin))
    heads = {h.name for h in remote.list_heads(callbacks=callbacks)}
    assert "refs/heads/main" in heads
    remote.fetch(callbacks=callbacks)
    assert own_ssh_server.connections == 1
    assert len(own_ssh_server.commands) == 1


@pytest.fixture
def timeouts_2s() -> Iterator[None]:
    """libgit2's server_timeout and server_connect_timeout at 2000 ms, restored after."""
    old = (pygit2.settings.server_timeout, pygit2.settings.server_connect_timeout)
    pygit2.settings.server_timeout = 2000
    pygit2.settings.server_connect_timeout = 2000
    try:
        yield
    finally:
        pygit2.settings.server_timeout, pygit2.settings.server_connect_timeout = old


@pytest.mark.usefixtures("timeouts_2s")
def test_hanging_server_times_out(hanging_server: HangingServer, tmp_path: Path) -> None:
    """Against a silent remote, libgit2 gives up after server_timeout instead of hanging."""
    key = generate_ed25519(tmp_path / "id_ed25519")
    repo = pygit2.init_repository(str(tmp_path / "local"))
    remote = repo.remotes.create("origin", hanging_server.url())
    with pytest.raises(pygit2.GitError, match=r"Timed out waiting on socket"):
        remote.fetch(callbacks=KeypairCallbacks(pubkey_path(key), key))
    assert hanging_server.connected.is_set()


@pytest.mark.usefixtures("ssh_home", "timeouts_2s")
def test_push_timing_out_in_slow_hook_still_lands(
    own_ssh_server: SSHGitServer,
    origin: Path,
    callbacks: KeypairCallbacks,
    tmp_path: Path,
) -> None:
    """A push that times out client-side during a slow pre-receive still updates the remote."""
    go = tmp_path / "go"
    os.mkfifo(go)
    hook = origin / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\nread line < "{go}"\n')
    hook.chmod(0o755)
    repo = clone(own_ssh_server, origin, tmp_path / "clone", callbacks)
    pushed = pygit2_commit(repo, "x.txt", b"x\n")

    with pytest.raises(pygit2.GitError, match=r"Timed out waiting on socket"):
        repo.remotes["origin"].push(["refs/heads/main:refs/heads/main"], callbacks=callbacks)
    fd = os.open(go, os.O_WRONLY)  # the hook is still waiting (within orphan_grace)
    try:
        os.write(fd, b"go\n")
    finally:
        os.close(fd)

    assert own_ssh_server.wait_idle(10)
    assert git("-C", str(origin), "rev-parse", "main") == str(pushed)


async def _run(
    server: SSHGitServer, command: str, stdin: bytes | None = None
) -> asyncssh.SSHCompletedProcess:
    """Run ``command`` over SSH; send ``stdin`` then EOF if given (else send nothing)."""
    async with asyncssh.connect(
        "127.0.0.1",
        server.port,
        username="git",
        client_keys=[str(server.client_key_path)],
        known_hosts=str(server.known_hosts_path),
    ) as conn:
        if stdin is not None:
            return await conn.run(command, input=stdin, encoding=None)
        process = await conn.create_process(command, encoding=None)
        return await process.wait()


@pytest.mark.parametrize(
    "command",
    [
        "ls /",
        "git-upload-pack '/etc'",
        "git-receive-pack '../outside.git'",
        "git upload-pack /tmp",
        "git-upload-pack 'origin.git' extra",
        "git-upload-archive 'origin.git'",
    ],
)
def test_refuses_other_commands_and_paths(
    own_ssh_server: SSHGitServer, origin: Path, command: str
) -> None:
    """Anything but a git service on a repo under root gets exit status 1 and a message."""
    result = asyncio.run(_run(own_ssh_server, command))
    assert result.exit_status == 1
    assert isinstance(result.stderr, bytes)
    assert result.stderr.startswith(b"sshgit: ")
    assert own_ssh_server.child_pids() == []


@pytest.mark.parametrize(
    "template",
    ["git-upload-pack '{abs}'", "git upload-pack {abs}", "git-upload-pack 'origin.git'"],
)
def test_accepts_git_command_forms(
    own_ssh_server: SSHGitServer, origin: Path, template: str
) -> None:
    """Quoted, unquoted, `git upload-pack` and root-relative paths all run upload-pack."""
    result = asyncio.run(_run(own_ssh_server, template.format(abs=origin), stdin=b"0000"))
    assert result.exit_status == 0
    assert isinstance(result.stdout, bytes)
    assert b"refs/heads/main" in result.stdout


def _pkt(line: bytes) -> bytes:
    return b"%04x" % (len(line) + 4) + line


def _empty_pack() -> bytes:
    header = b"PACK" + struct.pack(">II", 2, 0)
    return header + hashlib.sha1(header).digest()


def _wait_dead(pidfd: int, timeout: float = 10.0) -> bool:
    readable, _, _ = select.select([pidfd], [], [], timeout)
    return bool(readable)


@pytest.mark.parametrize("how", ["client_abort", "server_stop"])
def test_orphaned_hook_is_killed(own_ssh_server: SSHGitServer, origin: Path, how: str) -> None:
    """A hook still running when the client aborts, or when stop() is called, gets killed."""
    hook = origin / "hooks" / "pre-receive"
    own_ssh_server.orphan_grace = 0  # kill as soon as the client is gone
    hook.write_text('#!/bin/sh\necho "HOOKPID $$" >&2\nexec sleep 600\n')
    hook.chmod(0o755)
    main = git("-C", str(origin), "rev-parse", "main")

    async def push_and_abandon() -> int:
        conn = await asyncssh.connect(
            "127.0.0.1",
            own_ssh_server.port,
            username="git",
            client_keys=[str(own_ssh_server.client_key_path)],
            known_hosts=str(own_ssh_server.known_hosts_path),
        )
        try:
            proc = await conn.create_process(f"git-receive-pack '{origin}'", encoding=None)
            while True:  # ref advertisement, up to the flush packet
                size = int(await proc.stdout.readexactly(4), 16)
                if size == 0:
                    break
                await proc.stdout.readexactly(size - 4)
            proc.stdin.write(_pkt(f"{ZERO_OID} {main} refs/heads/hooked\0\n".encode()))
            proc.stdin.write(b"0000" + _empty_pack())
            line = await proc.stderr.readline()
            assert line.startswith(b"HOOKPID "), line
            pidfd = os.pidfd_open(int(line.split()[1]))
            if how == "server_stop":
                await asyncio.to_thread(own_ssh_server.stop)
        finally:
            conn.abort()
            await conn.wait_closed()
        return pidfd

    pidfd = asyncio.run(push_and_abandon())
    try:
        assert _wait_dead(pidfd), "hook process survived"
    finally:
        os.close(pidfd)
    assert own_ssh_server.wait_idle(10)
    assert own_ssh_server.child_pids() == []
    assert git("-C", str(origin), "for-each-ref", "refs/heads/hooked") == ""
