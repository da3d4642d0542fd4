"""The alerter: deduplication, the bounded per-sink queues, retries with backoff and
``Retry-After``, sinks that are down or raise, and the bounded drain at shutdown."""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import anyio
import httpx
import pytest
import respx
from alertutil import (
    FakeRunner,
    finished,
    finished_at,
    make_escape,
    sending,
    sent,
)
from gitutil import World
from servers.receiver import closed_port, silent_port
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugin import AlertConfig, PluginConfig, ReconcilePlugin, RepoConfig, Runner
from plugin._metrics import Metrics
from plugin.alerts import (
    AlertDetails,
    Alerter,
    AlertEvent,
    SinkError,
    WebhookSink,
    retry_after,
)
from reconcile import Outcome, Result
from webhooks import sign_sha256

pytestmark = pytest.mark.anyio

URL = "https://ops.example.com/hooks/git"


@pytest.fixture
def anyio_backend() -> str:
    """The alerter is exercised on asyncio, the loop uvicorn serves on."""
    return "asyncio"


def _failing() -> AlertEvent:
    return AlertEvent("failing", "warning", "data", "main", finished_at(), "data: failing")


def _blocked_at(commit: str) -> AlertEvent:
    details = AlertDetails(new_commit=commit)
    return AlertEvent("blocked", "warning", "data", "main", finished_at(), "blocked", details)


class Waits:
    """A sleep for the alerter that records how long it was asked to wait, and returns
    at once."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


# --- deduplication and the queue ------------------------------------------------------


async def test_the_same_escape_is_alerted_once_per_interval(path_world: World) -> None:
    """The same escape observed twice within the interval sends one alert; once the
    interval has passed, it sends again."""
    record = finished(make_escape(path_world).result)
    clock = [1000.0]
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(204))
        alerter = Alerter([WebhookSink(URL, None)], dedupe_interval=300, now=lambda: clock[0])
        async with sending(alerter):
            runner = FakeRunner()
            alerter.observe(runner, record)
            clock[0] += 299.0
            alerter.observe(runner, record)
            clock[0] += 1.0
            alerter.observe(runner, record)
    assert route.call_count == 2
    ids = {json.loads(c.request.content)["id"] for c in route.calls}
    assert len(ids) == 2
    assert {json.loads(c.request.content)["kind"] for c in route.calls} == {"conflict-escaped"}


async def test_the_link_comes_from_the_runners_remote(path_world: World) -> None:
    """observe() takes the remote URL from the runner to link the conflict branch."""
    record = finished(make_escape(path_world).result)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(200))
        async with sending(Alerter([WebhookSink(URL, None)])) as alerter:
            alerter.observe(FakeRunner(remote="https://***@gitlab.com/grp/data.git"), record)
    details = json.loads(route.calls.last.request.content)["details"]
    branch = details["conflict_branch"]
    assert details["conflict_branch_url"] == f"https://gitlab.com/grp/data/-/tree/{branch}"


async def test_a_full_queue_drops_the_alert_with_a_warning_and_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With the queue full, submit() drops the new alert at once, logs and counts it;
    the queued one goes out once the alerter runs."""
    metrics = Metrics()
    alerter = Alerter(
        [WebhookSink("https://ops.example.com/h", None)], queue_size=1, metrics=metrics
    )
    with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
        assert alerter.submit(_blocked_at("a" * 40))
        assert not alerter.submit(_blocked_at("b" * 40))
    assert "queue of webhook https://ops.example.com is full" in caplog.text
    assert sent(metrics, "webhook", "dropped") == 1
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://ops.example.com/h").mock(return_value=httpx.Response(204))
        async with sending(alerter):
            pass
    assert [json.loads(c.request.content)["details"]["new_commit"] for c in route.calls] == [
        "a" * 40
    ]
    assert sent(metrics, "webhook", "sent") == 1
    assert sent(metrics, "webhook", "dropped") == 1


async def test_a_full_queue_drops_for_its_sink_only() -> None:
    """A sink whose queue is full drops the alert; another sink with room still takes
    it, so submit() reports it queued."""
    metrics = Metrics()
    everything = WebhookSink("https://everything.example.com/h", None)
    warnings = WebhookSink("https://warnings.example.com/h", None, min_severity="warning")
    alerter = Alerter([everything, warnings], queue_size=1, metrics=metrics)
    recovered = AlertEvent("recovered", "info", "data", "main", finished_at(), "recovered")
    assert alerter.submit(recovered)  # only the first sink takes info: its queue is full
    assert alerter.submit(_blocked_at("b" * 40))
    assert sent(metrics, "webhook", "dropped") == 1
    with respx.mock(assert_all_called=True) as mock:
        first = mock.post("https://everything.example.com/h").respond(204)
        second = mock.post("https://warnings.example.com/h").respond(204)
        async with sending(alerter):
            pass
    assert [json.loads(c.request.content)["kind"] for c in first.calls] == ["recovered"]
    assert [json.loads(c.request.content)["kind"] for c in second.calls] == ["blocked"]


def test_observe_never_raises() -> None:
    """A runner that cannot say its remote, or a malformed record, is logged, not raised."""

    class Broken(FakeRunner):
        def remote_url(self) -> str | None:
            raise RuntimeError("boom")

    alerter = Alerter([])
    escaped = Result(
        repo="/srv/data",
        remote="origin",
        branch="main",
        outcome=Outcome.CONFLICT_ESCAPED,
        conflict_branch="conflicts/x",
    )
    alerter.observe(Broken(), finished(escaped))
    alerter.observe(Broken(), object())  # type: ignore[arg-type]


# --- retries --------------------------------------------------------------------------


def _in(seconds: float) -> str:
    """An HTTP date ``seconds`` from now."""
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("status", "header", "low", "high"),
    [
        (429, "7", 7.0, 7.0),  # seconds, as asked
        (503, "3600", 30.0, 30.0),  # capped at backoff_max
        (503, "in-20-seconds", 0.0, 0.01),  # unreadable: the backoff alone
        (429, "HTTP-DATE+20", 18.0, 20.0),  # an HTTP date, to the second
        (503, "HTTP-DATE-20", 0.0, 0.01),  # a date gone by: the backoff alone
    ],
)
async def test_retry_after_is_waited_for_within_the_cap(
    status: int, header: str, low: float, high: float
) -> None:
    """A 429 or 503 with Retry-After (seconds or an HTTP date) is retried after the
    wait it asks for, capped at backoff_max; one that cannot be read leaves the
    backoff as it is."""
    if header.startswith("HTTP-DATE"):
        header = _in(float(header.removeprefix("HTTP-DATE")))
    waits = Waits()
    metrics = Metrics()
    alerter = Alerter(
        [WebhookSink(URL, None)], backoff=0.01, backoff_max=30, sleep=waits, metrics=metrics
    )
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(
            side_effect=[
                httpx.Response(status, headers={"Retry-After": header}),
                httpx.Response(204),
            ]
        )
        async with sending(alerter):
            alerter.submit(_failing())
    assert route.call_count == 2
    (wait,) = waits.asked
    assert low <= wait <= high
    assert sent(metrics, "webhook", "sent") == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    """retry_after() gives the seconds to wait, from a number or an HTTP date, and
    None for nothing to wait for."""
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC).timestamp()

    def asked(value: str | None) -> float | None:
        headers = {} if value is None else {"Retry-After": value}
        return retry_after(httpx.Response(503, headers=headers), now=lambda: now)

    assert asked("120") == 120.0
    assert asked("Wed, 21 Oct 2026 07:30:00 GMT") == 120.0
    assert asked("Wed, 21 Oct 2026 07:28:00 GMT") is None  # now: nothing to wait for
    assert asked("0") is None
    assert asked("-5") is None
    assert asked("inf") is None
    assert asked("soon") is None
    assert asked(None) is None


async def test_retries_stop_after_the_last_one_with_the_attempts_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A sink answering 503 for good gets retries + 1 attempts with a backoff before
    each retry; each retry and the failure are logged with the count of attempts, and
    the failure is counted once."""
    waits = Waits()
    metrics = Metrics()
    alerter = Alerter([WebhookSink(URL, None)], retries=2, backoff=1, sleep=waits, metrics=metrics)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(503, text="down"))
        with caplog.at_level(logging.DEBUG, logger="plugin.alerts"):
            async with sending(alerter):
                alerter.submit(_failing())
    assert route.call_count == 3
    assert len(waits.asked) == 2
    assert "attempt 1 failed (HTTP 503); next in" in caplog.text
    assert "attempt 2 failed (HTTP 503); next in" in caplog.text
    assert 0 <= waits.asked[0] <= 1
    assert 0 <= waits.asked[1] <= 2  # full jitter, the window doubling
    assert "after 3 attempts: HTTP 503: down" in caplog.text
    assert sent(metrics, "webhook", "failed") == 1
    assert sent(metrics, "webhook", "sent") == 0


# --- sinks that are down --------------------------------------------------------------


async def test_unreachable_sinks_never_delay_the_reconcile(
    path_world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """With one sink refusing connections and one never answering, a real run finishes
    at once and observe() returns immediately; both sends fail, logged and counted."""
    world = path_world
    app = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    world.commit(app, {"data.txt": "local\n"}, "local edit")
    metrics = Metrics()
    send_timeout = 1.0
    with closed_port() as refused, silent_port() as silent:
        alerter = Alerter(
            [WebhookSink(refused, None), WebhookSink(silent, None)],
            send_timeout=send_timeout,
            retries=1,
            backoff=0.01,
            metrics=metrics,
        )
        runner = Runner(RepoConfig("data", app, poll_interval=0))
        runner.observers.append(alerter.observe)
        with caplog.at_level(logging.INFO, logger="plugin.alerts"):
            async with sending(alerter), anyio.create_task_group() as group:
                group.start_soon(runner.serve)
                started = time.monotonic()
                record = await runner.trigger("manual").wait()
                elapsed = time.monotonic() - started
                assert record.result is not None
                assert record.result.outcome is Outcome.CONFLICT_ESCAPED
                assert elapsed < send_timeout  # a send to the silent sink takes longer

                again = time.perf_counter()
                alerter.observe(runner, replace(record, run_id="data-x"))
                assert time.perf_counter() - again < 0.05
                runner.close()
                group.cancel_scope.cancel()
    assert sent(metrics, "webhook", "failed") == 2  # the escape (the repeat is a duplicate)
    assert sent(metrics, "webhook", "sent") == 0
    failures = [r.getMessage() for r in caplog.records if "could not be sent" in r.getMessage()]
    assert len(failures) == 2
    assert any("after 2 attempts: ConnectError" in f for f in failures)
    assert any("after 2 attempts: timed out" in f for f in failures)


async def test_shutdown_gives_up_on_a_send_that_hangs(caplog: pytest.LogCaptureFixture) -> None:
    """aclose() waits at most drain_timeout for a hung send, then cancels it and counts
    it as failed."""
    metrics = Metrics()
    with silent_port() as silent:
        alerter = Alerter(
            [WebhookSink(silent, None)], send_timeout=60, drain_timeout=0.2, metrics=metrics
        )
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            started = time.monotonic()
            async with sending(alerter):
                alerter.submit(_failing())
            assert time.monotonic() - started < 5
    assert sent(metrics, "webhook", "failed") == 1
    assert "cancelled at shutdown" in caplog.text


async def test_shutdown_drains_within_the_drain_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At shutdown the queued alerts go out while drain_timeout lasts; a Retry-After
    longer than that is not waited out, and what is left in the queue is dropped,
    logged and counted."""
    metrics = Metrics()
    alerter = Alerter([WebhookSink(URL, None)], drain_timeout=0.3, metrics=metrics)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(503, headers={"Retry-After": "20"}))
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            async with sending(alerter):
                for n in range(3):
                    assert alerter.submit(_blocked_at(f"{n}" * 40))
                started = anyio.current_time()
            took = anyio.current_time() - started
    assert 0.3 <= took < 5
    assert route.call_count == 1  # the first, then its wait was cut short
    assert sent(metrics, "webhook", "failed") == 1
    assert sent(metrics, "webhook", "dropped") == 2
    assert "2 alert(s) to webhook https://ops.example.com not sent: shut down" in caplog.text
    assert not alerter.submit(_failing())  # closed for good


async def test_shutdown_lets_the_queued_alerts_out() -> None:
    """Alerts queued just before aclose() are all sent: the drain waits for them."""
    metrics = Metrics()
    alerter = Alerter([WebhookSink(URL, None)], metrics=metrics)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).respond(204)
        async with sending(alerter):
            for n in range(5):
                alerter.submit(_blocked_at(f"{n}" * 40))
    assert route.call_count == 5
    assert sent(metrics, "webhook", "sent") == 5
    assert sent(metrics, "webhook", "dropped") == 0


async def test_a_sink_that_raises_is_contained(caplog: pytest.LogCaptureFixture) -> None:
    """A sink whose request() raises is logged and counted; the others still send."""

    class Broken(WebhookSink):
        async def request(self, event: AlertEvent) -> httpx.Request:
            raise SinkError("cannot build")

    metrics = Metrics()
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(URL).mock(return_value=httpx.Response(200))
        sinks = [Broken(URL, None), WebhookSink(URL, None)]
        with caplog.at_level(logging.WARNING, logger="plugin.alerts"):
            async with sending(Alerter(sinks, metrics=metrics)) as alerter:
                alerter.submit(_failing())
    assert route.call_count == 1
    assert sent(metrics, "webhook", "failed") == 1
    assert sent(metrics, "webhook", "sent") == 1
    assert "cannot build" in caplog.text


# --- in the plugin --------------------------------------------------------------------


def test_plugin_sends_an_alert_for_an_escape_at_boot(path_world: World) -> None:
    """Configured through PluginConfig, an escape during the boot run reaches the sink."""
    world = path_world
    app_repo = world.clone("app")
    world.remote_commit({"data.txt": "remote\n"}, "remote edit")
    world.commit(app_repo, {"data.txt": "local\n"}, "local edit")
    config = PluginConfig(
        repos=(RepoConfig("data", app_repo, poll_interval=0),),
        alerts=AlertConfig(sinks=(WebhookSink("https://ops.example.invalid/hook", "k3y"),)),
    )
    plugin = ReconcilePlugin(config)
    app = Starlette(routes=[plugin.mount("/r")], lifespan=plugin.lifespan())
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post("https://ops.example.invalid/hook").respond(204)
        with TestClient(app):
            pass  # shutdown drains the alert queue
    [call] = route.calls
    doc = json.loads(call.request.content)
    assert (doc["kind"], doc["repo"]) == ("conflict-escaped", "data")
    assert doc["details"]["conflict_branch"].startswith("conflicts/")
    assert call.request.headers["X-Signature"] == sign_sha256("k3y", call.request.content)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold: must be at least 1, not 0"),
        ({"dedupe_interval": -1}, "dedupe_interval: must be at least 0, not -1"),
        ({"queue_size": 0}, "queue_size: must be at least 1, not 0"),
        ({"retries": -1}, "retries: must be at least 0, not -1"),
        ({"send_timeout": 601}, "send_timeout: must be more than 0 and at most 600 seconds"),
        ({"hosts": {"git.example.com": "svn"}}, "hosts.git.example.com: expected one of"),
    ],
)
def test_the_settings_are_checked_once_by_alert_config(
    setting: dict[str, Any], message: str
) -> None:
    """AlertConfig refuses a setting out of bounds, naming it, and the Alerter built
    with the same setting refuses it with the same words."""
    with pytest.raises(ValueError, match=re.escape(message)):
        AlertConfig(**setting)
    with pytest.raises(ValueError, match=re.escape(message)):
        Alerter([], **setting)
