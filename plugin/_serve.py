"""``git-reconcile serve``: the plugin as a standalone app under uvicorn."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

from ._config import (
    ENV_ADMIN_TOKEN,
    ENV_DATABASE_URL,
    ENV_WEBHOOK_SECRET,
    ConfigError,
    PluginConfig,
    RepoConfig,
)

__all__ = ["add_serve", "build_app", "config_from_args"]


def build_app(config: PluginConfig) -> Starlette:
    """The standalone app: the plugin's routes at ``/``, and its lifespan."""
    from starlette.applications import Starlette

    from ._plugin import ReconcilePlugin

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
    serve.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the SQLite audit store lives when no database URL is given "
        "(default: $XDG_DATA_HOME/git-reconcile, or ~/.local/share/git-reconcile)",
    )

    db = sub.add_parser("db", help="the audit store: apply its migrations")
    db.add_argument(
        "action", choices=["upgrade"], help="upgrade: migrate the store to the latest schema"
    )
    _database_options(db)

    history = sub.add_parser("history", help="past runs from the audit store, newest first")
    _database_options(history)
    history.add_argument("--repo", help="only this repository")
    history.add_argument("--outcome", help="only this outcome (e.g. conflict-escaped)")
    history.add_argument("--limit", type=int, default=20, help="how many runs (default: 20)")
    history.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return {"serve": run_serve, "db": run_db, "history": run_history}


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=f"sqlite:///PATH or postgresql://... (default: ${ENV_DATABASE_URL}, else a "
        "SQLite file in --data-dir)",
    )
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="where the default SQLite file lives"
    )


def default_data_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "git-reconcile"


def database_url(
    args: argparse.Namespace, environ: Mapping[str, str], configured: str | None = None
) -> str:
    """The audit store's URL: --database-url, RECONCILE_DATABASE_URL, the config file's,
    else a SQLite file in the data directory."""
    explicit = getattr(args, "database_url", None)
    if explicit or environ.get(ENV_DATABASE_URL) or configured:
        return str(explicit or environ.get(ENV_DATABASE_URL) or configured)
    folder = getattr(args, "data_dir", None) or default_data_dir(environ)
    return f"sqlite:///{Path(folder).expanduser().absolute() / 'audit.sqlite3'}"


def run_db(args: argparse.Namespace) -> int:
    from ._store import AuditStore

    url = database_url(args, os.environ)
    with AuditStore(url) as store:
        store.upgrade()
    print(f"the audit store is at the latest schema ({_shown(url)})")
    return 0


def run_history(args: argparse.Namespace) -> int:
    from ._store import AuditStore

    with AuditStore(database_url(args, os.environ)) as store:
        store.upgrade()
        rows = store.history(repo=args.repo, outcome=args.outcome, limit=max(1, args.limit))
    if args.json:
        print(json.dumps(rows, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("finished (UTC)", "repo", "trigger", "outcome", "commit", "reason")
    for row in rows:
        result = row.get("result") or {}
        finished = row.get("finished_at")
        when = (
            datetime.fromtimestamp(finished, UTC).strftime("%Y-%m-%d %H:%M:%S")
            if isinstance(finished, int | float)
            else str(finished)
        )
        table.add_row(
            when,
            str(row.get("repo")),
            ",".join(row.get("triggers") or []),
            str(result.get("outcome") or "error"),
            str(result.get("new_commit") or "")[:10],
            str(result.get("reason") or row.get("error") or ""),
        )
    Console().print(table)
    return 0


def _shown(url: str) -> str:
    from reconcile import redact_url

    return redact_url(url)


def config_from_args(args: argparse.Namespace, environ: Mapping[str, str]) -> PluginConfig:
    if args.config is not None:
        if args.repo:
            raise ConfigError("give --config or --repo, not both")
        from ._load import load_config  # pydantic and the alerts: only for a file

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
        if args.data_dir is None:  # the demo's audit store goes with the demo
            args.data_dir = args.repo[0].parent
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
        config = replace(config, database_url=database_url(args, environ, config.database_url))
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
