"""``git-reconcile demo``: every outcome, on a throwaway remote and two clones.

The "app" clone is the one reconciled; the "other" clone plays a second writer.
The git command line builds the histories, as an application's own writes would.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._exit import ExitCode, HelpFormatter, epilog

if TYPE_CHECKING:
    from pathlib import Path

    from reconcile import Outcome, RepoSpec, Result

__all__ = ["add_arguments", "make_demo_clone", "run", "run_demo", "serve_demo_directory"]


_ENV = {
    "GIT_AUTHOR_NAME": "Demo Writer",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "Demo Writer",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_TERMINAL_PROMPT": "0",
}


class _Demo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.remote = root / "remote.git"
        self.app = root / "app"
        self.other = root / "other"
        self.env = {**os.environ, **_ENV, "GIT_CONFIG_GLOBAL": str(root / "gitconfig")}
        (root / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")

    def git(self, cwd: Path, *args: str) -> None:
        import subprocess

        subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def write(self, clone: Path, name: str, text: str, message: str) -> None:
        (clone / name).write_text(text)
        self.git(clone, "add", name)
        self.git(clone, "commit", "-q", "-m", message)

    def setup(self) -> None:
        self.git(self.root, "init", "-q", "--bare", "-b", "main", str(self.remote))
        self.git(self.root, "clone", "-q", str(self.remote), str(self.app))
        self.write(self.app, "data.txt", "v1\n", "first record")
        self.git(self.app, "push", "-q", "origin", "main")
        self.git(self.root, "clone", "-q", str(self.remote), str(self.other))

    def other_pushes(self, name: str, text: str, message: str) -> None:
        self.git(self.other, "pull", "-q", "--ff-only", "origin", "main")
        self.write(self.other, name, text, message)
        self.git(self.other, "push", "-q", "origin", "main")

    def spec(self, **kwargs: object) -> RepoSpec:
        from reconcile import RepoSpec

        return RepoSpec(self.app, **kwargs)  # type: ignore[arg-type]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = epilog("demo")
    parser.formatter_class = HelpFormatter  # the epilog is a table
    parser.add_argument("--keep", action="store_true", help="keep the demo directory")
    parser.add_argument("--json", action="store_true", help="print the results as JSON lines")


def run(args: argparse.Namespace) -> int:
    return run_demo(keep=args.keep, as_json=args.json)


def _steps(demo: _Demo) -> list[tuple[str, Outcome, Callable[[], Result]]]:
    from reconcile import Outcome, reconcile

    def in_sync() -> Result:
        return reconcile(demo.spec())

    def fast_forward() -> Result:
        demo.other_pushes("data.txt", "v2\n", "another writer updates the record")
        return reconcile(demo.spec())

    def push_ahead() -> Result:
        demo.write(demo.app, "app.txt", "written by the app\n", "the app writes a record")
        return reconcile(demo.spec())

    def rebase() -> Result:
        demo.other_pushes("other.txt", "from the other writer\n", "another writer adds a file")
        demo.write(demo.app, "app2.txt", "written offline\n", "the app writes while offline")
        return reconcile(demo.spec())

    def escape() -> Result:
        demo.other_pushes("data.txt", "v3 (other)\n", "another writer changes the record")
        demo.write(demo.app, "data.txt", "v3 (app)\n", "the app changes the same record")
        return reconcile(demo.spec())

    def block() -> Result:
        demo.other_pushes("data.txt", "v4\n", "another writer changes the record again")
        (demo.app / "data.txt").write_text("an edit the app has not committed\n")
        result = reconcile(demo.spec())
        demo.git(demo.app, "checkout", "--", "data.txt")
        return result

    def fetch_failure() -> Result:
        demo.git(demo.app, "remote", "add", "unreachable", str(demo.root / "no-such-remote.git"))
        return reconcile(demo.spec(remote="unreachable", timeout=5))

    return [
        ("both sides at the same commit", Outcome.IN_SYNC, in_sync),
        ("another writer pushed", Outcome.FAST_FORWARDED, fast_forward),
        ("the app committed", Outcome.PUSHED_AHEAD, push_ahead),
        ("both committed, different files", Outcome.REBASED, rebase),
        ("both changed the same line", Outcome.CONFLICT_ESCAPED, escape),
        ("an uncommitted edit is in the way", Outcome.BLOCKED, block),
        ("the remote cannot be reached", Outcome.FETCH_FAILED, fetch_failure),
    ]


def make_demo_clone(root: Path) -> Path:
    """A bare remote with one commit under ``root``, and a clone of it; returns the clone."""
    demo = _Demo(root)
    demo.setup()
    return demo.app


#: The directories of ``serve``'s demo, in the temporary folder, and the file in each
#: that names the process serving it.
SERVE_DEMO_PREFIX = "git-reconcile-serve-demo-"
_OWNER = "serve.pid"


def serve_demo_directory() -> Path:
    """A new directory for ``serve``'s demo, naming this process as its owner.

    ``serve`` removes its demo when it stops; a serve that was killed (SIGKILL, a power
    cut) cannot, so demo directories whose owner no longer runs are removed first.
    """
    import tempfile
    from pathlib import Path

    for old in Path(tempfile.gettempdir()).glob(f"{SERVE_DEMO_PREFIX}*"):
        if _abandoned(old):
            _remove(old)
    root = Path(tempfile.mkdtemp(prefix=SERVE_DEMO_PREFIX))
    (root / _OWNER).write_text(f"{os.getpid()}\n")
    return root


def _abandoned(root: Path) -> bool:
    """Whether ``root`` is a demo directory of this user whose serve no longer runs."""
    try:
        if root.lstat().st_uid != os.geteuid():
            return False
        pid = int((root / _OWNER).read_text())
    except (OSError, ValueError):  # not ours, being created, or from before owners
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # a process of another user has that pid now: it runs
    return False


def _remove(root: Path) -> None:
    import shutil

    shutil.rmtree(root, ignore_errors=True)


def run_demo(*, keep: bool = False, as_json: bool = False) -> int:
    """Run every scenario and print what happened; 0 when each ended as expected."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="git-reconcile-demo-"))
    failures = 0
    try:
        demo = _Demo(root)
        demo.setup()
        if not as_json:
            print(f"demo repositories in {root}{'' if keep else ' (removed afterwards)'}\n")
            print(f"{'scenario':<36} {'outcome':<17} reason")
        for title, expected, step in _steps(demo):
            result = step()
            failures += result.outcome is not expected
            if as_json:
                print(
                    json.dumps({"scenario": title, "expected": expected.value, **result.to_dict()})
                )
            else:
                mark = "" if result.outcome is expected else f"  (expected {expected.value})"
                print(f"{title:<36} {result.outcome.value:<17} {result.reason}{mark}")
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return ExitCode.OK if failures == 0 else ExitCode.FAILED
