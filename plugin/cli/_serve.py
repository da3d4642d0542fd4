"""``git-reconcile serve``: the plugin as a standalone app under uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._command import Command
from ._database import database_url
from ._defaults import default
from ._exit import ExitCode

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from plugin import PluginConfig

__all__ = [
    "COMMAND",
    "add_arguments",
    "build_app",
    "check_repositories",
    "config_from_args",
    "run",
    "serve_app",
]

HOST = "127.0.0.1"
PORT = 8000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pathlib import Path

    from plugin._config import ENV_ADMIN_TOKEN, ENV_DATABASE_URL, ENV_WEBHOOK_SECRET, RepoConfig

    parser.description = (
        "Serve the plugin as a standalone app. Give repositories with --repo "
        "(and --branch), or a TOML file with --config; with neither, a throwaway demo "
        f"repository is served. Secrets come from the environment: {ENV_WEBHOOK_SECRET}, "
        f"{ENV_ADMIN_TOKEN}, {ENV_DATABASE_URL}."
    )
    parser.add_argument(
        "--repo",
        action="append",
        default=[],
        type=Path,
        metavar="PATH",
        help="a repository to keep reconciled (repeatable)",
    )
    parser.add_argument("--branch", help="branch of the --repo repositories (default: HEAD's)")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=default(RepoConfig, "poll_interval"),
        metavar="SECONDS",
        help="seconds between polls of --repo repositories; 0: off (default: %(default)g)",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML configuration file")
    parser.add_argument("--host", default=HOST, help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=PORT, help="port (default: %(default)d)")
    parser.add_argument(
        "--log-format",
        choices=["auto", "json", "console"],
        default="auto",
        help="JSON lines, console lines, or console on a terminal and JSON otherwise "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default: %(default)s)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the SQLite audit store lives when no database URL is given "
        "(default: $XDG_DATA_HOME/git-reconcile, or ~/.local/share/git-reconcile)",
    )


def build_app(config: PluginConfig) -> Starlette:
    """The standalone app: the plugin's routes at ``/``, and its lifespan."""
    from starlette.applications import Starlette

    from plugin import ReconcilePlugin

    plugin = ReconcilePlugin(config)
    app = Starlette(routes=plugin.routes(), lifespan=plugin.lifespan())
    app.state.reconcile = plugin
    return app


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> PluginConfig:
    """The configuration ``--config`` or ``--repo`` gives, secrets from ``environ``."""
    from plugin import ConfigError, PluginConfig, RepoConfig, load_config
    from plugin._config import ENV_ADMIN_TOKEN, ENV_DATABASE_URL, ENV_WEBHOOK_SECRET

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
    from plugin import ConfigError
    from reconcile import BadInputError, inspect_repo

    for repo in config.repos:
        try:
            inspect_repo(repo.to_spec())
        except BadInputError as exc:
            raise ConfigError(f"repository {repo.name!r}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from plugin import ConfigError
    from reconcile import configure_logging

    environ = dict(os.environ)
    if args.config is None and not args.repo:
        _serve_a_demo(args, environ)
    try:
        config = config_from_args(args, environ)
        config = replace(config, database_url=database_url(args, environ, config.database_url))
        check_repositories(config)
    except ConfigError as exc:
        print(f"git-reconcile: {exc}", file=sys.stderr)
        return ExitCode.BAD_INPUT
    configure_logging(args.log_format, args.log_level, loggers=("reconcile", "plugin", "uvicorn"))
    serve_app(build_app(config), host=args.host, port=args.port, log_level=args.log_level.lower())
    return ExitCode.OK


def serve_app(app: Starlette, *, host: str, port: int, log_level: str) -> None:
    """Serve ``app`` under uvicorn until it is stopped, with the logging already set up
    (``configure_logging``) rather than uvicorn's own."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_config=None, log_level=log_level)


def _serve_a_demo(args: argparse.Namespace, environ: dict[str, str]) -> None:
    """Point ``args`` at a throwaway demo repository, with fresh secrets, and say so."""
    import secrets
    import tempfile
    from pathlib import Path

    from plugin._config import ENV_ADMIN_TOKEN, ENV_WEBHOOK_SECRET

    from ._demo import make_demo_clone

    clone = make_demo_clone(Path(tempfile.mkdtemp(prefix="git-reconcile-serve-demo-")))
    args.repo = [clone]
    if args.data_dir is None:  # the demo's audit store goes with the demo
        args.data_dir = clone.parent
    environ.setdefault(ENV_ADMIN_TOKEN, secrets.token_urlsafe(16))
    environ.setdefault(ENV_WEBHOOK_SECRET, secrets.token_urlsafe(16))
    print(
        f"serving a demo repository: {clone} (its remote: {clone.parent / 'remote.git'})\n"
        f"  admin token:    {environ[ENV_ADMIN_TOKEN]}\n"
        f"  webhook secret: {environ[ENV_WEBHOOK_SECRET]}\n"
        f"  try: curl http://{args.host}:{args.port}/status",
        flush=True,
    )


COMMAND = Command(
    name="serve",
    help="serve repositories: boot reconcile, webhooks, polling, status (uvicorn)",
    add_arguments=add_arguments,
    run=run,
)
