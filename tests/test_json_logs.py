"""Log output for applications: JSON lines and console lines from real runs, with
credentials masked whoever logged them."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from gitutil import World, git

from reconcile import Outcome, Retry, configure_logging, reconcile
from reconcile._logging import ConsoleFormatter, JSONFormatter, RedactingFilter

SECRET_URL = "https://user:s3cr3t-token@127.0.0.1:9/x.git"
FIELDS = (
    "repo",
    "branch",
    "outcome",
    "old_commit",
    "new_commit",
    "remote_commit",
    "conflict_branch",
    "push_status",
    "duration_ms",
)
CONFIGURED = ("reconcile", "plugin")


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    """Each test leaves the reconcile and plugin loggers as it found them."""
    saved = {
        name: (list(lg.handlers), lg.level, lg.propagate)
        for name in CONFIGURED
        for lg in [logging.getLogger(name)]
    }
    root_handlers = list(logging.getLogger().handlers)
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    assert logging.getLogger().handlers == root_handlers  # the root logger was left alone


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line written to ``stream``, each parsed as one JSON object."""
    text = stream.getvalue()
    assert text.endswith("\n")
    parsed = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(p, dict) for p in parsed)
    return parsed


def run_lines(parsed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The per-run lines: the ones that carry an outcome."""
    return [p for p in parsed if "outcome" in p]


def test_a_conflict_escape_is_one_json_error_line_naming_the_branch(path_world: World) -> None:
    """A conflict escape writes JSON lines only; its run line is an ERROR that names the
    conflict branch and carries every field of the run."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "r")
    world.commit(app, {"data.txt": "local\n"}, "l")
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    result = reconcile(world.spec(app))
    assert result.outcome is Outcome.CONFLICT_ESCAPED

    [line] = run_lines(lines(stream))
    assert line["level"] == "ERROR"
    assert line["logger"] == "reconcile"
    assert result.conflict_branch is not None
    assert result.conflict_branch in line["message"]
    assert line["conflict_branch"] == result.conflict_branch
    assert set(FIELDS) <= set(line)
    assert line["outcome"] == "conflict-escaped"
    assert line["repo"] == str(app)
    assert line["branch"] == "main"
    assert line["old_commit"] == result.old_commit
    assert line["new_commit"] == result.new_commit
    assert line["remote_commit"] == result.remote_commit
    assert line["push_status"] == "ok"
    assert isinstance(line["duration_ms"], float)
    assert "exc_info" not in line
    stamp = datetime.fromisoformat(line["time"])
    assert line["time"].endswith("Z")
    assert stamp.utcoffset() == timedelta(0)


def test_a_token_in_the_remote_url_appears_nowhere(path_world: World) -> None:
    """A failed fetch from a URL with a token logs its retries and its WARNING run line
    as JSON, with the credentials masked everywhere."""
    app = path_world.clone("app")
    git(app, "remote", "set-url", "origin", SECRET_URL)
    stream = io.StringIO()
    configure_logging("json", level=logging.DEBUG, stream=stream)
    result = reconcile(path_world.spec(app, timeout=5, retry=Retry(attempts=2, initial=0)))
    assert result.outcome is Outcome.FETCH_FAILED

    parsed = lines(stream)
    assert len(parsed) >= 2  # the retry and the run
    [line] = run_lines(parsed)
    assert line["level"] == "WARNING"
    assert line["outcome"] == "fetch-failed"
    assert line["remote_commit"] is None
    assert "127.0.0.1:9" in line["message"]
    output = stream.getvalue()
    assert "s3cr3t" not in output
    assert "user:" not in output


def test_what_callers_log_is_masked_too() -> None:
    """Credentials a caller put in the message, its arguments, the fields and the
    traceback are masked in the JSON line, which keeps the traceback."""
    stream = io.StringIO()
    configure_logging("json", stream=stream)
    fields = {"repo": "data", "url": SECRET_URL, "refs": ["https://t0ken@h/y.git"]}
    try:
        raise RuntimeError(f"push to {SECRET_URL} failed")
    except RuntimeError:
        logging.getLogger("plugin").exception(
            "cannot reach %s", "https://h/r.git?private_token=zzz", extra={"reconcile": fields}
        )
    [line] = lines(stream)
    assert line["level"] == "ERROR"
    assert line["logger"] == "plugin"
    assert line["message"] == "cannot reach https://h/r.git?private_token=***"
    assert line["url"] == "https://***@127.0.0.1:9/x.git"
    assert line["refs"] == ["https://***@h/y.git"]
    assert "RuntimeError: push to https://***@127.0.0.1:9/x.git failed" in line["exc_info"]
    assert "Traceback" in line["exc_info"]
    output = stream.getvalue()
    for secret in ("s3cr3t", "zzz", "t0ken"):
        assert secret not in output


def _record(msg: str, *args: object, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("thirdparty", logging.WARNING, __file__, 1, msg, args, None)
    for key, val in extra.items():
        setattr(record, key, val)
    return record


def test_the_formatters_and_the_filter_each_redact() -> None:
    """The JSON and console formatters mask credentials on their own, and the filter
    masks a record for any formatter a third party might use."""
    record = _record("GET %s", SECRET_URL, reconcile={"remote": SECRET_URL})
    as_json = json.loads(JSONFormatter().format(record))
    assert as_json["message"] == "GET https://***@127.0.0.1:9/x.git"
    assert as_json["remote"] == "https://***@127.0.0.1:9/x.git"
    assert "s3cr3t" not in ConsoleFormatter().format(record)

    record = _record("GET %s", SECRET_URL, reconcile={"remote": SECRET_URL})
    assert RedactingFilter().filter(record) is True
    plain = logging.Formatter("%(name)s %(message)s %(reconcile)s").format(record)
    assert plain.startswith("thirdparty GET https://***@127.0.0.1:9/x.git")
    assert "s3cr3t" not in plain


def test_console_lines_are_one_per_run_and_readable(path_world: World) -> None:
    """On the console a run is one line, `HH:MM:SS LEVEL logger: message`, fields not
    repeated; fields the message lacks are appended as key=value."""
    app = path_world.clone("app")
    stream = io.StringIO()
    configure_logging("console", stream=stream)
    result = reconcile(path_world.spec(app))
    assert result.outcome is Outcome.IN_SYNC
    [line] = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO reconcile: .+", line), line
    assert line.count("outcome=in-sync") == 1
    assert f"new_commit={result.new_commit}" in line

    logging.getLogger("plugin").warning(
        "boot of %s failed", SECRET_URL, extra={"reconcile": {"repo": "data", "why": "two words"}}
    )
    last = stream.getvalue().splitlines()[-1]
    assert last.endswith(
        'WARNING plugin: boot of https://***@127.0.0.1:9/x.git failed repo=data why="two words"'
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_picks_console_on_a_terminal_and_json_elsewhere() -> None:
    """``auto`` formats for a person on a terminal and for a machine otherwise."""
    assert isinstance(configure_logging(stream=_Terminal()).formatter, ConsoleFormatter)
    assert isinstance(configure_logging(stream=io.StringIO()).formatter, JSONFormatter)
    expected = ConsoleFormatter if sys.stderr.isatty() else JSONFormatter
    assert type(configure_logging("auto").formatter) is expected  # stderr by default


def _redacting(handler: logging.Handler) -> bool:
    return any(isinstance(f, RedactingFilter) for f in handler.filters)


def test_configuring_twice_replaces_the_handler() -> None:
    """A second call replaces the first handler on both loggers: each record is
    written once, to the new stream, at the new level."""
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", stream=first)
    handler = configure_logging("console", level="warning", stream=second)
    for name in CONFIGURED:
        logger = logging.getLogger(name)
        ours = [h for h in logger.handlers if _redacting(h)]
        assert ours == [handler]
        assert logger.level == logging.WARNING
        assert logger.propagate is False
    logging.getLogger("reconcile").info("not shown")
    logging.getLogger("reconcile").warning("shown")
    logging.getLogger("plugin").error("also shown")
    assert first.getvalue() == ""
    assert [line.split(" ", 1)[1] for line in second.getvalue().splitlines()] == [
        "WARNING reconcile: shown",
        "ERROR plugin: also shown",
    ]


def test_an_unknown_format_is_refused() -> None:
    """A format other than auto, json or console is an error, not a silent default."""
    with pytest.raises(ValueError, match="log format"):
        configure_logging("yaml", stream=io.StringIO())  # type: ignore[arg-type]
