"""``exec_hook``: a command run after a run that moved the local branch.

The command is an argument list, run without a shell, in the repository (its working
tree, or the bare repository), under the repository's lock like ``on_reconciled``
(so the tree it reads is the one the run left), for at most ``exec_hook_timeout``
seconds; then it is killed with its whole process group. Its exit status goes into
the run record (``hook``), the log, ``git_reconcile_exec_hooks_total{repo, result}``
and, when it failed, a ``hook-failed`` alert. A failed hook is not retried on its
own: the next run that moves the branch runs it again.

Its standard input is the run's JSON (as ``/status`` shows it, without ``hook``).
Its environment holds only these variables, so the service's own secrets stay out:

=============================  ========================================================
``PATH``, ``HOME``, ``LANG``,  the service's own values, when set
``LC_ALL``, ``TZ``, ``TMPDIR``
``GIT_RECONCILE_REPO``         the repository's configured name
``GIT_RECONCILE_PATH``         the repository's path
``GIT_RECONCILE_REMOTE``       the remote's name
``GIT_RECONCILE_BRANCH``       the branch
``GIT_RECONCILE_OUTCOME``      the run's outcome (``fast-forwarded``, ``rebased``, ...)
``GIT_RECONCILE_OLD_COMMIT``   the branch's commit before the run ("" when unborn)
``GIT_RECONCILE_NEW_COMMIT``   the branch's commit after it
``GIT_RECONCILE_REMOTE_COMMIT``  the remote's commit as fetched ("" when unknown)
``GIT_RECONCILE_CONFLICT_BRANCH``  the conflict branch of an escape ("" otherwise)
``GIT_RECONCILE_PUSH_STATUS``  ``ok``, ``failed``, ``rejected`` or ``skipped``
``GIT_RECONCILE_RUN_ID``       the run's id (as in ``/history``)
``GIT_RECONCILE_TRIGGERS``     what asked for the run, comma-separated (``boot``, ...)
=============================  ========================================================
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import anyio
from anyio.abc import ByteReceiveStream, Process

from reconcile import redact_text

from ._config import RepoConfig
from ._record import HookRun, RunRecord

__all__ = ["PASSED_THROUGH", "hook_environment", "run_hook"]

logger = logging.getLogger("plugin")

#: The service's variables a hook sees (when set); nothing else of its environment.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR")
_KEEP_OUTPUT = 4096  # bytes of the hook's output kept for the record and the log
_DRAIN_GRACE = 1.0  # seconds to read what a finished hook left in its pipe


def hook_environment(
    config: RepoConfig, record: RunRecord, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of ``config``'s hook after ``record`` (module docstring)."""
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in PASSED_THROUGH if name in source}
    result = record.result
    assert result is not None
    env |= {
        "GIT_RECONCILE_REPO": config.name,
        "GIT_RECONCILE_PATH": str(config.to_spec().resolved_path),
        "GIT_RECONCILE_REMOTE": result.remote,
        "GIT_RECONCILE_BRANCH": result.branch,
        "GIT_RECONCILE_OUTCOME": result.outcome.value,
        "GIT_RECONCILE_OLD_COMMIT": result.old_commit or "",
        "GIT_RECONCILE_NEW_COMMIT": result.new_commit or "",
        "GIT_RECONCILE_REMOTE_COMMIT": result.remote_commit or "",
        "GIT_RECONCILE_CONFLICT_BRANCH": result.conflict_branch or "",
        "GIT_RECONCILE_PUSH_STATUS": result.push.status.value,
        "GIT_RECONCILE_RUN_ID": record.run_id,
        "GIT_RECONCILE_TRIGGERS": ",".join(record.triggers),
    }
    return env


async def run_hook(config: RepoConfig, record: RunRecord) -> HookRun:
    """Run ``config.exec_hook`` for the finished ``record``; never raises (but
    cancellation, which kills the hook)."""
    command = list(config.exec_hook)
    body = record.to_dict()
    body.pop("hook", None)
    started = time.monotonic()
    cwd = config.to_spec().resolved_path
    try:
        process = await anyio.open_process(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd if cwd.is_dir() else None,
            env=hook_environment(config, record),
            start_new_session=True,
        )
    except OSError as exc:
        done = HookRun("failed", None, _ms(started), f"cannot start {command[0]}: {exc.strerror}")
        _log(config, done)
        return done
    output = bytearray()
    try:
        done = await _wait(process, json.dumps(body).encode(), output, config, started)
    finally:
        _kill(process)
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await process.aclose()  # reaps it: no zombie is left
    _log(config, done)
    return done


async def _wait(
    process: Process, stdin: bytes, output: bytearray, config: RepoConfig, started: float
) -> HookRun:
    drained = anyio.Event()
    try:
        with anyio.fail_after(config.exec_hook_timeout):
            async with anyio.create_task_group() as group:
                assert process.stdout is not None
                group.start_soon(_drain, process.stdout, output, drained)
                await _feed(process, stdin)
                code = await process.wait()
                with anyio.move_on_after(_DRAIN_GRACE):
                    await drained.wait()
                group.cancel_scope.cancel()
    except TimeoutError:
        error = f"killed after {config.exec_hook_timeout:g}s"
        return HookRun("timed-out", None, _ms(started), error, _text(output))
    if code == 0:
        return HookRun("ok", 0, _ms(started), None, _text(output))
    why = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
    return HookRun("failed", code, _ms(started), why, _text(output))


async def _feed(process: Process, data: bytes) -> None:
    """Write the run's JSON to the hook's stdin and close it; a hook that does not
    read it is fine."""
    stdin = process.stdin
    assert stdin is not None
    with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        await stdin.send(data)
    with contextlib.suppress(OSError):
        await stdin.aclose()


async def _drain(stream: ByteReceiveStream, output: bytearray, drained: anyio.Event) -> None:
    try:
        async for chunk in stream:
            output += chunk
            del output[:-_KEEP_OUTPUT]
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
    finally:
        drained.set()


def _kill(process: Process) -> None:
    """Kill the hook's process group (its children too) if anything of it is left."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _text(output: bytearray) -> str:
    return redact_text(output.decode("utf-8", "replace").strip())


def _ms(started: float) -> float:
    return (time.monotonic() - started) * 1000.0


def _log(config: RepoConfig, done: HookRun) -> None:
    program = Path(config.exec_hook[0]).name
    if done.ok:
        logger.info("exec_hook %s of %s: ok (%.0f ms)", program, config.name, done.duration_ms)
        return
    tail = done.output.splitlines()[-5:]
    logger.warning(
        "exec_hook %s of %s %s: %s%s",
        program,
        config.name,
        done.status,
        done.error,
        ("; output: " + " | ".join(tail)) if tail else "",
    )
