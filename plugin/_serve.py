"""``git-reconcile serve``: the plugin as a standalone app under uvicorn."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from starlette.applications import Starlette

from ._config import (
    ENV_ADMIN_TOKEN,
    ENV_DATABASE_URL,
    ENV_WEBHOOK_SECRET,
    ConfigError,
    PluginConfig,
    RepoConfig,
    load_config,
)
from ._plugin import ReconcilePlugin

__all__ = ["add_serve", "build_app", "config_from_args"]


def build_app(config: PluginConfig) -> Starlette:
    """The standalone app: the plugin's routes at ``/``, and its lifespan."""
    plugin = ReconcilePlugin(config)
    app = Starlette(routes=plugin.routes(), lifespan=plugin.lifespan())
    app.state.reconcile = plugin
    return app


def add_serve(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> dict[str, Callable[[argparse.Namespace], int]]:
    serve = sub.add_parser(
        "serve",
        help="serve repositories: boot reconcile, webhooks, polling, status (uvicorn)",
        description="Serve the plugin as a standalone app. Give repositories with --repo "
        "(and --branch), or a TOML file with --config; with neither, a throwaway demo "
        f"repository is served. Secrets come from the environment: {ENV_WEBHOOK_SECRET}, "
        f"{ENV_ADMIN_TOKEN}, {ENV_DATABASE_URL}.",
    )
    serve.add_argument(
        "--repo",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="a repository to keep reconciled (repeatable)",
    )
    serve.add_argument("--branch", help="branch of the --repo repositories (default: HEAD's)")
    serve.add_argument(
        "--poll-interval",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds between polls of --repo repositories; 0: off (default: 60)",
    )
    serve.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    serve.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="JSON lines, console lines, or console on a terminal and JSON otherwise "
        "(default: auto)",
    )
    serve.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default: INFO)",
    )
    return {"serve": run_serve}


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> PluginConfig:
    if args.config is not None:
        if args.repo:
            raise ConfigError("give --config or --repo, not both")
        return load_config(args.config, environ)
    if not args.repo:
        raise ConfigError("give --repo PATH or --config FILE")
    names: set[str] = set()
    repos = []
    for path in args.repo:
        name = path.resolve().name
        while name in names:
            name += "-2"
        names.add(name)
        repos.append(RepoConfig(name, path, branch=args.branch, poll_interval=args.poll_interval))
    secret = environ.get(ENV_WEBHOOK_SECRET)
    return PluginConfig(
        repos=tuple(repos),
        admin_token=environ.get(ENV_ADMIN_TOKEN) or None,
        webhook_secrets={"*": (secret,)} if secret else {},
        database_url=environ.get(ENV_DATABASE_URL) or None,
    )


def check_repositories(config: PluginConfig) -> None:
    """Fail before serving when a configured repository cannot be opened."""
    from reconcile import BadInputError, inspect_repo

    for repo in config.repos:
        try:
            inspect_repo(repo.to_spec())
        except BadInputError as exc:
            raise ConfigError(f"repository {repo.name!r}: {exc}") from None


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    environ = dict(os.environ)
    if args.config is None and not args.repo:
        args.repo = [_demo_repository()]
        environ.setdefault(ENV_ADMIN_TOKEN, secrets.token_urlsafe(16))
        environ.setdefault(ENV_WEBHOOK_SECRET, secrets.token_urlsafe(16))
        print(
            f"serving a demo repository: {args.repo[0]} (its remote: "
            f"{args.repo[0].parent / 'remote.git'})\n"
            f"  admin token:    {environ[ENV_ADMIN_TOKEN]}\n"
            f"  webhook secret: {environ[ENV_WEBHOOK_SECRET]}\n"
            f"  try: curl http://{args.host}:{args.port}/status",
            flush=True,
        )
    try:
        config = config_from_args(args, environ)
        check_repositories(config)
    except ConfigError as exc:
        print(f"git-reconcile: {exc}", file=sys.stderr)
        return 2
    from reconcile import configure_logging

    configure_logging(args.log_format, args.log_level, loggers=("reconcile", "plugin", "uvicorn"))
    uvicorn.run(
        build_app(config),
        host=args.host,
        port=args.port,
        log_config=None,
        log_level=args.log_level.lower(),
    )
    return 0


def _demo_repository() -> Path:
    """A throwaway bare remote with one commit, and a clone of it to serve."""
    from reconcile._demo import make_demo_clone

    return make_demo_clone(Path(tempfile.mkdtemp(prefix="git-reconcile-serve-demo-")))
