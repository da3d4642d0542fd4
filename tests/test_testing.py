"""reconcile.testing: the sandbox's repositories, checked with git itself, and driven
through real reconcile() runs to each outcome."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from gitutil import git

from reconcile import GitError, Outcome, Result, reconcile
from reconcile.testing import APP_AUTHOR, EPOCH, OTHER_AUTHOR, Divergence, GitSandbox

FILES = {"data.txt": "1\n", "docs/readme.md": "# data\n"}


@pytest.fixture
def sandbox(tmp_path: Path) -> GitSandbox:
    return GitSandbox(tmp_path, files=FILES)


def fsck(repo: Path) -> None:
    """git fsck finds nothing wrong in ``repo``."""
    git(repo, "fsck", "--strict", "--no-progress")


def log(repo: Path, fmt: str, ref: str = "HEAD") -> list[str]:
    return git(repo, "log", f"--format={fmt}", ref).splitlines()


# --- the remote and its clones -----------------------------------------------------


def test_remote_is_bare_with_one_commit_of_the_files(sandbox: GitSandbox) -> None:
    """The remote is a bare repository whose branch holds one commit of the given files."""
    remote = sandbox.remote
    assert remote == sandbox.root / "remote.git"
    assert git(remote, "rev-parse", "--is-bare-repository") == "true"
    assert git(remote, "symbolic-ref", "HEAD") == "refs/heads/main"
    assert log(remote, "%H %an <%ae> %s") == [
        f"{sandbox.remote_head()} Other Writer <other@example.invalid> initial commit"
    ]
    assert git(remote, "ls-tree", "-r", "--name-only", "main").splitlines() == sorted(FILES)
    assert git(remote, "show", "main:docs/readme.md") == "# data"
    assert sandbox.url == str(remote)
    fsck(remote)


def test_no_files_give_an_empty_first_commit(tmp_path: Path) -> None:
    """Without files the first commit has an empty tree, so the branch exists to clone."""
    sandbox = GitSandbox(tmp_path, branch="trunk")
    assert git(sandbox.remote, "symbolic-ref", "HEAD") == "refs/heads/trunk"
    assert git(sandbox.remote, "ls-tree", "-r", "trunk") == ""
    assert sandbox.remote_files() == {}
    app = sandbox.clone("app")
    assert git(app, "branch", "--show-current") == "trunk"
    assert reconcile(sandbox.spec(app)).outcome is Outcome.IN_SYNC


def test_clone_is_a_clean_checkout_tracking_the_remote(sandbox: GitSandbox) -> None:
    """A clone has the branch checked out, clean, tracking origin, with the app's identity."""
    app = sandbox.clone("app")
    assert app == sandbox.root / "app"
    assert git(app, "status", "--porcelain", "--untracked-files=all") == ""
    assert git(app, "rev-parse", "HEAD") == sandbox.remote_head() == sandbox.head(app)
    assert git(app, "rev-parse", "--abbrev-ref", "@{upstream}") == "origin/main"
    assert git(app, "remote", "get-url", "origin") == sandbox.url
    assert git(app, "config", "user.name") == APP_AUTHOR.name
    assert git(app, "config", "user.email") == APP_AUTHOR.email
    assert (app / "docs" / "readme.md").read_text() == "# data\n"
    fsck(app)


def test_bare_clone(sandbox: GitSandbox) -> None:
    """``bare=True`` gives a bare clone at the remote's head."""
    mirror = sandbox.clone("mirror.git", bare=True)
    assert git(mirror, "rev-parse", "--is-bare-repository") == "true"
    assert git(mirror, "rev-parse", "HEAD") == sandbox.remote_head() == sandbox.head(mirror)
    fsck(mirror)


# --- writing -----------------------------------------------------------------------


def test_commit_in_a_working_tree_writes_stages_and_commits(sandbox: GitSandbox) -> None:
    """A commit writes, adds and deletes files, leaves the tree clean and pushes nothing."""
    app = sandbox.clone("app")
    before = sandbox.head(app)
    new = sandbox.commit(
        app,
        {"data.txt": "2\n", "docs/readme.md": None, "img/logo.bin": b"\x00\xff"},
        "the app writes",
    )
    assert git(app, "rev-parse", "HEAD") == new == sandbox.head(app)
    assert git(app, "rev-parse", "HEAD^") == before
    assert git(app, "status", "--porcelain", "--untracked-files=all") == ""
    assert (app / "data.txt").read_text() == "2\n"
    assert not (app / "docs" / "readme.md").exists()
    assert (app / "img" / "logo.bin").read_bytes() == b"\x00\xff"
    assert git(app, "show", "--name-status", "--format=", "HEAD").splitlines() == [
        "M\tdata.txt",
        "D\tdocs/readme.md",
        "A\timg/logo.bin",
    ]
    assert log(app, "%an <%ae>|%cn <%ce>|%s", "-1") == [
        "App <app@example.invalid>|App <app@example.invalid>|the app writes"
    ]
    assert sandbox.remote_head() == before
    fsck(app)


def test_commit_in_a_bare_clone_uses_plumbing(sandbox: GitSandbox) -> None:
    """In a bare clone a commit is written without a working tree, on HEAD's branch."""
    mirror = sandbox.clone("mirror.git", bare=True)
    new = sandbox.commit(mirror, {"data.txt": None, "new.txt": "n\n"})
    assert git(mirror, "rev-parse", "main") == new
    assert git(mirror, "ls-tree", "-r", "--name-only", "main").splitlines() == [
        "docs/readme.md",
        "new.txt",
    ]
    assert log(mirror, "%s", "-1") == ["update data.txt, new.txt"]
    fsck(mirror)


def test_advance_remote_moves_only_the_remote(sandbox: GitSandbox) -> None:
    """Another writer's commit lands on the remote's tip; the clone does not move."""
    app = sandbox.clone("app")
    before = sandbox.remote_head()
    theirs = sandbox.advance_remote({"data.txt": "theirs\n"}, "another writer")
    assert git(sandbox.remote, "rev-parse", "main", "main^").splitlines() == [theirs, before]
    assert log(sandbox.remote, "%an <%ae> %s", "-1") == [
        "Other Writer <other@example.invalid> another writer"
    ]
    assert sandbox.head(app) == before
    assert (app / "data.txt").read_text() == "1\n"
    fsck(sandbox.remote)


def test_advance_remote_creates_a_branch_from_the_main_one(sandbox: GitSandbox) -> None:
    """A commit on a branch the remote lacks starts that branch from the sandbox's branch."""
    feature = sandbox.advance_remote({"f.txt": "f\n"}, branch="feature")
    assert git(sandbox.remote, "rev-parse", "feature^") == sandbox.remote_head()
    assert sandbox.remote_head("feature") == feature
    assert sandbox.remote_branches() == {"feature": feature, "main": sandbox.remote_head()}
    assert sandbox.remote_files("feature") == {
        "data.txt": b"1\n",
        "docs/readme.md": b"# data\n",
        "f.txt": b"f\n",
    }


def test_diverge_commits_on_both_sides(sandbox: GitSandbox) -> None:
    """diverge() leaves the clone and the remote each with a commit the other lacks."""
    app = sandbox.clone("app")
    base = sandbox.head(app)
    made = sandbox.diverge(app, {"mine.txt": "m\n"}, {"theirs.txt": "t\n"})
    assert made == Divergence(local=sandbox.head(app), remote=sandbox.remote_head())
    assert git(app, "rev-parse", "HEAD^") == base
    assert git(sandbox.remote, "rev-parse", "main^") == base
    assert log(app, "%s", "-1") == ["diverge: local"]
    assert log(sandbox.remote, "%s", "-1") == ["diverge: remote"]


def test_commits_are_deterministic_and_a_minute_apart(tmp_path: Path) -> None:
    """The same steps give the same commit ids in another sandbox; times tick by a minute
    from EPOCH, and a given time is used as given."""

    def steps(root: Path) -> list[str]:
        sandbox = GitSandbox(root, files=FILES)
        app = sandbox.clone("app")
        return [
            sandbox.remote_head(),
            sandbox.commit(app, {"a.txt": "a\n"}),
            sandbox.advance_remote({"b.txt": "b\n"}),
            sandbox.commit(app, {"c.txt": "c\n"}),
        ]

    first, second = steps(tmp_path / "one"), steps(tmp_path / "two")
    assert first == second
    app = tmp_path / "one" / "app"
    start = int(EPOCH.timestamp())
    assert log(app, "%at %ct") == [f"{start + t} {start + t}" for t in (180, 60, 0)]
    assert log(tmp_path / "one" / "remote.git", "%at") == [str(start + t) for t in (120, 0)]

    sandbox = GitSandbox(tmp_path / "three")
    when = datetime(2030, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    sandbox.advance_remote({"x": "x"}, when=when)
    assert log(sandbox.remote, "%ad", "-1") == ["Mon May 6 07:08:09 2030 +0200"]


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../outside.txt", "a/../../b", ".git/config", "./a", "a//b", "a\\b", "d/"],
)
def test_paths_outside_the_repository_are_refused(sandbox: GitSandbox, path: str) -> None:
    """A path that is not a plain relative path inside the repository raises ValueError,
    and nothing is written."""
    app = sandbox.clone("app")
    before = sandbox.head(app)
    with pytest.raises(ValueError, match="relative path"):
        sandbox.commit(app, {"ok.txt": "fine\n", path: "x"})
    with pytest.raises(ValueError, match="relative path"):
        sandbox.advance_remote({path: "x"})
    assert (sandbox.head(app), sandbox.remote_head()) == (before, before)
    assert git(app, "status", "--porcelain", "--untracked-files=all") == ""


def test_deleting_a_missing_file_raises_and_writes_nothing(sandbox: GitSandbox) -> None:
    """Deleting a file that is not there raises GitError before any file is written."""
    app = sandbox.clone("app")
    before = sandbox.head(app)
    with pytest.raises(GitError, match=r"cannot delete nope\.txt: there is no such file"):
        sandbox.commit(app, {"data.txt": "changed\n", "nope.txt": None})
    with pytest.raises(GitError, match=r"cannot delete nope\.txt"):
        sandbox.advance_remote({"nope.txt": None})
    assert (app / "data.txt").read_text() == "1\n"
    assert git(app, "status", "--porcelain", "--untracked-files=all") == ""
    assert (sandbox.head(app), sandbox.remote_head()) == (before, before)


def test_other_mistakes_raise_clear_errors(sandbox: GitSandbox, tmp_path: Path) -> None:
    """Taken names, wrong content types, naive times and missing branches each raise."""
    sandbox.clone("app")
    with pytest.raises(FileExistsError, match="app already exists"):
        sandbox.clone("app")
    with pytest.raises(FileExistsError, match=r"remote\.git already exists"):
        GitSandbox(tmp_path)
    with pytest.raises(ValueError, match="clone name"):
        sandbox.clone("../elsewhere")
    with pytest.raises(TypeError, match="must be str, bytes or None"):
        sandbox.advance_remote({"n.txt": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="timezone-aware"):
        sandbox.advance_remote({"n.txt": "n"}, when=datetime(2030, 1, 1))
    with pytest.raises(GitError, match="the remote has no branch 'nope'"):
        sandbox.remote_head("nope")
    with pytest.raises(GitError, match="has no commit"):
        sandbox.remote_files("nope")
    with pytest.raises(GitError):
        sandbox.head(tmp_path / "not-a-repository")
    with pytest.raises(GitError):
        GitSandbox(tmp_path / "bad", branch="no..dots")
    with pytest.raises(ValueError, match="relative path"):
        GitSandbox(tmp_path / "retry", files={"../x": "x"})
    assert not (tmp_path / "retry").exists()
    assert GitSandbox(tmp_path / "retry").remote_files() == {}


# --- every outcome, through reconcile() ----------------------------------------------


def _in_sync(sandbox: GitSandbox, app: Path) -> None:
    pass


def _fast_forward(sandbox: GitSandbox, app: Path) -> None:
    sandbox.advance_remote({"data.txt": "2\n"})


def _push(sandbox: GitSandbox, app: Path) -> None:
    sandbox.commit(app, {"mine.txt": "m\n"})


def _rebase(sandbox: GitSandbox, app: Path) -> None:
    sandbox.diverge(app, {"mine.txt": "m\n"}, {"theirs.txt": "t\n"})


def _conflict(sandbox: GitSandbox, app: Path) -> None:
    sandbox.diverge(app, {"data.txt": "mine\n"}, {"data.txt": "theirs\n"})


def _block(sandbox: GitSandbox, app: Path) -> None:
    sandbox.advance_remote({"data.txt": "2\n"})
    (app / "data.txt").write_text("an edit the app has not committed\n")


SCENARIOS: dict[Outcome, Callable[[GitSandbox, Path], None]] = {
    Outcome.IN_SYNC: _in_sync,
    Outcome.FAST_FORWARDED: _fast_forward,
    Outcome.PUSHED_AHEAD: _push,
    Outcome.REBASED: _rebase,
    Outcome.CONFLICT_ESCAPED: _conflict,
    Outcome.BLOCKED: _block,
}


@pytest.mark.parametrize("outcome", list(SCENARIOS), ids=lambda o: o.value)
def test_each_recipe_reaches_its_outcome(sandbox: GitSandbox, outcome: Outcome) -> None:
    """Each documented set-up makes a real reconcile() end in its outcome, and leaves
    repositories git finds sound."""
    app = sandbox.clone("app")
    SCENARIOS[outcome](sandbox, app)
    local, remote = sandbox.head(app), sandbox.remote_head()
    result = reconcile(sandbox.spec(app))
    assert result.outcome is outcome, result.reason
    assert (result.old_commit, result.remote_commit) == (local, remote)
    _check(sandbox, app, result)
    fsck(app)
    fsck(sandbox.remote)
    if outcome is not Outcome.BLOCKED:
        assert git(app, "status", "--porcelain", "--untracked-files=all") == ""
        assert sandbox.head(app) == sandbox.remote_head() == result.new_commit


def _check(sandbox: GitSandbox, app: Path, result: Result) -> None:
    """What each outcome did, seen from the sandbox."""
    if result.outcome is Outcome.FAST_FORWARDED:
        assert (app / "data.txt").read_text() == "2\n"
    elif result.outcome is Outcome.PUSHED_AHEAD:
        assert sandbox.remote_head() == result.old_commit
    elif result.outcome is Outcome.REBASED:
        assert git(app, "rev-parse", "HEAD^") == result.remote_commit
        assert log(app, "%an|%cn|%s", "-1") == ["App|App|diverge: local"]
        assert {"mine.txt", "theirs.txt"} <= set(sandbox.remote_files())
    elif result.outcome is Outcome.CONFLICT_ESCAPED:
        assert result.conflict_branch is not None
        assert sandbox.remote_branches("conflicts/") == {result.conflict_branch: result.old_commit}
        assert sandbox.remote_files()["data.txt"] == b"theirs\n"
    elif result.outcome is Outcome.BLOCKED:
        assert sandbox.head(app) == result.old_commit != sandbox.remote_head()
        assert (app / "data.txt").read_text() == "an edit the app has not committed\n"


def test_fast_forward_then_push_round_trip(sandbox: GitSandbox) -> None:
    """A commit another writer landed reaches a second clone after the first pushes."""
    app, other = sandbox.clone("app"), sandbox.clone("other")
    mine = sandbox.commit(app, {"mine.txt": "m\n"})
    assert reconcile(sandbox.spec(app)).outcome is Outcome.PUSHED_AHEAD
    assert reconcile(sandbox.spec(other)).outcome is Outcome.FAST_FORWARDED
    assert sandbox.head(other) == mine
    assert (other / "mine.txt").read_text() == "m\n"


# --- what it needs -----------------------------------------------------------------


def test_works_without_a_git_binary(tmp_path: Path) -> None:
    """The sandbox and a reconcile of it need no git command line on the PATH."""
    script = tmp_path / "no_git.py"
    script.write_text(
        "import shutil, sys\n"
        "from reconcile import reconcile\n"
        "from reconcile.testing import GitSandbox\n"
        "assert shutil.which('git') is None\n"
        "sandbox = GitSandbox(sys.argv[1], files={'a.txt': 'a'})\n"
        "app = sandbox.clone('app')\n"
        "sandbox.diverge(app, {'b.txt': 'b'}, {'c.txt': 'c'})\n"
        "print(reconcile(sandbox.spec(app)).outcome.value)\n"
    )
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "sandbox")],
        env={"PATH": str(empty), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "rebased"), done.stderr


def test_importing_it_loads_no_test_framework() -> None:
    """reconcile.testing works with unittest too: importing it does not import pytest."""
    code = (
        "import sys, reconcile.testing; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_public_names() -> None:
    """`__all__` lists exactly the documented names, each exists, and the fixed
    identities are the documented ones."""
    import reconcile.testing

    expected = {"APP_AUTHOR", "EPOCH", "OTHER_AUTHOR", "Divergence", "Files", "GitSandbox"}
    assert set(reconcile.testing.__all__) == expected
    assert all(hasattr(reconcile.testing, name) for name in expected)
    assert EPOCH.isoformat() == "2024-01-01T00:00:00+00:00"
    assert (APP_AUTHOR.name, APP_AUTHOR.email) == ("App", "app@example.invalid")
    assert (OTHER_AUTHOR.name, OTHER_AUTHOR.email) == ("Other Writer", "other@example.invalid")
