"""The application's side of the write path: plugin.commit(), notify_changed() with its
debounce, the watcher, and coalesced commit requests, through the runner and its lock."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from commitutil import ADA, GRACE, SYNC, hook, message, status, trailers, write
from gitutil import World, git

from plugin import ConfigError, PluginConfig, ReconcilePlugin, RepoConfig, Runner, RunRecord
from plugin._watch import WatchFilter
from reconcile import CommitRequest, InvalidSpecError, Outcome


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _plugin(tree: Path, **repo: Any) -> ReconcilePlugin:
    config = RepoConfig("data", tree, poll_interval=0, **repo)
    return ReconcilePlugin(PluginConfig(repos=(config,)))


class Finished:
    """The runs a runner finishes, awaitable one by one."""

    def __init__(self, runner: Runner) -> None:
        self.records: list[RunRecord] = []
        self._send, self._receive = anyio.create_memory_object_stream[RunRecord](100)
        runner.observers.append(self._observe)

    def _observe(self, runner: Runner, record: RunRecord) -> None:
        self.records.append(record)
        self._send.send_nowait(record)

    async def next(self, timeout: float = 30.0) -> RunRecord:
        with anyio.fail_after(timeout):
            return await self._receive.receive()

    def close(self) -> None:
        self._send.close()
        self._receive.close()


@asynccontextmanager
async def running(plugin: ReconcilePlugin) -> AsyncIterator[Finished]:
    finished = Finished(plugin.runners["data"])
    try:
        async with plugin.running():
            yield finished
    finally:
        finished.close()


def _commits(tree: Path) -> int:
    return int(git(tree, "rev-list", "--count", "HEAD"))


@pytest.mark.anyio
async def test_plugin_commit_commits_and_pushes(world: World) -> None:
    """plugin.commit() commits the working tree through the runner and reconciles:
    the ticket's run holds the commit, which is on the remote."""
    tree = world.clone("app")
    plugin = ReconcilePlugin(
        PluginConfig(repos=(RepoConfig("data", tree, poll_interval=0, spec=world.spec(tree)),))
    )
    async with running(plugin):
        write(tree, {"readings.csv": "1,2\n"})
        ticket = plugin.commit(
            "data", "Record readings", author="Ada Lovelace <ada@example.invalid>"
        )
        record = await ticket.wait()
    assert record.result is not None
    assert record.result.commit is not None
    assert record.result.outcome is Outcome.PUSHED_AHEAD
    assert record.triggers == ["commit"]
    assert world.remote_tip() == record.result.commit.sha
    assert git(tree, "log", "-1", "--format=%an|%s") == "Ada Lovelace|Record readings"
    assert status(tree) == ""


@pytest.mark.anyio
async def test_bad_commit_requests_are_refused_at_once(path_world: World) -> None:
    """An unknown repository or a malformed request raises before anything runs."""
    plugin = _plugin(path_world.clone("app"))
    with pytest.raises(LookupError, match="no repository 'other'"):
        plugin.commit("other")
    with pytest.raises(InvalidSpecError):
        plugin.commit("data", author="not an identity")
    with pytest.raises(InvalidSpecError):
        plugin.commit("data", trailers=["no separator"])


@pytest.mark.anyio
async def test_commits_asked_for_during_a_run_are_one_commit_keeping_both(
    path_world: World, tmp_path: Path
) -> None:
    """Two commit() calls with different messages and authors while a run is going
    make one follow-up commit with both messages, the first author and the second
    as a co-author: nothing of either is lost, and the burst costs one more run."""
    tree = path_world.clone("app")
    gate, started = tmp_path / "gate", tmp_path / "started"
    os.mkfifo(gate)
    os.mkfifo(started)
    hook(
        tree,
        "pre-commit",
        f'if [ -p "{gate}" ]; then echo staged > "{started}"; cat "{gate}" > /dev/null; fi\n',
    )
    plugin = _plugin(tree)
    async with running(plugin) as finished:
        await finished.next()  # the boot run
        write(tree, {"a.txt": "a\n"})
        first = plugin.commit("data", "Add a", author=ADA)
        # The first run has staged a.txt and waits in its pre-commit hook.
        await anyio.to_thread.run_sync(started.read_text)
        assert plugin.runners["data"].current is first
        write(tree, {"b.txt": "b\n", "c.txt": "c\n"})
        second = plugin.commit("data", "Add b", author=GRACE, trailers=["Ticket: DATA-2"])
        third = plugin.commit("data", "Add c", author=SYNC, co_authors=[ADA])
        assert second is third
        await anyio.to_thread.run_sync(lambda: gate.write_text("go\n"))
        gate.unlink()
        started.unlink()
        done = await third.wait()
    assert done.triggers == ["commit", "commit"]
    assert done.result is not None
    assert done.result.commit is not None
    assert set(done.result.commit.paths) == {"b.txt", "c.txt"}
    assert message(tree).startswith("Add b\n\nAdd c\n\n")
    assert git(tree, "log", "-1", "--format=%an") == "Grace Hopper"
    assert trailers(tree) == [
        "Ticket: DATA-2",
        "Co-authored-by: Data Sync <sync@example.invalid>",
        "Co-authored-by: Ada Lovelace <ada@example.invalid>",
    ]
    assert _commits(tree) == 3


@pytest.mark.anyio
async def test_a_burst_of_notifications_makes_one_commit(path_world: World) -> None:
    """1,000 notify_changed() calls, with writes among them, make exactly one commit
    after the quiet period, and nothing is left pending."""
    tree = path_world.clone("app")
    plugin = _plugin(tree, commit_quiet_period=0.2, commit_max_wait=10.0)
    debouncer = plugin.debouncers["data"]
    async with running(plugin) as finished:
        await finished.next()
        for n in range(1000):
            if n % 100 == 0:
                write(tree, {f"r{n}.txt": f"{n}\n"})
                await anyio.sleep(0)
            plugin.notify_changed("data")
        assert debouncer.notifications == 1000
        record = await finished.next()
        assert debouncer.idle
        assert plugin.runners["data"].pending is None
        assert plugin.runners["data"].current is None
    assert record.triggers == ["notify"]
    assert record.result is not None
    assert record.result.commit is not None
    assert len(record.result.commit.paths) == 10
    assert debouncer.bursts == 1
    assert _commits(tree) == 2
    assert status(tree) == ""


@pytest.mark.anyio
async def test_steady_notifications_still_commit_within_the_max_wait(path_world: World) -> None:
    """Notifications every 100 ms never leave a quiet period of 300 ms, yet a commit
    comes within commit_max_wait of the first one."""
    tree = path_world.clone("app")
    plugin = _plugin(tree, commit_quiet_period=0.3, commit_max_wait=1.0)
    async with running(plugin) as finished:
        await finished.next()
        first = time.time()
        committed = anyio.Event()

        async def keep_writing() -> None:
            n = 0
            while not committed.is_set():
                n += 1
                write(tree, {"steady.txt": f"{n}\n"})
                plugin.notify_changed("data")
                await anyio.sleep(0.1)

        async with anyio.create_task_group() as group:
            group.start_soon(keep_writing)
            record = await finished.next()
            committed.set()
    assert record.result is not None
    assert record.result.commit is not None
    waited = record.queued_at - first
    assert 0.9 <= waited <= 2.0, waited


@pytest.mark.anyio
async def test_a_disabled_repository_takes_no_debounced_commit(path_world: World) -> None:
    """While the repository is disabled, a burst of notifications commits nothing."""
    tree = path_world.clone("app")
    plugin = _plugin(tree, commit_quiet_period=0.05, commit_max_wait=1.0)
    debouncer = plugin.debouncers["data"]
    async with running(plugin) as finished:
        await finished.next()
        plugin.runners["data"].enabled = False
        write(tree, {"a.txt": "a\n"})
        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(debouncer.fired)
                await anyio.sleep(0)
                plugin.notify_changed("data")
        assert plugin.runners["data"].pending is None
    assert len(finished.records) == 1
    assert status(tree) == "?? a.txt"


@pytest.mark.anyio
async def test_the_watcher_commits_what_the_application_writes(path_world: World) -> None:
    """With watch=True, a file written in the tree is committed without any call."""
    tree = path_world.clone("app")
    plugin = _plugin(tree, watch=True, commit_quiet_period=0.2, commit_max_wait=5.0)
    async with running(plugin) as finished:
        await finished.next()
        await anyio.sleep(0.3)  # the watcher's first scan is under way
        write(tree, {"saved.json": "{}\n"})
        record = await finished.next()
    assert record.triggers == ["watch"]
    assert record.result is not None
    assert record.result.commit is not None
    assert record.result.commit.paths == ("saved.json",)


def test_the_watcher_ignores_git_s_own_files_and_ignored_paths(path_world: World) -> None:
    """Changes inside .git, to ignored paths, or outside the tree wake nothing."""
    tree = path_world.clone("app")
    write(tree, {".gitignore": "*.log\n"})
    keep: Callable[[str], bool] = lambda path: WatchFilter(tree)(None, path)  # type: ignore[arg-type]  # noqa: E731
    assert keep(str(tree / "data.txt"))
    assert keep(str(tree / "new" / "file.txt"))
    assert not keep(str(tree / ".git" / "index"))
    assert not keep(str(tree / "debug.log"))
    assert not keep(str(tree.parent / "elsewhere.txt"))


def test_debounce_settings_are_checked() -> None:
    """A quiet period that is not positive, or a max wait below it, is refused."""
    with pytest.raises(ConfigError, match="commit_quiet_period"):
        RepoConfig("data", Path("/srv/data"), commit_quiet_period=0)
    with pytest.raises(ConfigError, match="commit_max_wait"):
        RepoConfig("data", Path("/srv/data"), commit_quiet_period=5, commit_max_wait=1)


def test_runner_commit_requests_coalesce_into_the_queued_ticket(path_world: World) -> None:
    """Commit requests joining a queued run merge; a plain trigger keeps them."""
    runner = Runner(RepoConfig("data", path_world.clone("app"), poll_interval=0))
    first = runner.commit(CommitRequest(message="one"))
    polled = runner.trigger("poll")
    second = runner.commit(CommitRequest(message="two"))
    assert first is polled is second
    assert first.commit is not None
    assert first.commit.message == "one\n\ntwo"
    assert first.record.triggers == ["commit", "poll", "commit"]


@pytest.mark.anyio
async def test_writes_notified_just_before_shutdown_are_committed(path_world: World) -> None:
    """A burst still under way when the application stops is committed on the way out,
    within the shutdown bound, instead of waiting for a next start."""
    tree = path_world.clone("app")
    plugin = _plugin(tree, commit_quiet_period=30.0, commit_max_wait=60.0)
    async with running(plugin) as finished:
        await finished.next()
        write(tree, {"last.txt": "saved just before the stop\n"})
        plugin.notify_changed("data")
    [_boot, last] = finished.records
    assert last.triggers == ["shutdown"]
    assert last.result is not None
    assert last.result.commit is not None
    assert last.result.commit.paths == ("last.txt",)
    assert status(tree) == ""
