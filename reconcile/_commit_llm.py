"""Commit messages written by a language model behind any OpenAI-compatible
chat-completions endpoint (llama.cpp's server, Ollama's ``/v1``, vLLM, LM Studio,
OpenAI), never in the way of the commit.

``LLMGenerator`` is a ``MessageGenerator``: it sends the prompt of
``_commit_prompt`` and returns the cleaned answer. Whatever goes wrong (the
endpoint refuses the connection, is slow, answers an HTTP error or 429, or
garbage; the answer is empty, cut short or unusable) it raises
``MessageSkipped`` with the reason, and the template writes the message.

- One deadline per commit: ``timeout`` seconds from the moment the message is
  asked for, spent on waiting for a slot, every attempt and every wait between
  them. A retry (after a refused connection, a 502/503/504, or a 429 whose
  ``Retry-After`` fits) is made only inside it (tenacity).
- At most ``concurrency`` requests at once to one endpoint, for every commit of
  the process (one semaphore per endpoint URL).
- A circuit breaker per endpoint, for the process: after ``FAILURES`` failures in
  a row the endpoint is skipped for ``COOL_DOWN`` seconds, then tried once again.
  Only failures of the endpoint count, not answers that make no message.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
import tenacity

from ._commit import MessageSkipped
from ._commit_context import MessageContext
from ._commit_prompt import DEFAULT_SYSTEM_PROMPT, UnusableAnswer, build_prompt, clean_answer
from ._errors import InvalidSpecError
from ._redact import redact_url

__all__ = ["COOL_DOWN", "FAILURES", "CircuitBreaker", "LLMConfig", "LLMGenerator"]

FAILURES: Final = 3  # failures in a row that open the breaker
COOL_DOWN: Final = 60.0  # seconds an open breaker skips the endpoint
_ATTEMPTS = 3
_RETRIED_STATUS = frozenset({502, 503, 504})
_MAX_TOKENS = 1024


@dataclass(frozen=True)
class LLMConfig:
    """An OpenAI-compatible endpoint that writes commit messages (``[commit.llm]``).

    ``base_url`` is the API's root (``http://127.0.0.1:11434/v1`` for Ollama,
    ``http://127.0.0.1:8080/v1`` for llama.cpp's server); ``model`` its model name.
    The API key, when the endpoint wants one, is read when a message is asked for
    from the environment variable ``api_key_env`` or the file ``api_key_file``,
    never stored here. ``timeout`` bounds the wait of each commit for its message
    (seconds, everything included); ``max_diff_chars`` the diff shown; ``concurrency``
    the requests at once to the endpoint; ``system_prompt`` replaces the default.
    """

    base_url: str
    model: str
    api_key_env: str | None = None
    api_key_file: Path | None = None
    timeout: float = 10.0
    max_diff_chars: int = 8000
    concurrency: int = 1
    temperature: float = 0.0
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url or "")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidSpecError(
                f"base_url {redact_url(self.base_url)!r}: give the API's http(s) root, "
                "e.g. http://127.0.0.1:11434/v1"
            )
        if parts.username or parts.password:
            raise InvalidSpecError("base_url: no credentials in the URL; use api_key_env")
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidSpecError("model: give the model's name, e.g. 'qwen2.5-coder:7b'")
        if self.api_key_env is not None and self.api_key_file is not None:
            raise InvalidSpecError("api_key_env: give api_key_env or api_key_file, not both")
        if self.api_key_file is not None:
            object.__setattr__(self, "api_key_file", Path(self.api_key_file))
        self._check_numbers()
        if self.system_prompt is not None and not self.system_prompt.strip():
            raise InvalidSpecError("system_prompt must not be blank")

    def _check_numbers(self) -> None:
        if not (isinstance(self.timeout, int | float) and 0 < self.timeout <= 600):
            raise InvalidSpecError(
                f"timeout must be between 0 and 600 seconds, not {self.timeout!r}"
            )
        if not (isinstance(self.max_diff_chars, int) and self.max_diff_chars >= 0):
            raise InvalidSpecError(
                f"max_diff_chars must be a number of characters, not {self.max_diff_chars!r}"
            )
        if not (isinstance(self.concurrency, int) and 1 <= self.concurrency <= 64):
            raise InvalidSpecError(
                f"concurrency must be between 1 and 64, not {self.concurrency!r}"
            )
        if not (isinstance(self.temperature, int | float) and 0 <= self.temperature <= 2):
            raise InvalidSpecError(f"temperature must be between 0 and 2, not {self.temperature!r}")

    @property
    def endpoint(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"

    def api_key(self) -> str | None:
        """The API key, read now; raises ``MessageSkipped`` when it is named but absent."""
        if self.api_key_env is not None:
            key = os.environ.get(self.api_key_env, "").strip()
            if not key:
                raise MessageSkipped(f"the environment variable {self.api_key_env} is not set")
            return key
        if self.api_key_file is not None:
            try:
                key = self.api_key_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise MessageSkipped(
                    f"cannot read api_key_file {self.api_key_file}: {exc.strerror}"
                ) from None
            if not key:
                raise MessageSkipped(f"api_key_file {self.api_key_file} is empty")
            return key
        return None


@dataclass
class CircuitBreaker:
    """Skips an endpoint for ``cool_down`` seconds after ``failures`` failures in a
    row, then lets one request try it again (its failure opens it anew)."""

    failures: int = FAILURES
    cool_down: float = COOL_DOWN
    clock: Callable[[], float] = time.monotonic
    _count: int = 0
    _open_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self) -> None:
        """Raises ``MessageSkipped`` while the breaker is open."""
        with self._lock:
            left = self._open_until - self.clock()
            if left > 0:
                raise MessageSkipped(
                    f"skipped: the endpoint failed {self._count} time"
                    f"{'' if self._count == 1 else 's'} in a row; "
                    f"trying it again in {math.ceil(left)} s"
                )
            if self._count >= self.failures:  # half-open: this one request tries it
                self._open_until = self.clock() + self.cool_down

    def succeeded(self) -> None:
        with self._lock:
            self._count, self._open_until = 0, 0.0

    def failed(self) -> None:
        with self._lock:
            self._count += 1
            if self._count >= self.failures:
                self._open_until = self.clock() + self.cool_down


_SHARED_LOCK = threading.Lock()
_SEMAPHORES: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_BREAKERS: dict[str, CircuitBreaker] = {}
_CLIENT: httpx.Client | None = None


def _semaphore(endpoint: str, concurrency: int) -> threading.BoundedSemaphore:
    with _SHARED_LOCK:
        return _SEMAPHORES.setdefault(
            (endpoint, concurrency), threading.BoundedSemaphore(concurrency)
        )


def _breaker(endpoint: str) -> CircuitBreaker:
    with _SHARED_LOCK:
        return _BREAKERS.setdefault(endpoint, CircuitBreaker())


def _client() -> httpx.Client:
    """The process's HTTP client (made once: making one costs ~100 ms, its TLS
    context; it is safe to share between threads). Proxies from the environment are
    not used: the endpoint is asked directly."""
    global _CLIENT  # noqa: PLW0603  (made on first use, then shared)
    with _SHARED_LOCK:
        if _CLIENT is None:
            _CLIENT = httpx.Client(
                trust_env=False, limits=httpx.Limits(max_keepalive_connections=8)
            )
        return _CLIENT


class _Failed(Exception):
    """The endpoint failed; ``retry_after`` is when another attempt may come."""

    def __init__(self, why: str, *, retry: bool = False, retry_after: float = 0.0) -> None:
        super().__init__(why)
        self.retry, self.retry_after = retry, retry_after


def _retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` header asks to wait (seconds, or an HTTP date)."""
    if not value:
        return 1.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 1.0


def _content(response: httpx.Response) -> str:
    """The answer's text; raises ``_Failed`` for an answer that is not one."""
    try:
        choice = response.json()["choices"][0]
        text = choice["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise _Failed("the endpoint's answer is not a chat completion") from None
    if not isinstance(text, str):
        raise _Failed("the endpoint's answer has no text")
    if choice.get("finish_reason") == "length":
        raise UnusableAnswer("the answer was cut short (finish_reason: length)")
    return text


class LLMGenerator:
    """A ``MessageGenerator`` asking the endpoint of ``config``; its name (the
    commits' ``message_source``) is ``llm:<model>``. ``breaker`` defaults to the
    process's breaker of the endpoint."""

    def __init__(self, config: LLMConfig, *, breaker: CircuitBreaker | None = None) -> None:
        self.config = config
        self.breaker = breaker or _breaker(config.endpoint)
        self._semaphore = _semaphore(config.endpoint, config.concurrency)

    @property
    def name(self) -> str:
        return f"llm:{self.config.model}"

    def __repr__(self) -> str:
        return f"LLMGenerator({redact_url(self.config.base_url)!r}, {self.config.model!r})"

    def generate(self, context: MessageContext) -> str:
        """The model's message; raises ``MessageSkipped`` with the reason it has none."""
        deadline = time.monotonic() + self.config.timeout
        key = self.config.api_key()
        self.breaker.check()
        body = self._body(context)
        if not self._semaphore.acquire(timeout=max(deadline - time.monotonic(), 0.0)):
            raise MessageSkipped(
                f"skipped: {self.config.concurrency} request(s) to the endpoint already "
                f"took the whole timeout ({self.config.timeout:g} s)"
            )
        try:
            text = self._ask(body, key, deadline)
        finally:
            self._semaphore.release()
        try:
            return clean_answer(text)
        except UnusableAnswer as exc:
            raise MessageSkipped(f"unusable answer: {exc}") from None

    def _body(self, context: MessageContext) -> dict[str, Any]:
        system = self.config.system_prompt or DEFAULT_SYSTEM_PROMPT
        return {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": build_prompt(context, self.config.max_diff_chars)},
            ],
            "temperature": self.config.temperature,
            "max_tokens": _MAX_TOKENS,
            "stream": False,
        }

    def _ask(self, body: dict[str, Any], key: str | None, deadline: float) -> str:
        headers = {"Authorization": f"Bearer {key}"} if key else {}

        def wait(state: tenacity.RetryCallState) -> float:
            failure = state.outcome.exception() if state.outcome else None
            pause = failure.retry_after if isinstance(failure, _Failed) else 0.0
            return max(pause, 0.2 * state.attempt_number)

        def fits(state: tenacity.RetryCallState) -> bool:
            return state.attempt_number >= _ATTEMPTS or time.monotonic() + wait(state) >= deadline

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, _Failed) and e.retry),
            stop=fits,
            wait=wait,
            reraise=True,
        )
        try:
            text: str = retrying(self._attempt, body, headers, deadline)
        except _Failed as exc:
            self.breaker.failed()
            raise MessageSkipped(str(exc)) from None
        except UnusableAnswer as exc:
            self.breaker.succeeded()
            raise MessageSkipped(f"unusable answer: {exc}") from None
        self.breaker.succeeded()
        return text

    def _attempt(self, body: dict[str, Any], headers: dict[str, str], deadline: float) -> str:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Failed(f"no answer within the timeout ({self.config.timeout:g} s)")
        try:
            response = _client().post(
                self.config.endpoint, json=body, headers=headers, timeout=left
            )
        except httpx.TimeoutException:
            raise _Failed(f"no answer within the timeout ({self.config.timeout:g} s)") from None
        except httpx.TransportError as exc:
            refused = isinstance(exc, httpx.ConnectError)
            raise _Failed(
                f"cannot reach the endpoint: {type(exc).__name__}", retry=refused
            ) from None
        return self._answer(response, deadline)

    def _answer(self, response: httpx.Response, deadline: float) -> str:
        status = response.status_code
        if status == 429:
            pause = _retry_after(response.headers.get("Retry-After"))
            fits = time.monotonic() + pause < deadline
            why = f"rate limited (429, Retry-After {pause:g} s)"
            raise _Failed(
                why if fits else f"{why}: past the deadline", retry=fits, retry_after=pause
            )
        if status >= 400:
            raise _Failed(f"the endpoint answered HTTP {status}", retry=status in _RETRIED_STATUS)
        return _content(response)
