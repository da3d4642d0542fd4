"""Commit messages from a language model behind a real OpenAI-compatible server on
loopback: what it is sent, what is kept of its answer, and that every failure still
makes the commit, with the template's message."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from commitutil import commit, message, write
from gitutil import World, git
from servers.chat import Answer, ChatServer, chat_server
from servers.receiver import closed_port, silent_port
from starlette.applications import Starlette
from starlette.testclient import TestClient

from plugin import PluginConfig, ReconcilePlugin, RepoConfig
from plugin.audit import AuditStore
from reconcile import (
    CircuitBreaker,
    CommitPolicy,
    FileChange,
    InvalidSpecError,
    LLMConfig,
    LLMGenerator,
    MessageContext,
    MessageSkipped,
    Outcome,
)

ADMIN = "admin-t0ken"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
AWS_LINE = f"aws_access_key_id = {AWS_KEY}\n"


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with chat_server() as chat:
        yield chat


def policy(url: str, model: str = "test-model", **config: object) -> CommitPolicy:
    """A policy whose messages come from the endpoint, with a breaker of its own."""
    llm = LLMConfig(url, model, **config)  # type: ignore[arg-type]
    return CommitPolicy(generator=LLMGenerator(llm, breaker=CircuitBreaker()))


def test_the_model_writes_the_message(path_world: World, server: ChatServer) -> None:
    """A working endpoint writes the commit's message; the request has the model, a
    system and a user message and temperature 0, and the commit says who wrote it."""
    app = path_world.clone("app")
    write(app, {"readings.csv": "sensor,celsius\n4,21.5\n"})
    result = commit(path_world.spec(app, commit_policy=policy(server.base_url)))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.commit is not None
    assert result.commit.message == "Update the readings\n\nRecord the morning values.\n"
    assert result.commit.message_source == "llm:test-model"
    assert result.commit.message_skipped is None
    assert message(app) == "Update the readings\n\nRecord the morning values."
    assert server.problems == []
    (request,) = server.requests
    assert request["temperature"] == 0
    assert "A readings.csv" in server.prompt()
    assert "+4,21.5" in server.prompt()


def test_the_api_key_is_sent_as_a_bearer_token(
    path_world: World, server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With api_key_env, the key goes in the Authorization header, and nowhere in the
    commit's result."""
    monkeypatch.setenv("TEST_LLM_KEY", "sk-local-test-key")
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(
        path_world.spec(app, commit_policy=policy(server.base_url, api_key_env="TEST_LLM_KEY"))
    )
    assert server.headers[0]["authorization"] == "Bearer sk-local-test-key"
    assert "sk-local-test-key" not in str(result.to_dict())


def test_excluded_and_secret_content_never_reaches_the_endpoint(
    path_world: World, server: ChatServer
) -> None:
    """Excluded paths and lock files are named with no content, and a line holding a
    secret (already committed, so a context line of the diff) is redacted."""
    app = path_world.clone("app")
    write(app, {"config.ini": f"[aws]\n{AWS_LINE}region = eu-west-1\n"})
    git(app, "add", "config.ini")
    git(app, "commit", "-qm", "config")
    write(
        app,
        {
            "config.ini": f"[aws]\n{AWS_LINE}region = eu-north-1\n",
            ".env": "DATABASE_PASSWORD=hunter2-very-secret\n",
            "private/notes.txt": "the private plan\n",
            "package-lock.json": '{"lockfileVersion": 3, "marker": "lock-content"}\n',
        },
    )
    spec_policy = CommitPolicy(
        exclude=(".env", "private/"),
        generator=LLMGenerator(LLMConfig(server.base_url, "test-model"), breaker=CircuitBreaker()),
    )
    result = commit(path_world.spec(app, commit_policy=spec_policy))
    assert result.commit is not None
    assert result.commit.message_source == "llm:test-model"
    body = server.bodies
    for secret in (AWS_KEY, "hunter2", "the private plan", "lock-content"):
        assert secret not in body
    prompt = server.prompt()
    assert "[redacted: AWS Access Key]" in prompt
    assert "+region = eu-north-1" in prompt
    assert ".env  (excluded: not committed, not shown)" in prompt
    assert "private/notes.txt  (excluded: not committed, not shown)" in prompt
    assert "A package-lock.json  (lock file: content not shown)" in prompt


def test_a_new_secret_line_is_redacted_when_the_scan_is_off(
    path_world: World, server: ChatServer
) -> None:
    """With scan_secrets off the commit takes a secret, but the model never sees it
    (nor in a line that looks like a diff header: ``++ `` added is ``+++ ``)."""
    app = path_world.clone("app")
    write(app, {"keys.txt": AWS_LINE + "++ " + AWS_LINE})
    generator = LLMGenerator(LLMConfig(server.base_url, "test-model"), breaker=CircuitBreaker())
    spec = path_world.spec(app, commit_policy=CommitPolicy(scan_secrets=False, generator=generator))
    result = commit(spec)
    assert result.commit is not None
    assert AWS_KEY not in server.bodies
    assert "+[redacted: AWS Access Key]" in server.prompt()


def test_a_binary_file_is_named_without_its_content(path_world: World, server: ChatServer) -> None:
    """A binary file is in the list, its bytes are not in the prompt."""
    app = path_world.clone("app")
    write(app, {"image.png": b"\x89PNG\0\0binary-marker"})
    commit(path_world.spec(app, commit_policy=policy(server.base_url)))
    assert "A image.png  (binary: content not shown)" in server.prompt()
    assert "binary-marker" not in server.bodies


def test_a_large_diff_is_cut_per_file_so_each_keeps_a_share(
    path_world: World, server: ChatServer
) -> None:
    """Over max_diff_chars, small diffs stay whole and large ones are cut, the list
    saying so; the diff sent stays within the budget."""
    app = path_world.clone("app")
    big = "".join(f"line {n} of the big file\n" for n in range(2000))
    other = "".join(f"row {n} of the other big file\n" for n in range(2000))
    write(app, {"big.txt": big, "other.txt": other, "small.txt": "small change\n"})
    commit(path_world.spec(app, commit_policy=policy(server.base_url, max_diff_chars=3000)))
    prompt = server.prompt()
    assert "+small change" in prompt
    assert "+line 0 of the big file" in prompt
    assert "+row 0 of the other big file" in prompt
    assert "A big.txt  (diff cut to" in prompt
    assert "A other.txt  (diff cut to" in prompt
    assert "A small.txt\n" in prompt
    diff = prompt.split("The diff:\n", 1)[1]
    assert len(diff) <= 3000 + 100


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("```\nAdd the sensor readings\n```", "Add the sensor readings\n"),
        ('"Add the sensor readings"', "Add the sensor readings\n"),
        (
            "<think>The user wants a message.\nLet me think.</think>\nAdd the sensor readings",
            "Add the sensor readings\n",
        ),
        (
            "**Add** the *sensor* readings\n\n- keep __all__ rows",
            "Add the sensor readings\n\n- keep __all__ rows\n",
        ),
        ("Commit message: Add the sensor readings", "Add the sensor readings\n"),
        (
            "Add the readings of every sensor in the building, from the basement to the roof",
            "Add the readings of every sensor in the building, from the basement to\n",
        ),
    ],
)
def test_the_answer_is_cleaned(
    path_world: World, server: ChatServer, answer: str, expected: str
) -> None:
    """Fences, quotes, think blocks, emphasis and labels are taken off the answer, and
    a subject longer than 72 characters is cut at a word."""
    server.default = Answer(text=answer)
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=policy(server.base_url)))
    assert result.commit is not None
    assert result.commit.message_source == "llm:test-model"
    assert result.commit.message == expected
    assert len(result.commit.message.split("\n", 1)[0]) <= 72


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (Answer(text=""), "unusable answer: the answer is empty"),
        (Answer(text="   \n\n "), "unusable answer: the answer is empty"),
        (Answer(text="Add the sensor readings and..."), "cut short"),
        (Answer(text="<think>Let me see what changed"), "inside a <think> block"),
        (Answer(text="Add the sensor", finish_reason="length"), "finish_reason: length"),
        (Answer(text="```\n42\n```"), "is no sentence"),
        (Answer(status=500), "the endpoint answered HTTP 500"),
        (Answer(status=404), "the endpoint answered HTTP 404"),
        (Answer(raw=b"<html>not json</html>"), "not a chat completion"),
        (Answer(raw=b'{"choices": []}'), "not a chat completion"),
        (Answer(status=429, headers={"Retry-After": "30"}), "Retry-After 30 s): past the deadline"),
    ],
)
def test_whatever_goes_wrong_the_template_writes_the_message(
    path_world: World, server: ChatServer, answer: Answer, why: str
) -> None:
    """An unusable answer or a failing endpoint still makes the commit, with the
    template's message; the commit and the run's reason say why."""
    server.default = answer
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=policy(server.base_url, timeout=5)))
    assert result.outcome is Outcome.PUSHED_AHEAD
    assert result.commit is not None
    assert result.commit.message_source == "template"
    assert result.commit.message == "Update 1 file(s): a.txt\n"
    assert result.commit.message_skipped is not None
    assert why in result.commit.message_skipped
    assert "message from the template" in result.reason
    assert server.problems == []


def test_a_refused_connection_leaves_it_to_the_template(path_world: World) -> None:
    """Nothing listening at the endpoint: the template writes the message."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    with closed_port() as url:
        result = commit(path_world.spec(app, commit_policy=policy(url.rsplit("/", 1)[0])))
    assert result.commit is not None
    assert result.commit.message_source == "template"
    assert "cannot reach the endpoint: ConnectError" in str(result.commit.message_skipped)


def test_one_deadline_bounds_the_wait_for_the_message(
    path_world: World, server: ChatServer
) -> None:
    """A slow endpoint costs the commit at most its timeout, not a timeout per try."""
    server.default = Answer(delay=5)
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    started = time.monotonic()
    result = commit(path_world.spec(app, commit_policy=policy(server.base_url, timeout=0.5)))
    waited = time.monotonic() - started
    assert result.commit is not None
    assert result.commit.message_source == "template"
    assert "no answer within the timeout (0.5 s)" in str(result.commit.message_skipped)
    assert waited < 3


def test_an_endpoint_that_never_answers_costs_the_timeout(path_world: World) -> None:
    """A port that takes the connection and never answers: the template, in time."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    with silent_port() as url:
        started = time.monotonic()
        result = commit(
            path_world.spec(app, commit_policy=policy(url.rsplit("/", 1)[0], timeout=0.5))
        )
    assert time.monotonic() - started < 3
    assert result.commit is not None
    assert result.commit.message_source == "template"


@pytest.mark.parametrize(
    "first", [Answer(status=503), Answer(status=429, headers={"Retry-After": "0.2"})]
)
def test_a_retry_that_fits_in_the_deadline_is_made(
    path_world: World, server: ChatServer, first: Answer
) -> None:
    """A 503, or a 429 whose Retry-After fits in the deadline, is tried again."""
    server.script = [first]
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=policy(server.base_url)))
    assert result.commit is not None
    assert result.commit.message_source == "llm:test-model"
    assert len(server.requests) == 2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def context() -> MessageContext:
    return MessageContext(
        repo="data",
        branch="main",
        trigger="test",
        hostname="host",
        when=datetime.now(UTC),
        changes=(FileChange("a.txt", "added"),),
        diff=lambda: "diff --git a/a.txt b/a.txt\n+a\n",
    )


def test_the_breaker_skips_a_failing_endpoint_then_tries_it_again(server: ChatServer) -> None:
    """After repeated failures the endpoint is not asked for a while; after the cool
    down one request tries it, and a success closes the breaker."""
    clock = Clock()
    breaker = CircuitBreaker(failures=2, cool_down=30, clock=clock)
    generator = LLMGenerator(LLMConfig(server.base_url, "test-model"), breaker=breaker)
    server.default = Answer(status=500)
    for _ in range(2):
        with pytest.raises(MessageSkipped, match="HTTP 500"):
            generator.generate(context())
    with pytest.raises(MessageSkipped, match=r"failed 2 times in a row; trying it again in 30 s"):
        generator.generate(context())
    assert len(server.requests) == 2
    clock.now += 31
    server.default = Answer()
    assert generator.generate(context()) == "Update the readings\n\nRecord the morning values.\n"
    assert len(server.requests) == 3
    assert generator.generate(context()).startswith("Update the readings")


def test_an_open_breaker_costs_a_commit_nothing(path_world: World) -> None:
    """With the breaker open, a commit does not wait on the endpoint at all."""
    breaker = CircuitBreaker(failures=1, cool_down=600)
    app = path_world.clone("app")
    with silent_port() as url:
        config = LLMConfig(url.rsplit("/", 1)[0], "test-model", timeout=0.3)
        spec_policy = CommitPolicy(generator=LLMGenerator(config, breaker=breaker))
        write(app, {"a.txt": "a\n"})
        commit(path_world.spec(app, commit_policy=spec_policy))
        write(app, {"b.txt": "b\n"})
        started = time.monotonic()
        result = commit(path_world.spec(app, commit_policy=spec_policy))
        assert time.monotonic() - started < 0.3
    assert result.commit is not None
    assert result.commit.message_source == "template"
    assert "skipped: the endpoint failed 1 time in a row" in str(result.commit.message_skipped)


def test_requests_to_one_endpoint_are_bounded_by_its_concurrency(server: ChatServer) -> None:
    """Generators of one endpoint share its semaphore: with concurrency 1, requests
    from several commits at once reach it one at a time."""
    server.default = Answer(delay=0.2)
    config = LLMConfig(server.base_url, "test-model")
    generators = [LLMGenerator(config, breaker=CircuitBreaker()) for _ in range(3)]
    written: list[str] = []
    threads = [
        threading.Thread(target=lambda g=g: written.append(g.generate(context())))
        for g in generators
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(written) == 3
    assert server.most_in_flight == 1


def test_a_missing_api_key_skips_the_model(path_world: World, server: ChatServer) -> None:
    """A named key variable that is not set: the template, saying which variable."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    spec = path_world.spec(
        app, commit_policy=policy(server.base_url, api_key_env="TEST_LLM_NO_SUCH_KEY")
    )
    result = commit(spec)
    assert result.commit is not None
    assert result.commit.message_skipped == (
        "the environment variable TEST_LLM_NO_SUCH_KEY is not set"
    )
    assert server.requests == []


def test_an_explicit_message_never_asks_the_model(path_world: World, server: ChatServer) -> None:
    """A request with a message is committed with it; the endpoint is not asked."""
    app = path_world.clone("app")
    write(app, {"a.txt": "a\n"})
    result = commit(path_world.spec(app, commit_policy=policy(server.base_url)), message="Mine")
    assert result.commit is not None
    assert result.commit.message_source == "explicit"
    assert server.requests == []


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"base_url": "ftp://x/v1"}, "base_url 'ftp://x/v1'"),
        ({"base_url": "http://user:pw@x/v1"}, "no credentials in the URL"),
        ({"model": " "}, "model: give the model's name"),
        ({"timeout": 0}, "timeout must be between 0 and 600"),
        ({"concurrency": 0}, "concurrency must be between 1 and 64"),
        ({"temperature": 3}, "temperature must be between 0 and 2"),
        ({"max_diff_chars": -1}, "max_diff_chars must be"),
        ({"api_key_env": "A", "api_key_file": Path("k")}, "not both"),
    ],
)
def test_a_bad_llm_config_is_refused(config: dict[str, object], problem: str) -> None:
    """Each bad setting is refused when the config is made, naming it."""
    args: dict[str, object] = {"base_url": "http://127.0.0.1:1/v1", "model": "m"} | config
    with pytest.raises(InvalidSpecError, match=problem.replace("(", r"\(")):
        LLMConfig(**args)  # type: ignore[arg-type]


def test_the_audit_row_and_the_metric_carry_the_model(
    path_world: World, server: ChatServer, tmp_path: Path
) -> None:
    """Through the plugin, the commit's audit row, its listing and the commits metric
    say the model wrote the message."""
    tree = path_world.clone("app")
    database = tmp_path / "audit.db"
    repo = RepoConfig("data", tree, poll_interval=0, commit_policy=policy(server.base_url))
    plugin = ReconcilePlugin(
        PluginConfig(repos=(repo,), admin_token=ADMIN, database_url=f"sqlite:///{database}")
    )
    app = Starlette(routes=[plugin.mount("/reconcile")], lifespan=plugin.lifespan())
    with TestClient(app) as client:
        write(tree, {"a.txt": "a\n"})
        done = client.post("/reconcile/commit?wait=true", headers=AUTH).json()
        listed = client.get("/reconcile/commits?repo=data", headers=AUTH).json()["commits"]
        metrics = client.get("/reconcile/metrics").text
    assert done["result"]["commit"]["message_source"] == "llm:test-model"
    assert [c["message_source"] for c in listed] == ["llm:test-model"]
    with AuditStore(f"sqlite:///{database}") as store:
        [row] = store.commits()
    assert row.message_source == "llm:test-model"
    assert 'git_reconcile_commits_total{message_source="llm:test-model",repo="data"} 1.0' in (
        metrics
    )
