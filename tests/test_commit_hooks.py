"""The repository's pre-commit and commit-msg hooks, run as git runs them."""

from __future__ import annotations

import os
import time
from pathlib import Path

from commitutil import ADA, commit, files_at, hook, index_bytes, message, show, status, write
from gitutil import World, git, rev

from reconcile import CommitPolicy, Outcome


def test_a_failing_pre_commit_hook_blocks_with_its_output(world: World) -> None:
    """A pre-commit hook that fails ends the run blocked with its exit status and
    output in the reason; nothing is committed and the index is as it was."""
    app = world.clone("app")
    hook(app, "pre-commit", "echo 'lint: records.json is not sorted' >&2\nexit 3\n")
    write(app, {"records.json": "[2, 1]\n"})
    head, index = rev(app, "HEAD"), index_bytes(app)
    result = commit(world.spec(app))
    assert result.outcome is Outcome.BLOCKED
    assert "the pre-commit hook failed (exit status 3): lint: records.json is not sorted" in (
        result.reason
    )
    assert (rev(app, "HEAD"), index_bytes(app)) == (head, index)
    assert world.remote_tip() == head
    assert not (app / ".git" / "index.lock").exists()
    assert status(app) == "?? records.json"


def test_the_pre_commit_hook_sees_the_staged_content_and_may_stage_more(
    path_world: World, tmp_path: Path
) -> None:
    """The hook reads what is being committed through GIT_INDEX_FILE, runs in the top
    of the tree with the author in its environment, and what it stages is committed."""
    app = path_world.clone("app")
    seen = tmp_path / "seen.txt"
    hook(
        app,
        "pre-commit",
        f'pwd > "{seen}"\n'
        f'echo "$GIT_AUTHOR_NAME <$GIT_AUTHOR_EMAIL>" >> "{seen}"\n'
        f'git diff --cached --name-only >> "{seen}"\n'
        f'git show :records.json >> "{seen}"\n'
        "echo generated > index.html && git add index.html\n",
    )
    write(app, {"records.json": "[1]\n"})
    result = commit(path_world.spec(app), author=ADA)
    assert result.commit is not None
    lines = seen.read_text().splitlines()
    assert lines == [str(app), str(ADA), "records.json", "[1]"]
    assert files_at(app) == {"data.txt", "records.json", "index.html"}
    assert set(result.commit.paths) == {"records.json", "index.html"}
    assert status(app) == ""


def test_the_commit_msg_hook_may_edit_the_message_or_refuse(path_world: World) -> None:
    """commit-msg gets the message file: what it writes there is the message; when it
    fails, the run is blocked and nothing is committed."""
    app = path_world.clone("app")
    hook(app, "commit-msg", 'printf "\\nReviewed-by: Hook <hook@example.invalid>\\n" >> "$1"\n')
    write(app, {"a.txt": "a\n"})
    assert commit(path_world.spec(app), message="Add a").commit is not None
    assert message(app) == "Add a\n\nReviewed-by: Hook <hook@example.invalid>"
    hook(app, "commit-msg", "echo 'message must name a ticket'\nexit 1\n")
    write(app, {"b.txt": "b\n"})
    result = commit(path_world.spec(app), message="Add b")
    assert result.outcome is Outcome.BLOCKED
    assert "the commit-msg hook failed (exit status 1): message must name a ticket" in (
        result.reason
    )
    assert "b.txt" not in files_at(app)


def test_core_hooks_path_is_honoured(path_world: World, tmp_path: Path) -> None:
    """Hooks are found in core.hooksPath (relative to the top of the tree, or
    absolute), not in .git/hooks, when it is set."""
    app = path_world.clone("app")
    hook(app, "pre-commit", "exit 0\n")
    hook(app, "pre-commit", "echo from hooksPath\nexit 1\n", where=app / "tools" / "hooks")
    git(app, "config", "core.hooksPath", "tools/hooks")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app), paths=("a.txt",))
    assert result.outcome is Outcome.BLOCKED
    assert "from hooksPath" in result.reason
    elsewhere = tmp_path / "shared-hooks"
    hook(app, "pre-commit", "exit 0\n", where=elsewhere)
    git(app, "config", "core.hooksPath", str(elsewhere))
    assert commit(path_world.spec(app), paths=("a.txt",)).commit is not None


def test_a_hook_that_is_not_executable_is_skipped(path_world: World) -> None:
    """As git does, a hook file without its executable bit does not run."""
    app = path_world.clone("app")
    hook(app, "pre-commit", "exit 1\n").chmod(0o644)
    write(app, {"a.txt": "a\n"})
    assert commit(path_world.spec(app)).commit is not None


def test_a_hook_that_hangs_is_stopped_at_its_timeout(path_world: World, tmp_path: Path) -> None:
    """A hook that does not finish within hook_timeout is killed with its children and
    the run is blocked; the run does not wait for it."""
    app = path_world.clone("app")
    pids = tmp_path / "pids"
    hook(app, "pre-commit", f'echo started\nsleep 60 & echo $! > "{pids}"\nwait\n')
    write(app, {"a.txt": "a\n"})
    policy = CommitPolicy(hook_timeout=1.0)
    started = time.monotonic()
    result = commit(path_world.spec(app, commit_policy=policy))
    assert time.monotonic() - started < 10
    assert result.outcome is Outcome.BLOCKED
    assert "the pre-commit hook did not finish within 1 s: started" in result.reason
    child = int(pids.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}/status").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    )


def test_hooks_can_be_skipped(world: World) -> None:
    """With hooks = "skip", failing hooks do not run and the commit is made."""
    app = world.clone("app")
    hook(app, "pre-commit", "exit 1\n")
    hook(app, "commit-msg", "exit 1\n")
    write(app, {"a.txt": "a\n"})
    result = commit(world.spec(app, commit_policy=CommitPolicy(hooks="skip")))
    assert result.commit is not None
    assert show(app, "HEAD", "a.txt") == "a"
    assert world.remote_tip() == result.commit.sha
