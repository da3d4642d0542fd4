"""The floor of the webhook load benchmark: a bare Starlette endpoint under the same uvicorn.

    python tests/bench/bare_app.py PORT COMMIT

``POST /webhooks/{provider}`` reads the body and answers the JSON the webhook path
answers for a commit already present. The server runs as ``git-reconcile serve``
runs its app (``plugin.cli._serve.serve_app``: the same uvicorn options, the same
logging, a listening socket bound first), so the two differ only by what the
webhook path does per delivery.
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from plugin.cli._serve import listening, serve_app
from reconcile import configure_logging


def main() -> None:
    port, commit = int(sys.argv[1]), sys.argv[2]

    async def webhook(request: Request) -> Response:
        await request.body()
        return JSONResponse({"status": "present", "repo": "app", "commit": commit})

    app = Starlette(routes=[Route("/webhooks/{provider}", webhook, methods=["POST"])])
    configure_logging("auto", "INFO", loggers=("reconcile", "plugin", "uvicorn"))
    with listening("127.0.0.1", port) as listener:
        serve_app(app, listener, log_level="info")


if __name__ == "__main__":
    main()
