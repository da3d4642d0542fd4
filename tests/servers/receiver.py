"""Loopback endpoints for the alert tests: an HTTP receiver that records what it is
sent (a Starlette app under uvicorn, in the test's event loop), a port that refuses
connections, and one that takes them and never answers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._process import HOST

__all__ = ["Received", "Receiver", "closed_port", "receiver", "silent_port"]


@dataclass
class Received:
    """One request the loopback receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on loopback that records what it is sent."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, then 200


@asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    """A Starlette app served by uvicorn on a loopback port, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(16)  # connections wait in the backlog until uvicorn accepts them
    port = sock.getsockname()[1]
    got = Receiver(url=f"http://{HOST}:{port}/hooks/git")

    async def hook(request: Request) -> Response:
        got.received.append(Received(request.url.path, dict(request.headers), await request.body()))
        status = got.statuses.pop(0) if got.statuses else 200
        return Response(status_code=status)

    app = Starlette(routes=[Route("/hooks/git", hook, methods=["POST"])])
    config = uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [sock])
            try:
                yield got
            finally:
                server.should_exit = True
    finally:
        sock.close()


@contextmanager
def closed_port() -> Iterator[str]:
    """A loopback URL where nothing listens: connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    port = sock.getsockname()[1]
    sock.close()
    yield f"http://{HOST}:{port}/hook"


@contextmanager
def silent_port() -> Iterator[str]:
    """A loopback URL that takes connections and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((HOST, 0))
    sock.listen(16)  # never accepted: the kernel completes the handshake, nobody reads
    try:
        yield f"http://{HOST}:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()
