"""``git-reconcile serve``: the plugin as a standalone app under uvicorn.

Everything that can be checked is checked before the boot reconcile, each problem in
one line with its exit code: the configuration and the repositories (bad input, 2),
then the audit store and the port, which is bound here and handed to uvicorn
(unavailable, 7: the same command may work later). The throwaway demo's directory
is removed however serve stops: Ctrl-C, or SIGTERM, which then ends the process as
it would have (by the signal) once the directory is gone.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from ._database import audit_store, database_url
from ._defaults import default
from ._exit import CommandError, ExitCode, HelpFormatter, epilog

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from plugin import PluginConfig, ReconcilePlugin
    from plugin.fleet import CycleGate, FleetService

__all__ = [
    "add_arguments",
    "build_app",
    "check_repositories",
    "config_from_args",
    "listening",
    "run",
    "serve_app",
]

HOST = "127.0.0.1"
PORT = 8000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from plugin._config import ENV_ADMIN_TOKEN, ENV_DATABASE_URL, ENV_WEBHOOK_SECRET, RepoConfig

    parser.description = (
        "Serve the plugin as a standalone app. Give repositories with --repo "
        "(and --branch), or a TOML file with --config; with neither, a throwaway demo "
        f"repository is served. Secrets come from the environment: {ENV_WEBHOOK_SECRET}, "
        f"{ENV_ADMIN_TOKEN}, {ENV_DATABASE_URL}."
    )
    parser.epilog = epilog("serve")
    parser.formatter_class = HelpFormatter  # the epilog is a table
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
    parser.add_argument(
        "--port",
        type=int,
        default=PORT,
        help="port, 0 to 65535 (0: any free one; default: %(default)d)",
    )
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


def build_app(config: PluginConfig, fleet: FleetService | None = None) -> Starlette:
    """The standalone app: the plugin's routes at ``/``, and its lifespan; with ``fleet``,
    the fleet's routes under ``/fleet`` and the fleet running inside that lifespan."""
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute, Mount

    from plugin import ReconcilePlugin

    plugin = ReconcilePlugin(config)
    routes: list[BaseRoute] = list(plugin.routes())
    inner = None
    if fleet is not None:
        from plugin.fleet import fleet_routes

        routes.append(Mount("/fleet", routes=fleet_routes()))
        inner = fleet.lifespan()
    app = Starlette(routes=routes, lifespan=plugin.lifespan(inner))
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
        admin_token_env=ENV_ADMIN_TOKEN,
        webhook_secrets={"*": (secret,)} if secret else {},
        database_url=environ.get(ENV_DATABASE_URL) or None,
    )


def check_repositories(config: PluginConfig) -> None:
    """Fail before serving when a configured repository cannot be opened, or names a
    remote or a branch it does not have, as ``git-reconcile run`` would. One with a
    ``url`` is cloned first when its path is missing or empty (first boot), and its
    remote pointed at that URL (rotation). Raises ``ConfigError``, or the
    ``NetworkError`` of a clone that failed."""
    from plugin import ConfigError
    from reconcile import BadInputError, ensure_clone, inspect_repo

    for repo in config.repos:
        try:
            if repo.url is not None:
                ensure_clone(repo.to_spec(), repo.url, bare=repo.bare)
            inspect_repo(repo.to_spec(), check_branch=True)
        except BadInputError as exc:
            raise ConfigError(f"repository {repo.name!r}: {exc}") from None


@contextmanager
def listening(host: str, port: int) -> Iterator[socket.socket]:
    """A socket bound to ``host``:``port`` and listening, closed afterwards.

    Raises ``CommandError``: bad input for a port out of range or a host that is no
    address; unavailable for an address in use, not this machine's, or not allowed.
    """
    if not 0 <= port <= 65535:
        raise CommandError(f"--port {port} is not a port: give 0 to 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as exc:
            raise CommandError(f"--host {host!r} is not an address: {exc.strerror}") from None
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {_address(host, port)}: {exc.strerror}", ExitCode.UNAVAILABLE
            ) from None
        sock.listen(2048)  # uvicorn's backlog: the port is held from now on
        yield sock


def run(args: argparse.Namespace) -> int:
    from reconcile import configure_logging

    environ = dict(os.environ)
    with _sigterm_raises(), ExitStack() as stack:
        listener = stack.enter_context(listening(args.host, args.port))
        if args.config is None and not args.repo:
            from ._demo import serve_demo_directory

            root = serve_demo_directory()
            stack.callback(shutil.rmtree, root, ignore_errors=True)
            _serve_a_demo(root, args, environ, listener)
        # Logging first: a first boot's clone and a rotated URL say so in the log.
        configure_logging(
            args.log_format, args.log_level, loggers=("reconcile", "plugin", "uvicorn")
        )
        config = _checked_config(args, environ)
        fleet = None if config.fleet is None else _fleet_service(config, args, environ, stack)
        _serve(build_app(config, fleet), listener, args)
    return ExitCode.OK


def _checked_config(args: argparse.Namespace, environ: Mapping[str, str]) -> PluginConfig:
    """The configuration, its repositories opened and its audit store reached."""
    from plugin import ConfigError
    from reconcile import NetworkError

    try:
        config = config_from_args(args, environ)
        config = replace(config, database_url=database_url(args, environ, config.database_url))
        check_repositories(config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    except NetworkError as exc:  # a first boot's clone: time may fix it, a restart retries
        raise CommandError(f"cannot clone: {exc}", ExitCode.FETCH_FAILED) from None
    assert config.database_url is not None
    with audit_store(config.database_url, upgrade=config.auto_upgrade):
        pass
    return config


def _fleet_service(
    config: PluginConfig, args: argparse.Namespace, environ: Mapping[str, str], stack: ExitStack
) -> FleetService:
    """The ``[fleet]`` section's service, holding the data directory's fleet lock (a
    second fleet on it exits 7) and writing the same audit store, until ``stack`` ends."""
    from plugin.audit import AuditStore
    from plugin.fleet import FleetService, FleetSettings

    from ._database import default_data_dir, fleet_lock

    assert config.fleet is not None
    assert config.database_url is not None
    data_dir = (args.data_dir or default_data_dir(environ)).expanduser().absolute()
    fd = fleet_lock(data_dir)
    stack.callback(os.close, fd)
    store = AuditStore(config.database_url)
    stack.callback(store.close)
    return FleetService(
        config.fleet,
        gate=_fleet_gate(config, stack),
        settings=FleetSettings.load(data_dir),
        store=store,
        admin_token=config.admin_token,
        admin_token_env=config.admin_token_env,
        retention_days=config.retention_days,
    )


def _fleet_gate(config: PluginConfig, stack: ExitStack) -> CycleGate | None:
    """With replicas coordinated by PostgreSQL, the fleet's cycle runs on one of them
    at a time (``plugin.fleet.ReplicaGate``); alone, every cycle runs."""
    url = config.coordination_url
    if url is None:
        return None
    from plugin.fleet import ReplicaGate
    from plugin.replicas import Replicas

    replicas = Replicas(
        url, replica_id=config.replica_id, session_timeout=config.lock_session_timeout
    )
    stack.callback(replicas.close)
    return ReplicaGate(replicas)


def _serve(app: Starlette, listener: socket.socket, args: argparse.Namespace) -> None:
    """Serve ``app`` on ``listener`` until a signal stops uvicorn; raises ``CommandError``
    when the app did not start."""
    if not serve_app(app, listener, log_level=args.log_level.lower()):
        raise _not_started(app.state.reconcile)


def serve_app(app: Starlette, listener: socket.socket, *, log_level: str) -> bool:
    """Serve ``app`` under uvicorn on ``listener`` until a signal stops it, with the
    logging already set up (``configure_logging``) rather than uvicorn's own; uvloop
    and httptools when they are installed (they are dependencies). False when the
    app did not start."""
    import uvicorn

    url = _url(listener)

    class Server(uvicorn.Server):
        interrupted = False

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            logging.getLogger("uvicorn.error").info(
                "Uvicorn running on %s (Press CTRL+C to quit)", url
            )

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            self.interrupted = self.interrupted or sig == signal.SIGINT
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, log_config=None, log_level=log_level))
    try:
        server.run(sockets=[listener])
    except SystemExit:  # uvicorn's way of saying that the startup failed
        if server.started:
            raise
    if server.interrupted:
        # uvicorn raises the SIGINT it caught again once it has shut down, which ends
        # in KeyboardInterrupt (exit 130), unless the process started with SIGINT
        # ignored (a background job of a shell): then the same Ctrl-C still says so.
        raise KeyboardInterrupt
    return bool(server.started)


def _not_started(plugin: ReconcilePlugin) -> CommandError:
    """Why the app did not start, in one line: the boot reconcile under the ``fail``
    policy (unavailable: a later start may succeed), else an error logged above."""
    if plugin.booted and plugin.boot_errors:
        problems = "; ".join(f"{name}: {problem}" for name, problem in plugin.boot_errors.items())
        return CommandError(
            f"the boot reconcile failed (boot_policy is fail): {problems}", ExitCode.UNAVAILABLE
        )
    return CommandError("the app did not start: see the error logged above", ExitCode.FAILED)


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://{_address(host, port)}"


class _Terminated(BaseException):
    """SIGTERM, raised where the process is so that cleanups run (like Ctrl-C's
    KeyboardInterrupt)."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises ``_Terminated``; once the cleanups inside have run,
    the signal goes to the handler there was before (by default the process then ends
    by it, which a service manager counts as a clean stop). uvicorn hands its captured
    SIGTERM on here when it has shut down."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: FrameType | None) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _serve_a_demo(
    root: Path, args: argparse.Namespace, environ: dict[str, str], listener: socket.socket
) -> None:
    """Point ``args`` at a throwaway demo repository in ``root``, with fresh secrets, and
    say so."""
    from plugin._config import ENV_ADMIN_TOKEN, ENV_WEBHOOK_SECRET

    from ._demo import make_demo_clone

    clone = make_demo_clone(root)
    args.repo = [clone]
    if args.data_dir is None:  # the demo's audit store goes with the demo
        args.data_dir = root
    environ.setdefault(ENV_ADMIN_TOKEN, secrets.token_urlsafe(16))
    environ.setdefault(ENV_WEBHOOK_SECRET, secrets.token_urlsafe(16))
    print(
        f"serving a demo repository: {clone} (its remote: {root / 'remote.git'})\n"
        f"  admin token:    {environ[ENV_ADMIN_TOKEN]}\n"
        f"  webhook secret: {environ[ENV_WEBHOOK_SECRET]}\n"
        f"  try: curl {_url(listener)}/status\n"
        "  (the demo is removed when serve stops)",
        flush=True,
    )
