"""``git-reconcile fleet``: every repository under the base paths, committed and pushed
in two phases; with ``--once`` one cycle and a summary, else served with its routes."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ._exit import CommandError, ExitCode, HelpFormatter, epilog

if TYPE_CHECKING:
    from plugin.fleet import CycleReport, FleetConfig

__all__ = ["add_arguments", "fleet_config", "run", "summary"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Find every git repository under the base paths (or the [fleet] section of a "
        "TOML file), commit what is dirty, then push: every commit of a cycle before "
        "any push. With --once, one cycle and a summary; without, a service with "
        "/status, /repos, /trigger, /enable, /disable and /history (admin token from "
        "RECONCILE_ADMIN_TOKEN)."
    )
    parser.epilog = epilog("fleet")
    parser.formatter_class = HelpFormatter
    parser.add_argument("base", nargs="*", type=Path, metavar="BASE", help="a base path")
    parser.add_argument("--config", type=Path, metavar="FILE", help="TOML file with [fleet]")
    parser.add_argument("--once", action="store_true", help="one cycle, then a summary")
    parser.add_argument("--json", action="store_true", help="the summary as one JSON object")
    parser.add_argument(
        "--interval", type=float, metavar="S", help="seconds between cycles (default: 60)"
    )
    parser.add_argument(
        "--depth", type=int, metavar="N", help="folders searched below each base (default: 4)"
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="a folder never searched, added to the defaults (repeatable)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="where the lock, the settings and the SQLite audit store live "
        "(default: $XDG_DATA_HOME/git-reconcile, or ~/.local/share/git-reconcile)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)d)")
    parser.add_argument(
        "--log-format", choices=["auto", "json", "console"], default="auto", help="log lines"
    )
    parser.add_argument(
        "--log-level",
        default="WARNING",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log level (default: %(default)s)",
    )


def fleet_config(args: argparse.Namespace, environ: Mapping[str, str]) -> FleetConfig:
    """The fleet's settings: the file's ``[fleet]`` section, then the flags over it."""
    from plugin import ConfigError
    from plugin.fleet import FleetConfig

    try:
        config = _from_file(args.config, environ) if args.config else FleetConfig()
        changes: dict[str, object] = {}
        if args.base:
            changes["base_paths"] = tuple(args.base)
        if args.interval is not None:
            changes["cycle_interval"] = args.interval
        if args.depth is not None:
            changes["recursive_depth"] = args.depth
        if args.exclude:
            changes["exclude"] = (*config.exclude, *args.exclude)
        config = replace(config, **changes)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if not config.base_paths:
        raise CommandError("give a base path (BASE), or a --config file with [fleet] base_paths")
    return config


def _from_file(path: Path, environ: Mapping[str, str]) -> FleetConfig:
    from plugin import ConfigError, load_config

    loaded = load_config(path, environ)
    if loaded.fleet is None:
        raise ConfigError(f"{path}: no [fleet] section")
    return loaded.fleet


def run(args: argparse.Namespace) -> int:
    from reconcile import configure_logging

    from ._database import default_data_dir

    environ = dict(os.environ)
    config = fleet_config(args, environ)
    data_dir = (args.data_dir or default_data_dir(environ)).expanduser().absolute()
    if args.log_format != "auto" or args.log_level != "WARNING":
        configure_logging(
            args.log_format, args.log_level, loggers=("reconcile", "plugin", "uvicorn")
        )
    if args.once:
        return _once(config, data_dir, args)
    from ._fleet_serve import serve_fleet

    return serve_fleet(config, data_dir, args, environ)


def _once(config: FleetConfig, data_dir: Path, args: argparse.Namespace) -> int:
    from plugin.fleet import Fleet, FleetSettings

    from ._database import fleet_lock

    fd = fleet_lock(data_dir)
    try:
        settings = FleetSettings.load(data_dir)
        fleet = Fleet(config)
        fleet.discover()
        report = fleet.cycle(trigger="cli", disabled=frozenset(Path(p) for p in settings.disabled))
    finally:
        os.close(fd)
    assert report is not None  # a single fleet's gate always runs the cycle
    _record(report, data_dir)
    if args.json:
        print(json.dumps(report.summary()))
    else:
        print(summary(report, fleet.problems))
    return ExitCode.OK if report.ok else ExitCode.BLOCKED


def _record(report: CycleReport, data_dir: Path) -> None:
    """Keep the cycle in the data directory's audit store, as the service does; a store
    that cannot be written is said in one line, and the cycle's exit code stands."""
    import sys

    from plugin.fleet._audit import FleetAudit

    from ._database import audit_store, database_url

    try:
        with audit_store(database_url(argparse.Namespace(data_dir=data_dir), {})) as store:
            FleetAudit(store).record(report)
    except CommandError as exc:
        print(f"git-reconcile: the cycle was not recorded: {exc}", file=sys.stderr)


def summary(report: CycleReport, problems: tuple[tuple[str, str], ...] = ()) -> str:
    """The cycle in a few lines: the counts, then each repository that did something or
    did not end well."""
    lines = [
        f"{report.cycle_id}: {len(report.results)} repositories, {report.committed} "
        f"committed, {report.pushed} pushed, {report.failed} failed "
        f"({report.duration_ms:.0f} ms)"
    ]
    for base, why in problems:
        lines.append(f"  base path {base}: {why}")
    for result in report.results:
        if result.status in ("unchanged", "clean", "disabled"):
            continue
        made = result.commit.commit if result.commit is not None else None
        sha = f" {made.sha[:10]}" if made is not None else ""
        lines.append(f"  {result.status}: {result.path}{sha}: {result.reason or ''}".rstrip(": "))
    return "\n".join(lines)
