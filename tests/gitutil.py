"""Real repositories for the tests: a bare remote, clones of it, and commits."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2

from reconcile import RepoSpec, SSHKey

AUTHOR = pygit2.Signature("Remote Writer", "remote@example.invalid", 1_700_000_000, 0)


def git(cwd: Path, *args: str, check: bool = True, input: str | None = None) -> str:
    """Run the git command line in ``cwd`` (with ``input`` on its stdin) and return
    its stdout."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=False, capture_output=True, text=True, input=input
    )
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}: {done.stderr}")
    return done.stdout.strip()


def rev(repo: Path, ref: str) -> str | None:
    """The commit ``ref`` names in ``repo``, or None."""
    r = pygit2.Repository(str(repo))
    try:
        return str(r.revparse_single(ref).peel(pygit2.Commit).id)
    except (KeyError, pygit2.GitError):
        return None


def branches(repo: Path, prefix: str = "") -> dict[str, str]:
    """Local branches of ``repo`` whose names start with ``prefix``, with their tips."""
    r = pygit2.Repository(str(repo))
    return {
        name: str(r.branches.local[name].target)
        for name in r.branches.local
        if name.startswith(prefix)
    }


def commit_plumbing(
    repo_path: Path,
    files: dict[str, str | None],
    message: str,
    *,
    branch: str = "main",
    author: pygit2.Signature | None = None,
    parents: list[str] | None = None,
) -> str:
    """Commit ``files`` (None deletes) on ``branch`` without a working tree, as an
    application writing a bare data repo with plumbing does."""
    repo = pygit2.Repository(str(repo_path))
    refname = f"refs/heads/{branch}"
    ref = repo.references.get(refname)
    if parents is None:
        parents = [] if ref is None else [str(ref.target)]
    index = pygit2.Index()
    if parents:
        index.read_tree(repo[parents[0]].peel(pygit2.Commit).tree)
    for path, text in files.items():
        if text is None:
            index.remove(path)
        else:
            blob = repo.create_blob(text.encode())
            index.add(pygit2.IndexEntry(path, blob, pygit2.enums.FileMode.BLOB))
    tree = index.write_tree(repo)
    sig = author or AUTHOR
    oid = repo.create_commit(None, sig, sig, message, tree, [pygit2.Oid(hex=p) for p in parents])
    if ref is None:
        repo.create_reference_direct(refname, oid, False)
    else:
        ref.set_target(oid)
    return str(oid)


def commit_worktree(clone: Path, files: dict[str, str | None], message: str) -> str:
    """Write ``files`` in a working tree and commit them with the git command line."""
    for path, text in files.items():
        target = clone / path
        if text is None:
            git(clone, "rm", "-q", path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            git(clone, "add", path)
    git(clone, "commit", "-q", "--allow-empty", "-m", message)
    return git(clone, "rev-parse", "HEAD")


@dataclass
class World:
    """A bare remote and its clones, reached by path or over the SSH server."""

    root: Path
    transport: str = "path"
    ssh: Any = None
    remote: Path = field(init=False)

    def __post_init__(self) -> None:
        self.remote = self.root / "remote.git"
        git(self.root, "init", "-q", "--bare", "-b", "main", str(self.remote))

    @property
    def url(self) -> str:
        if self.transport == "ssh":
            return str(self.ssh.url(self.remote))
        return str(self.remote)

    def seed(self, files: dict[str, str | None] | None = None, message: str = "seed") -> str:
        """Put a first commit on the remote's main."""
        return commit_plumbing(self.remote, files or {"data.txt": "1\n"}, message)

    def clone(
        self,
        name: str,
        *,
        bare: bool = False,
        single_branch: bool = False,
        branch: str | None = None,
    ) -> Path:
        path = self.root / name
        args = ["clone", "-q"]
        if bare:
            args.append("--bare")
        if single_branch:
            args.append("--single-branch")
        if branch:
            args += ["--branch", branch]
        git(self.root, *args, str(self.remote), str(path))
        git(path, "remote", "set-url", "origin", self.url)
        return path

    def commit(
        self, clone: Path, files: dict[str, str | None], message: str, branch: str = "main"
    ) -> str:
        """Commit on ``clone``: through the working tree, or with plumbing when bare."""
        if pygit2.Repository(str(clone)).is_bare:
            return commit_plumbing(clone, files, message, branch=branch)
        return commit_worktree(clone, files, message)

    def remote_commit(
        self, files: dict[str, str | None], message: str, branch: str = "main"
    ) -> str:
        """Another writer's commit, landing on the remote directly."""
        return commit_plumbing(self.remote, files, message, branch=branch)

    def spec(self, clone: Path, **kwargs: Any) -> RepoSpec:
        if self.transport == "ssh":
            kwargs.setdefault("credentials", SSHKey(private_key=self.ssh.client_key_path))
            kwargs.setdefault("known_hosts", self.ssh.known_hosts_path)
            kwargs.setdefault("timeout", 10.0)
        return RepoSpec(clone, **kwargs)

    def remote_tip(self, branch: str = "main") -> str | None:
        return rev(self.remote, f"refs/heads/{branch}")


def isolate_git_config(home: Path) -> None:
    """Blank global and system git config for the git command line and pygit2."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = test@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    os.environ["HOME"] = str(home)
    os.environ["GIT_CONFIG_NOSYSTEM"] = "1"
    os.environ["GIT_CONFIG_GLOBAL"] = str(home / ".gitconfig")
    os.environ["GIT_TERMINAL_PROMPT"] = "0"
    for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        os.environ.pop(key, None)
    for level in (pygit2.enums.ConfigLevel.SYSTEM, pygit2.enums.ConfigLevel.XDG):
        pygit2.settings.search_path[level] = str(home / "empty")
    pygit2.settings.search_path[pygit2.enums.ConfigLevel.GLOBAL] = str(home)
