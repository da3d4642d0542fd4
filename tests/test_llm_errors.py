"""The LLM generator against error shapes a loopback server cannot easily make,
through respx: transport errors, HTTP-date Retry-After, answers without text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from reconcile import (
    CircuitBreaker,
    FileChange,
    LLMConfig,
    LLMGenerator,
    MessageContext,
    MessageSkipped,
)

URL = "http://llm.test/v1"
ENDPOINT = f"{URL}/chat/completions"


def _completion(text: object) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": text}}]})


def _generator(**config: object) -> LLMGenerator:
    return LLMGenerator(LLMConfig(URL, "m", **config), breaker=CircuitBreaker())  # type: ignore[arg-type]


CONTEXT = MessageContext(
    repo="data",
    branch="main",
    trigger="test",
    hostname="host",
    when=datetime.now(UTC),
    changes=(FileChange("a.txt", "added"),),
    diff=lambda: "diff --git a/a.txt b/a.txt\n+a\n",
)


@respx.mock
def test_a_refused_connection_is_tried_again_within_the_deadline() -> None:
    """A refused connection is retried (three attempts in all), then skipped."""
    route = respx.post(ENDPOINT).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(MessageSkipped, match="cannot reach the endpoint: ConnectError"):
        _generator().generate(CONTEXT)
    assert route.call_count == 3


@respx.mock
def test_a_connection_that_then_works_gives_the_model_s_message() -> None:
    """One refused connection, then an answer: the model's message."""
    respx.post(ENDPOINT).mock(side_effect=[httpx.ConnectError("refused"), _completion("Add a")])
    assert _generator().generate(CONTEXT) == "Add a\n"


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (httpx.ConnectTimeout("slow"), "no answer within the timeout (10 s)"),
        (httpx.ReadTimeout("slow"), "no answer within the timeout (10 s)"),
        (httpx.ReadError("reset"), "cannot reach the endpoint: ReadError"),
        (httpx.RemoteProtocolError("bad"), "cannot reach the endpoint: RemoteProtocolError"),
    ],
)
@respx.mock
def test_transport_errors_skip_the_model_without_retrying(error: Exception, why: str) -> None:
    """A timeout or a broken answer is not tried again: the deadline is the caller's."""
    route = respx.post(ENDPOINT).mock(side_effect=error)
    with pytest.raises(MessageSkipped, match=why.replace("(", r"\(").replace(")", r"\)")):
        _generator().generate(CONTEXT)
    assert route.call_count == 1


@respx.mock
def test_a_retry_after_date_is_honoured() -> None:
    """A 429 whose Retry-After is an HTTP date already past is tried again at once."""
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=5), usegmt=True)
    respx.post(ENDPOINT).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": past}), _completion("Add a")]
    )
    assert _generator().generate(CONTEXT) == "Add a\n"


@respx.mock
def test_a_retry_after_date_past_the_deadline_is_not_waited_for() -> None:
    """A 429 asking for a wait beyond the deadline skips the model at once."""
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    route = respx.post(ENDPOINT).mock(
        return_value=httpx.Response(429, headers={"Retry-After": later})
    )
    with pytest.raises(MessageSkipped, match="past the deadline"):
        _generator(timeout=2).generate(CONTEXT)
    assert route.call_count == 1


@pytest.mark.parametrize("content", [None, 42, ["parts"]])
@respx.mock
def test_an_answer_without_text_is_skipped(content: object) -> None:
    """A completion whose content is not text: skipped, saying so."""
    respx.post(ENDPOINT).mock(return_value=_completion(content))
    with pytest.raises(MessageSkipped, match="the endpoint's answer has no text"):
        _generator().generate(CONTEXT)
