"""Lock files and temporaries a crashed git process left, found and cleared safely.

Who holds a lock. git and libgit2 create a lock file (``index.lock``,
``refs/heads/<b>.lock``, ...) with ``O_CREAT|O_EXCL`` and keep it open until they
rename it into place or delete it; the one exception is ``git commit``, which
closes ``index.lock`` while the editor or a hook runs and keeps a git process at
work in the repository meanwhile. Nothing opens a lock file it did not create.
So the holder of a lock is a process of the user who created it, the file's owner
(``st_uid``): one that has it open, or a git process of that user at work in the
repository (its working directory, ``GIT_DIR``/``GIT_WORK_TREE`` or an argument
inside it).

Deciding. Only the lock's owner and root can decide, and this run does so only
when it is one of them: another unprivileged user may not even see the owner's
processes (``/proc`` can be mounted with ``hidepid``). Whether a process has the
file open for writing, as every holder does, is asked of the kernel: a read lease
(``F_SETLEASE``), which the owner may take, is granted only when none has; no
process needs to be looked at, so an unprivileged service decides about its own
locks even though it may not read ``/proc/1/fd``. Where no lease can be had (root
on another user's file without ``CAP_LEASE``, a file system without leases), the
open files of the owner's processes are read in ``/proc/<pid>/fd`` instead.
Either way the owner's git processes are looked at for one at work in the
repository. A process of the owner that may not be looked at (a non-dumpable one)
leaves the lock undecided; processes of other users are not looked at: they did
not create it.

Locks. A decided lock that no process holds is stale, and is removed at once,
once it is a second old: git and libgit2 close a lock a moment before renaming it
into place, and a younger lock is looked at again when it is a second old. A lock
held, or undecided, is live: it is reported, and left (git itself never removes a
lock; a human must decide).

Temporaries. A fetch or push that dies leaves its temporary files: libgit2 1.9
writes a fetched pack to ``objects/pack/pack_git2_<hex>`` and its index through
``objects/pack/pack_git2_<hex>idx.lock``, loose objects to
``objects/tmp_object_git2_<hex>`` and streamed blobs to
``objects/streamed_git2_<hex>``; git writes ``objects/pack/tmp_pack_*``,
``tmp_idx_*`` and ``tmp_rev_*``. Each is held open by its writer until renamed.
They never make a run wait. As git's gc removes its own ``tmp_*`` garbage once old,
a temporary is removed when no process holds it (decided) and it is an hour old;
an undecided one once it is two weeks old, git gc's own limit.

Remotes reached by path. libgit2 pushes to them in this process (its local
transport writes their objects and moves their refs itself), so a run killed
while pushing leaves the remote's ref lock and temporaries behind, and every
later push would fail on that lock. ``local_repository`` finds such a remote's
repository, and its stale locks are cleared by the same rule; its live ones are
left for the push to meet.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SETTLE_SECONDS", "Locks", "clear_stale_locks", "local_repository"]

SETTLE_SECONDS = 1.0  # a lock no process holds is stale once this old
TEMPORARY_AGE = 3600.0  # a temporary no process holds is garbage once this old
UNDECIDED_TEMPORARY_AGE = 14 * 24 * 3600.0  # git gc's prune expiry, for the undecided
_PROC = Path("/proc")
_TOP_LEVEL = (
    "index.lock",
    "HEAD.lock",
    "config.lock",
    "packed-refs.lock",
    "shallow.lock",
    "FETCH_HEAD.lock",
    "ORIG_HEAD.lock",
)
_TEMPORARIES = (  # folder, and the prefix of the names (git's and libgit2's)
    ("objects/pack", "tmp_"),
    ("objects/pack", "pack_git2_"),
    ("objects", "tmp_object_git2_"),
    ("objects", "streamed_git2_"),
)
_TOP_LEVEL_NAMES = frozenset(_TOP_LEVEL)
_PREFIXES = {folder: tuple(p for f, p in _TEMPORARIES if f == folder) for folder, _ in _TEMPORARIES}


@dataclass(frozen=True)
class Locks:
    """What the scan found: locks that may be live (reported, left; ``undecided``
    are those of them no process was seen holding, which could not be decided or
    removed), stale locks removed, and temporaries removed."""

    live: tuple[str, ...] = ()
    cleared: tuple[str, ...] = ()
    temporaries: tuple[str, ...] = ()
    undecided: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Found:
    """A file as it was when looked at: a rewritten or replaced one is another."""

    path: Path
    uid: int
    inode: int
    mtime: float

    @staticmethod
    def look(path: Path) -> _Found | None:
        try:
            st = path.lstat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return _Found(path, st.st_uid, st.st_ino, st.st_mtime)


def clear_stale_locks(gitdir: Path, workdir: Path | None = None) -> Locks:
    """Remove the stale lock files and old temporaries of a repository; report the
    locks that may be live. See the module for the rule."""
    locks = _existing(_lock_paths(gitdir))
    temporaries = _existing(_temporary_paths(gitdir))
    if not locks and not temporaries:
        return Locks()
    roots = tuple(str(p.resolve()) for p in (gitdir, workdir) if p is not None)
    held = _holders(locks + temporaries, roots)
    now = time.time()
    unheld = [f for f in locks if held[f.path] is False]
    live = [f for f in locks if held[f.path] is not False]
    young = [f for f in unheld if now - f.mtime < SETTLE_SECONDS]
    if young:
        time.sleep(max(SETTLE_SECONDS - (now - f.mtime) for f in young))
        again = _holders(young, roots)
        for f in young:
            if again[f.path] is not False or _Found.look(f.path) != f:
                unheld.remove(f)
                if _Found.look(f.path) is not None:
                    live.append(f)
    old = [f for f in temporaries if _garbage(held[f.path], now - f.mtime)]
    cleared, kept = _remove(unheld)
    undecided = [f for f in live if held[f.path] is None] + kept
    return Locks(
        live=tuple(sorted(str(f.path) for f in live + kept)),
        cleared=cleared,
        temporaries=_remove(old)[0],
        undecided=tuple(sorted(str(f.path) for f in undecided)),
    )


def local_repository(url: str) -> tuple[Path, Path | None] | None:
    """The git directory and working tree of a remote reached by an absolute path or
    a ``file://`` URL, or None (another transport, or no repository there)."""
    path = url.removeprefix("file://") if url.startswith("file://") else url
    if "://" in path or not path.startswith("/"):
        return None
    here = Path(path)
    for gitdir, workdir in ((here, None), (here / ".git", here)):
        if (gitdir / "HEAD").is_file() and (gitdir / "refs").is_dir():
            return gitdir, workdir
    return None


def _garbage(held: bool | None, age: float) -> bool:
    if held is None:
        return age >= UNDECIDED_TEMPORARY_AGE
    return not held and age >= TEMPORARY_AGE


def _lock_paths(gitdir: Path) -> list[Path]:
    """The lock files there are: git's top-level ones, and any under refs/.

    One listing per folder, and strings until something is found: a repository
    without a lock costs a listing of the git directory and of each folder under
    refs/, and no ``stat`` per name (a run makes this scan every time)."""
    top = os.fspath(gitdir)
    try:
        there = _TOP_LEVEL_NAMES.intersection(os.listdir(top))
    except OSError:
        there = _TOP_LEVEL_NAMES  # each name is looked at on its own, then
    found = [gitdir / name for name in _TOP_LEVEL if name in there]
    found += _refs_locks(gitdir / "refs")
    return found


def _refs_locks(folder: Path) -> list[Path]:
    """Files named ``*.lock`` under ``folder``, as ``rglob`` finds them: a folder's
    own first, then its subfolders' (symlinked folders are not followed)."""
    return [Path(p) for p in _locks_under(os.fspath(folder))]


def _locks_under(folder: str) -> list[str]:
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:
        return []
    found = [e.path for e in entries if e.name.endswith(".lock") and _is_file(e)]
    for entry in entries:
        if _is_dir(entry):
            found += _locks_under(entry.path)
    return found


def _temporary_paths(gitdir: Path) -> list[Path]:
    """The temporaries there are, folder by folder in ``_TEMPORARIES`` order; a name
    is looked at (``stat``) only when it has a temporary's prefix."""
    top = os.fspath(gitdir)
    found: list[Path] = []
    listings: dict[str, list[str]] = {}
    for folder, prefix in _TEMPORARIES:
        if folder not in listings:
            listings[folder] = _prefixed(f"{top}/{folder}", _PREFIXES[folder])
        found += [gitdir / folder / n for n in listings[folder] if n.startswith(prefix)]
    return found


def _prefixed(folder: str, prefixes: tuple[str, ...]) -> list[str]:
    """The names of the files in ``folder`` (symlinks followed) that start with one
    of ``prefixes``; none when it cannot be listed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return [n for n in names if n.startswith(prefixes) and os.path.isfile(f"{folder}/{n}")]


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """A folder, not a symlink to one."""
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _existing(paths: Iterable[Path]) -> list[_Found]:
    return [f for f in map(_Found.look, paths) if f is not None]


def _remove(found: Iterable[_Found]) -> tuple[tuple[str, ...], list[_Found]]:
    """Remove the files: those removed (or gone meanwhile), and those that could not
    be (another user's folder)."""
    removed: list[str] = []
    kept: list[_Found] = []
    for f in found:
        try:
            f.path.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            kept.append(f)
            continue
        removed.append(str(f.path))
    return tuple(removed), kept


# --- who holds them ------------------------------------------------------------------


def _holders(found: list[_Found], roots: tuple[str, ...]) -> dict[Path, bool | None]:
    """For each file: True when a process of its owner holds it, False when none
    does, None when that cannot be decided (see the module)."""
    me = os.geteuid()
    decidable = (_PROC / "self").is_dir()
    verdict: dict[Path, bool | None] = {}
    unopened: list[_Found] = []  # no process has these open, the kernel says
    unknown: list[_Found] = []  # the kernel would not say: look at the processes' files
    for f in found:
        if not decidable or me not in (0, f.uid):
            verdict[f.path] = None
            continue
        opened = _opened(f.path)
        verdict[f.path] = bool(opened)
        if opened is None:
            unknown.append(f)
        elif not opened:
            unopened.append(f)
    if unopened or unknown:
        scan = _Scan(unopened + unknown, unknown, roots, verdict)
        for entry in _PROC.iterdir():
            if entry.name.isdigit():
                scan.judge(entry)
    return verdict


def _opened(path: Path) -> bool | None:
    """Whether any process has ``path`` open for writing, as every holder of a lock
    or a temporary has; None when the kernel will not say.

    A read lease (``F_SETLEASE``) is granted only while no open file writes to the
    file, and only to its owner (or with ``CAP_LEASE``): it answers without looking
    at anyone's ``/proc/<pid>/fd``, and other readers (another run looking at the
    same lock) do not disturb it. It is given back at once. Were it broken meanwhile
    (someone opening the file to write), the kernel would signal this process:
    SIGURG is asked for, which is ignored, rather than SIGIO, which would end it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_SETSIG, signal.SIGURG)
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_RDLCK)
    except BlockingIOError:
        return True  # EAGAIN: someone has it open for writing
    except OSError:
        return None  # not the owner without CAP_LEASE, or leases unsupported here
    else:
        fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_UNLCK)
        return False
    finally:
        os.close(fd)


class _Scan:
    """One look at the processes of the files' owners: a git process at work in
    the repository holds them all; for ``unknown`` files, so does one that has
    them open."""

    def __init__(
        self,
        found: list[_Found],
        unknown: list[_Found],
        roots: tuple[str, ...],
        verdict: dict[Path, bool | None],
    ) -> None:
        self.found = found
        self.unknown = {f.path for f in unknown}
        self.roots = roots
        self.verdict = verdict
        self.owners = {f.uid for f in found}
        self.names = {str(f.path) for f in unknown} | {str(f.path.resolve()) for f in unknown}

    def judge(self, entry: Path) -> None:
        """Look at one process, if it is of the files' owners."""
        mine = _uids(entry) & self.owners
        if not mine:
            return  # another user's process, or gone: it did not create these files
        busy = _git_at_work(entry, self.roots)
        held = _open_files(entry, self.names) if self.unknown else set()
        for f in self.found:
            if f.uid not in mine or self.verdict[f.path] is not False:
                continue
            names = {str(f.path), str(f.path.resolve())}
            if busy or (f.path in self.unknown and held is not None and held & names):
                self.verdict[f.path] = True
            elif busy is None or (f.path in self.unknown and held is None):
                self.verdict[f.path] = None


def _uids(entry: Path) -> set[int]:
    """The real, effective, saved and filesystem uids of a process (none when it
    is gone or hidden)."""
    try:
        status = (entry / "status").read_text()
    except OSError:
        return set()
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return {int(u) for u in line.split()[1:]}
    return set()


def _open_files(entry: Path, names: set[str]) -> set[str] | None:
    """Which of ``names`` the process has open; None when it may not be looked at."""
    opened = set()
    try:
        for fd in (entry / "fd").iterdir():
            try:
                opened.add(os.readlink(fd))
            except FileNotFoundError:
                continue  # closed meanwhile
    except PermissionError:
        return None
    except OSError:
        return set()  # the process ended meanwhile
    return opened & names


def _git_at_work(entry: Path, roots: tuple[str, ...]) -> bool | None:
    """Whether the process is git (not git-reconcile, not this one) at work in the
    repository: its working directory, ``GIT_DIR``/``GIT_WORK_TREE`` or an argument
    inside it. None when it is git and may not be looked at."""
    try:
        name = (entry / "comm").read_text().strip()
        if not name.startswith("git") or name == "git-reconcile" or entry.name == str(os.getpid()):
            return False
        places = [os.readlink(entry / "cwd")]
        for variable in (entry / "environ").read_bytes().split(b"\0"):
            key, _, value = variable.partition(b"=")
            if key in (b"GIT_DIR", b"GIT_WORK_TREE"):
                places.append(os.fsdecode(value))
        for argument in (entry / "cmdline").read_bytes().split(b"\0"):
            places.append(os.fsdecode(argument).rpartition("=")[2])
    except PermissionError:
        return None
    except OSError:
        return False  # the process ended meanwhile
    return any(_inside(p, roots) for p in places if p.startswith("/"))


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)
