"""An OpenAI-compatible chat-completions server on loopback, for the tests of the
LLM message generator: a Starlette app under uvicorn in a thread of its own (the
commits it answers are made synchronously in the test's thread).

It checks each request's shape (``POST /v1/chat/completions``, the expected model, a
system and a user message, a numeric temperature) and records it; each request
takes the next scripted ``Answer`` (then the default one): a completion, after a
delay or not, an HTTP status (with headers), or a body that is no completion.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._process import HOST

__all__ = ["Answer", "ChatServer", "chat_server"]


@dataclass(frozen=True)
class Answer:
    """One scripted answer: ``text`` as a completion (``finish_reason`` as given),
    after ``delay`` seconds; or ``status`` with ``headers``; or ``raw`` bytes."""

    text: str = "Update the readings\n\nRecord the morning values."
    delay: float = 0.0
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    finish_reason: str = "stop"


@dataclass
class ChatServer:
    """What the server was asked, what it found wrong, and what it answers next."""

    base_url: str
    model: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    default: Answer = field(default_factory=Answer)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def bodies(self) -> str:
        """Every request body, as one text (to look for what must not be sent)."""
        return "\n".join(json.dumps(r) for r in self.requests)

    def prompt(self, index: int = -1) -> str:
        """The user message of a request."""
        return str(self.requests[index]["messages"][-1]["content"])

    def _check(self, body: Any) -> str | None:
        if not isinstance(body, dict):
            return "the body is not a JSON object"
        messages = body.get("messages")
        if body.get("model") != self.model:
            return f"model {body.get('model')!r}, expected {self.model!r}"
        if not isinstance(body.get("temperature"), int | float):
            return "no numeric temperature"
        if not isinstance(messages, list) or [m.get("role") for m in messages] != [
            "system",
            "user",
        ]:
            return "messages are not [system, user]"
        if not all(isinstance(m.get("content"), str) and m["content"] for m in messages):
            return "a message has no text"
        return None

    async def answer(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        problem = self._check(body)
        with self.lock:
            self.requests.append(body if isinstance(body, dict) else {"raw": raw.decode()})
            self.headers.append(dict(request.headers))
            answer = self.script.pop(0) if self.script else self.default
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if problem is not None:
                self.problems.append(problem)
                return JSONResponse({"error": {"message": problem}}, status_code=400)
            if answer.delay:
                await anyio.sleep(answer.delay)
            return _response(answer, self.model)
        finally:
            with self.lock:
                self.in_flight -= 1


def _response(answer: Answer, model: str) -> Response:
    if answer.raw is not None:
        return Response(answer.raw, status_code=answer.status, media_type="application/json")
    if answer.status != 200:
        error = {"error": {"message": "scripted failure"}}
        return JSONResponse(error, status_code=answer.status, headers=answer.headers)
    return JSONResponse(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": answer.text},
                    "finish_reason": answer.finish_reason,
                }
            ],
        }
    )


@contextmanager
def chat_server(model: str = "test-model") -> Iterator[ChatServer]:
    """The server on a loopback port, in a thread; stopped on the way out."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(64)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    got = ChatServer(base_url=f"http://{HOST}:{port}/v1", model=model)
    app = Starlette(routes=[Route("/v1/chat/completions", got.answer, methods=["POST"])])
    config = uvicorn.Config(
        app,
        lifespan="off",
        ws="none",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
